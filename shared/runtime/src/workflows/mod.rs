//! Workflow use cases and the embedded executor: apply (versioned), get, start
//! (idempotent), inspect and cancel executions, list and decide approvals, and the
//! handling of the workflow messages the step worker receives.
//!
//! Each node (map element, compensation) runs as a one-step run of the ordinary step
//! pipeline, with a parent link to its execution. The run's final commit enqueues a
//! `run_ended` message in the same write; the worker hands it here and the execution's
//! state machine advances. Every change of an execution is one atomic write (state,
//! new runs, timers, approvals, acknowledgement) guarded by a revision, so concurrent
//! workers and a `kill -9` at any point leave it consistent.

mod approvals;
mod child;
mod messages;
mod step_functions;

pub use approvals::as_of;
pub(crate) use child::ChildRun;
pub use messages::WorkflowMessage;
pub use step_functions::StepFunctionsEngine;

use crate::clock::{now_ms, unique_suffix};
use crate::ports::{
    ApprovalRecord, ApprovalStatus, ExecutionRecord, ExecutionWrite, IdempotencyCompletion, IdempotencyStore, RunStore,
    StoreError, WorkflowRecord, WorkflowStore,
};
use crate::runs::{claim_key, KeyClaim, IDEMPOTENCY_TTL_MS};
use crate::skills::SkillRegistry;
use aos_core::determinism::content_hash;

use aos_core::workflow::{Action, Ctx, Event, ExecState, IdSource, Workflow, WorkflowError, WorkflowSpec};
use aos_core::{ApprovalId, ErrorCode, ExecutionId, RunId, RunStatus, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a node's run ended with, as the execution's state machine takes it.
fn run_result(
    status: RunStatus,
    output: Option<Value>,
    error: Option<aos_core::OutcomeError>,
) -> Result<Value, aos_core::OutcomeError> {
    match (status, output, error) {
        (RunStatus::Succeeded, output, _) => Ok(output.unwrap_or(Value::Null)),
        (_, _, Some(e)) => Err(e),
        (status, _, None) => Err(aos_core::StructuredOutcome::failure(
            ErrorCode::Unknown,
            format!("run ended {status} without an error"),
        )
        .error
        .expect("failures carry an error")),
    }
}

/// What a transition can change of a node, taken before and after it: every change of
/// a node's state changes one of these (checked against a full comparison in debug
/// builds), and taking them costs no copy of the node's values.
#[derive(PartialEq, Eq)]
struct NodeMark {
    status: aos_core::workflow::NodeStatus,
    items: usize,
    settled_items: usize,
    output: bool,
    error: bool,
    run: bool,
    approval: bool,
    times: (Option<u64>, Option<u64>, Option<u64>),
    items_total: Option<u32>,
}

impl NodeMark {
    fn of(n: &aos_core::workflow::NodeState) -> Self {
        Self {
            status: n.status,
            items: n.items.len(),
            settled_items: n.items.iter().filter(|i| i.status.is_settled()).count(),
            output: n.output.is_some(),
            error: n.error.is_some(),
            run: n.run_id.is_some(),
            approval: n.approval.is_some(),
            times: (n.started_at_ms, n.ended_at_ms, n.wake_at_ms),
            items_total: n.items_total,
        }
    }
}

/// How often a write that lost a race is retried.
const MAX_RACES: u32 = 16;

/// A workflow use case failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The request is invalid; `node` names the node concerned.
    #[error("{message}")]
    Invalid {
        /// Stable code.
        code: ErrorCode,
        /// What to fix.
        message: String,
        /// The node, when the error concerns one.
        node: Option<String>,
    },
    /// No such workflow, version, execution or approval for this tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Refused by the current state; nothing changed.
    #[error("{1}")]
    Conflict(ErrorCode, String),
    /// The caller may not do this (an approval above its level); nothing changed.
    #[error("{0}")]
    Forbidden(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FlowError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { code, .. } | Self::Conflict(code, _) => *code,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Forbidden(_) => ErrorCode::PermissionDenied,
            Self::Store(_) => ErrorCode::Internal,
        }
    }
}

impl From<WorkflowError> for FlowError {
    fn from(e: WorkflowError) -> Self {
        Self::Invalid { code: ErrorCode::InvalidWorkflow, message: e.message, node: e.node }
    }
}

/// The body of `POST /v1/workflows/{name}/executions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartExecution {
    /// The execution input.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub input: Value,
    /// Version to run; the latest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Base of the runs' seeds; random when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_seed: Option<u64>,
    /// The most the execution's runs may spend together, in cents (credits): a step
    /// whose estimate would take them past it does not run, and its node fails with
    /// `ERR_BUDGET_EXCEEDED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_cents: Option<u64>,
    /// Where signed notices about the execution go (`budget.warning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

/// Something plus whether this request created it.
#[derive(Debug, Clone)]
pub struct Created<T> {
    /// The record.
    pub value: T,
    /// False when it existed already (same spec, same Idempotency-Key).
    pub created: bool,
}

/// An execution's `budget_cents` as millicredits, or the refusal that says what to fix.
fn execution_budget(cents: Option<u64>) -> Result<Option<u64>, FlowError> {
    let Some(cents) = cents else { return Ok(None) };
    let most = aos_core::credits::MAX_AMOUNT / aos_core::credits::MILLI;
    if cents == 0 || cents > most {
        return Err(FlowError::Invalid {
            code: ErrorCode::ValidationFailed,
            message: format!("budget_cents must be a whole number of cents from 1 to {most}, got {cents}"),
            node: None,
        });
    }
    Ok(Some(aos_core::credits::Millicredits::from_credits(cents).0))
}

struct Ids;

impl IdSource for Ids {
    fn run_id(&mut self) -> RunId {
        RunId::from_suffix(&unique_suffix()).expect("uuid suffixes are valid ids")
    }
    fn approval_id(&mut self) -> ApprovalId {
        ApprovalId::from_suffix(&unique_suffix()).expect("uuid suffixes are valid ids")
    }
}

/// Workflow use cases over the ports.
#[derive(Clone)]
pub struct WorkflowService {
    store: Arc<dyn WorkflowStore>,
    runs: Arc<dyn RunStore>,
    idempotency: Arc<dyn IdempotencyStore>,
    skills: Arc<SkillRegistry>,
    /// Validated workflow versions (immutable once applied), by tenant, name, version.
    compiled: Arc<Mutex<HashMap<VersionKey, Arc<Workflow>>>>,
    /// Striped locks that serialize the changes of one execution within this process,
    /// so concurrent workers finishing a fan-out queue up instead of losing revision
    /// races (the revision check still guards writers in other processes).
    stripes: Arc<Vec<tokio::sync::Mutex<()>>>,
    /// Step Functions, when executions run there (the AWS backend).
    sfn: Option<StepFunctionsEngine>,
}

/// Accepts every skill: stored versions were validated against the registry when applied.
struct AnySkill;

impl aos_core::workflow::SkillCatalog for AnySkill {
    fn check(&self, _skill: &str, _static_input: Option<&Value>) -> Result<(), String> {
        Ok(())
    }
}

/// A workflow version: tenant, name, version.
type VersionKey = (TenantId, String, u32);

/// Versions kept validated in memory.
const COMPILED_CACHE: usize = 1024;
/// Lock stripes for execution changes.
const STRIPES: usize = 64;

impl WorkflowService {
    /// Wires the use cases.
    pub fn new(
        store: Arc<dyn WorkflowStore>,
        runs: Arc<dyn RunStore>,
        idempotency: Arc<dyn IdempotencyStore>,
        skills: Arc<SkillRegistry>,
    ) -> Self {
        let stripes = Arc::new((0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect());
        Self { store, runs, idempotency, skills, compiled: Arc::default(), stripes, sfn: None }
    }

    /// Runs executions on Step Functions instead of the embedded executor.
    #[must_use]
    pub fn with_step_functions(mut self, engine: StepFunctionsEngine) -> Self {
        self.sfn = Some(engine);
        self
    }

    fn stripe(&self, id: &ExecutionId) -> &tokio::sync::Mutex<()> {
        let h = id.as_str().bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
        &self.stripes[h % self.stripes.len()]
    }

    /// Validates a spec against the registered skills.
    pub fn validate(&self, spec: WorkflowSpec) -> Result<Workflow, FlowError> {
        Ok(Workflow::new(spec, self.skills.as_ref())?)
    }

    /// Validates and stores a spec as the workflow's next version. Applying the spec of
    /// the latest version again changes nothing and returns that version.
    pub async fn apply(&self, tenant: &TenantId, spec: WorkflowSpec) -> Result<Created<WorkflowRecord>, FlowError> {
        let workflow = self.validate(spec)?;
        let spec = workflow.spec().clone();
        let spec_hash = content_hash(&serde_json::to_value(&spec).expect("specs serialize"));
        let state_machine_arn = match &self.sfn {
            None => None,
            Some(engine) => Some(engine.create_machine(tenant, &workflow, &spec_hash).await?),
        };
        for _ in 0..MAX_RACES {
            let latest = self.store.workflow(tenant, &spec.name, None).await?;
            if let Some(latest) = &latest {
                if latest.spec_hash == spec_hash {
                    return Ok(Created { value: latest.clone(), created: false });
                }
            }
            let record = WorkflowRecord {
                tenant: tenant.clone(),
                name: spec.name.clone(),
                version: latest.map_or(1, |l| l.version + 1),
                spec: spec.clone(),
                spec_hash: spec_hash.clone(),
                state_machine_arn: state_machine_arn.clone(),
                created_at_ms: now_ms(),
            };
            match self.store.put_workflow(&record).await {
                Ok(()) => {
                    if let Some(engine) = &self.sfn {
                        self.retire_predecessors(engine, &record).await;
                    }
                    return Ok(Created { value: record, created: true });
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Conflict(
            ErrorCode::IllegalTransition,
            "the workflow is being changed concurrently; retry".to_owned(),
        ))
    }

    /// A version of a workflow (the latest when `version` is `None`).
    pub async fn get(&self, tenant: &TenantId, name: &str, version: Option<u32>) -> Result<WorkflowRecord, FlowError> {
        self.store.workflow(tenant, name, version).await?.ok_or(FlowError::NotFound("workflow version"))
    }

    /// The validated workflow of a stored version (cached: versions never change).
    fn compile(&self, record: &WorkflowRecord) -> Result<Arc<Workflow>, FlowError> {
        let key = (record.tenant.clone(), record.name.clone(), record.version);
        if let Some(w) = self.compiled.lock().expect("cache lock").get(&key) {
            return Ok(Arc::clone(w));
        }
        // Skills were checked when the version was applied; a skill missing now fails the
        // node that calls it (ERR_SKILL_NOT_FOUND), not the whole execution's bookkeeping.
        let workflow = Arc::new(Workflow::new(record.spec.clone(), &AnySkill)?);
        let mut cache = self.compiled.lock().expect("cache lock");
        if cache.len() >= COMPILED_CACHE {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&workflow));
        Ok(workflow)
    }

    /// The validated workflow an execution is pinned to.
    async fn pinned(&self, execution: &ExecutionRecord) -> Result<Arc<Workflow>, FlowError> {
        let key = (execution.tenant.clone(), execution.workflow.clone(), execution.version);
        if let Some(w) = self.compiled.lock().expect("cache lock").get(&key) {
            return Ok(Arc::clone(w));
        }
        let record = self.get(&execution.tenant, &execution.workflow, Some(execution.version)).await?;
        self.compile(&record)
    }

    /// Starts an execution pinned to a version. With an Idempotency-Key a repeat with
    /// the same body returns the same execution; another body is a conflict.
    pub async fn start(
        &self,
        tenant: &TenantId,
        name: &str,
        req: StartExecution,
        key: Option<&str>,
    ) -> Result<Created<ExecutionRecord>, FlowError> {
        let record = self.get(tenant, name, req.version).await?;
        let workflow = self.compile(&record)?;
        let input = if req.input.is_null() { json!({}) } else { req.input };
        let budget_mc = execution_budget(req.budget_cents)?;
        let notify_url = crate::notify::check_url(req.notify_url).map_err(|message| FlowError::Invalid {
            code: ErrorCode::ValidationFailed,
            message,
            node: None,
        })?;
        let mut payload =
            json!({"workflow": name, "version": record.version, "input": input, "base_seed": req.base_seed});
        if let Some(b) = req.budget_cents {
            payload["budget_cents"] = json!(b);
        }
        if let Some(u) = &notify_url {
            payload["notify_url"] = json!(u);
        }
        let payload_hash = content_hash(&payload);
        let now = now_ms();
        match claim_key(self.idempotency.as_ref(), tenant, key, &payload_hash, now).await? {
            Ok(KeyClaim::Fresh) => {}
            Ok(KeyClaim::Done(result)) => {
                let id = result["execution_id"]
                    .as_str()
                    .and_then(|s| ExecutionId::parse(s).ok())
                    .ok_or_else(|| StoreError::Backend("stored idempotency result has no execution id".to_owned()))?;
                return Ok(Created { value: self.execution(tenant, &id).await?, created: false });
            }
            Err((code, message)) => return Err(FlowError::Conflict(code, message)),
        }
        if let Some(engine) = &self.sfn {
            let req = StartExecution {
                input,
                version: Some(record.version),
                base_seed: req.base_seed,
                budget_cents: req.budget_cents,
                notify_url,
            };
            let claimed = key.map(|k| (k, payload_hash.as_str()));
            return self.start_on_step_functions(engine, tenant, &record, &workflow, req, claimed).await;
        }

        let execution = ExecutionRecord {
            tenant: tenant.clone(),
            id: ExecutionId::from_suffix(&unique_suffix()).expect("uuid suffixes are valid ids"),
            workflow: record.name.clone(),
            version: record.version,
            input,
            base_seed: req.base_seed.unwrap_or_else(rand::random),
            state: ExecState::new(&workflow),
            revision: 0,
            created_at_ms: now,
            updated_at_ms: now,
            budget_mc,
            notify_url,
        };
        let mut write = self.step(&workflow, execution, Event::Start, now)?.expect("a new execution starts");
        write.expected_revision = None;
        write.changed_nodes = write.execution.state.nodes.keys().cloned().collect();
        write.idempotency = key.map(|k| IdempotencyCompletion {
            key: k.to_owned(),
            payload_hash,
            result: json!({"execution_id": write.execution.id}),
            expires_at_ms: now + IDEMPOTENCY_TTL_MS,
        });
        if let Err(e) = self.store.write_execution(&write).await {
            if let Some(k) = key {
                if let Err(release) = self.idempotency.release(tenant, k).await {
                    tracing::warn!(error = %release, "could not release an idempotency claim");
                }
            }
            return Err(e.into());
        }
        Ok(Created { value: write.execution, created: true })
    }

    /// The execution, or `NotFound` (also for another tenant's).
    pub async fn execution(&self, tenant: &TenantId, id: &ExecutionId) -> Result<ExecutionRecord, FlowError> {
        if let Some(engine) = &self.sfn {
            let sfn = engine.records.sfn_execution(tenant, id).await?.ok_or(FlowError::NotFound("execution"))?;
            let record = self.get(tenant, &sfn.workflow, Some(sfn.version)).await?;
            let workflow = self.compile(&record)?;
            let mut machine = engine.machines.describe_execution(&sfn.execution_arn).await?;
            let mut progress = engine.records.progress(tenant, id).await?;
            // Large outputs travelled and were recorded as references: read them back.
            let blobs = engine.blobs.as_deref();
            if let Some(doc) = machine.output.as_mut() {
                crate::state_refs::hydrate(blobs, tenant, doc).await?;
            }
            for p in &mut progress {
                if let Some(out) = p.output.as_mut() {
                    crate::state_refs::hydrate(blobs, tenant, out).await?;
                }
            }
            // Its approvals are read by id (each derives from the execution and node).
            let mut approvals = Vec::new();
            for node in workflow.spec().nodes.iter().filter(|n| n.kind == aos_core::workflow::NodeType::Approval) {
                if let Some(a) = self.store.approval(tenant, &crate::sfn::approval_id(id, &node.id)).await? {
                    approvals.push(a);
                }
            }
            return Ok(crate::sfn::project(&workflow, &sfn, &machine, &progress, &approvals, now_ms()));
        }
        self.store.execution(tenant, id).await?.ok_or(FlowError::NotFound("execution"))
    }

    /// Cancels an unfinished execution: running runs are cancelled, pending approvals
    /// closed, nothing further starts (no compensation). A finished one is a conflict.
    pub async fn cancel(&self, tenant: &TenantId, id: &ExecutionId) -> Result<ExecutionRecord, FlowError> {
        if let Some(engine) = &self.sfn {
            let current = self.execution(tenant, id).await?;
            if current.state.status.is_terminal() {
                return Err(FlowError::Conflict(
                    ErrorCode::IllegalTransition,
                    "the execution has already finished".to_owned(),
                ));
            }
            let sfn = engine.records.sfn_execution(tenant, id).await?.ok_or(FlowError::NotFound("execution"))?;
            engine.machines.stop_execution(&sfn.execution_arn, "cancelled on request").await?;
            return self.execution(tenant, id).await;
        }
        let done = self.transition(tenant, id, Event::Cancel, None, None).await?;
        done.ok_or_else(|| {
            FlowError::Conflict(ErrorCode::IllegalTransition, "the execution has already finished".to_owned())
        })
    }

    /// Handles a workflow message from the step queue. Returns true when the message
    /// was acknowledged with the write, false when it was stale (a duplicate, or for a
    /// finished execution) and the caller should delete it.
    pub async fn handle(&self, msg: &WorkflowMessage, receipt: &str) -> Result<bool, FlowError> {
        let (tenant, execution, event) = match msg {
            WorkflowMessage::RunEnded { tenant, execution, slot, run_id } => {
                let Some(run) = self.runs.run(tenant, run_id).await? else {
                    tracing::warn!(run = %run_id, "run_ended for an unknown run dropped");
                    return Ok(false);
                };
                let result = run_result(run.status, run.output, run.error);
                (tenant, execution, Event::RunEnded { slot: slot.clone(), run_id: run_id.clone(), result })
            }
            WorkflowMessage::Timer { tenant, execution, node } => {
                (tenant, execution, Event::TimerFired { node: node.clone() })
            }
        };
        match self.transition(tenant, execution, event, Some(receipt.to_owned()), None).await {
            Ok(done) => Ok(done.is_some()),
            Err(FlowError::NotFound(what)) => {
                tracing::warn!(execution = %execution, what, "workflow message for a missing record dropped");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The end of one of its runs applied to an execution of the embedded executor, as
    /// the write that goes into the run's final commit ([`crate::ports::StepCommit::execution`]),
    /// so that a node's end and its successors' start cost one write instead of a message
    /// and a second write. `None` when the store cannot take it in a run's commit, the
    /// run answers no embedded execution, or the end is stale: the run's `run_ended`
    /// message carries it then. The guard keeps this process's other changes of the
    /// execution waiting until the commit is done.
    pub async fn run_end(
        &self,
        run: &crate::ports::RunRecord,
        status: RunStatus,
        output: Option<&Value>,
        error: Option<&aos_core::OutcomeError>,
    ) -> Result<Option<(tokio::sync::MutexGuard<'_, ()>, ExecutionWrite)>, FlowError> {
        let Some(parent) = run.parent.as_ref().filter(|p| p.task_token.is_none()) else { return Ok(None) };
        if self.sfn.is_some() || !self.store.takes_run_ends() {
            return Ok(None);
        }
        let serial = self.stripe(&parent.execution).lock().await;
        let Some(execution) = self.store.execution_to_change(&run.tenant, &parent.execution).await? else {
            return Ok(None);
        };
        let workflow = self.pinned(&execution).await?;
        let result = run_result(status, output.cloned(), error.cloned());
        let event = Event::RunEnded { slot: parent.slot.clone(), run_id: run.id.clone(), result };
        Ok(self.step(&workflow, execution, event, now_ms())?.map(|write| (serial, write)))
    }

    /// Applies `event` to the execution and writes the result, retrying when another
    /// writer got there first. `Ok(None)` when the event is stale: nothing is written.
    async fn transition(
        &self,
        tenant: &TenantId,
        id: &ExecutionId,
        event: Event,
        ack: Option<String>,
        approval: Option<(ApprovalRecord, aos_core::audit::AuditEvent)>,
    ) -> Result<Option<ExecutionRecord>, FlowError> {
        let _serial = self.stripe(id).lock().await;
        for _ in 0..MAX_RACES {
            let execution =
                self.store.execution_to_change(tenant, id).await?.ok_or(FlowError::NotFound("execution"))?;
            let workflow = self.pinned(&execution).await?;
            let Some(mut write) = self.step(&workflow, execution, event.clone(), now_ms())? else {
                return Ok(None);
            };
            write.ack.clone_from(&ack);
            if let Some((a, event)) = &approval {
                write.approvals.push(a.clone());
                write.audit.push(event.clone());
            }
            match self.store.write_execution(&write).await {
                Ok(()) => return Ok(Some(write.execution)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Store(StoreError::Backend(format!("execution {id}: too many concurrent writers"))))
    }

    /// Runs the state machine and turns its actions into a write. `None` if stale.
    fn step(
        &self,
        workflow: &Workflow,
        mut execution: ExecutionRecord,
        event: Event,
        now: u64,
    ) -> Result<Option<ExecutionWrite>, FlowError> {
        // A stale event leaves the state as it was (`apply`'s contract), so it changes the
        // state in place; what each node looked like tells which nodes it changed.
        let before: Vec<NodeMark> = execution.state.nodes.values().map(NodeMark::of).collect();
        #[cfg(debug_assertions)]
        let full_before = execution.state.nodes.clone();
        let mut ids = Ids;
        let mut ctx = Ctx { workflow, input: &execution.input, now_ms: now, ids: &mut ids };
        let Some(actions) = execution.state.apply(&mut ctx, event) else { return Ok(None) };
        let changed_nodes: Vec<String> = execution
            .state
            .nodes
            .iter()
            .zip(&before)
            .filter(|((_, node), mark)| NodeMark::of(node) != **mark)
            .map(|((id, _), _)| id.clone())
            .collect();
        #[cfg(debug_assertions)]
        {
            let compared: Vec<&String> = execution
                .state
                .nodes
                .iter()
                .filter(|(id, n)| full_before.get(*id) != Some(*n))
                .map(|(id, _)| id)
                .collect();
            debug_assert_eq!(changed_nodes.iter().collect::<Vec<_>>(), compared, "a node changed unmarked");
        }
        let expected = execution.revision;
        execution.revision += 1;
        execution.updated_at_ms = now;
        let mut write = ExecutionWrite {
            execution,
            changed_nodes,
            expected_revision: Some(expected),
            runs: Vec::new(),
            messages: Vec::new(),
            approvals: Vec::new(),
            cancel_runs: Vec::new(),
            ack: None,
            idempotency: None,
            audit: Vec::new(),
        };
        let execution = &write.execution;
        let (mut runs, mut messages, mut approvals, mut audit) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut cancels = Vec::new();
        for action in actions {
            match action {
                Action::StartRun { slot, run_id, skill, input, max_attempts, backoff_ms, timeout_ms } => {
                    let child = ChildRun {
                        tenant: &execution.tenant,
                        execution: &execution.id,
                        workflow: &execution.workflow,
                        base_seed: execution.base_seed,
                        slot,
                        run_id,
                        skill,
                        input,
                        max_attempts,
                        backoff_ms,
                        timeout_ms,
                        task_token: None,
                        budget_mc: execution.budget_mc,
                        notify_url: execution.notify_url.clone(),
                    };
                    runs.push(child.build(now)?);
                }
                Action::StartTimer { node, at_ms } => {
                    let msg = WorkflowMessage::Timer {
                        tenant: execution.tenant.clone(),
                        execution: execution.id.clone(),
                        node,
                    };
                    messages.push((msg.encode(), at_ms));
                }
                Action::OpenApproval { approval, node, prompt, expires_at_ms, level } => {
                    let opened = ApprovalRecord {
                        history: vec![crate::ports::ApprovalTransition::requested(
                            level,
                            format!("approval node {node}"),
                            now,
                        )],
                        tenant: execution.tenant.clone(),
                        id: approval,
                        execution: Some(execution.id.clone()),
                        workflow: execution.workflow.clone(),
                        node,
                        prompt,
                        status: ApprovalStatus::Pending,
                        expires_at_ms,
                        decided_by: None,
                        comment: None,
                        closed_at_ms: None,
                        created_at_ms: now,
                        required_level: level,
                        task_token: None,
                        step: None,
                    };
                    audit.push(opened.audit(aos_core::audit::Actor::system(), "approval.request"));
                    approvals.push(opened);
                }
                Action::CloseApproval { approval, status } => {
                    let closed = self.closed_approval(execution, &approval, status, now);
                    let action =
                        if closed.status == ApprovalStatus::Expired { "approval.expire" } else { "approval.cancel" };
                    audit.push(closed.audit(aos_core::audit::Actor::system(), action));
                    approvals.push(closed);
                }
                Action::CancelRun { run_id } => cancels.push(run_id),
            }
        }
        write.runs = runs;
        write.messages = messages;
        write.approvals = approvals;
        write.audit = audit;
        write.cancel_runs = cancels;
        Ok(Some(write))
    }

    /// The approval as closed by a timeout or a cancellation. The record is rebuilt from
    /// the execution state, so closing needs no read.
    fn closed_approval(&self, execution: &ExecutionRecord, id: &ApprovalId, status: &str, now: u64) -> ApprovalRecord {
        let node = execution
            .state
            .nodes
            .iter()
            .find(|(_, n)| n.approval.as_ref() == Some(id))
            .map(|(k, n)| (k.clone(), n.wake_at_ms.unwrap_or(now)));
        let (node, expires_at_ms) = node.unwrap_or_default();
        let status = ApprovalStatus::parse(status).unwrap_or(ApprovalStatus::Cancelled);
        let reason =
            if status == ApprovalStatus::Expired { "nobody decided in time" } else { "the execution was cancelled" };
        ApprovalRecord {
            tenant: execution.tenant.clone(),
            id: id.clone(),
            execution: Some(execution.id.clone()),
            workflow: execution.workflow.clone(),
            node,
            prompt: String::new(),
            status,
            expires_at_ms,
            decided_by: None,
            comment: None,
            closed_at_ms: Some(now),
            created_at_ms: 0,
            required_level: 1,
            task_token: None,
            step: None,
            // The store appends it to the pending record's history.
            history: vec![crate::ports::ApprovalTransition {
                from: Some(ApprovalStatus::Pending),
                to: status,
                actor: None,
                level: None,
                reason: reason.to_owned(),
                at_ms: now,
            }],
        }
    }
}
