//! Workflow, execution and approval handlers.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::{idempotency_key, AppState, Shared};
use aos_core::page::PageLimit;
use aos_core::workflow::exec::{CompensationState, ExecStatus};
use aos_core::workflow::{parse, Decision, Format, NodeStatus, NodeType, WorkflowSpec};
use aos_core::{ApprovalId, ErrorCode, ExecutionId, OutcomeError, RunId, TenantId};
use aos_runtime::ports::{ApprovalRecord, ApprovalStatus, ApprovalTransition, ExecutionRecord, WorkflowRecord};
use aos_runtime::workflows::{StartExecution, WorkflowService};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub(crate) fn service(s: &AppState) -> Result<&WorkflowService, ApiError> {
    s.workflows.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::FeatureUnavailable,
            "workflows on this backend run on Step Functions: set AOS_WORKFLOW_ROLE_ARN to the role the state machines run as (the SAM stack sets it)",
        )
    })
}

fn created(created: bool, body: impl Serialize) -> Response {
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    (status, Json(body)).into_response()
}

/// `POST /v1/workflows`: the spec as JSON (`application/json`) or YAML
/// (`application/yaml`, `application/x-yaml`, `text/yaml`).
pub(crate) async fn apply(
    State(s): State<Shared>,
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

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionQuery {
    /// The version (default: the latest).
    version: Option<u32>,
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

pub(crate) async fn get_workflow(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(name): Path<String>,
    q: QueryResult<VersionQuery>,
) -> Result<Json<WorkflowView>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.body_text()))?;
    Ok(Json(workflow_view(&service(&s)?.get(&p.tenant, &name, q.version).await?)))
}

pub(crate) async fn start(
    State(s): State<Shared>,
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
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(id): Path<String>,
    q: Result<Query<crate::runs::WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ExecutionView>, ApiError> {
    let svc = service(&s)?;
    let id = execution_id(&id)?;
    let wait = crate::runs::WaitQuery::parse(q)?;
    // `?wait=`: read again at its end (or, where executions end elsewhere, at a growing
    // interval) until it is finished or the time is up.
    let deadline = tokio::time::Instant::now() + wait.unwrap_or_default().min(s.runs.wait_cap());
    let mut waiter = svc.waiter(&p.tenant, &id, deadline);
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
        view.envelope = Some(EnvelopeView {
            limit_cents: aos_core::credits::Millicredits(limit).cents(),
            spent_cents: aos_core::credits::Millicredits(spent).cents(),
        });
    }
    Ok(Json(view))
}

pub(crate) async fn cancel(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    let svc = service(&s)?;
    let e = svc.cancel(&p.tenant, &execution_id(&id)?).await?;
    let spec = svc.get(&p.tenant, &e.workflow, Some(e.version)).await?;
    Ok(Json(execution_view(&e, &spec)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ApprovalQuery {
    /// Only approvals in this status.
    #[param(value_type = Option<ApprovalStatus>)]
    status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// A page's `next_before`.
    before: Option<String>,
}

pub(crate) async fn list_approvals(
    State(s): State<Shared>,
    Caller(p): Caller,
    q: QueryResult<ApprovalQuery>,
) -> Result<Json<ApprovalList>, ApiError> {
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
    Ok(Json(ApprovalList { approvals: page.items.iter().map(approval_view).collect(), next_before: page.next }))
}

/// The body of `POST /v1/approvals/{id}/decision`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `approve` or `reject`.
    pub decision: String,
    /// Why, at most 2000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

pub(crate) async fn decide(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(req): Body<DecisionBody>,
) -> Result<Json<ApprovalView>, ApiError> {
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

/// A stored version of a workflow.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkflowView {
    /// Its name.
    pub name: String,
    /// Its version (1 for the first, one more per changed spec).
    pub version: u32,
    /// The spec, as applied.
    pub spec: WorkflowSpec,
    /// The spec's content hash.
    pub spec_hash: String,
    /// When this version was stored, ms since the epoch.
    pub created_at_ms: u64,
}

/// A workflow execution.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExecutionView {
    /// Its id.
    pub id: ExecutionId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its workflow.
    pub workflow: String,
    /// The workflow's version it runs.
    pub version: u32,
    /// Where it is.
    pub status: ExecStatus,
    /// Whether it has ended.
    pub finished: bool,
    /// Its input.
    pub input: Value,
    /// Base of its runs' seeds.
    pub base_seed: u64,
    /// Its output, once completed.
    pub output: Option<Value>,
    /// Why its output could not be made.
    pub output_error: Option<String>,
    /// Why it failed.
    pub error: Option<OutcomeError>,
    /// The node that failed it.
    pub failed_node: Option<String>,
    /// Its nodes that started, in the spec's order.
    pub nodes: Vec<NodeView>,
    /// The compensations run after a failure, in order.
    pub compensations: Vec<CompensationState>,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// Last change, ms since the epoch.
    pub updated_at_ms: u64,
    /// The most its runs may spend together, in cents.
    pub budget_cents: Option<f64>,
    /// The envelope its runs' steps share and what they spent of it (`GET` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope: Option<EnvelopeView>,
}

/// What an execution's runs may spend and have spent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EnvelopeView {
    /// Its budget, or its plan's per-workflow limit, in cents.
    pub limit_cents: f64,
    /// Spent, in cents.
    pub spent_cents: f64,
}

/// A node of an execution.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    /// Its id.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: NodeType,
    /// Where it is.
    pub status: NodeStatus,
    /// Its output.
    pub output: Option<Value>,
    /// Why it failed.
    pub error: Option<OutcomeError>,
    /// When it started, ms since the epoch.
    pub started_at_ms: Option<u64>,
    /// When it ended.
    pub ended_at_ms: Option<u64>,
    /// How long it took.
    pub duration_ms: Option<u64>,
    /// The run of a task node.
    pub run_id: Option<RunId>,
    /// A map node's elements.
    pub items: Option<ItemsView>,
    /// An approval node's approval.
    pub approval_id: Option<ApprovalId>,
    /// When a wait node wakes.
    pub wake_at_ms: Option<u64>,
}

/// A map node's elements by status.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ItemsView {
    /// Elements in all.
    pub total: u32,
    /// Completed.
    pub completed: usize,
    /// Failed.
    pub failed: usize,
    /// Running.
    pub running: usize,
}

/// An approval: of a workflow's approval node, or of a run step a policy held back.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// Its id.
    pub id: ApprovalId,
    /// `step` or `workflow_node`.
    pub kind: String,
    /// The step it holds back, for a step's approval.
    pub step: Option<ApprovalStepView>,
    /// Every change of its status, oldest first.
    pub history: Vec<ApprovalTransition>,
    /// The execution waiting for it (approval nodes).
    pub execution_id: Option<ExecutionId>,
    /// Its workflow ("" for a step's approval).
    pub workflow: String,
    /// The approval node ("" for a step's approval).
    pub node: String,
    /// What the approver is asked.
    pub prompt: String,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// The level (1-5) a decider's key must hold.
    pub required_level: u8,
    /// When it times out, ms since the epoch.
    pub expires_at_ms: u64,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Their comment.
    pub comment: Option<String>,
    /// When it closed.
    pub closed_at_ms: Option<u64>,
    /// Creation time.
    pub created_at_ms: u64,
}

/// The run step an approval holds back.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalStepView {
    /// The run.
    pub run_id: RunId,
    /// The step waiting.
    pub step_index: u32,
    /// Its skill.
    pub skill: String,
    /// The policies that asked for the approval.
    pub policies: Vec<String>,
    /// Their version.
    pub policy_version: u32,
    /// How long each level has to decide, ms.
    pub timeout_ms: u64,
    /// The level an undecided request goes to at its timeout.
    pub escalate_to: Option<u8>,
}

/// A page of approvals, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalList {
    /// The approvals.
    pub approvals: Vec<ApprovalView>,
    /// Pass as `before` for the next page (`null`: the last page).
    pub next_before: Option<String>,
}

fn workflow_view(w: &WorkflowRecord) -> WorkflowView {
    WorkflowView {
        name: w.name.clone(),
        version: w.version,
        spec: w.spec.clone(),
        spec_hash: w.spec_hash.clone(),
        created_at_ms: w.created_at_ms,
    }
}

pub(crate) fn execution_view(e: &ExecutionRecord, w: &WorkflowRecord) -> ExecutionView {
    let nodes = w
        .spec
        .nodes
        .iter()
        .filter_map(|spec| {
            let n = e.state.nodes.get(&spec.id)?;
            let items = n.items_total.map(|total| {
                let count = |st: NodeStatus| n.items.iter().filter(|i| i.status == st).count();
                ItemsView {
                    total,
                    completed: count(NodeStatus::Completed),
                    failed: count(NodeStatus::Failed),
                    running: count(NodeStatus::Running),
                }
            });
            Some(NodeView {
                id: spec.id.clone(),
                kind: spec.kind,
                status: n.status,
                output: n.output.clone(),
                error: n.error.clone(),
                started_at_ms: n.started_at_ms,
                ended_at_ms: n.ended_at_ms,
                duration_ms: n.started_at_ms.zip(n.ended_at_ms).map(|(a, b)| b.saturating_sub(a)),
                run_id: n.run_id.clone(),
                items,
                approval_id: n.approval.clone(),
                wake_at_ms: n.wake_at_ms,
            })
        })
        .collect();
    ExecutionView {
        id: e.id.clone(),
        tenant_id: e.tenant.clone(),
        workflow: e.workflow.clone(),
        version: e.version,
        status: e.state.status,
        finished: e.state.status.is_terminal(),
        input: e.input.clone(),
        base_seed: e.base_seed,
        output: e.state.output.clone(),
        output_error: e.state.output_error.clone(),
        error: e.state.error.clone(),
        failed_node: e.state.failed_node.clone(),
        nodes,
        compensations: e.state.compensations.clone(),
        created_at_ms: e.created_at_ms,
        updated_at_ms: e.updated_at_ms,
        budget_cents: e.budget_mc.map(|b| aos_core::credits::Millicredits(b).cents()),
        envelope: None,
    }
}

fn approval_view(a: &ApprovalRecord) -> ApprovalView {
    let step = a.step.as_ref().map(|st| ApprovalStepView {
        run_id: st.run_id.clone(),
        step_index: st.step_index,
        skill: st.skill.clone(),
        policies: st.policies.clone(),
        policy_version: st.policy_version,
        timeout_ms: st.timeout_ms,
        escalate_to: st.escalate_to,
    });
    ApprovalView {
        id: a.id.clone(),
        kind: if a.step.is_some() { "step" } else { "workflow_node" }.to_owned(),
        step,
        history: a.history.clone(),
        execution_id: a.execution.clone(),
        workflow: a.workflow.clone(),
        node: a.node.clone(),
        prompt: a.prompt.clone(),
        status: a.status,
        required_level: a.required_level,
        expires_at_ms: a.expires_at_ms,
        decided_by: a.decided_by.clone(),
        comment: a.comment.clone(),
        closed_at_ms: a.closed_at_ms,
        created_at_ms: a.created_at_ms,
    }
}
