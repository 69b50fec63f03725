//! `GET /v1/usage?group_by=day|workflow|skill|model&from&to`: the caller's tenant's usage
//! (steps, model tokens in and out, cache hits and tokens saved, cost) of the runs that
//! ended in a span, grouped.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::Shared;
use aos_core::credits::Millicredits;
use aos_core::usage::{Counters, GroupBy};
use aos_core::{ErrorCode, TenantId};
use aos_runtime::clock::now_ms;
use aos_runtime::usage::MAX_SPAN_MS;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The span when the request names none: the last 30 days.
const DEFAULT_SPAN_MS: u64 = 30 * 86_400_000;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, message)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsageQuery {
    /// `day` (default), `workflow`, `skill` or `model`.
    #[param(pattern = "^(day|workflow|skill|model)$")]
    group_by: Option<String>,
    /// The span's start: ms since the epoch, a UTC day (`2026-12-01`) or an RFC 3339
    /// time (default: 30 days before `to`).
    from: Option<String>,
    /// The span's end (default: now).
    to: Option<String>,
}

/// A time in a query: ms since the epoch, a UTC day (`2026-12-01`, its midnight) or an
/// RFC 3339 time.
fn parse_time(name: &str, text: &str) -> Result<u64, ApiError> {
    let ms = if let Ok(ms) = text.parse::<u64>() {
        Some(ms)
    } else if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        day.and_hms_opt(0, 0, 0).and_then(|t| u64::try_from(t.and_utc().timestamp_millis()).ok())
    } else {
        chrono::DateTime::parse_from_rfc3339(text).ok().and_then(|t| u64::try_from(t.timestamp_millis()).ok())
    };
    ms.ok_or_else(|| {
        invalid(format!(
            "{name} must be ms since the epoch, a UTC day (2026-12-01) or an RFC 3339 time (2026-12-01T12:00:00Z); got {text:?}"
        ))
    })
}

fn rfc3339(ms: u64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX)).unwrap_or_default();
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Usage counters as the API shows them (cost in cents).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CountersView {
    /// Steps run.
    pub steps: u64,
    /// Model tokens in.
    pub tokens_in: u64,
    /// Model tokens out.
    pub tokens_out: u64,
    /// Model calls answered from the cache.
    pub cache_hits: u64,
    /// Tokens those saved.
    pub tokens_saved: u64,
    /// What was charged, in cents.
    pub cost_cents: f64,
}

/// One group of a usage report.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageGroup {
    /// Its counters.
    #[serde(flatten)]
    pub counters: CountersView,
    /// The day, workflow, skill or model.
    pub key: String,
    /// Runs that ended in the span with some of it.
    pub runs: u64,
}

/// A tenant's usage of the runs that ended in a span.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageReport {
    /// The tenant.
    pub tenant_id: TenantId,
    /// `day`, `workflow`, `skill` or `model`.
    pub group_by: String,
    /// The span's start (RFC 3339).
    pub from: String,
    /// Its end.
    pub to: String,
    /// Runs that ended in it.
    pub runs: u64,
    /// Everything together.
    pub total: CountersView,
    /// By `group_by`.
    pub groups: Vec<UsageGroup>,
}

fn counters_view(c: &Counters) -> CountersView {
    CountersView {
        steps: c.steps,
        tokens_in: c.tokens_in,
        tokens_out: c.tokens_out,
        cache_hits: c.cache_hits,
        tokens_saved: c.tokens_saved,
        cost_cents: Millicredits(c.cost_mc).cents(),
    }
}

/// `GET /v1/usage`.
pub(crate) async fn get(
    State(s): State<Shared>,
    Caller(p): Caller,
    q: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UsageReport>, ApiError> {
    let Query(q) = q.map_err(|e| invalid(e.body_text()))?;
    let group_by = match q.group_by.as_deref() {
        None => GroupBy::Day,
        Some(name) => GroupBy::parse(name).ok_or_else(|| {
            let names: Vec<&str> = GroupBy::ALL.iter().map(|g| g.as_str()).collect();
            invalid(format!("group_by must be one of {}; got {name:?}", names.join(", ")))
        })?,
    };
    let to = q.to.as_deref().map(|t| parse_time("to", t)).transpose()?.unwrap_or_else(|| now_ms() + 1);
    let from =
        q.from.as_deref().map(|t| parse_time("from", t)).transpose()?.unwrap_or(to.saturating_sub(DEFAULT_SPAN_MS));
    if from >= to {
        return Err(invalid(format!("from ({}) must be before to ({})", rfc3339(from), rfc3339(to))));
    }
    if to - from > MAX_SPAN_MS {
        return Err(invalid(format!("a report spans at most {} days; narrow from and to", MAX_SPAN_MS / 86_400_000)));
    }
    let report = s.usage.report(&p.tenant, group_by, from, to).await?;
    let groups = report
        .groups
        .iter()
        .map(|g| UsageGroup { counters: counters_view(&g.counters), key: g.key.clone(), runs: g.runs })
        .collect();
    Ok(Json(UsageReport {
        tenant_id: p.tenant,
        group_by: group_by.as_str().to_owned(),
        from: rfc3339(report.from_ms),
        to: rfc3339(report.to_ms),
        runs: report.runs,
        total: counters_view(&report.total),
        groups,
    }))
}
