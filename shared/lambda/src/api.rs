//! An API route as a Lambda behind API Gateway.

use aos_api::{router_for, AppState, GatewayPrincipal, Route};
use aos_aws::{AwsAdapters, Resources};
use aos_core::{ApiKeyId, TenantId};
use aos_runtime::auth::Principal;
use aos_runtime::ports::{Grant, Permission};
use aos_runtime::runs::RunService;
use aos_runtime::skills::declared_registry;
use aos_runtime::SkillRegistry;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The handlers' state from AWS adapters configured by the environment
/// (`AOS_TABLE`, `AOS_STEP_QUEUE_URL`), with `skills` for validating plans.
pub async fn state_from_env(skills: SkillRegistry) -> Result<AppState, crate::Error> {
    let aws = AwsAdapters::from_env(Resources::Trust).await?;
    let skills = Arc::new(skills);
    let workflows = aws.workflow_service(Arc::clone(&skills));
    let notices: Arc<dyn aos_runtime::RunStore> = aws.runs.clone();
    let credits = aos_runtime::credits::CreditService::new(aws.credits);
    let quotas = aos_runtime::limits::QuotaService::new(aws.tenants.clone(), aws.runs.clone(), crate::default_plan()?);
    let runs =
        RunService::new(aws.runs, aws.idempotency, skills).with_credits(credits.clone()).with_quotas(quotas.clone());
    let secrets = aos_runtime::secrets::SecretService::new(aws.tenant_secrets).with_audit(aws.audit.clone());
    let policies = aos_runtime::policies::PolicyService::new(aws.policies).with_cache_ttl(crate::policy_cache_ttl()?);
    let audit = aos_runtime::audit::AuditService::new(aws.audit.clone());
    let flags = aos_runtime::flags::FlagService::new(aws.flags, crate::environment())
        .with_cache_ttl(crate::policy_cache_ttl()?)
        .with_notifications(notices);
    // Request rates: one bucket per tenant in DynamoDB, shared by every instance of every
    // route (a tenant on a plan without a rate costs nothing).
    let limits: Arc<dyn aos_runtime::limits::RateLimiter> = aws.rates;
    Ok(AppState {
        runs,
        tenants: aws.tenants,
        workflows,
        secrets,
        policies,
        audit,
        flags,
        credits,
        limits: Some(limits),
        quotas,
        usage: aos_runtime::usage::UsageService::new(aws.usage),
    })
}

/// The router of `routes` behind API Gateway: a request the HTTP API's Lambda authorizer
/// let through carries the caller in its request context, and the routes trust it (no
/// second key lookup). Requests without that context authenticate as usual.
pub fn gateway_router(routes: &[Route], state: AppState) -> axum::Router {
    router_for(routes, state).layer(axum::middleware::map_request(trust_authorizer))
}

async fn trust_authorizer(mut req: axum::extract::Request) -> axum::extract::Request {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    let principal = match req.extensions().request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer.as_ref().and_then(|a| principal_of(&a.fields)),
        _ => None,
    };
    if let Some(p) = principal {
        req.extensions_mut().insert(GatewayPrincipal(p));
    }
    req
}

/// The principal in the authorizer's context (`crate::authorizer::authorize` writes it).
fn principal_of(fields: &std::collections::HashMap<String, serde_json::Value>) -> Option<Principal> {
    let text = |k: &str| fields.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
    let scopes = match text("scopes").as_deref() {
        None | Some("*") => None,
        Some(names) => Some(names.split_whitespace().map(Permission::parse).collect::<Option<BTreeSet<_>>>()?),
    };
    let level = fields.get("approval_level").and_then(serde_json::Value::as_u64).unwrap_or(0);
    Some(Principal {
        tenant: TenantId::parse(text("tenant_id")?).ok()?,
        key_id: ApiKeyId::parse(text("key_id")?).ok()?,
        grant: Grant {
            role: serde_json::from_value(fields.get("role")?.clone()).ok()?,
            scopes,
            approval_level: u8::try_from(level).ok().filter(|l| *l > 0),
        },
    })
}

/// Serves `route`, which needs no skill (reading runs, keys, tenants), until the Lambda
/// environment shuts down. The skills' code (HTTP client, TLS) is not even linked in.
pub async fn serve(route: Route) -> Result<(), crate::Error> {
    crate::init_tracing();
    let state = state_from_env(SkillRegistry::new()).await?;
    lambda_http::run(gateway_router(&[route], state)).await
}

/// Serves `route`, which needs the skills' declarations (submitting runs, listing
/// skills) but never executes one.
pub async fn serve_with_skills(route: Route) -> Result<(), crate::Error> {
    crate::init_tracing();
    let state = state_from_env(declared_registry()).await?;
    lambda_http::run(gateway_router(&[route], state)).await
}
