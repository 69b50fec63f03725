//! Step Functions tasks: the messages a generated state machine sends to the step queue
//! (`sqs:sendMessage.waitForTaskToken`) and how the worker answers them.
//!
//! A node, map element or compensation task becomes a one-step run of the ordinary
//! pipeline whose parent link carries the task token; when the run ends, the worker
//! answers `SendTaskSuccess` with its output or `SendTaskFailure` with an error name the
//! state machine's `Retry` understands. Each attempt's run id is derived from the
//! execution, node, element and task token (new for each attempt), so a redelivered task message finds its run
//! instead of starting a second one. An approval task becomes a pending approval that
//! holds the token until someone decides or Step Functions times it out.

use crate::clock::now_ms;
use crate::ports::{
    ApprovalRecord, ApprovalStatus, NodeProgress, Queue, Received, RunRecord, RunStore, SfnRecords, StepMessage,
    StoreError, TaskTokens, WorkflowStore,
};
use crate::workflows::ChildRun;
use aos_core::determinism::content_hash;
use aos_core::template::{resolve, Scope};
use aos_core::workflow::asl::error_name;
use aos_core::workflow::NodeStatus;
use aos_core::workflow::Slot;
use aos_core::StructuredOutcome;
use aos_core::{ApprovalId, ErrorCode, ExecutionId, RunId, RunStatus, TenantId};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a task asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A task node.
    Node,
    /// One element of a map node.
    Item,
    /// A node's compensation.
    Compensation,
    /// An approval.
    Approval,
}

/// The execution a task belongs to (`$.aos` of the state document).
#[derive(Debug, Clone, Deserialize)]
pub struct TaskExecution {
    /// Owner.
    pub tenant: TenantId,
    /// The execution (also the Step Functions execution name).
    pub execution: ExecutionId,
    /// Workflow name.
    #[serde(default)]
    pub workflow: String,
    /// Base of the runs' seeds.
    pub base_seed: u64,
    /// The execution's own budget, millicredits.
    #[serde(default)]
    pub budget_mc: Option<u64>,
    /// Where signed notices about the execution go.
    #[serde(default)]
    pub notify_url: Option<String>,
}

/// A node's view of a step in the state document.
#[derive(Debug, Clone, Deserialize)]
pub struct StepDoc {
    /// `completed`, `failed`, `skipped`, …
    pub status: String,
    /// Output when completed.
    #[serde(default)]
    pub output: Option<Value>,
}

/// What templates resolve against.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskDoc {
    /// The execution input.
    pub input: Value,
    /// The nodes so far.
    #[serde(default)]
    pub steps: BTreeMap<String, StepDoc>,
}

/// A task message from a generated state machine.
#[derive(Debug, Clone, Deserialize)]
pub struct SfnTask {
    /// Always `sfn_task`.
    pub kind: String,
    /// What is asked.
    pub task: TaskKind,
    /// The node.
    pub node: String,
    /// The task token to answer.
    pub token: String,
    /// Step Functions' retry count (0 on the first attempt).
    #[serde(default)]
    pub attempt: u32,
    /// The node's attempts in all (its retry policy); 1 when the message predates it.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// The execution.
    pub aos: TaskExecution,
    /// Skill to call (not for approvals).
    #[serde(default)]
    pub skill: Option<String>,
    /// The input template (the prompt for approvals), as JSON text.
    pub template: String,
    /// Per-attempt timeout (approvals: time to decide), seconds.
    #[serde(default)]
    pub timeout_s: Option<u64>,
    /// Approvals: the level a decider must hold (1 when the message predates levels).
    #[serde(default)]
    pub level: Option<u8>,
    /// The state document.
    pub doc: TaskDoc,
    /// The element, for map elements.
    #[serde(default)]
    pub item: Option<Value>,
    /// Its index.
    #[serde(default)]
    pub index: Option<u64>,
}

impl SfnTask {
    /// Parses a queue body; `None` if it is not a Step Functions task.
    pub fn decode(body: &str) -> Option<Result<Self, String>> {
        if !body.contains("\"sfn_task\"") {
            return None;
        }
        Some(serde_json::from_str::<Self>(body).map_err(|e| format!("malformed Step Functions task: {e}")))
    }

    /// What is left of the node's attempts at this Step Functions attempt (at least 1).
    fn attempts_left(&self) -> u32 {
        self.max_attempts.unwrap_or(1).saturating_sub(self.attempt).max(1)
    }

    fn resolve(&self) -> Result<Value, String> {
        let template: Value = serde_json::from_str(&self.template).map_err(|e| format!("template: {e}"))?;
        let outputs: BTreeMap<String, Value> = self
            .doc
            .steps
            .iter()
            .filter(|(_, s)| s.status == "completed")
            .filter_map(|(k, s)| Some((k.clone(), s.output.clone()?)))
            .collect();
        let index = self.index.map(|i| json!(i)).unwrap_or(Value::Null);
        let item = self.item.clone().unwrap_or(Value::Null);
        let scope = Scope {
            item: (self.task == TaskKind::Item).then_some((&item, &index)),
            ..Scope::new(&self.doc.input, &outputs)
        };
        resolve(&template, &scope).map_err(|e| e.to_string())
    }

    fn slot(&self) -> Slot {
        Slot {
            node: self.node.clone(),
            item: self.index.and_then(|i| u32::try_from(i).ok()).filter(|_| self.task == TaskKind::Item),
            compensation: self.task == TaskKind::Compensation,
        }
    }

    /// The id of this attempt's run: the same for every delivery of the message. Derived
    /// from the task token, which is new for every attempt.
    pub fn run_id(&self) -> RunId {
        let key = json!([self.aos.execution, self.node, self.index, self.task == TaskKind::Compensation, self.token]);
        RunId::from_suffix(&content_hash(&key)[..32]).expect("hex suffixes are valid ids")
    }
}

/// Answers Step Functions tasks for the step worker.
#[derive(Clone)]
pub struct SfnTasks {
    runs: Arc<dyn RunStore>,
    queue: Arc<dyn Queue>,
    tokens: Arc<dyn TaskTokens>,
    approvals: Arc<dyn WorkflowStore>,
    records: Option<Arc<dyn SfnRecords>>,
    blobs: Option<Arc<dyn crate::ports::BlobStore>>,
}

impl SfnTasks {
    /// Wires the handler.
    pub fn new(
        runs: Arc<dyn RunStore>,
        queue: Arc<dyn Queue>,
        tokens: Arc<dyn TaskTokens>,
        approvals: Arc<dyn WorkflowStore>,
    ) -> Self {
        Self { runs, queue, tokens, approvals, records: None, blobs: None }
    }

    /// Keeps outputs too large for a state document in `blobs` (see [`crate::state_refs`]).
    #[must_use]
    pub fn with_blobs(mut self, blobs: Arc<dyn crate::ports::BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// A run's output as it may travel in its execution's state.
    async fn stashed(&self, run: &RunRecord, execution: &ExecutionId) -> Result<Option<Value>, StoreError> {
        match &run.output {
            Some(v) => Ok(Some(crate::state_refs::stash(self.blobs.as_deref(), &run.tenant, execution, v).await?)),
            None => Ok(None),
        }
    }

    /// Records each node's progress for the API's per-node view.
    #[must_use]
    pub fn with_records(mut self, records: Arc<dyn SfnRecords>) -> Self {
        self.records = Some(records);
        self
    }

    async fn record(&self, run: &RunRecord) -> Result<(), StoreError> {
        let (Some(records), Some(parent)) = (&self.records, &run.parent) else { return Ok(()) };
        let ended = run.status.is_terminal();
        let progress = NodeProgress {
            tenant: run.tenant.clone(),
            execution: parent.execution.clone(),
            slot: parent.slot.clone(),
            run_id: run.id.clone(),
            status: match run.status {
                RunStatus::Succeeded => NodeStatus::Completed,
                s if s.is_terminal() => NodeStatus::Failed,
                _ => NodeStatus::Running,
            },
            started_at_ms: run.created_at_ms,
            ended_at_ms: ended.then_some(run.updated_at_ms),
            output: self.stashed(run, &parent.execution).await?,
            error: run.error.clone(),
        };
        records.put_progress(&progress).await
    }

    /// The task-token port.
    pub fn tokens(&self) -> &Arc<dyn TaskTokens> {
        &self.tokens
    }

    /// Handles a task message: starts its run (or re-answers a finished one) or opens its
    /// approval, then deletes the message.
    pub async fn handle(&self, task: &SfnTask, received: &Received) -> Result<(), StoreError> {
        let now = now_ms();
        // Outputs that travelled as references are read back before anything resolves.
        let mut task = task.clone();
        for step in task.doc.steps.values_mut() {
            if let Some(out) = step.output.as_mut() {
                crate::state_refs::hydrate(self.blobs.as_deref(), &task.aos.tenant, out).await?;
            }
        }
        if let Some(item) = task.item.as_mut() {
            crate::state_refs::hydrate(self.blobs.as_deref(), &task.aos.tenant, item).await?;
        }
        let task = &task;
        match task.task {
            TaskKind::Approval => {
                let prompt = match task.resolve() {
                    Ok(Value::String(s)) => s,
                    Ok(other) => other.to_string(),
                    Err(e) => return self.refuse(task, &e, received).await,
                };
                let id = approval_id(&task.aos.execution, &task.node);
                let level = task.level.unwrap_or(1);
                let approval = ApprovalRecord {
                    execution: Some(task.aos.execution.clone()),
                    workflow: task.aos.workflow.clone(),
                    node: task.node.clone(),
                    task_token: Some(task.token.clone()),
                    ..ApprovalRecord::pending(
                        task.aos.tenant.clone(),
                        id,
                        prompt,
                        level,
                        now + task.timeout_s.unwrap_or(86_400) * 1000,
                        now,
                        format!("approval node {}", task.node),
                    )
                };
                let audit = approval.audit(aos_core::audit::Actor::system(), "approval.request");
                match self.approvals.put_approval(&approval, None, None, &[audit]).await {
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            TaskKind::Node | TaskKind::Item | TaskKind::Compensation => {
                let input = match task.resolve() {
                    Ok(v) => v,
                    Err(e) => return self.refuse(task, &e, received).await,
                };
                let child = ChildRun {
                    tenant: &task.aos.tenant,
                    execution: &task.aos.execution,
                    workflow: &task.aos.workflow,
                    base_seed: task.aos.base_seed,
                    slot: task.slot(),
                    run_id: task.run_id(),
                    skill: task.skill.clone().unwrap_or_default(),
                    input,
                    // Step Functions retries failures (its `Retry` follows the node's
                    // policy, with a new token and so a new run); the worker does not
                    // retry them within the run. The run's own attempts are what is left
                    // of the node's, so a worker that dies mid-step is taken over (an
                    // attempt, as on the embedded executor) instead of failing the node.
                    max_attempts: task.attempts_left(),
                    backoff_ms: 1,
                    timeout_ms: task.timeout_s.map(|s| s * 1000),
                    task_token: Some(task.token.clone()),
                    budget_mc: task.aos.budget_mc,
                    notify_url: task.aos.notify_url.clone(),
                };
                let run = match child.build(now) {
                    Ok(r) => r,
                    Err(e) => return self.refuse(task, &e.to_string(), received).await,
                };
                let first = StepMessage { tenant: run.tenant.clone(), run_id: run.id.clone(), step_index: 0 };
                match self.runs.insert_run(&run, &first, None).await {
                    Ok(()) => self.record(&run).await?,
                    Err(StoreError::Conflict(_)) => {
                        // A redelivered task: its run exists; answer again if it ended.
                        if let Some(existing) = self.runs.run(&run.tenant, &run.id).await? {
                            self.answer(&existing).await?;
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.queue.delete(&received.receipt).await
    }

    async fn refuse(&self, task: &SfnTask, why: &str, received: &Received) -> Result<(), StoreError> {
        let cause = json!({"code": ErrorCode::UnresolvedReference, "message": why}).to_string();
        self.tokens.fail(&task.token, error_name(ErrorCode::UnresolvedReference, false), &cause).await?;
        self.queue.delete(&received.receipt).await
    }

    /// Answers the task of a finished run (no-op for runs without a task token or not
    /// finished). Answering twice is harmless: Step Functions refuses the second.
    pub async fn answer(&self, run: &RunRecord) -> Result<(), StoreError> {
        let Some(token) = run.parent.as_ref().and_then(|p| p.task_token.as_deref()) else { return Ok(()) };
        if run.status.is_terminal() {
            self.record(run).await?;
        }
        match run.status {
            RunStatus::Succeeded => {
                let execution = &run.parent.as_ref().expect("runs with a token have a parent").execution;
                let output = self.stashed(run, execution).await?.unwrap_or(Value::Null);
                self.tokens.succeed(token, &output).await?;
            }
            status if status.is_terminal() => {
                let (name, cause) = match &run.error {
                    Some(e) => (error_name(e.code, e.retryable), json!({"code": e.code, "message": e.message})),
                    None => (error_name(ErrorCode::Unknown, false), json!({"message": format!("run ended {status}")})),
                };
                self.tokens.fail(token, name, &cause.to_string()).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Decides a pending approval of a Step Functions execution: answers its task token
/// (`{"decision": "approved", ...}` or the `AOS.ApprovalRejected` error) and records
/// the decision. An approval that is not pending or expired is refused unchanged —
/// except the same decision again: the decision is recorded before the answer is sent, so
/// a decider whose answer failed (or was lost) repeats it, and the answer goes again (Step
/// Functions takes one answer per token; a second finds the task gone).
pub async fn decide(
    store: &dyn WorkflowStore,
    tokens: &dyn TaskTokens,
    tenant: &TenantId,
    id: &ApprovalId,
    decision: aos_core::workflow::Decision,
    level: u8,
    role: &str,
) -> Result<ApprovalRecord, crate::workflows::FlowError> {
    use crate::workflows::FlowError;
    let approval = store.approval(tenant, id).await?.ok_or(FlowError::NotFound("approval"))?;
    let now = now_ms();
    let not_pending = |what: &str| {
        FlowError::Conflict(
            ErrorCode::ApprovalNotPending,
            format!("approval {id} is {what}; only pending approvals can be decided"),
        )
    };
    let same = approval.decided_by.as_deref() == Some(decision.decided_by.as_str())
        && approval.status == if decision.approved { ApprovalStatus::Approved } else { ApprovalStatus::Rejected };
    if same && now < approval.expires_at_ms {
        let token = approval.task_token.clone().ok_or_else(|| not_pending("not waiting on a task"))?;
        send_decision(tokens, &token, &decision).await?;
        return Ok(approval);
    }
    if approval.status != ApprovalStatus::Pending {
        return Err(not_pending(approval.status.as_str()));
    }
    if now >= approval.expires_at_ms {
        return Err(not_pending("expired"));
    }
    let token = approval.task_token.clone().ok_or_else(|| not_pending("not waiting on a task"))?;
    let decided = approval.clone().decided(&decision, level, now);
    // Record first (conditionally), so two deciders cannot both answer.
    let actor = aos_core::audit::Actor::key(decision.decided_by.clone(), role);
    match store
        .put_approval(&decided, Some(ApprovalStatus::Pending), None, &[decided.audit(actor, "approval.decide")])
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(not_pending("already decided")),
        Err(e) => return Err(e.into()),
    }
    let answered = send_decision(tokens, &token, &decision).await?;
    if !answered {
        // Step Functions timed the task out first: the approval expired.
        let mut expired =
            decided.clone().moved(ApprovalStatus::Expired, None, None, "Step Functions timed the task out".into(), now);
        expired.decided_by = None;
        expired.comment = None;
        let audit = expired.audit(aos_core::audit::Actor::system(), "approval.expire");
        let _ = store.put_approval(&expired, Some(decided.status), None, &[audit]).await;
        return Err(not_pending("expired"));
    }
    Ok(decided)
}

/// Answers an approval's task token with a decision; `false` if the task is gone.
async fn send_decision(
    tokens: &dyn TaskTokens,
    token: &str,
    decision: &aos_core::workflow::Decision,
) -> Result<bool, StoreError> {
    if decision.approved {
        let output = json!({"decision": "approved", "decided_by": decision.decided_by, "comment": decision.comment});
        tokens.succeed(token, &output).await
    } else {
        let cause = json!({"code": ErrorCode::ApprovalRejected, "decided_by": decision.decided_by, "comment": decision.comment});
        tokens.fail(token, aos_core::workflow::asl::ERROR_REJECTED, &cause.to_string()).await
    }
}

/// The per-node view of an execution on Step Functions, in the shape of the embedded
/// executor's state: final statuses and outputs from the state document once it
/// succeeded; before that (and for failed executions) what the worker recorded of each
/// task, element and compensation, and the approvals.
pub fn project(
    wf: &aos_core::workflow::Workflow,
    sfn: &crate::ports::SfnExecution,
    machine: &crate::ports::MachineExecution,
    progress: &[crate::ports::NodeProgress],
    approvals: &[ApprovalRecord],
    now: u64,
) -> crate::ports::ExecutionRecord {
    use aos_core::workflow::exec::{CompensationState, ItemState};
    use aos_core::workflow::{final_output, ExecState, ExecStatus, NodeStatus};
    let mut state = ExecState::new(wf);
    let node_status = |s: &str| match s {
        "completed" => Some(NodeStatus::Completed),
        "failed" => Some(NodeStatus::Failed),
        "skipped" => Some(NodeStatus::Skipped),
        "upstream_failed" => Some(NodeStatus::UpstreamFailed),
        _ => None,
    };
    for p in progress.iter().filter(|p| !p.slot.compensation) {
        let Some(node) = state.nodes.get_mut(&p.slot.node) else { continue };
        node.started_at_ms = Some(node.started_at_ms.map_or(p.started_at_ms, |s| s.min(p.started_at_ms)));
        match p.slot.item {
            None => {
                node.status = p.status;
                node.run_id = Some(p.run_id.clone());
                node.output.clone_from(&p.output);
                node.error.clone_from(&p.error);
                node.ended_at_ms = p.ended_at_ms;
            }
            Some(index) => {
                node.status = NodeStatus::Running;
                node.items.push(ItemState {
                    index,
                    run_id: Some(p.run_id.clone()),
                    status: p.status,
                    output: p.output.clone(),
                    error: p.error.clone(),
                });
                node.items.sort_by_key(|i| i.index);
                node.items_total = Some(u32::try_from(node.items.len()).unwrap_or(u32::MAX));
            }
        }
    }
    for a in approvals {
        let Some(node) = state.nodes.get_mut(&a.node) else { continue };
        node.approval = Some(a.id.clone());
        node.started_at_ms = Some(a.created_at_ms);
        node.wake_at_ms = Some(a.expires_at_ms);
        node.status = match a.status {
            ApprovalStatus::Pending if now < a.expires_at_ms => NodeStatus::Waiting,
            ApprovalStatus::Approved => NodeStatus::Completed,
            ApprovalStatus::Rejected => NodeStatus::Failed,
            _ => node.status,
        };
        if a.status == ApprovalStatus::Approved {
            node.output = Some(json!({"decision": "approved", "decided_by": a.decided_by, "comment": a.comment}));
            node.ended_at_ms = a.closed_at_ms;
        }
        if a.status == ApprovalStatus::Rejected {
            node.error = StructuredOutcome::failure(
                ErrorCode::ApprovalRejected,
                format!("rejected by {}", a.decided_by.as_deref().unwrap_or("?")),
            )
            .error;
            node.ended_at_ms = a.closed_at_ms;
        }
    }
    // The final document is authoritative for every node of a succeeded execution.
    if let Some(steps) = machine.output.as_ref().and_then(|d| d.get("steps")).and_then(Value::as_object) {
        for (id, step) in steps {
            let Some(node) = state.nodes.get_mut(id) else { continue };
            if let Some(status) = step["status"].as_str().and_then(node_status) {
                node.status = status;
            }
            if let Some(output) = step.get("output") {
                node.output = Some(output.clone());
                if let Value::Array(items) = output {
                    node.items_total = Some(u32::try_from(items.len()).unwrap_or(u32::MAX));
                }
            }
        }
    }
    let mut comps: Vec<&crate::ports::NodeProgress> = progress.iter().filter(|p| p.slot.compensation).collect();
    comps.sort_by_key(|p| p.started_at_ms);
    state.compensations = comps
        .into_iter()
        .map(|p| CompensationState {
            node: p.slot.node.clone(),
            status: p.status,
            run_id: Some(p.run_id.clone()),
            error: p.error.clone(),
        })
        .collect();
    state.status = match machine.status.as_str() {
        "RUNNING" if !state.compensations.is_empty() => ExecStatus::Compensating,
        "RUNNING" => ExecStatus::Running,
        "SUCCEEDED" => ExecStatus::Succeeded,
        "ABORTED" => ExecStatus::Cancelled,
        _ => ExecStatus::Failed,
    };
    match state.status {
        ExecStatus::Succeeded => match final_output(wf, &sfn.input, &state.outputs()) {
            Ok(v) => state.output = Some(v),
            Err(e) => state.output_error = Some(e),
        },
        ExecStatus::Failed => {
            let failed = wf.canonical_order().iter().map(|&i| &wf.node(i).id).find(|id| {
                let n = &state.nodes[*id];
                n.status == NodeStatus::Failed || n.items.iter().any(|i| i.status == NodeStatus::Failed)
            });
            if let Some(id) = failed.cloned() {
                let n = &state.nodes[&id];
                state.error = n.error.clone().or_else(|| n.items.iter().find_map(|i| i.error.clone())).or_else(|| {
                    StructuredOutcome::failure(ErrorCode::Unknown, machine.error.clone().unwrap_or_default()).error
                });
                state.failed_node = Some(id);
            }
        }
        ExecStatus::Cancelled => {
            state.error = StructuredOutcome::failure(ErrorCode::ExecutionCancelled, "cancelled on request").error;
        }
        _ => {}
    }
    crate::ports::ExecutionRecord {
        tenant: sfn.tenant.clone(),
        id: sfn.id.clone(),
        workflow: sfn.workflow.clone(),
        version: sfn.version,
        input: sfn.input.clone(),
        base_seed: sfn.base_seed,
        state,
        revision: 0,
        created_at_ms: sfn.created_at_ms,
        updated_at_ms: now,
        budget_mc: sfn.budget_mc,
        notify_url: sfn.notify_url.clone(),
    }
}

/// The id of the approval of `node` in a Step Functions execution: derived, so a
/// redelivered task finds it and the execution's view reads it without a listing.
pub fn approval_id(execution: &ExecutionId, node: &str) -> ApprovalId {
    ApprovalId::from_suffix(&content_hash(&json!([execution, node]))[..32]).expect("hex suffixes are valid ids")
}
