//! An API route as a Lambda behind API Gateway.

use aos_api::{router_for, AppState, Route};
use aos_aws::{AwsAdapters, Resources};
use aos_runtime::net::AddressPolicy;
use aos_runtime::runs::RunService;
use aos_runtime::skills::default_registry;
use std::sync::Arc;

/// The handlers' state from AWS adapters configured by the environment
/// (`AOS_TABLE`, `AOS_STEP_QUEUE_URL`, `AOS_HTTP_ALLOW_HOSTS`).
pub async fn state_from_env() -> Result<AppState, crate::Error> {
    let aws = AwsAdapters::from_env(Resources::Trust).await?;
    let policy = AddressPolicy::parse_allow_list(&std::env::var("AOS_HTTP_ALLOW_HOSTS").unwrap_or_default())?;
    let skills = Arc::new(default_registry(policy)?);
    let runs = RunService::new(aws.runs, aws.idempotency, skills);
    Ok(AppState { runs, tenants: aws.tenants })
}

/// Serves `route` until the Lambda environment shuts down.
pub async fn serve(route: Route) -> Result<(), crate::Error> {
    crate::init_tracing();
    let state = state_from_env().await?;
    lambda_http::run(router_for(&[route], state)).await
}
