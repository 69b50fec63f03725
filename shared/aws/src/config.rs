//! Typed configuration of the AWS adapters, read once from the environment.

use aws_config::BehaviorVersion;

/// A required setting is missing or invalid.
#[derive(Debug, thiserror::Error)]
#[error("{name} is not set: {hint}")]
pub struct ConfigError {
    name: &'static str,
    hint: &'static str,
}

/// Names of the resources the adapters use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    /// DynamoDB table (`AOS_TABLE`).
    pub table: String,
    /// URL of the step queue (`AOS_STEP_QUEUE_URL`).
    pub step_queue_url: String,
    /// Prefix of secret names in Secrets Manager (`AOS_SECRETS_PREFIX`, default `aos/`).
    pub secrets_prefix: String,
    /// Role the workflows' state machines run as (`AOS_WORKFLOW_ROLE_ARN`); without it the
    /// workflow routes answer `ERR_FEATURE_UNAVAILABLE`.
    pub workflow_role_arn: Option<String>,
    /// Prefix of the workflows' state machine names (`AOS_WORKFLOW_PREFIX`, default `aos-wf-`).
    pub workflow_prefix: String,
    /// S3 bucket of values too large for a DynamoDB item (`AOS_BLOB_BUCKET`); without it,
    /// `--create-resources` makes `<table>-blobs`, and elsewhere such values fail to write.
    pub blob_bucket: Option<String>,
}

fn required(name: &'static str, hint: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).ok_or(ConfigError { name, hint })
}

impl AwsConfig {
    /// Reads `AOS_TABLE`, `AOS_STEP_QUEUE_URL` and `AOS_SECRETS_PREFIX`. Fails naming the
    /// first missing one.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table: required("AOS_TABLE", "set it to the DynamoDB table name (the SAM stack output TableName)")?,
            step_queue_url: required(
                "AOS_STEP_QUEUE_URL",
                "set it to the step queue URL (the SAM stack output StepQueueUrl)",
            )?,
            secrets_prefix: std::env::var("AOS_SECRETS_PREFIX").unwrap_or_else(|_| "aos/".to_owned()),
            workflow_role_arn: std::env::var("AOS_WORKFLOW_ROLE_ARN").ok().filter(|v| !v.trim().is_empty()),
            workflow_prefix: std::env::var("AOS_WORKFLOW_PREFIX").unwrap_or_else(|_| "aos-wf-".to_owned()),
            blob_bucket: std::env::var("AOS_BLOB_BUCKET").ok().filter(|v| !v.trim().is_empty()),
        })
    }

    /// A deployment of its own, every resource named `name`, at `endpoint` (the
    /// emulator's URL): the scratch table and queue of a benchmark or a test, made with
    /// [`crate::Resources::Create`]. No workflow role and no blob bucket.
    pub fn scratch(endpoint: &str, name: &str) -> Self {
        Self {
            table: name.to_owned(),
            step_queue_url: format!("{}/000000000000/{name}", endpoint.trim_end_matches('/')),
            secrets_prefix: format!("{name}/"),
            workflow_role_arn: None,
            workflow_prefix: "aos-wf-".to_owned(),
            blob_bucket: None,
        }
    }
}

/// The SDK configuration from the standard chain: region, credentials and
/// `AWS_ENDPOINT_URL` (which points every client at LocalStack or moto when set).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}
