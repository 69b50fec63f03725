//! The route table and handlers. Each handler parses, calls one use case, maps the result.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::flows;
use crate::policies;
use crate::secrets;
use crate::views;
use aos_core::page::PageLimit;
use aos_core::{ApiKeyId, ErrorCode, RunId, RunStatus, TenantId};
use aos_runtime::auth::{create_tenant_keeping, issue_key_with};
use aos_runtime::clock::now_ms;
use aos_runtime::policies::PolicyService;
use aos_runtime::ports::{Grant, Permission, Role, StoreError, TenantStore};
use aos_runtime::runs::{RunQuery, RunService, SubmitRun};
use aos_runtime::secrets::SecretService;
use aos_runtime::workflows::WorkflowService;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the handlers need.
#[derive(Clone)]
pub struct AppState {
    /// Run use cases.
    pub runs: RunService,
    /// Tenants and keys.
    pub tenants: Arc<dyn TenantStore>,
    /// Workflow use cases, where the backend offers them.
    pub workflows: Option<WorkflowService>,
    /// Tenants' secrets.
    pub secrets: SecretService,
    /// Tenants' policy sets.
    pub policies: PolicyService,
    /// Tenants' audit logs.
    pub audit: aos_runtime::audit::AuditService,
    /// Tenants' feature flags.
    pub flags: aos_runtime::flags::FlagService,
    /// Tenants' credits and CostSim.
    pub credits: aos_runtime::credits::CreditService,
    /// Each tenant's request rate (`None`: unlimited).
    pub limits: Option<Arc<dyn aos_runtime::limits::RateLimiter>>,
    /// Tenants' plans and quotas.
    pub quotas: aos_runtime::limits::QuotaService,
    /// Finished runs' usage.
    pub usage: aos_runtime::usage::UsageService,
}

/// One API route: what `aos dev` serves all together and each API Lambda serves alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`
    Healthz,
    /// `GET /v1/skills`
    SkillsList,
    /// `POST /v1/runs`
    RunsCreate,
    /// `GET /v1/runs`
    RunsList,
    /// `GET /v1/runs/{id}`
    RunsGet,
    /// `GET /v1/runs/{id}/steps`
    RunsSteps,
    /// `POST /v1/runs/{id}/cancel`
    RunsCancel,
    /// `POST /v1/tenants`
    TenantsCreate,
    /// `PUT /v1/tenants/{id}/retention`
    TenantsRetention,
    /// `POST /v1/api-keys`
    KeysCreate,
    /// `GET /v1/api-keys`
    KeysList,
    /// `POST /v1/api-keys/{id}/revoke`
    KeysRevoke,
    /// `POST /v1/workflows`
    WorkflowsApply,
    /// `GET /v1/workflows/{name}`
    WorkflowsGet,
    /// `POST /v1/workflows/{name}/executions`
    ExecutionsStart,
    /// `GET /v1/executions/{id}`
    ExecutionsGet,
    /// `POST /v1/executions/{id}/cancel`
    ExecutionsCancel,
    /// `GET /v1/approvals`
    ApprovalsList,
    /// `POST /v1/approvals/{id}/decision`
    ApprovalsDecide,
    /// `GET /v1/secrets`
    SecretsList,
    /// `PUT /v1/secrets/{name}`
    SecretsPut,
    /// `DELETE /v1/secrets/{name}`
    SecretsDelete,
    /// `PUT /v1/policies`
    PoliciesPut,
    /// `GET /v1/policies`
    PoliciesList,
    /// `POST /v1/policies/evaluate`
    PoliciesEvaluate,
    /// `GET /v1/audit`
    AuditList,
    /// `PUT /v1/flags/{key}`
    FlagsPut,
    /// `GET /v1/flags`
    FlagsList,
    /// `GET /v1/flags/{key}`
    FlagsGet,
    /// `GET /v1/flags/{key}/evaluate`
    FlagsEvaluate,
    /// `GET /v1/credits`
    CreditsGet,
    /// `GET /v1/credits/ledger`
    CreditsLedger,
    /// `POST /v1/credits/grants`
    CreditsGrant,
    /// `POST /v1/runs/simulate`
    RunsSimulate,
    /// `POST /v1/workflows/{name}/simulate`
    WorkflowsSimulate,
    /// `PUT /v1/tenants/{id}/plan`
    TenantsPlan,
    /// `GET /v1/quotas`
    QuotasGet,
    /// `GET /v1/usage`
    UsageGet,
}

impl Route {
    /// Every route.
    pub const ALL: [Route; 38] = [
        Route::Healthz,
        Route::SkillsList,
        Route::RunsCreate,
        Route::RunsList,
        Route::RunsGet,
        Route::RunsSteps,
        Route::RunsCancel,
        Route::RunsSimulate,
        Route::TenantsCreate,
        Route::TenantsRetention,
        Route::TenantsPlan,
        Route::KeysCreate,
        Route::KeysList,
        Route::KeysRevoke,
        Route::WorkflowsApply,
        Route::WorkflowsGet,
        Route::WorkflowsSimulate,
        Route::ExecutionsStart,
        Route::ExecutionsGet,
        Route::ExecutionsCancel,
        Route::ApprovalsList,
        Route::ApprovalsDecide,
        Route::SecretsList,
        Route::SecretsPut,
        Route::SecretsDelete,
        Route::PoliciesPut,
        Route::PoliciesList,
        Route::PoliciesEvaluate,
        Route::AuditList,
        Route::FlagsPut,
        Route::FlagsList,
        Route::FlagsGet,
        Route::FlagsEvaluate,
        Route::CreditsGet,
        Route::CreditsLedger,
        Route::CreditsGrant,
        Route::QuotasGet,
        Route::UsageGet,
    ];

    /// HTTP method and path template, as API Gateway names the route.
    pub fn method_and_path(self) -> (&'static str, &'static str) {
        match self {
            Route::Healthz => ("GET", "/healthz"),
            Route::SkillsList => ("GET", "/v1/skills"),
            Route::RunsCreate => ("POST", "/v1/runs"),
            Route::RunsList => ("GET", "/v1/runs"),
            Route::RunsGet => ("GET", "/v1/runs/{id}"),
            Route::RunsSteps => ("GET", "/v1/runs/{id}/steps"),
            Route::RunsCancel => ("POST", "/v1/runs/{id}/cancel"),
            Route::TenantsCreate => ("POST", "/v1/tenants"),
            Route::TenantsRetention => ("PUT", "/v1/tenants/{id}/retention"),
            Route::KeysCreate => ("POST", "/v1/api-keys"),
            Route::KeysList => ("GET", "/v1/api-keys"),
            Route::KeysRevoke => ("POST", "/v1/api-keys/{id}/revoke"),
            Route::WorkflowsApply => ("POST", "/v1/workflows"),
            Route::WorkflowsGet => ("GET", "/v1/workflows/{name}"),
            Route::ExecutionsStart => ("POST", "/v1/workflows/{name}/executions"),
            Route::ExecutionsGet => ("GET", "/v1/executions/{id}"),
            Route::ExecutionsCancel => ("POST", "/v1/executions/{id}/cancel"),
            Route::ApprovalsList => ("GET", "/v1/approvals"),
            Route::ApprovalsDecide => ("POST", "/v1/approvals/{id}/decision"),
            Route::SecretsList => ("GET", "/v1/secrets"),
            Route::SecretsPut => ("PUT", "/v1/secrets/{name}"),
            Route::SecretsDelete => ("DELETE", "/v1/secrets/{name}"),
            Route::PoliciesPut => ("PUT", "/v1/policies"),
            Route::PoliciesList => ("GET", "/v1/policies"),
            Route::PoliciesEvaluate => ("POST", "/v1/policies/evaluate"),
            Route::AuditList => ("GET", "/v1/audit"),
            Route::FlagsPut => ("PUT", "/v1/flags/{key}"),
            Route::FlagsList => ("GET", "/v1/flags"),
            Route::FlagsGet => ("GET", "/v1/flags/{key}"),
            Route::FlagsEvaluate => ("GET", "/v1/flags/{key}/evaluate"),
            Route::CreditsGet => ("GET", "/v1/credits"),
            Route::CreditsLedger => ("GET", "/v1/credits/ledger"),
            Route::CreditsGrant => ("POST", "/v1/credits/grants"),
            Route::RunsSimulate => ("POST", "/v1/runs/simulate"),
            Route::WorkflowsSimulate => ("POST", "/v1/workflows/{name}/simulate"),
            Route::TenantsPlan => ("PUT", "/v1/tenants/{id}/plan"),
            Route::QuotasGet => ("GET", "/v1/quotas"),
            Route::UsageGet => ("GET", "/v1/usage"),
        }
    }

    /// The operation the route is, as policies name it (`AOS::Action::"runs.create"`;
    /// `None`: `/healthz`, which is no tenant's operation).
    pub fn operation(self) -> Option<&'static str> {
        Some(match self {
            Route::Healthz => return None,
            Route::SkillsList => "skills.list",
            Route::RunsCreate => "runs.create",
            Route::RunsList => "runs.list",
            Route::RunsGet => "runs.get",
            Route::RunsSteps => "runs.steps",
            Route::RunsCancel => "runs.cancel",
            Route::TenantsCreate => "tenants.create",
            Route::TenantsRetention => "tenants.retention",
            Route::KeysCreate => "keys.create",
            Route::KeysList => "keys.list",
            Route::KeysRevoke => "keys.revoke",
            Route::WorkflowsApply => "workflows.apply",
            Route::WorkflowsGet => "workflows.get",
            Route::ExecutionsStart => "executions.start",
            Route::ExecutionsGet => "executions.get",
            Route::ExecutionsCancel => "executions.cancel",
            Route::ApprovalsList => "approvals.list",
            Route::ApprovalsDecide => "approvals.decide",
            Route::SecretsList => "secrets.list",
            Route::SecretsPut => "secrets.put",
            Route::SecretsDelete => "secrets.delete",
            Route::PoliciesPut => "policies.apply",
            Route::PoliciesList => "policies.list",
            Route::PoliciesEvaluate => "policies.evaluate",
            Route::AuditList => "audit.list",
            Route::FlagsPut => "flags.put",
            Route::FlagsList => "flags.list",
            Route::FlagsGet => "flags.get",
            Route::FlagsEvaluate => "flags.evaluate",
            Route::CreditsGet => "credits.get",
            Route::CreditsLedger => "credits.ledger",
            Route::CreditsGrant => "credits.grant",
            Route::RunsSimulate => "runs.simulate",
            Route::WorkflowsSimulate => "workflows.simulate",
            Route::TenantsPlan => "tenants.plan",
            Route::QuotasGet => "quotas.get",
            Route::UsageGet => "usage.get",
        })
    }

    /// What a caller's key must hold for the route (`None`: anyone, no key needed), from
    /// the one permission table ([`aos_core::roles::API_OPERATIONS`]): every route is
    /// checked against it before its handler runs.
    pub fn permission(self) -> Option<Permission> {
        self.operation().map(|op| aos_core::roles::operation_permission(op).expect("every operation is in the table"))
    }

    fn handler(self) -> MethodRouter<AppState> {
        match self {
            Route::Healthz => get(healthz),
            Route::SkillsList => get(list_skills),
            Route::RunsCreate => post(submit_run),
            Route::RunsList => get(list_runs),
            Route::RunsGet => get(get_run),
            Route::RunsSteps => get(get_steps),
            Route::RunsCancel => post(cancel_run),
            Route::TenantsCreate => post(post_tenant),
            Route::TenantsRetention => put(put_retention),
            Route::KeysCreate => post(post_key),
            Route::KeysList => get(list_keys),
            Route::KeysRevoke => post(revoke_key),
            Route::WorkflowsApply => post(flows::apply),
            Route::WorkflowsGet => get(flows::get_workflow),
            Route::ExecutionsStart => post(flows::start),
            Route::ExecutionsGet => get(flows::get_execution),
            Route::ExecutionsCancel => post(flows::cancel),
            Route::ApprovalsList => get(flows::list_approvals),
            Route::ApprovalsDecide => post(flows::decide),
            Route::SecretsList => get(secrets::list),
            Route::SecretsPut => put(secrets::put),
            Route::SecretsDelete => delete(secrets::delete),
            Route::PoliciesPut => put(policies::put),
            Route::PoliciesList => get(policies::list),
            Route::PoliciesEvaluate => post(policies::evaluate),
            Route::AuditList => get(crate::audit::list),
            Route::FlagsPut => put(crate::flags::put),
            Route::FlagsList => get(crate::flags::list),
            Route::FlagsGet => get(crate::flags::get),
            Route::FlagsEvaluate => get(crate::flags::evaluate),
            Route::CreditsGet => get(crate::credits::get),
            Route::CreditsLedger => get(crate::credits::ledger),
            Route::CreditsGrant => post(crate::credits::grant),
            Route::RunsSimulate => post(crate::credits::simulate_run),
            Route::WorkflowsSimulate => post(crate::credits::simulate_workflow),
            Route::TenantsPlan => put(crate::plans::put_plan),
            Route::QuotasGet => get(crate::plans::quotas),
            Route::UsageGet => get(crate::usage::get),
        }
    }
}

/// The full route table.
pub fn router(state: AppState) -> Router {
    router_for(&Route::ALL, state)
}

/// A router serving only `routes` (plus the JSON 404/405 answers and the body limit).
pub fn router_for(routes: &[Route], state: AppState) -> Router {
    let mut by_path: Vec<(&str, MethodRouter<AppState>)> = Vec::new();
    for route in routes {
        let (_, path) = route.method_and_path();
        let route = *route;
        let handler = match route.permission() {
            Some(_) => route.handler().route_layer(middleware::from_fn_with_state(
                state.clone(),
                move |State(s): State<AppState>, req: Request, next: Next| crate::auth::authorize(s, route, req, next),
            )),
            None => route.handler(),
        };
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(handler),
            None => by_path.push((path, handler)),
        }
    }
    let mut r = Router::new();
    for (path, methods) in by_path {
        r = r.route(path, methods);
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let started = Instant::now();
    let resp = next.run(req).await;
    tracing::info!(%method, path, status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route; see the README for the API")
}

async fn method_not_allowed() -> Response {
    let body = json!({"error": {"code": "ERR_MALFORMED_REQUEST", "message": "method not allowed on this route"}});
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn list_skills(State(s): State<AppState>, _c: Caller) -> Json<Value> {
    Json(json!({"skills": s.runs.skills().descriptors()}))
}

fn run_id(raw: &str) -> Result<RunId, ApiError> {
    RunId::parse(raw).map_err(|_| ApiError::not_found("run"))
}

/// The request's `Idempotency-Key`, if any; a malformed one is refused.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= 255);
            Ok(Some(k.ok_or_else(|| {
                ApiError::new(ErrorCode::ValidationFailed, "Idempotency-Key must be 1-255 visible ASCII characters")
            })?))
        }
    }
}

async fn submit_run(
    State(s): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    Body(req): Body<SubmitRun>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let submitted = s.runs.submit(&p.tenant, req, key).await?;
    let status = if submitted.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(views::run(&submitted.run))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    limit: Option<u32>,
    before: Option<String>,
}

async fn list_runs(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.body_text()))?;
    let status = q
        .status
        .map(|st| {
            RunStatus::parse(&st).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ValidationFailed,
                    format!("unknown status {st:?}; use queued, running, waiting, succeeded, failed or cancelled"),
                )
            })
        })
        .transpose()?;
    let before = q
        .before
        .map(|b| RunId::parse(b).map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.to_string())))
        .transpose()?;
    let limit = PageLimit::new(q.limit).map_err(|m| ApiError::new(ErrorCode::ValidationFailed, m))?;
    let page = s.runs.list(&p.tenant, RunQuery { status, limit, before }).await?;
    Ok(Json(json!({
        "runs": page.items.iter().map(views::run).collect::<Vec<_>>(),
        "next_before": page.next,
    })))
}

async fn get_run(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(views::run(&s.runs.get(&p.tenant, &run_id(&id)?).await?)))
}

async fn get_steps(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (run, cps, progress) = s.runs.steps(&p.tenant, &run_id(&id)?).await?;
    Ok(Json(views::steps(&run, &cps, &progress)))
}

async fn cancel_run(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(views::run(&s.runs.cancel(&p.tenant, &run_id(&id)?, &p.actor()).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    retention_days: Option<u32>,
    /// `free`, `dev`, `pro`, `enterprise` or `unlimited`; default: the deployment's.
    #[serde(default)]
    plan: Option<String>,
}

fn retention(days: Option<u32>) -> Result<Option<u32>, ApiError> {
    days.map(aos_runtime::retention::check_days).transpose().map_err(|m| ApiError::new(ErrorCode::ValidationFailed, m))
}

pub(crate) fn tenant_view(t: &aos_runtime::ports::TenantRecord, default_plan: aos_core::limits::PlanName) -> Value {
    json!({
        "id": t.id, "name": t.name, "created_at_ms": t.created_at_ms,
        "retention_days": aos_runtime::retention::days_of(t),
        "retention_is_default": t.retention_days.is_none(),
        "plan": t.plan.unwrap_or(default_plan),
        "plan_is_default": t.plan.is_none(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRetention {
    /// Days to keep finished runs; `null` returns to the default.
    days: Option<u32>,
}

/// `PUT /v1/tenants/{id}/retention`: the tenant itself, or an operator for any tenant.
async fn put_retention(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<NewRetention>,
) -> Result<Json<Value>, ApiError> {
    let id = TenantId::parse(id).map_err(|_| ApiError::not_found("tenant"))?;
    if id != caller.0.tenant {
        caller.require(Permission::TenantsAdmin)?;
    }
    let days = retention(req.days)?;
    let event = aos_core::audit::AuditEvent::new(
        &id,
        caller.0.actor(),
        "tenant.retention",
        format!("tenant:{id}"),
        "set",
        now_ms(),
    )
    .with_details(json!({"retention_days": days}));
    let tenant = s.tenants.set_retention(&id, days, &[event]).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(tenant_view(&tenant, s.quotas.default_plan())))
}

async fn post_tenant(
    State(s): State<AppState>,
    operator: Caller,
    Body(req): Body<NewTenant>,
) -> Result<Response, ApiError> {
    if req.name.trim().is_empty() || req.name.len() > 200 {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "name must be 1-200 characters"));
    }
    let id = req
        .id
        .map(|i| TenantId::parse(i).map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.to_string())))
        .transpose()?;
    let settings = aos_runtime::auth::TenantSettings {
        retention_days: retention(req.retention_days)?,
        plan: req.plan.as_deref().map(crate::plans::parse_plan).transpose()?,
    };
    let (tenant, key) = match create_tenant_keeping(
        s.tenants.as_ref(),
        id,
        req.name.trim(),
        Role::Admin,
        settings,
        &operator.0.actor(),
    )
    .await
    {
        Ok(v) => v,
        Err(StoreError::Conflict(m)) => return Err(ApiError::new(ErrorCode::IllegalTransition, m)),
        Err(e) => return Err(e.into()),
    };
    let body = json!({
        "tenant": tenant_view(&tenant, s.quotas.default_plan()),
        "api_key": merge_secret(views::key(&key.record), key.secret.expose_secret()),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn merge_secret(mut v: Value, secret: &str) -> Value {
    v["key"] = Value::String(secret.to_owned());
    v["note"] = Value::String("store this key now: AOS keeps only its hash and cannot show it again".to_owned());
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    #[serde(default)]
    label: String,
    #[serde(default)]
    tenant_id: Option<String>,
    /// The new key's role; default: the caller's (an operator's default for another
    /// tenant: `admin`).
    #[serde(default)]
    role: Option<String>,
    /// Permissions the key is limited to (of its role's).
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// The level it decides approvals at (1-5, at most its role's).
    #[serde(default)]
    approval_level: Option<u8>,
    /// Seconds until it stops working (60 s to 10 years).
    #[serde(default)]
    expires_in_s: Option<u64>,
}

/// The grant a key request asks for, or what is wrong with it.
fn requested_grant(req: &NewKey, default_role: Role) -> Result<Grant, ApiError> {
    let invalid = |m: String| ApiError::new(ErrorCode::ValidationFailed, m);
    let role = match &req.role {
        None => default_role,
        Some(name) => Role::parse(name).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            invalid(format!("role {name:?} does not exist; roles: {}", names.join(", ")))
        })?,
    };
    let scopes = match &req.scopes {
        None => None,
        Some(names) => {
            let mut set = std::collections::BTreeSet::new();
            for name in names {
                let p = Permission::parse(name)
                    .ok_or_else(|| invalid(format!("scope {name:?} is not a permission (e.g. runs:read)")))?;
                if !role.allows(p) {
                    return Err(invalid(format!("scope {name} is not a permission of role {role}")));
                }
                set.insert(p);
            }
            Some(set)
        }
    };
    if let Some(level) = req.approval_level {
        if !(1..=5).contains(&level) || level > role.max_approval_level() {
            return Err(invalid(format!(
                "approval_level must be 1-{} for role {role}, got {level}",
                role.max_approval_level()
            )));
        }
    }
    Ok(Grant { role, scopes, approval_level: req.approval_level })
}

async fn post_key(State(s): State<AppState>, caller: Caller, Body(req): Body<NewKey>) -> Result<Response, ApiError> {
    let (tenant, default_role) = match &req.tenant_id {
        Some(t) if t != caller.0.tenant.as_str() => {
            caller.require(Permission::TenantsAdmin)?;
            let id = TenantId::parse(t).map_err(|_| ApiError::not_found("tenant"))?;
            (s.tenants.tenant(&id).await?.ok_or_else(|| ApiError::not_found("tenant"))?.id, Role::Admin)
        }
        _ => (caller.0.tenant.clone(), caller.0.role()),
    };
    let grant = requested_grant(&req, default_role)?;
    // An operator provisions other tenants' keys; anyone else grants only what it holds.
    let provisioning = tenant != caller.0.tenant && caller.0.grant.allows(Permission::TenantsAdmin);
    if let Some(lacking) = (!provisioning).then(|| caller.0.grant.lacks_for(&grant)).flatten() {
        return Err(ApiError::new(ErrorCode::PermissionDenied, lacking));
    }
    let expires_at_ms = match req.expires_in_s {
        None => None,
        Some(s @ 60..=315_360_000) => Some(now_ms() + s * 1000),
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("expires_in_s must be 60 to 315360000 (10 years), got {other}"),
            ))
        }
    };
    s.quotas.admit_key(&tenant).await.map_err(|e| match e {
        aos_runtime::limits::AdmitError::Refused(r) => ApiError::from(r),
        aos_runtime::limits::AdmitError::Store(e) => e.into(),
    })?;
    let issued = issue_key_with(&tenant, &grant, expires_at_ms, &req.label);
    let audit = issued.record.audit(caller.0.actor(), "key.create", "created", now_ms());
    s.tenants.insert_key(&issued.record, &[audit]).await?;
    let body = merge_secret(views::key(&issued.record), issued.secret.expose_secret());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn list_keys(State(s): State<AppState>, Caller(p): Caller) -> Result<Json<Value>, ApiError> {
    let keys = s.tenants.keys(&p.tenant).await?;
    Ok(Json(json!({"api_keys": keys.iter().map(views::key).collect::<Vec<_>>()})))
}

async fn revoke_key(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = ApiKeyId::parse(id).map_err(|_| ApiError::not_found("api key"))?;
    let now = now_ms();
    // The entry is written only if this call revokes the key (see the port).
    let audit =
        aos_core::audit::AuditEvent::new(&p.tenant, p.actor(), "key.revoke", format!("key:{id}"), "revoked", now);
    let key =
        s.tenants.revoke_key(&p.tenant, &id, now, &[audit]).await?.ok_or_else(|| ApiError::not_found("api key"))?;
    Ok(Json(views::key(&key)))
}
