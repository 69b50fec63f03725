//! An API route as a Lambda behind API Gateway.

use aos_api::{router_for, AppState, Route};
use aos_aws::{AwsAdapters, Resources};
use aos_runtime::runs::RunService;
use aos_runtime::skills::declared_registry;
use aos_runtime::SkillRegistry;
use std::sync::Arc;

/// The handlers' state from AWS adapters configured by the environment
/// (`AOS_TABLE`, `AOS_STEP_QUEUE_URL`), with `skills` for validating plans.
pub async fn state_from_env(skills: SkillRegistry) -> Result<AppState, crate::Error> {
    let aws = AwsAdapters::from_env(Resources::Trust).await?;
    let skills = Arc::new(skills);
    let workflows = aws.workflow_service(Arc::clone(&skills));
    let runs = RunService::new(aws.runs, aws.idempotency, skills);
    Ok(AppState { runs, tenants: aws.tenants, workflows })
}

/// Serves `route`, which needs no skill (reading runs, keys, tenants), until the Lambda
/// environment shuts down. The skills' code (HTTP client, TLS) is not even linked in.
pub async fn serve(route: Route) -> Result<(), crate::Error> {
    crate::init_tracing();
    let state = state_from_env(SkillRegistry::new()).await?;
    lambda_http::run(router_for(&[route], state)).await
}

/// Serves `route`, which needs the skills' declarations (submitting runs, listing
/// skills) but never executes one.
pub async fn serve_with_skills(route: Route) -> Result<(), crate::Error> {
    crate::init_tracing();
    let state = state_from_env(declared_registry()).await?;
    lambda_http::run(router_for(&[route], state)).await
}
