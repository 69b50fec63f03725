//! AWS adapters for the AOS ports: DynamoDB (one table), SQS (the step queue with its
//! dead-letter queue) and Secrets Manager (cached). Configured only from the environment
//! and the standard `AWS_ENDPOINT_URL`, so the same code reaches AWS, LocalStack or moto.

mod audit;
mod bedrock;
mod blobs;
mod breakers;
mod config;
mod counter;
mod credits;
mod dynamo;
mod flags;
mod idempotency;
mod kv;
mod limits;
mod policies;
mod queue;
mod resources;
mod runs;
mod secrets;
mod ses;
mod sfn;
mod tenants;
mod txn;
mod usage;
mod wiring;
mod workflows;

pub use audit::DynamoAudit;
pub use bedrock::BedrockConverse;
pub use blobs::S3Blobs;

/// The index of finished runs by their end (`gsi2pk` = `TENANT#<t>#ENDED`, `gsi2sk` =
/// `<end ms, 13 digits>#<run id>`), which the retention reaper reads.
pub const ENDS_INDEX: &str = "ends";

/// The index of runs by status (`gsi3pk` = `TENANT#<t>#STATUS#<status>`, `gsi3sk` = run
/// id; it projects `since_ms`, when the run entered its status): run listings, the count
/// of live runs and the sweeps read it.
pub const STATUS_INDEX: &str = "status";
pub use breakers::DynamoBreakers;
pub use config::{sdk_config, AwsConfig, ConfigError};
pub use counter::CallCounter;
pub use credits::DynamoCredits;
pub use flags::DynamoFlags;
pub use idempotency::DynamoIdempotency;
pub use kv::DynamoKv;
pub use limits::DynamoRateLimiter;
pub use policies::DynamoPolicies;
pub use queue::SqsQueue;
pub use resources::{create_queue, create_table, put_deployment_secret, table_items_text, QueueUrls};
pub use runs::{DynamoRunStore, INLINE_MAX_BYTES};
pub use secrets::{SecretsManagerSecrets, SecretsManagerTenantSecrets};
pub use ses::SesMailer;
pub use sfn::StepFunctions;
pub use tenants::DynamoTenants;
pub use usage::DynamoUsage;
pub use wiring::{AwsAdapters, Resources, SetupError, STEP_MAX_RECEIVE_COUNT, TENANT_SECRET_TTL};
pub use workflows::DynamoWorkflows;
