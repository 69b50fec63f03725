//! The two backends the contract tests run against: the embedded adapters on a temporary
//! directory, and the AWS adapters on an AWS API emulator (moto server, started by
//! `scripts/test.sh`) with a fresh table and queue per test.

use aos_aws::{
    create_queue, create_table, DynamoIdempotency, DynamoKv, DynamoRunStore, DynamoTenants, SecretsManagerSecrets,
    SecretsManagerTenantSecrets, SqsQueue,
};
use aos_embedded::{Durability, Embedded, EmbeddedQueue, STEP_QUEUE};
use aos_runtime::ports::WorkflowStore;
use aos_runtime::{BreakerStore, IdempotencyStore, KvStore, Queue, RunStore, SecretStore, TenantSecrets, TenantStore};
use std::sync::Arc;
use std::time::Duration;

/// One backend's adapters for the contract tests.
pub struct Ports {
    /// The step queue; dead-letters after `max_receive_count` receives.
    pub queue: Arc<dyn Queue>,
    /// Runs, checkpoints and step transitions (enqueueing on `queue`).
    pub runs: Arc<dyn RunStore>,
    /// Idempotency records.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Key-value data.
    pub kv: Arc<dyn KvStore>,
    /// Tenants and keys.
    pub tenants: Arc<dyn TenantStore>,
    /// The deployment's secrets.
    pub secrets: Arc<dyn SecretStore>,
    /// Tenants' secrets.
    pub tenant_secrets: Arc<dyn TenantSecrets>,
    /// Circuit breakers.
    pub breakers: Arc<dyn BreakerStore>,
    /// Workflows and approvals.
    pub workflows: Arc<dyn WorkflowStore>,
    /// Large values (S3; files on the embedded side).
    pub blobs: Arc<dyn aos_runtime::ports::BlobStore>,
    /// Tenants' policy sets.
    pub policies: Arc<dyn aos_runtime::ports::PolicyStore>,
    /// Tenants' audit logs.
    pub audit: Arc<dyn aos_runtime::ports::AuditStore>,
    /// Tenants' feature flags.
    pub flags: Arc<dyn aos_runtime::ports::FlagStore>,
    /// Tenants' credit ledgers.
    pub credits: Arc<dyn aos_runtime::ports::CreditStore>,
    /// Finished runs' usage records.
    pub usage: Arc<dyn aos_runtime::ports::UsageStore>,
    /// The DynamoDB table and the step queue's URL (AWS backend; empty on the embedded one).
    pub aws_names: (String, String),
    dead: DeadLetters,
    raw: Raw,
    secret_prefix: String,
    _dir: Option<tempfile::TempDir>,
}

enum DeadLetters {
    Embedded(Arc<EmbeddedQueue>),
    Sqs(aws_sdk_sqs::Client, String),
}

/// Raw access to the storage under the adapters.
enum Raw {
    Embedded(Arc<aos_embedded::Db>),
    Dynamo(aws_sdk_dynamodb::Client, String),
}

/// How a test rewrites a stored audit log behind AOS's back (what `verify` must catch).
pub enum Tamper {
    /// Replace entry `seq`'s stored body with this JSON.
    Rewrite(u64, serde_json::Value),
    /// Delete entry `seq`.
    Remove(u64),
}

impl Ports {
    /// Bodies of the dead-lettered messages.
    pub async fn dead_letters(&self) -> Vec<String> {
        match &self.dead {
            DeadLetters::Embedded(q) => q.dead_letters().expect("dlq").into_iter().map(|d| d.body).collect(),
            DeadLetters::Sqs(client, url) => {
                let out = client.receive_message().queue_url(url).max_number_of_messages(10).send().await.expect("dlq");
                out.messages.unwrap_or_default().into_iter().filter_map(|m| m.body).collect()
            }
        }
    }

    /// Changes a tenant's stored audit log directly in the database or table, as someone
    /// with write access to the storage (not to AOS) could.
    pub async fn tamper_audit(&self, tenant: &aos_core::TenantId, tamper: Tamper) {
        match (&self.raw, tamper) {
            (Raw::Embedded(db), tamper) => {
                let t = tenant.to_string();
                db.write(true, move |c| {
                    let done = match tamper {
                        Tamper::Rewrite(seq, body) => c.execute(
                            "UPDATE audit SET body = ?3 WHERE tenant = ?1 AND seq = ?2",
                            (&t, seq, body.to_string()),
                        ),
                        Tamper::Remove(seq) => c.execute("DELETE FROM audit WHERE tenant = ?1 AND seq = ?2", (&t, seq)),
                    };
                    done.map(|_| ()).map_err(|e| aos_runtime::StoreError::Backend(e.to_string()))
                })
                .await
                .expect("tamper");
            }
            (Raw::Dynamo(client, table), tamper) => {
                use aws_sdk_dynamodb::types::AttributeValue as A;
                let pk = A::S(format!("TENANT#{tenant}#AUDIT"));
                let sk = |seq: u64| A::S(format!("SEQ#{seq:020}"));
                match tamper {
                    Tamper::Rewrite(seq, body) => {
                        client
                            .put_item()
                            .table_name(table)
                            .item("pk", pk)
                            .item("sk", sk(seq))
                            .item("body", A::S(body.to_string()))
                            .send()
                            .await
                            .expect("tamper");
                    }
                    Tamper::Remove(seq) => {
                        client
                            .delete_item()
                            .table_name(table)
                            .key("pk", pk)
                            .key("sk", sk(seq))
                            .send()
                            .await
                            .expect("tamper");
                    }
                }
            }
        }
    }

    /// Stores a secret the way an operator would (file or Secrets Manager).
    pub async fn put_secret(&self, name: &str, value: &str) {
        match &self.dead {
            DeadLetters::Embedded(_) => {
                let dir = self._dir.as_ref().expect("dir").path();
                std::fs::write(dir.join("secrets.json"), serde_json::json!({ name: value }).to_string())
                    .expect("write");
            }
            DeadLetters::Sqs(..) => {
                let conf = aos_aws::sdk_config().await;
                let client = aws_sdk_secretsmanager::Client::new(&conf);
                let id = format!("{}{name}", self.secret_prefix);
                client.create_secret().name(id).secret_string(value).send().await.expect("create secret");
            }
        }
    }
}

/// The embedded adapters on a fresh directory.
pub async fn embedded(max_receive_count: u32) -> Ports {
    let dir = tempfile::tempdir().expect("tmp");
    let e = Embedded::open(dir.path(), Durability::Full).await.expect("open");
    let queue = Arc::new(EmbeddedQueue::new(Arc::clone(&e.db), STEP_QUEUE, max_receive_count));
    Ports {
        queue: queue.clone(),
        runs: e.runs.clone(),
        idempotency: e.idempotency.clone(),
        kv: e.kv.clone(),
        tenants: e.tenants.clone(),
        secrets: e.secrets,
        tenant_secrets: e.tenant_secrets,
        breakers: e.breakers,
        workflows: e.workflows,
        policies: e.policies,
        audit: e.audit,
        flags: e.flags,
        credits: e.credits,
        usage: e.usage,
        raw: Raw::Embedded(Arc::clone(&e.db)),
        blobs: Arc::new(aos_embedded::FileBlobs::new(dir.path().join("blobs"))),
        aws_names: (String::new(), String::new()),
        dead: DeadLetters::Embedded(queue),
        secret_prefix: String::new(),
        _dir: Some(dir),
    }
}

/// The AWS emulator's endpoint (`AWS_ENDPOINT_URL`), which must be a loopback address:
/// tests never reach real AWS. Tests that need it are `#[ignore]`d, so a plain
/// `cargo test` lists them as ignored; `./scripts/test.sh` starts moto server and runs
/// them with `--include-ignored`. Without the emulator this fails the test: a test that
/// cannot run never passes.
pub fn emulator_endpoint() -> String {
    let endpoint = required_env("AWS_ENDPOINT_URL", "the AWS emulator (moto server)");
    let host = url::Url::parse(&endpoint).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    assert!(
        host == "127.0.0.1" || host == "localhost" || host == "[::1]",
        "AWS_ENDPOINT_URL must point at a loopback emulator in tests, not {endpoint}"
    );
    endpoint
}

/// The value of `var`, which names a tool or service `./scripts/test.sh` provides
/// (`what`). Fails the test, saying how to get it, when it is not set.
pub fn required_env(var: &str, what: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("this test needs {what}: {var} is not set. Run ./scripts/test.sh, which installs and starts it and runs the ignored tests")
    })
}

/// The AWS adapters on the emulator at `AWS_ENDPOINT_URL` (see [`emulator_endpoint`]).
pub async fn aws(max_receive_count: u32) -> Ports {
    aws_at(&emulator_endpoint(), max_receive_count).await
}

/// The SDK configuration of the process, pointed at `endpoint` (the emulator, or a
/// fault proxy in front of it).
pub async fn sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint).load().await
}

/// The AWS adapters on a fresh table and queue of the emulator at `endpoint`.
pub async fn aws_at(endpoint: &str, max_receive_count: u32) -> Ports {
    aws_pair(endpoint, endpoint, max_receive_count).await.0
}

/// A fresh table and queue, created on the emulator at `emulator`, and two sets of
/// adapters over them: one talking to `live` (a fault proxy in front of the emulator),
/// one straight to the emulator (to look at what happened without meeting faults).
pub async fn aws_pair(live: &str, emulator: &str, max_receive_count: u32) -> (Ports, Ports) {
    let direct = sdk_config_at(emulator).await;
    let name = format!("aos-test-{}", uuid::Uuid::new_v4().simple());
    create_table(&aws_sdk_dynamodb::Client::new(&direct), &name).await.expect("create table");
    let urls =
        create_queue(&aws_sdk_sqs::Client::new(&direct), &name, max_receive_count, 30).await.expect("create queue");
    let blobs = aos_aws::S3Blobs::new(aos_aws::S3Blobs::client(&direct), &name);
    blobs.create_bucket().await.expect("create bucket");
    let live = adapters(&sdk_config_at(live).await, &name, &urls);
    (live, adapters(&direct, &name, &urls))
}

fn adapters(conf: &aws_config::SdkConfig, name: &str, urls: &aos_aws::QueueUrls) -> Ports {
    let ddb = aws_sdk_dynamodb::Client::new(conf);
    let sqs = aws_sdk_sqs::Client::new(conf);
    let secret_prefix = format!("{name}/");
    let secrets =
        SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(conf), &secret_prefix, Duration::from_secs(60));
    let tenant_secrets = SecretsManagerTenantSecrets::new(
        aws_sdk_secretsmanager::Client::new(conf),
        &secret_prefix,
        aos_aws::TENANT_SECRET_TTL,
    );
    Ports {
        queue: Arc::new(SqsQueue::new(sqs.clone(), &urls.queue)),
        runs: Arc::new(
            DynamoRunStore::new(ddb.clone(), name, SqsQueue::new(sqs.clone(), &urls.queue))
                .with_blobs(Arc::new(aos_aws::S3Blobs::new(aos_aws::S3Blobs::client(conf), name))),
        ),
        idempotency: Arc::new(DynamoIdempotency::new(ddb.clone(), name)),
        kv: Arc::new(DynamoKv::new(ddb.clone(), name)),
        breakers: Arc::new(aos_aws::DynamoBreakers::new(ddb.clone(), name)),
        workflows: Arc::new(
            aos_aws::DynamoWorkflows::new(ddb.clone(), name).with_queue(SqsQueue::new(sqs.clone(), &urls.queue)),
        ),
        policies: Arc::new(aos_aws::DynamoPolicies::new(ddb.clone(), name)),
        audit: Arc::new(aos_aws::DynamoAudit::new(ddb.clone(), name)),
        flags: Arc::new(aos_aws::DynamoFlags::new(ddb.clone(), name)),
        credits: Arc::new(aos_aws::DynamoCredits::new(ddb.clone(), name)),
        usage: Arc::new(aos_aws::DynamoUsage::new(ddb.clone(), name)),
        raw: Raw::Dynamo(ddb.clone(), name.to_owned()),
        blobs: Arc::new(aos_aws::S3Blobs::new(aos_aws::S3Blobs::client(conf), name)),
        tenants: Arc::new(DynamoTenants::new(ddb, name)),
        secrets: Arc::new(secrets),
        tenant_secrets: Arc::new(tenant_secrets),
        aws_names: (name.to_owned(), urls.queue.clone()),
        dead: DeadLetters::Sqs(sqs, urls.dead_letters.clone()),
        secret_prefix,
        _dir: None,
    }
}

/// Runs one contract test body against both backends:
/// `contract!(name, |ports| async move { ... })` defines `name::embedded` and `name::aws`.
#[macro_export]
macro_rules! contract {
    ($name:ident, $max_receive:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn embedded() {
                let ports = aos_tests::backends::embedded($max_receive).await;
                ($body)(ports).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
            async fn aws() {
                let ports = aos_tests::backends::aws($max_receive).await;
                ($body)(ports).await;
            }
        }
    };
}

/// Turns on the emulator's execution of state machines (moto server's
/// `stepfunctions.execute_state_machine`, set through its `/moto-api/config`), before any
/// state machine is created.
pub async fn enable_step_functions(endpoint: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{}/moto-api/config", endpoint.trim_end_matches('/')))
        .json(&serde_json::json!({"stepfunctions": {"execute_state_machine": true}}))
        .send()
        .await
        .expect("the emulator's config endpoint answers");
    assert!(resp.status().is_success(), "moto config refused: {}", resp.status());
}

/// Workflows on Step Functions over an AWS backend's ports, wired as the deployment
/// wires them: the workflow service, and what its step worker answers tasks with.
pub struct OnStepFunctions {
    /// Apply, start, show, decide.
    pub service: aos_runtime::workflows::WorkflowService,
    /// State machines, executions and task tokens.
    pub sfn: Arc<aos_aws::StepFunctions>,
    /// Workflow versions, execution records and approvals.
    pub records: Arc<aos_aws::DynamoWorkflows>,
    /// Large node outputs, when the engine keeps them in S3.
    pub blobs: Option<Arc<aos_aws::S3Blobs>>,
}

/// Workflows on Step Functions at `endpoint` (the emulator or a fault proxy in front of
/// it), over `ports`' table, queue and run store, validating with `skills`; state
/// machines named `aos-<label>-<table's hash>-…`; large node outputs in S3 when
/// `large_values`.
pub async fn step_functions_at(
    ports: &Ports,
    endpoint: &str,
    label: &str,
    skills: Arc<aos_runtime::SkillRegistry>,
    large_values: bool,
) -> OnStepFunctions {
    let (table, queue_url) = ports.aws_names.clone();
    assert!(!table.is_empty(), "Step Functions workflows need the AWS backend's ports");
    let conf = sdk_config_at(endpoint).await;
    let sfn = Arc::new(aos_aws::StepFunctions::new(aws_sdk_sfn::Client::new(&conf)));
    let records = Arc::new(
        aos_aws::DynamoWorkflows::new(aws_sdk_dynamodb::Client::new(&conf), &table)
            .with_queue(aos_aws::SqsQueue::new(aws_sdk_sqs::Client::new(&conf), &queue_url)),
    );
    let blobs = large_values.then(|| Arc::new(aos_aws::S3Blobs::new(aos_aws::S3Blobs::client(&conf), &table)));
    let engine = aos_runtime::workflows::StepFunctionsEngine {
        machines: sfn.clone(),
        records: records.clone(),
        tokens: sfn.clone(),
        queue_url,
        role_arn: "arn:aws:iam::123456789012:role/aos-workflows".into(),
        // One prefix per table and label, as a deployment has one: two engines over the
        // same table name (and find) the same machines.
        prefix: format!("aos-{label}-{}-", &aos_core::determinism::content_hash(&serde_json::json!(table))[..8]),
        blobs: blobs.clone().map(|b| b as Arc<dyn aos_runtime::ports::BlobStore>),
    };
    let service = aos_runtime::workflows::WorkflowService::new(
        records.clone(),
        Arc::clone(&ports.runs),
        Arc::clone(&ports.idempotency),
        skills,
    )
    .with_step_functions(engine);
    OnStepFunctions { service, sfn, records, blobs }
}

impl OnStepFunctions {
    /// What a step worker over `ports` answers this engine's tasks with (recording node
    /// progress, and reading and keeping large values where the engine does).
    pub fn tasks(&self, ports: &Ports) -> aos_runtime::sfn::SfnTasks {
        let tasks = aos_runtime::sfn::SfnTasks::new(
            Arc::clone(&ports.runs),
            Arc::clone(&ports.queue),
            self.sfn.clone(),
            self.records.clone(),
        )
        .with_records(self.records.clone());
        match &self.blobs {
            Some(b) => tasks.with_blobs(b.clone()),
            None => tasks,
        }
    }
}
