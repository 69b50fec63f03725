//! Workflow use cases and the embedded executor: apply (versioned), get, start
//! (idempotent), inspect and cancel executions, list and decide approvals, and the
//! handling of the workflow messages the step worker receives.
//!
//! Each node (map element, compensation) runs as a one-step run of the ordinary step
//! pipeline, with a parent link to its execution. Where the store can, the run's final
//! commit carries the execution's next state ([`WorkflowService::run_end`]); otherwise,
//! or when the execution moved on meanwhile, it enqueues a `run_ended` message in the
//! same write, which the worker hands here. Every change of an execution is one atomic
//! write (state, new runs, timers, approvals, acknowledgement) guarded by a revision, so
//! concurrent workers and a `kill -9` at any point leave it consistent. Within a process
//! the changes of one execution take turns ([`crate::ports::Turn`]); a store that queues
//! writes in order ends a turn once the write is queued, so the ends of a fan-out's runs
//! are built one on another and share commits (a write built on one that fails fails
//! too, and the run's end goes by message).
//!
//! This file holds the use cases; `transition.rs` how an execution changes (messages,
//! run ends, the state machine's step as a write); `approvals.rs` the approval use
//! cases; `step_functions.rs` executions on Step Functions.

mod approvals;
mod child;
mod messages;
mod step_functions;
mod transition;

pub use approvals::as_of;
pub(crate) use child::ChildRun;
pub use messages::WorkflowMessage;
pub use step_functions::StepFunctionsEngine;

use crate::clock::{now_ms, unique_suffix};
use crate::ports::{
    ExecutionRecord, IdempotencyCompletion, IdempotencyStore, RunStore, StoreError, WorkflowRecord, WorkflowStore,
};
use crate::runs::{claim_key, KeyClaim, IDEMPOTENCY_TTL_MS};
use crate::skills::SkillRegistry;
use aos_core::determinism::content_hash;

use aos_core::workflow::{Event, ExecState, Workflow, WorkflowError, WorkflowSpec};
use aos_core::{ErrorCode, ExecutionId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    /// races (the revision check still guards writers in other processes). A run's end
    /// holds its stripe as the [`crate::ports::Turn`] of its write, until the store has
    /// queued the write.
    stripes: Arc<Vec<Arc<tokio::sync::Mutex<()>>>>,
    /// Step Functions, when executions run there (the AWS backend).
    sfn: Option<StepFunctionsEngine>,
    /// Where an execution's end is signalled to the callers waiting for it (`?wait=`).
    changes: Option<Arc<crate::changes::Changes>>,
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
        let stripes = Arc::new((0..STRIPES).map(|_| Arc::new(tokio::sync::Mutex::new(()))).collect());
        Self { store, runs, idempotency, skills, compiled: Arc::default(), stripes, sfn: None, changes: None }
    }

    /// Signals the end of each execution this process finishes through `changes` (the
    /// workers that end executions with their runs' commits share it), so a waited read
    /// of an execution answers at its end instead of at a poll interval.
    #[must_use]
    pub fn with_changes(mut self, changes: Arc<crate::changes::Changes>) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Signals that `execution` was written, if that write finished it.
    pub(crate) fn written(&self, execution: &ExecutionRecord) {
        if let Some(changes) = &self.changes {
            if execution.state.status.is_terminal() {
                changes.changed(&execution.tenant, &execution.id, crate::changes::Change::Ended);
            }
        }
    }

    /// A waiter for the end of an execution until `deadline`: woken by its end when this
    /// process finishes its executions (the embedded executor), else reading again at a
    /// growing interval (Step Functions runs them elsewhere).
    pub fn waiter(
        &self,
        tenant: &TenantId,
        id: &ExecutionId,
        deadline: tokio::time::Instant,
    ) -> crate::changes::Waiter {
        match (&self.changes, &self.sfn) {
            (Some(changes), None) => {
                crate::changes::Waiter::new(Some(changes), tenant, id, crate::changes::Change::Ended, deadline)
            }
            _ => crate::changes::Waiter::polling(deadline),
        }
    }

    /// Runs executions on Step Functions instead of the embedded executor.
    #[must_use]
    pub fn with_step_functions(mut self, engine: StepFunctionsEngine) -> Self {
        self.sfn = Some(engine);
        self
    }

    fn stripe(&self, id: &ExecutionId) -> &Arc<tokio::sync::Mutex<()>> {
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
                    // Validated already: its executions need not validate it again.
                    self.remember(&record, Arc::new(workflow));
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
        self.remember(record, Arc::clone(&workflow));
        Ok(workflow)
    }

    /// Keeps the validated workflow of a stored version.
    fn remember(&self, record: &WorkflowRecord, workflow: Arc<Workflow>) {
        let key = (record.tenant.clone(), record.name.clone(), record.version);
        let mut cache = self.compiled.lock().expect("cache lock");
        if cache.len() >= COMPILED_CACHE {
            cache.clear();
        }
        cache.insert(key, workflow);
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
        self.written(&write.execution);
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
}
