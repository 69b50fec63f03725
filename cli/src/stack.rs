//! The local stack: embedded store, step workers and the HTTP API in one process.

use anyhow::{bail, Context};
use aos_api::demo::{demo_router, Sink};
use aos_api::{router, AppState};
use aos_core::TenantId;
use aos_embedded::{Durability, Embedded};
use aos_runtime::auth::{create_tenant, hash_key, KEY_PREFIX};
use aos_runtime::net::AddressPolicy;
use aos_runtime::ports::{ApiKeyRecord, Role, TenantStore};
use aos_runtime::runs::RunService;
use aos_runtime::worker::{AfterEffectHook, StepWorker, WorkerConfig};
use aos_runtime::workflows::WorkflowService;
use aos_runtime::{
    BreakerStore, IdempotencyStore, KvStore, Queue, RunStore, SecretStore, StoreError, TenantSecrets, WorkflowStore,
};
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The dev tenant `aos dev` creates on first start.
pub const DEV_TENANT: &str = "ten_dev";
/// The operator tenant `aos dev` creates on first start.
pub const OPERATOR_TENANT: &str = "ten_operator";
/// The longest a caller of `aos dev` waits for a run in one call (`?wait=`) or follows
/// it in one event stream (no gateway in front of it to time out).
pub const DEV_WAIT_CAP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Settings of the local stack.
#[derive(Clone)]
pub struct StackConfig {
    /// Data directory (created if missing).
    pub data_dir: PathBuf,
    /// Loopback port of the API; 0 picks a free one.
    pub port: u16,
    /// Number of step workers.
    pub workers: usize,
    /// Extra hosts `http_call` may reach despite the address policy (comma-separated).
    pub allow_hosts: String,
    /// Worker tunables.
    pub worker: WorkerConfig,
    /// Store durability.
    pub durability: Durability,
    /// Use this key for the dev tenant instead of generating one.
    pub dev_api_key: Option<String>,
    /// Crash-test hook (never set in production).
    pub after_effect: Option<AfterEffectHook>,
    /// Where runs, queue, keys and secrets live.
    pub backend: Backend,
    /// LLM providers and prices instead of the ones `AOS_LLM_*` configure.
    pub llm: Option<aos_runtime::llm::LlmConfig>,
    /// The plan whose request rate every tenant is held to (`unlimited` by default).
    pub plan: aos_core::limits::PlanName,
}

/// The storage the local stack runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite store in the data directory (the default).
    Embedded,
    /// DynamoDB, SQS and Secrets Manager (AWS, LocalStack or moto via `AWS_ENDPOINT_URL`),
    /// named by `AOS_TABLE` and `AOS_STEP_QUEUE_URL`; `create_resources` creates them
    /// where missing.
    Aws {
        /// Create the table and queues if they do not exist.
        create_resources: bool,
    },
}

/// The adapters of every port the stack uses.
#[derive(Clone)]
pub struct Adapters {
    /// Runs and step transitions.
    pub runs: Arc<dyn RunStore>,
    /// The step queue.
    pub queue: Arc<dyn Queue>,
    /// Idempotency keys.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Key-value data.
    pub kv: Arc<dyn KvStore>,
    /// Tenants and API keys.
    pub tenants: Arc<dyn TenantStore>,
    /// The deployment's secrets (provider keys of `llm_invoke`).
    pub secrets: Arc<dyn SecretStore>,
    /// Tenants' secrets.
    pub tenant_secrets: Arc<dyn TenantSecrets>,
    /// Circuit breakers.
    pub breakers: Arc<dyn BreakerStore>,
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
    /// Workflows and executions (the embedded executor); `None` on the AWS backend,
    /// where workflows run on Step Functions.
    pub workflows: Option<Arc<dyn WorkflowStore>>,
    /// The embedded store, when that is the backend (for inspection and closing).
    pub embedded: Option<Arc<Embedded>>,
    /// The AWS adapters, when that is the backend (workflows run on Step Functions).
    pub aws: Option<Arc<aos_aws::AwsAdapters>>,
}

impl Adapters {
    /// Opens the configured backend.
    pub async fn open(config: &StackConfig) -> anyhow::Result<Self> {
        match config.backend {
            Backend::Embedded => {
                let e = Arc::new(
                    Embedded::open(&config.data_dir, config.durability)
                        .await
                        .map_err(|e: StoreError| anyhow::anyhow!("cannot open the data directory: {e}"))?,
                );
                Ok(Self {
                    runs: e.runs.clone(),
                    queue: e.queue.clone(),
                    idempotency: e.idempotency.clone(),
                    kv: e.kv.clone(),
                    tenants: e.tenants.clone(),
                    secrets: e.secrets.clone(),
                    tenant_secrets: e.tenant_secrets.clone(),
                    policies: e.policies.clone(),
                    audit: e.audit.clone(),
                    flags: e.flags.clone(),
                    credits: e.credits.clone(),
                    usage: e.usage.clone(),
                    breakers: e.breakers.clone(),
                    workflows: Some(e.workflows.clone()),
                    embedded: Some(e),
                    aws: None,
                })
            }
            Backend::Aws { create_resources } => {
                let mode = if create_resources { aos_aws::Resources::Create } else { aos_aws::Resources::Verify };
                let a = aos_aws::AwsAdapters::from_env(mode).await?;
                tracing::info!(table = a.config.table, queue = a.config.step_queue_url, "using the AWS backend");
                let a = Arc::new(a);
                Ok(Self {
                    runs: a.runs.clone(),
                    queue: a.queue.clone(),
                    idempotency: a.idempotency.clone(),
                    kv: a.kv.clone(),
                    tenants: a.tenants.clone(),
                    secrets: a.secrets.clone(),
                    tenant_secrets: a.tenant_secrets.clone(),
                    policies: a.policies.clone(),
                    audit: a.audit.clone(),
                    flags: a.flags.clone(),
                    credits: a.credits.clone(),
                    usage: a.usage.clone(),
                    breakers: a.breakers.clone(),
                    workflows: None,
                    embedded: None,
                    aws: Some(a),
                })
            }
        }
    }
}

/// Step workers of `aos dev` on the embedded store: a step mostly waits (for its commit's
/// fsync, a model, an HTTP call), so a few workers leave the disk and the CPU idle while
/// runs queue. An idle worker costs a parked task.
pub const EMBEDDED_WORKERS: usize = 64;

/// Step workers of `aos dev --backend aws`: each idle one holds a long poll of SQS.
pub const AWS_WORKERS: usize = 4;

/// How long an idle worker of `aos dev` waits on the embedded queue before it looks
/// again. The queue wakes a waiting worker for every message it makes visible (a send,
/// a hand-off, a delay or a lease running out), so looking again is only a safety net;
/// looking every second made the 64 idle workers open 64 write transactions at once
/// every second, in the way of the steps that were running.
pub const EMBEDDED_POLL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl StackConfig {
    /// Defaults for a data directory: port 8787, [`EMBEDDED_WORKERS`] workers, durable.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            port: 8787,
            workers: EMBEDDED_WORKERS,
            allow_hosts: String::new(),
            worker: WorkerConfig { poll_wait: EMBEDDED_POLL_WAIT, ..WorkerConfig::default() },
            durability: Durability::Full,
            dev_api_key: None,
            after_effect: None,
            backend: Backend::Embedded,
            llm: None,
            plan: aos_core::limits::PlanName::Unlimited,
        }
    }
}

/// `host:port` of `AOS_LLM_LOCAL_URL`, when set.
fn explicit_local_model() -> Option<String> {
    let raw = std::env::var("AOS_LLM_LOCAL_URL").ok()?;
    let url = url::Url::parse(raw.trim()).ok()?;
    Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?))
}

/// A running local stack.
pub struct LocalStack {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// The dev tenant's key.
    pub dev_api_key: String,
    /// The operator's key.
    pub operator_api_key: String,
    /// The demo sink's log (requests to `/demo/sink`).
    pub sink: Sink,
    /// The adapters, for inspection.
    pub adapters: Adapters,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn write_key_file(path: &Path, key: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(key.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Creates `tenant` with a key on first start (or registers `preset`), writes the key
/// to `file` (mode 0600) and returns it.
async fn bootstrap_key(
    tenants: &dyn TenantStore,
    tenant: &str,
    role: Role,
    file: &Path,
    preset: Option<&str>,
) -> anyhow::Result<String> {
    let id = TenantId::parse(tenant)?;
    if tenants.tenant(&id).await?.is_none() {
        let (_, issued) = create_tenant(tenants, Some(id.clone()), tenant.trim_start_matches("ten_"), role).await?;
        write_key_file(file, issued.secret.expose_secret())?;
    }
    if let Some(key) = preset {
        if !key.starts_with(KEY_PREFIX) || key.len() < 24 {
            bail!("the configured dev API key must start with {KEY_PREFIX:?} and be at least 24 characters");
        }
        if tenants.key_by_hash(&hash_key(key)).await?.is_none() {
            let mut rec = aos_runtime::auth::issue_key(&id, role, "configured dev key").record;
            rec.hash = hash_key(key);
            let audit = rec.audit(aos_core::audit::Actor::system(), "key.create", "created", rec.created_at_ms);
            tenants.insert_key(&rec, &[audit]).await?;
        }
        write_key_file(file, key)?;
        return Ok(key.to_owned());
    }
    let key = std::fs::read_to_string(file)
        .with_context(|| format!("{} is missing: delete the data directory or set AOS_DEV_API_KEY", file.display()))?;
    let key = key.trim().to_owned();
    let known: Option<ApiKeyRecord> = tenants.key_by_hash(&hash_key(&key)).await?;
    if known.is_none_or(|k| k.revoked_at_ms.is_some()) {
        let issued = aos_runtime::auth::issue_key(&id, role, "reissued dev key");
        let audit =
            issued.record.audit(aos_core::audit::Actor::system(), "key.create", "created", issued.record.created_at_ms);
        tenants.insert_key(&issued.record, &[audit]).await?;
        write_key_file(file, issued.secret.expose_secret())?;
        return Ok(issued.secret.expose_secret().to_owned());
    }
    Ok(key)
}

impl LocalStack {
    /// Opens the data directory, bootstraps the dev and operator tenants, starts the
    /// workers and the API on `127.0.0.1:<port>`.
    pub async fn start(config: StackConfig) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
        let adapters = Adapters::open(&config).await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{} (set --port or AOS_PORT)", config.port))?;
        let addr = listener.local_addr()?;
        let tenants = Arc::clone(&adapters.tenants);
        let dev_key = bootstrap_key(
            tenants.as_ref(),
            DEV_TENANT,
            Role::Admin,
            &config.data_dir.join("dev-api-key"),
            config.dev_api_key.as_deref(),
        )
        .await?;
        let op_key = bootstrap_key(
            tenants.as_ref(),
            OPERATOR_TENANT,
            Role::Operator,
            &config.data_dir.join("operator-api-key"),
            None,
        )
        .await?;
        let mut allow = format!("127.0.0.1:{},localhost:{},{}", addr.port(), addr.port(), config.allow_hosts);
        // A local model server the operator named (Ollama, vLLM, llama.cpp) is reachable
        // on loopback; the default address is not allowed unless named.
        if let Some(target) = explicit_local_model() {
            allow = format!("{allow},{target}");
        }
        let policy =
            AddressPolicy::parse_allow_list(&allow).map_err(|e| anyhow::anyhow!("AOS_HTTP_ALLOW_HOSTS: {e}"))?;
        let bedrock: Arc<dyn aos_runtime::llm::LlmProvider> = Arc::new(aos_aws::BedrockConverse::lazy());
        let ses = adapters.aws.as_ref().map(|a| a.mailer());
        let mut extra =
            aos_runtime::skills::WorkerSkills::from_env(Arc::clone(&adapters.secrets), &policy, Some(bedrock), ses)
                .map_err(|e| anyhow::anyhow!(e))?;
        if let Some(llm) = &config.llm {
            extra.llm = llm.clone();
        }
        let llm_prices = extra.llm.clone();
        let skills = aos_runtime::skills::worker_registry(policy, extra)?;
        skills.check_schemas()?;
        let skills = Arc::new(skills);
        // One credit service for the API and the workers: a grant made here meters the
        // tenant's next step at once.
        let credits = aos_runtime::credits::CreditService::new(Arc::clone(&adapters.credits)).with_llm(llm_prices);
        let quotas =
            aos_runtime::limits::QuotaService::new(Arc::clone(&tenants), Arc::clone(&adapters.runs), config.plan);
        // The workers signal each change of a run to the API's callers waiting for it
        // (`?wait=`, event streams): they wake at the change, not at a poll interval.
        let changes = Arc::new(aos_runtime::changes::Changes::default());
        let runs = RunService::new(Arc::clone(&adapters.runs), Arc::clone(&adapters.idempotency), Arc::clone(&skills))
            .with_planner_defaults(config.worker.planner.clone())
            .with_credits(credits.clone())
            .with_quotas(quotas.clone())
            .with_changes(Arc::clone(&changes))
            .with_wait_cap(DEV_WAIT_CAP);
        let workflows = match &adapters.aws {
            Some(aws) => aws.workflow_service(Arc::clone(&skills)),
            None => adapters.workflows.as_ref().map(|store| {
                WorkflowService::new(
                    Arc::clone(store),
                    Arc::clone(&adapters.runs),
                    Arc::clone(&adapters.idempotency),
                    Arc::clone(&skills),
                )
                .with_changes(Arc::clone(&changes))
            }),
        };
        let (demo, sink) = demo_router();
        let secrets = aos_runtime::secrets::SecretService::new(Arc::clone(&adapters.tenant_secrets))
            .with_audit(Arc::clone(&adapters.audit));
        let policies = aos_runtime::policies::PolicyService::new(Arc::clone(&adapters.policies));
        let audit = aos_runtime::audit::AuditService::new(Arc::clone(&adapters.audit));
        let environment =
            std::env::var("AOS_ENVIRONMENT").unwrap_or_else(|_| aos_runtime::flags::DEV_ENVIRONMENT.to_owned());
        let flags = aos_runtime::flags::FlagService::new(Arc::clone(&adapters.flags), environment)
            .with_notifications(Arc::clone(&adapters.runs));
        let app = router(AppState {
            runs,
            tenants,
            workflows: workflows.clone(),
            secrets,
            policies: policies.clone(),
            audit,
            flags: flags.clone(),
            credits: credits.clone(),
            limits: Some(Arc::new(aos_runtime::limits::InProcessLimiter::new())),
            quotas: quotas.clone(),
            usage: aos_runtime::usage::UsageService::new(Arc::clone(&adapters.usage)),
        })
        .merge(demo);
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..config.workers.max(1) {
            let mut worker = StepWorker::new(
                Arc::clone(&adapters.runs),
                Arc::clone(&adapters.queue),
                Arc::clone(&adapters.kv),
                Arc::clone(&skills),
                config.worker.clone(),
            );
            // The API's policy service: a version applied here judges the next step at once.
            worker = worker
                .with_breakers(Arc::clone(&adapters.breakers))
                .with_secrets(Arc::clone(&adapters.tenant_secrets))
                .with_policies(policies.clone())
                .with_flags(flags.clone())
                .with_credits(credits.clone())
                .with_quotas(quotas.clone())
                .with_changes(Arc::clone(&changes));
            // The gate's approvals live with the workflows' (one listing, one decision route).
            let approvals = match &adapters.aws {
                Some(aws) => Some(aws.workflows.clone() as Arc<dyn WorkflowStore>),
                None => adapters.workflows.clone(),
            };
            if let Some(store) = approvals {
                worker = worker.with_approvals(store);
            }
            if let Some(hook) = &config.after_effect {
                worker = worker.with_after_effect_hook(Arc::clone(hook));
            }
            match (&adapters.aws, &workflows) {
                (Some(aws), _) => worker = worker.with_sfn_tasks(aws.sfn_tasks()),
                (None, Some(w)) => worker = worker.with_workflows(w.clone()),
                (None, None) => {}
            }
            tasks.push(tokio::spawn(worker.run_loop(rx.clone())));
        }
        if adapters.aws.is_some() {
            // DynamoDB and SQS are two writes: the sweep sends the first message of a
            // run whose submission died between them.
            let sweeper = aos_runtime::sweep::Sweeper::new(
                Arc::clone(&adapters.tenants),
                Arc::clone(&adapters.runs),
                Arc::clone(&adapters.queue),
                aos_runtime::sweep::DEFAULT_GRACE,
            );
            tasks.push(tokio::spawn(sweeper.run_loop(aos_runtime::sweep::DEFAULT_EVERY, rx.clone())));
        }
        // Reservations of steps that never ended go back at their timeout.
        tasks.push(tokio::spawn(aos_runtime::credits::expiry_loop(
            Arc::clone(&adapters.tenants),
            Arc::clone(&adapters.credits),
            aos_runtime::sweep::DEFAULT_EVERY,
            rx.clone(),
        )));
        // Finished runs past their tenant's retention are deleted, on either backend.
        let reaper = aos_runtime::retention::Reaper::new(Arc::clone(&adapters.tenants), Arc::clone(&adapters.runs))
            .with_records(
                match &adapters.aws {
                    Some(aws) => Some(aws.workflows.clone() as Arc<dyn WorkflowStore>),
                    None => adapters.workflows.clone(),
                },
                Arc::clone(&adapters.kv),
                Arc::clone(&adapters.breakers),
            );
        let reaper = match &adapters.aws {
            Some(aws) => reaper.with_step_functions(aws.workflows.clone(), aws.sfn.clone()),
            None => reaper,
        };
        tasks.push(tokio::spawn(reaper.run_loop(aos_runtime::retention::DEFAULT_EVERY, rx.clone())));
        let mut server_rx = rx;
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = server_rx.wait_for(|stop| *stop).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "API server stopped");
            }
        }));
        Ok(Self { addr, dev_api_key: dev_key, operator_api_key: op_key, sink, adapters, shutdown, tasks })
    }

    /// The API's base url.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the API and the workers (a step in flight finishes first) and closes the store.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        if let Some(e) = &self.adapters.embedded {
            e.db.close();
        }
    }
}
