//! API key authentication: `Authorization: Bearer <key>` or `x-api-key: <key>`.

use crate::error::ApiError;
use crate::routes::{AppState, Route, Shared};
use aos_core::roles::Role;
use aos_core::ErrorCode;
use aos_runtime::auth::authenticate;
pub(crate) use aos_runtime::auth::Principal;
use aos_runtime::ports::Permission;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use secrecy::SecretString;

/// The API key a request presents: `x-api-key: <key>` or `Authorization: Bearer <key>`.
/// The one parser of both headers, used by the routes and by the Lambda authorizer.
pub fn presented_key(headers: &axum::http::HeaderMap) -> Option<SecretString> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(SecretString::from(v.trim().to_owned()));
    }
    let auth = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| SecretString::from(key.trim().to_owned()))
}

/// A caller the API Gateway authorizer already authenticated: the Lambda glue puts it in
/// the request's extensions from the authorizer's context (never from anything the client
/// sent), and the routes trust it instead of looking the key up a second time.
#[derive(Debug, Clone)]
pub struct GatewayPrincipal(pub Principal);

/// The authenticated caller of a request.
pub(crate) struct Caller(pub(crate) Principal);

/// The caller as [`authorize`] found it, for the handler.
#[derive(Clone)]
struct Authorized(Principal);

/// The caller of a request: the one the authorizer already authenticated, or the one
/// whose key the request presents.
async fn principal(
    headers: &axum::http::HeaderMap,
    ext: &axum::http::Extensions,
    state: &AppState,
) -> Result<Principal, ApiError> {
    if let Some(Authorized(p)) = ext.get::<Authorized>() {
        return Ok(p.clone());
    }
    if let Some(GatewayPrincipal(p)) = ext.get::<GatewayPrincipal>() {
        return Ok(p.clone());
    }
    let key = presented_key(headers).ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`",
        )
    })?;
    Ok(authenticate(state.tenants.as_ref(), &key).await?)
}

/// The permission check in front of every route but `/healthz`: authenticates the
/// caller, refuses it with 403 `ERR_PERMISSION_DENIED` naming the permission the route
/// needs when its key does not hold it, then asks the tenant's policies about the
/// operation (403 `ERR_POLICY_VIOLATION` naming the policy when one forbids it), and
/// hands the caller on to the handler.
pub(crate) async fn authorize(
    state: Shared,
    route: Route,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let p = match principal(req.headers(), req.extensions(), &state).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    // The tenant's request rate: every answer to a known caller says where it stands.
    let rate = match &state.limits {
        None => None,
        Some(limits) => {
            // The tenant's plan (kept for 30 s); a store that cannot say limits it by the
            // deployment's default.
            let plan = state.quotas.plan(&p.tenant).await.unwrap_or_else(|e| {
                tracing::warn!(tenant = %p.tenant, error = %e, "the tenant's plan could not be read");
                state.quotas.default_plan()
            });
            limits.check(&p.tenant, plan).await
        }
    };
    let mut resp = match rate {
        Some(d) if !d.allowed => too_many(d),
        _ => 'answer: {
            if let Some(needed) = route.permission() {
                if let Err(e) = require(&p, needed) {
                    break 'answer e.into_response();
                }
            }
            if let Err(e) = judge_operation(&state, route, &p, req.method().as_str(), req.uri().path()).await {
                break 'answer e.into_response();
            }
            req.extensions_mut().insert(Authorized(p));
            next.run(req).await
        }
    };
    if let Some(d) = rate {
        rate_headers(resp.headers_mut(), &d);
    }
    resp
}

/// `X-RateLimit-Limit` (requests per 60 s), `-Remaining` (that may be sent at once) and
/// `-Reset` (seconds until the full allowance is back).
fn rate_headers(headers: &mut axum::http::HeaderMap, d: &aos_runtime::limits::RateDecision) {
    for (name, value) in [
        ("x-ratelimit-limit", u64::from(d.limit)),
        ("x-ratelimit-remaining", u64::from(d.remaining)),
        ("x-ratelimit-reset", d.reset_s),
    ] {
        headers.insert(name, axum::http::HeaderValue::from(value));
    }
}

/// 429 `ERR_RATE_LIMIT_INTERNAL` with `Retry-After`: nothing of the request was done.
fn too_many(d: aos_runtime::limits::RateDecision) -> axum::response::Response {
    use axum::response::IntoResponse;
    let message = format!(
        "this tenant sent more than its {} requests per 60 s; retry after {} s (X-RateLimit-* headers say where it stands)",
        d.limit, d.retry_after_s
    );
    let details = serde_json::json!({"limit": d.limit, "retry_after_s": d.retry_after_s});
    let mut resp = ApiError::new(ErrorCode::RateLimitInternal, message).with_details(details).into_response();
    resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(d.retry_after_s));
    resp
}

/// What the tenant's policies about API operations say of `route` called by `p`: a
/// refusal is on the tenant's audit log (`api.deny`) and answers 403. The operator works
/// across tenants and is not judged by one tenant's policies; an admin key may always
/// read and change the policies, so no policy can lock its tenant out. Policies that
/// cannot be read refuse the request (503-like `ERR_INTERNAL`), never let it by.
async fn judge_operation(
    state: &AppState,
    route: Route,
    p: &Principal,
    method: &str,
    path: &str,
) -> Result<(), ApiError> {
    let Some(operation) = route.operation() else { return Ok(()) };
    let exempt = p.role() == Role::Operator
        || (p.role() == Role::Admin && matches!(route, Route::PoliciesPut | Route::PoliciesList));
    if exempt {
        return Ok(());
    }
    let current = state.policies.compiled(&p.tenant).await?;
    if !current.policies.has_api_policies() {
        return Ok(());
    }
    let facts = aos_runtime::policies::api_facts(&p.tenant, p.key_id.as_str(), &p.grant, operation, (method, path));
    let judged = current.policies.evaluate_api(&facts);
    if judged.decision == aos_runtime::policies::Decision::Allow {
        return Ok(());
    }
    let names: Vec<&str> = judged.violations.iter().map(|v| v.policy.as_str()).collect();
    let why = judged.violations.first().map_or_else(|| judged.reasons.join("; "), |v| v.message.clone());
    let details = serde_json::json!({
        "operation": operation,
        "policy_version": current.version,
        "violations": judged.violations,
    });
    let event = aos_core::audit::AuditEvent::new(&p.tenant, p.actor(), "api.deny", format!("operation:{operation}"), "deny", facts.now_ms)
        .because(judged.reasons.clone())
        .with_details(serde_json::json!({"method": method, "path": path, "policy_version": current.version, "violations": judged.violations}));
    if let Err(e) = state.audit.store().append(&[event]).await {
        // The request is refused all the same.
        tracing::warn!(error = %e, tenant = %p.tenant, operation, "the refusal could not be put on the audit log");
    }
    let policies =
        if names.is_empty() { "the tenant's policies".to_owned() } else { format!("policy {}", names.join(", ")) };
    Err(ApiError::new(ErrorCode::PolicyViolation, format!("{operation} is refused by {policies}: {why}"))
        .with_details(details))
}

/// Refuses `p` unless its key holds `needed`.
pub(crate) fn require_permission(p: &Principal, needed: Permission) -> Result<(), ApiError> {
    require(p, needed)
}

/// The caller [`authorize`] let through, from a request's extensions.
pub(crate) fn authorized(ext: &axum::http::Extensions) -> Option<Principal> {
    ext.get::<Authorized>().map(|Authorized(p)| p.clone())
}

fn require(p: &Principal, needed: Permission) -> Result<(), ApiError> {
    if p.grant.allows(needed) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::PermissionDenied,
        format!("this needs the {needed} permission, which this key (role {}) does not hold", p.role()),
    ))
}

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        Ok(Self(principal(&parts.headers, &parts.extensions, state).await?))
    }
}

impl Caller {
    /// Refuses the caller unless its key holds `needed` (beyond what the route needs).
    pub(crate) fn require(&self, needed: Permission) -> Result<(), ApiError> {
        require(&self.0, needed)
    }
}
