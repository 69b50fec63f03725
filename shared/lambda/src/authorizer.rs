//! The HTTP API Lambda authorizer: the API key in `Authorization: Bearer` or `x-api-key`
//! becomes the caller's tenant, key id and role in the request context. API Gateway
//! caches the answer per key (see the template's `AuthorizerResultTtlInSeconds`).

use aos_aws::{AwsAdapters, Resources};
use aos_runtime::auth::authenticate;
use aos_runtime::TenantStore;
use aws_lambda_events::event::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::json;

/// Decides one request: authorized with the caller's context ([`context_of`]) for a valid key,
/// refused otherwise (also when the store fails: fail closed).
pub async fn authorize(
    tenants: &dyn TenantStore,
    req: &ApiGatewayV2CustomAuthorizerV2Request,
) -> ApiGatewayV2CustomAuthorizerSimpleResponse {
    let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
    let Some(key) = aos_api::presented_key(&req.headers) else { return response };
    match authenticate(tenants, &key).await {
        Ok(p) => {
            response.is_authorized = true;
            response.context = context_of(&p);
        }
        Err(e) => tracing::info!(reason = %e, "request refused"),
    }
    response
}

/// The caller as the request context carries it to the route Lambdas (flat strings and
/// numbers, as API Gateway passes them): tenant, key, role, scopes (`*`: all of the
/// role's) and approval level (0: the role's).
pub fn context_of(p: &aos_runtime::auth::Principal) -> serde_json::Value {
    let scopes = p
        .grant
        .scopes
        .as_ref()
        .map_or_else(|| "*".to_owned(), |s| s.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" "));
    json!({
        "tenant_id": p.tenant, "key_id": p.key_id, "role": p.grant.role,
        "scopes": scopes, "approval_level": p.grant.approval_level.unwrap_or(0),
    })
}

/// Serves authorization requests until the Lambda environment shuts down.
pub async fn serve() -> Result<(), crate::Error> {
    crate::init_tracing();
    let aws = AwsAdapters::from_env(Resources::Trust).await?;
    let tenants = aws.tenants;
    let tenants = &tenants;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| async move {
        Ok::<_, crate::Error>(authorize(tenants.as_ref(), &event.payload).await)
    }))
    .await
}
