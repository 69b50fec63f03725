//! Every AWS adapter, built once from the environment: what `aos dev --backend aws` and
//! the Lambda functions start from.

use crate::config::{sdk_config, AwsConfig, ConfigError};
use crate::resources::{create_queue, create_table};
use crate::{
    CallCounter, DynamoBreakers, DynamoIdempotency, DynamoKv, DynamoRunStore, DynamoTenants, DynamoWorkflows,
    SecretsManagerSecrets, SecretsManagerTenantSecrets, SqsQueue, StepFunctions,
};
use aos_runtime::StoreError;
use std::sync::Arc;
use std::time::Duration;

/// Receives after which a step message goes to the dead-letter queue.
pub const STEP_MAX_RECEIVE_COUNT: u32 = 5;

/// How long a worker keeps a tenant secret's value: a changed value reaches every warm
/// worker within this.
pub const TENANT_SECRET_TTL: Duration = Duration::from_secs(30);

/// The AWS backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting is missing.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A table or queue does not exist.
    #[error("{0} does not exist: deploy the stack (sam deploy) or start with --create-resources")]
    Missing(String),
    /// An AWS call failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to do about the table and queue at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resources {
    /// Check they exist and fail naming the missing one (`aos dev --backend aws`).
    Verify,
    /// Create them where missing (`--create-resources`, emulators, first use).
    Create,
    /// Assume they exist (Lambdas: the stack created them; saves cold-start calls).
    Trust,
}

/// The AWS adapters of every port.
pub struct AwsAdapters {
    /// Names of the resources in use.
    pub config: AwsConfig,
    /// Runs and step transitions.
    pub runs: Arc<DynamoRunStore>,
    /// The step queue.
    pub queue: Arc<SqsQueue>,
    /// Idempotency keys.
    pub idempotency: Arc<DynamoIdempotency>,
    /// Key-value data.
    pub kv: Arc<DynamoKv>,
    /// Tenants and API keys.
    pub tenants: Arc<DynamoTenants>,
    /// The deployment's secrets (cached 5 minutes).
    pub secrets: Arc<SecretsManagerSecrets>,
    /// Tenants' secrets (values cached 30 seconds).
    pub tenant_secrets: Arc<SecretsManagerTenantSecrets>,
    /// Workflow versions and approvals.
    pub workflows: Arc<DynamoWorkflows>,
    /// Step Functions (state machines, executions, task tokens).
    pub sfn: Arc<StepFunctions>,
    /// Circuit breakers.
    pub breakers: Arc<DynamoBreakers>,
    /// Tenants' policy sets.
    pub policies: Arc<crate::DynamoPolicies>,
    /// Tenants' audit logs.
    pub audit: Arc<crate::DynamoAudit>,
    /// Tenants' feature flags.
    pub flags: Arc<crate::DynamoFlags>,
    /// Tenants' credit ledgers.
    pub credits: Arc<crate::DynamoCredits>,
    /// Tenants' request rates, one bucket each shared by every instance.
    pub rates: Arc<crate::DynamoRateLimiter>,
    /// Finished runs' usage records.
    pub usage: Arc<crate::DynamoUsage>,
    /// Values too large for an item (S3), when a bucket is configured.
    pub blobs: Option<Arc<crate::S3Blobs>>,
    /// The SDK configuration the clients were built from.
    pub sdk: aws_config::SdkConfig,
}

fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

impl AwsAdapters {
    /// Reads `AOS_TABLE`, `AOS_STEP_QUEUE_URL`, `AOS_SECRETS_PREFIX` and the standard AWS
    /// settings, then handles the resources as `resources` says.
    pub async fn from_env(resources: Resources) -> Result<Self, SetupError> {
        Self::from_env_counted(resources, None).await
    }

    /// Like [`AwsAdapters::from_env`], counting every DynamoDB call in `counter`.
    pub async fn from_env_counted(resources: Resources, counter: Option<CallCounter>) -> Result<Self, SetupError> {
        Self::connect(AwsConfig::from_env()?, resources, counter).await
    }

    /// The adapters for explicitly named resources (`AWS_ENDPOINT_URL` and credentials
    /// still come from the environment), counting DynamoDB calls in `counter` if given.
    pub async fn connect(
        mut config: AwsConfig,
        resources: Resources,
        counter: Option<CallCounter>,
    ) -> Result<Self, SetupError> {
        let sdk = sdk_config().await;
        let mut ddb_config = aws_sdk_dynamodb::config::Builder::from(&sdk);
        if let Some(c) = &counter {
            ddb_config = ddb_config.interceptor(c.clone());
        }
        let ddb = aws_sdk_dynamodb::Client::from_conf(ddb_config.build());
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        match resources {
            Resources::Create => {
                create_table(&ddb, &config.table).await?;
                let urls = create_queue(&sqs, queue_name(&config.step_queue_url), STEP_MAX_RECEIVE_COUNT, 180).await?;
                config.step_queue_url = urls.queue;
            }
            Resources::Verify => {
                if ddb.describe_table().table_name(&config.table).send().await.is_err() {
                    return Err(SetupError::Missing(format!("DynamoDB table {:?} (AOS_TABLE)", config.table)));
                }
                if sqs.get_queue_attributes().queue_url(&config.step_queue_url).send().await.is_err() {
                    return Err(SetupError::Missing(format!(
                        "SQS queue {:?} (AOS_STEP_QUEUE_URL)",
                        config.step_queue_url
                    )));
                }
            }
            Resources::Trust => {}
        }
        if resources == Resources::Create && config.blob_bucket.is_none() {
            config.blob_bucket = Some(format!("{}-blobs", config.table.to_ascii_lowercase()));
        }
        let blobs = config
            .blob_bucket
            .as_ref()
            .map(|b| Arc::new(crate::S3Blobs::new(crate::S3Blobs::counted_client(&sdk, counter.clone()), b)));
        if let (Resources::Create, Some(b)) = (resources, &blobs) {
            b.create_bucket().await?;
        }
        if blobs.is_none() {
            tracing::warn!(
                "AOS_BLOB_BUCKET is not set: a checkpoint, output or plan over {} bytes cannot be stored, and its step will not commit",
                crate::INLINE_MAX_BYTES
            );
        }
        let mut runs =
            DynamoRunStore::new(ddb.clone(), &config.table, SqsQueue::new(sqs.clone(), &config.step_queue_url));
        if let Some(b) = &blobs {
            runs = runs.with_blobs(b.clone());
        }
        let queue = SqsQueue::new(sqs.clone(), &config.step_queue_url);
        Ok(Self {
            blobs,
            runs: Arc::new(runs),
            queue: Arc::new(queue),
            idempotency: Arc::new(DynamoIdempotency::new(ddb.clone(), &config.table)),
            kv: Arc::new(DynamoKv::new(ddb.clone(), &config.table)),
            workflows: Arc::new(
                DynamoWorkflows::new(ddb.clone(), &config.table)
                    .with_queue(SqsQueue::new(sqs.clone(), &config.step_queue_url)),
            ),
            breakers: Arc::new(DynamoBreakers::new(ddb.clone(), &config.table)),
            policies: Arc::new(crate::DynamoPolicies::new(ddb.clone(), &config.table)),
            audit: Arc::new(crate::DynamoAudit::new(ddb.clone(), &config.table)),
            flags: Arc::new(crate::DynamoFlags::new(ddb.clone(), &config.table)),
            credits: Arc::new(crate::DynamoCredits::new(ddb.clone(), &config.table)),
            rates: Arc::new(crate::DynamoRateLimiter::new(ddb.clone(), &config.table)),
            usage: Arc::new(crate::DynamoUsage::new(ddb.clone(), &config.table)),
            sdk: sdk.clone(),
            tenants: Arc::new(DynamoTenants::new(ddb, &config.table)),
            sfn: Arc::new(StepFunctions::new(aws_sdk_sfn::Client::new(&sdk))),
            secrets: Arc::new(SecretsManagerSecrets::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                &config.secrets_prefix,
                Duration::from_secs(300),
            )),
            tenant_secrets: Arc::new(SecretsManagerTenantSecrets::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                &config.secrets_prefix,
                TENANT_SECRET_TTL,
            )),
            config,
        })
    }
}

impl AwsAdapters {
    /// Step Functions as the workflow engine, when `AOS_WORKFLOW_ROLE_ARN` is set.
    pub fn workflow_engine(&self) -> Option<aos_runtime::workflows::StepFunctionsEngine> {
        Some(aos_runtime::workflows::StepFunctionsEngine {
            machines: self.sfn.clone(),
            records: self.workflows.clone(),
            tokens: self.sfn.clone(),
            queue_url: self.config.step_queue_url.clone(),
            role_arn: self.config.workflow_role_arn.clone()?,
            prefix: self.config.workflow_prefix.clone(),
            blobs: self.blobs.clone().map(|b| b as Arc<dyn aos_runtime::ports::BlobStore>),
        })
    }

    /// What the step worker needs to answer Step Functions tasks (and record progress).
    pub fn sfn_tasks(&self) -> aos_runtime::sfn::SfnTasks {
        let tasks = aos_runtime::sfn::SfnTasks::new(
            self.runs.clone(),
            self.queue.clone(),
            self.sfn.clone(),
            self.workflows.clone(),
        )
        .with_records(self.workflows.clone());
        match &self.blobs {
            Some(b) => tasks.with_blobs(b.clone()),
            None => tasks,
        }
    }

    /// The workflow use cases on Step Functions, validating with `skills`; `None` without
    /// `AOS_WORKFLOW_ROLE_ARN`.
    pub fn workflow_service(
        &self,
        skills: Arc<aos_runtime::SkillRegistry>,
    ) -> Option<aos_runtime::workflows::WorkflowService> {
        let engine = self.workflow_engine()?;
        Some(
            aos_runtime::workflows::WorkflowService::new(
                self.workflows.clone(),
                self.runs.clone(),
                self.idempotency.clone(),
                skills,
            )
            .with_step_functions(engine),
        )
    }
}

impl AwsAdapters {
    /// Amazon SES v2 as `email_send`'s mailer (the SDK configuration loaded lazily would
    /// be nicer; building a client costs no network call).
    pub fn mailer(&self) -> Arc<dyn aos_runtime::skills::Mailer> {
        Arc::new(crate::SesMailer::new(aws_sdk_sesv2::Client::new(&self.sdk)))
    }
}
