//! `GET /v1/audit`: the tenant's audit log, newest first and filtered, or in chain order
//! for a client that verifies the chain itself (`aos audit verify`).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::Shared;
use aos_core::audit::AuditEntry;
use aos_core::page::PageLimit;
use aos_core::ErrorCode;
use aos_runtime::audit::AuditFilter;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

/// A page of a tenant's audit log.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// The entries: newest first (`order=desc`) or in chain order (`order=asc`).
    pub entries: Vec<AuditEntry>,
    /// `order=desc`: pass as `before` for the next page (`null`: the last page).
    pub next_before: Option<u64>,
    /// `order=asc`: pass as `after` for the next page (`null`: the last page).
    pub next_after: Option<u64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// `desc` (newest first, the default) or `asc` (chain order, from `after`).
    #[param(pattern = "^(desc|asc)$")]
    order: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `desc`: entries below this seq.
    before: Option<u64>,
    /// `asc`: entries above this seq.
    after: Option<u64>,
    /// `desc`: only this actor's (`key_…` or `system`).
    actor: Option<String>,
    /// `desc`: only this action (`run.submit`, `policy.apply`, …).
    action: Option<String>,
    /// `desc`: only this resource (`run:run_…`).
    resource: Option<String>,
    /// `desc`: entries at or after this time, ms since the epoch.
    from_ms: Option<u64>,
    /// `desc`: entries before this time.
    to_ms: Option<u64>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, message)
}

/// `GET /v1/audit`.
pub(crate) async fn list(
    State(s): State<Shared>,
    Caller(p): Caller,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(q) = q.map_err(|e| invalid(e.body_text()))?;
    let limit = PageLimit::new(q.limit).map_err(invalid)?;
    // Seqs and times are signed 64-bit integers in the stores.
    let most = u64::try_from(i64::MAX).unwrap_or(u64::MAX);
    for (name, v) in [("before", q.before), ("after", q.after), ("from_ms", q.from_ms), ("to_ms", q.to_ms)] {
        if v.is_some_and(|v| v > most) {
            return Err(invalid(format!("{name} must be at most {most}")));
        }
    }
    if let (Some(from), Some(to)) = (q.from_ms, q.to_ms) {
        if from >= to {
            return Err(invalid(format!("from_ms ({from}) must be before to_ms ({to})")));
        }
    }
    let filter =
        AuditFilter { actor: q.actor, action: q.action, resource: q.resource, from_ms: q.from_ms, to_ms: q.to_ms };
    match q.order.as_deref().unwrap_or("desc") {
        "desc" => {
            if q.after.is_some() {
                return Err(invalid("after goes with order=asc; newest-first pages go on with before"));
            }
            let page = s.audit.list(&p.tenant, &filter, q.before, limit).await?;
            let next_before = page.next.and_then(|n| n.parse::<u64>().ok());
            Ok(Json(AuditPage { entries: page.items, next_before, next_after: None }))
        }
        "asc" => {
            if q.before.is_some() || filter != AuditFilter::default() {
                return Err(invalid(
                    "order=asc reads the whole chain in order: it takes after and limit only, no filters",
                ));
            }
            let page = s.audit.in_order(&p.tenant, q.after.unwrap_or(0), limit).await?;
            let next_after = page.next.and_then(|n| n.parse::<u64>().ok());
            Ok(Json(AuditPage { entries: page.items, next_before: None, next_after }))
        }
        other => Err(invalid(format!("order must be \"desc\" or \"asc\", got {other:?}"))),
    }
}
