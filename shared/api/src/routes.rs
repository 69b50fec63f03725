//! The route table, the router and the handlers' shared state (the handlers live with
//! their capability: `runs.rs`, `tenants.rs`, `flows.rs`, …). Each handler parses, calls
//! one use case, maps the result.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::flows;
use crate::policies;
use crate::secrets;
use aos_core::ErrorCode;
use aos_runtime::policies::PolicyService;
use aos_runtime::ports::{Permission, TenantStore};
use aos_runtime::runs::RunService;
use aos_runtime::secrets::SecretService;
use aos_runtime::workflows::WorkflowService;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{Json, Router};
use serde_json::json;
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

/// The handlers' state as the router holds it: cloned for every request and every
/// layer, so one reference count instead of every service's.
pub(crate) type Shared = Arc<AppState>;

/// One API route: what `aos dev` serves all together and each API Lambda serves alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`
    Healthz,
    /// `GET /v1/openapi.json`
    OpenApi,
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
    /// `GET /v1/runs/{id}/events`
    RunsEvents,
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
    /// `GET /v1/executions/{id}/events`
    ExecutionsEvents,
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
    /// `POST /mcp`: the MCP server (streamable HTTP), described by MCP rather than the
    /// OpenAPI document.
    Mcp,
}

impl Route {
    /// Every route.
    pub const ALL: [Route; 42] = [
        Route::Healthz,
        Route::OpenApi,
        Route::SkillsList,
        Route::RunsCreate,
        Route::RunsList,
        Route::RunsGet,
        Route::RunsSteps,
        Route::RunsEvents,
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
        Route::ExecutionsEvents,
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
        Route::Mcp,
    ];

    /// HTTP method and path template, as API Gateway names the route.
    pub fn method_and_path(self) -> (&'static str, &'static str) {
        match self {
            Route::Healthz => ("GET", "/healthz"),
            Route::OpenApi => ("GET", "/v1/openapi.json"),
            Route::SkillsList => ("GET", "/v1/skills"),
            Route::RunsCreate => ("POST", "/v1/runs"),
            Route::RunsList => ("GET", "/v1/runs"),
            Route::RunsGet => ("GET", "/v1/runs/{id}"),
            Route::RunsSteps => ("GET", "/v1/runs/{id}/steps"),
            Route::RunsEvents => ("GET", "/v1/runs/{id}/events"),
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
            Route::ExecutionsEvents => ("GET", "/v1/executions/{id}/events"),
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
            Route::Mcp => ("POST", "/mcp"),
        }
    }

    /// The operation the route is, as policies name it (`AOS::Action::"runs.create"`;
    /// `None`: `/healthz` and the API's description, which are no tenant's operation).
    pub fn operation(self) -> Option<&'static str> {
        Some(match self {
            Route::Healthz | Route::OpenApi => return None,
            Route::SkillsList => "skills.list",
            Route::RunsCreate => "runs.create",
            Route::RunsList => "runs.list",
            Route::RunsGet => "runs.get",
            Route::RunsSteps => "runs.steps",
            Route::RunsEvents => "runs.events",
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
            Route::ExecutionsEvents => "executions.events",
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
            Route::Mcp => "mcp.call",
        })
    }

    /// What a caller's key must hold for the route (`None`: anyone, no key needed), from
    /// the one permission table ([`aos_core::roles::API_OPERATIONS`]): every route is
    /// checked against it before its handler runs.
    pub fn permission(self) -> Option<Permission> {
        self.operation().map(|op| aos_core::roles::operation_permission(op).expect("every operation is in the table"))
    }

    /// Whether the OpenAPI document describes the route (`/mcp` speaks JSON-RPC, as the
    /// MCP specification describes).
    pub fn in_openapi(self) -> bool {
        self != Route::Mcp
    }

    fn handler(self, state: &Shared) -> MethodRouter<Shared> {
        match self {
            Route::Mcp => axum::routing::post_service(crate::mcp::service(state.clone())),
            Route::Healthz => get(healthz),
            Route::OpenApi => get(openapi),
            Route::SkillsList => get(list_skills),
            Route::RunsCreate => post(crate::runs::submit_run),
            Route::RunsList => get(crate::runs::list_runs),
            Route::RunsGet => get(crate::runs::get_run),
            Route::RunsSteps => get(crate::runs::get_steps),
            Route::RunsEvents => get(crate::events::run_events),
            Route::RunsCancel => post(crate::runs::cancel_run),
            Route::TenantsCreate => post(crate::tenants::post_tenant),
            Route::TenantsRetention => put(crate::tenants::put_retention),
            Route::KeysCreate => post(crate::tenants::post_key),
            Route::KeysList => get(crate::tenants::list_keys),
            Route::KeysRevoke => post(crate::tenants::revoke_key),
            Route::WorkflowsApply => post(flows::apply),
            Route::WorkflowsGet => get(flows::get_workflow),
            Route::ExecutionsStart => post(flows::start),
            Route::ExecutionsGet => get(flows::get_execution),
            Route::ExecutionsEvents => get(crate::events::execution_events),
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
    let state: Shared = Arc::new(state);
    let mut by_path: Vec<(&str, MethodRouter<Shared>)> = Vec::new();
    for route in routes {
        let (_, path) = route.method_and_path();
        let route = *route;
        let handler = match route.permission() {
            Some(_) => route.handler(&state).route_layer(middleware::from_fn_with_state(
                state.clone(),
                move |State(s): State<Shared>, req: Request, next: Next| crate::auth::authorize(s, route, req, next),
            )),
            None => route.handler(&state),
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

/// The answer of `GET /healthz`.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".to_owned() })
}

/// `GET /v1/openapi.json`: the API's OpenAPI 3.1 document (no key needed).
async fn openapi() -> Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let text = DOCUMENT.get_or_init(crate::openapi::document_json).clone();
    ([(axum::http::header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// The deployment's skills.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SkillList {
    /// Each skill: its name, version, description, input and output JSON Schemas.
    pub skills: Vec<aos_runtime::skills::SkillDescriptor>,
}

async fn list_skills(State(s): State<Shared>, _c: Caller) -> Json<SkillList> {
    Json(SkillList { skills: s.runs.skills().descriptors() })
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
