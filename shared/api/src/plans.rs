//! Plans and quotas (seed M21): `PUT /v1/tenants/{id}/plan` (operators) and
//! `GET /v1/quotas` (where the caller's tenant stands on each quota of its plan).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::Shared;
use crate::tenants::tenant_view;
use aos_core::limits::{PlanName, QuotaCheck};
use aos_core::{ErrorCode, TenantId};
use aos_runtime::clock::now_ms;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The plan named `name`, or a 422 naming the plans there are.
pub(crate) fn parse_plan(name: &str) -> Result<PlanName, ApiError> {
    PlanName::parse(name).ok_or_else(|| {
        let names: Vec<&str> = PlanName::ALL.iter().map(|p| p.as_str()).collect();
        ApiError::new(ErrorCode::ValidationFailed, format!("unknown plan {name:?}; plans are {}", names.join(", ")))
    })
}

/// The body of `PUT /v1/tenants/{id}/plan`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPlan {
    /// The plan; `null` returns the tenant to the deployment's default.
    plan: Option<String>,
}

/// `PUT /v1/tenants/{id}/plan`: an operator sets a tenant's plan (on its audit record).
/// Other processes apply it within 30 s (they keep a tenant's plan that long).
pub(crate) async fn put_plan(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(req): Body<NewPlan>,
) -> Result<Json<crate::tenants::TenantView>, ApiError> {
    let id = TenantId::parse(id).map_err(|_| ApiError::not_found("tenant"))?;
    let plan = req.plan.as_deref().map(parse_plan).transpose()?;
    let event =
        aos_core::audit::AuditEvent::new(&id, p.actor(), "tenant.plan", format!("tenant:{id}"), "set", now_ms())
            .with_details(json!({"plan": plan}));
    let tenant = s.tenants.set_plan(&id, plan, &[event]).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    s.quotas.forget(&id);
    Ok(Json(tenant_view(&tenant, s.quotas.default_plan())))
}

/// `GET /v1/quotas`: the tenant's plan, its request rate, and each quota in the seed's
/// check shape (`allowed`: whether one more run or key fits; tokens: whether the month's
/// are under the limit).
pub(crate) async fn quotas(State(s): State<Shared>, Caller(p): Caller) -> Result<Json<QuotasView>, ApiError> {
    let (plan, checks) = s.quotas.checks(&p.tenant, now_ms()).await?;
    Ok(Json(QuotasView { tenant_id: p.tenant, plan, requests_per_minute: plan.requests_per_minute(), quotas: checks }))
}

/// Where a tenant stands on its plan's quotas.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotasView {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its plan.
    pub plan: PlanName,
    /// Its API request rate (`null`: unlimited).
    pub requests_per_minute: Option<u32>,
    /// Each quota: whether one more fits, what is used, the limit.
    pub quotas: Vec<QuotaCheck>,
}
