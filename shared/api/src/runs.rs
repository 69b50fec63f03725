//! The run routes: submit, list, get, steps, cancel (waiting and events: `events.rs`).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::{idempotency_key, Shared};
use crate::views;
use aos_core::page::PageLimit;
use aos_core::{ErrorCode, RunId, RunStatus};
use aos_runtime::runs::{RunQuery, SubmitRun};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

fn run_id(raw: &str) -> Result<RunId, ApiError> {
    RunId::parse(raw).map_err(|_| ApiError::not_found("run"))
}

/// `?wait=`: answer when the run is finished or after this long (at most the
/// deployment's cap), whichever comes first.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct WaitQuery {
    /// Answer when it has finished or after this long, whichever comes first: `500ms`,
    /// `30s`, `2m` or whole seconds, capped by the deployment (25 s on AWS, where the
    /// client asks again).
    wait: Option<String>,
}

impl WaitQuery {
    pub(crate) fn parse(
        q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
    ) -> Result<Option<std::time::Duration>, ApiError> {
        let Query(q) = q.map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.body_text()))?;
        q.wait.as_deref().map(crate::events::parse_wait).transpose()
    }
}

pub(crate) async fn submit_run(
    State(s): State<Shared>,
    Caller(p): Caller,
    headers: HeaderMap,
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
    Body(req): Body<SubmitRun>,
) -> Result<Response, ApiError> {
    let wait = WaitQuery::parse(q)?;
    let key = idempotency_key(&headers)?;
    let submitted = s.runs.submit(&p.tenant, req, key).await?;
    let status = if submitted.created { StatusCode::CREATED } else { StatusCode::OK };
    let run = match wait {
        Some(wait) if !submitted.run.status.is_terminal() => s.runs.wait(&p.tenant, &submitted.run.id, wait).await?,
        _ => submitted.run,
    };
    Ok((status, Json(views::run(&run))).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only runs in this status.
    #[param(value_type = Option<RunStatus>)]
    status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// A page's `next_before`: the runs older than that one.
    before: Option<String>,
}

pub(crate) async fn list_runs(
    State(s): State<Shared>,
    Caller(p): Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<views::RunList>, ApiError> {
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
    Ok(Json(views::RunList { runs: page.items.iter().map(views::run).collect(), next_before: page.next }))
}

pub(crate) async fn get_run(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(id): Path<String>,
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<views::RunView>, ApiError> {
    let id = run_id(&id)?;
    let run = match WaitQuery::parse(q)? {
        Some(wait) => s.runs.wait(&p.tenant, &id, wait).await?,
        None => s.runs.get(&p.tenant, &id).await?,
    };
    Ok(Json(views::run(&run)))
}

pub(crate) async fn get_steps(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<views::StepsView>, ApiError> {
    let (run, cps, progress) = s.runs.steps(&p.tenant, &run_id(&id)?).await?;
    Ok(Json(views::steps(&run, &cps, &progress)))
}

pub(crate) async fn cancel_run(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<views::RunView>, ApiError> {
    Ok(Json(views::run(&s.runs.cancel(&p.tenant, &run_id(&id)?, &p.actor()).await?)))
}
