//! Workflow, execution and approval handlers.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::{idempotency_key, AppState};
use aos_core::page::PageLimit;
use aos_core::workflow::{parse, Decision, Format, NodeStatus};
use aos_core::{ApprovalId, ErrorCode, ExecutionId};
use aos_runtime::ports::{ApprovalRecord, ApprovalStatus, ExecutionRecord, WorkflowRecord};
use aos_runtime::workflows::{StartExecution, WorkflowService};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

pub(crate) fn service(s: &AppState) -> Result<&WorkflowService, ApiError> {
    s.workflows.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::FeatureUnavailable,
            "workflows on this backend run on Step Functions: set AOS_WORKFLOW_ROLE_ARN to the role the state machines run as (the SAM stack sets it)",
        )
    })
}

fn created(created: bool, body: Value) -> Response {
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    (status, Json(body)).into_response()
}

/// `POST /v1/workflows`: the spec as JSON (`application/json`) or YAML
/// (`application/yaml`, `application/x-yaml`, `text/yaml`).
pub(crate) async fn apply(
    State(s): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let format = if media.starts_with("application/json") {
        Format::Json
    } else if media.contains("yaml") {
        Format::Yaml
    } else {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the workflow with `Content-Type: application/json` or `application/yaml`",
        ));
    };
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::new(ErrorCode::MalformedRequest, "the body is not UTF-8 text"))?;
    let spec = parse(text, format).map_err(|e| ApiError::new(ErrorCode::MalformedRequest, e.0))?;
    let done = service(&s)?.apply(&p.tenant, spec).await?;
    Ok(created(done.created, workflow_view(&done.value)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionQuery {
    version: Option<u32>,
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

pub(crate) async fn get_workflow(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(name): Path<String>,
    q: QueryResult<VersionQuery>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.body_text()))?;
    Ok(Json(workflow_view(&service(&s)?.get(&p.tenant, &name, q.version).await?)))
}

pub(crate) async fn start(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(req): Body<StartExecution>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let svc = service(&s)?;
    let done = svc.start(&p.tenant, &name, req, key).await?;
    let spec = svc.get(&p.tenant, &done.value.workflow, Some(done.value.version)).await?;
    Ok(created(done.created, execution_view(&done.value, &spec)))
}

pub(crate) fn execution_id(raw: &str) -> Result<ExecutionId, ApiError> {
    ExecutionId::parse(raw).map_err(|_| ApiError::not_found("execution"))
}

pub(crate) async fn get_execution(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    q: Result<Query<crate::runs::WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let svc = service(&s)?;
    let id = execution_id(&id)?;
    let wait = crate::runs::WaitQuery::parse(q)?;
    // `?wait=`: read again at a growing interval until it is finished or the time is up.
    let deadline = tokio::time::Instant::now() + wait.unwrap_or_default().min(s.runs.wait_cap());
    let mut waiter = aos_runtime::changes::Waiter::polling(deadline);
    let e = loop {
        let armed = waiter.arm();
        let e = svc.execution(&p.tenant, &id).await?;
        if e.state.status.is_terminal() || waiter.expired() {
            break e;
        }
        waiter.wait(armed).await;
    };
    let spec = svc.get(&p.tenant, &e.workflow, Some(e.version)).await?;
    let mut view = execution_view(&e, &spec);
    // The envelope its runs' steps share (its budget, or its plan's per-workflow limit)
    // and what they spent of it.
    if let Some(limit) = s.quotas.envelope_limit(&p.tenant, e.budget_mc).await? {
        let spent = s.quotas.envelope_spent(&p.tenant, e.id.as_str()).await?;
        view["envelope"] = json!({
            "limit_cents": aos_core::credits::Millicredits(limit).cents(),
            "spent_cents": aos_core::credits::Millicredits(spent).cents(),
        });
    }
    Ok(Json(view))
}

pub(crate) async fn cancel(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let svc = service(&s)?;
    let e = svc.cancel(&p.tenant, &execution_id(&id)?).await?;
    let spec = svc.get(&p.tenant, &e.workflow, Some(e.version)).await?;
    Ok(Json(execution_view(&e, &spec)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalQuery {
    status: Option<String>,
    limit: Option<u32>,
    before: Option<String>,
}

pub(crate) async fn list_approvals(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: QueryResult<ApprovalQuery>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.body_text()))?;
    let status = q
        .status
        .map(|st| {
            ApprovalStatus::parse(&st).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ValidationFailed,
                    format!("unknown status {st:?}; use pending, escalated, approved, rejected, expired or cancelled"),
                )
            })
        })
        .transpose()?;
    let limit = PageLimit::new(q.limit).map_err(|m| ApiError::new(ErrorCode::ValidationFailed, m))?;
    let page = service(&s)?.approvals(&p.tenant, status, q.before.as_deref(), limit).await?;
    Ok(Json(json!({
        "approvals": page.items.iter().map(approval_view).collect::<Vec<_>>(),
        "next_before": page.next,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    decision: String,
    #[serde(default)]
    comment: Option<String>,
}

pub(crate) async fn decide(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(req): Body<DecisionBody>,
) -> Result<Json<Value>, ApiError> {
    let id = ApprovalId::parse(id).map_err(|_| ApiError::not_found("approval"))?;
    let approved = match req.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("decision must be \"approve\" or \"reject\", got {other:?}"),
            ))
        }
    };
    if req.comment.as_ref().is_some_and(|c| c.len() > 2000) {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "comment must be at most 2000 characters"));
    }
    let decision = Decision { approved, decided_by: p.key_id.to_string(), comment: req.comment };
    let level = p.grant.approval_level();
    Ok(Json(approval_view(&service(&s)?.decide(&p.tenant, &id, decision, level, p.role().as_str()).await?)))
}

fn workflow_view(w: &WorkflowRecord) -> Value {
    json!({
        "name": w.name,
        "version": w.version,
        "spec": w.spec,
        "spec_hash": w.spec_hash,
        "created_at_ms": w.created_at_ms,
    })
}

pub(crate) fn execution_view(e: &ExecutionRecord, w: &WorkflowRecord) -> Value {
    let nodes: Vec<Value> = w
        .spec
        .nodes
        .iter()
        .filter_map(|spec| {
            let n = e.state.nodes.get(&spec.id)?;
            let items = n.items_total.map(|total| {
                let count = |st: NodeStatus| n.items.iter().filter(|i| i.status == st).count();
                json!({
                    "total": total,
                    "completed": count(NodeStatus::Completed),
                    "failed": count(NodeStatus::Failed),
                    "running": count(NodeStatus::Running),
                })
            });
            Some(json!({
                "id": spec.id,
                "type": spec.kind.as_str(),
                "status": n.status,
                "output": n.output,
                "error": n.error,
                "started_at_ms": n.started_at_ms,
                "ended_at_ms": n.ended_at_ms,
                "duration_ms": n.started_at_ms.zip(n.ended_at_ms).map(|(a, b)| b.saturating_sub(a)),
                "run_id": n.run_id,
                "items": items,
                "approval_id": n.approval,
                "wake_at_ms": n.wake_at_ms,
            }))
        })
        .collect();
    json!({
        "id": e.id,
        "tenant_id": e.tenant,
        "workflow": e.workflow,
        "version": e.version,
        "status": e.state.status,
        "finished": e.state.status.is_terminal(),
        "input": e.input,
        "base_seed": e.base_seed,
        "output": e.state.output,
        "output_error": e.state.output_error,
        "error": e.state.error,
        "failed_node": e.state.failed_node,
        "nodes": nodes,
        "compensations": e.state.compensations,
        "created_at_ms": e.created_at_ms,
        "updated_at_ms": e.updated_at_ms,
        "budget_cents": e.budget_mc.map(|b| aos_core::credits::Millicredits(b).cents()),
    })
}

fn approval_view(a: &ApprovalRecord) -> Value {
    let step = a.step.as_ref().map(|st| {
        json!({
            "run_id": st.run_id,
            "step_index": st.step_index,
            "skill": st.skill,
            "policies": st.policies,
            "policy_version": st.policy_version,
            "timeout_ms": st.timeout_ms,
            "escalate_to": st.escalate_to,
        })
    });
    json!({
        "id": a.id,
        "kind": if a.step.is_some() { "step" } else { "workflow_node" },
        "step": step,
        "history": a.history,
        "execution_id": a.execution,
        "workflow": a.workflow,
        "node": a.node,
        "prompt": a.prompt,
        "status": a.status,
        "required_level": a.required_level,
        "expires_at_ms": a.expires_at_ms,
        "decided_by": a.decided_by,
        "comment": a.comment,
        "closed_at_ms": a.closed_at_ms,
        "created_at_ms": a.created_at_ms,
    })
}
