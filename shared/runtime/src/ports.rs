//! Ports: the small capability traits the use cases need. The embedded adapters
//! (`aos-embedded`) and the AWS adapters implement them; nothing here knows which.

use aos_core::agent::CallerLink;
use aos_core::workflow::{ExecState, Slot, WorkflowSpec};
use aos_core::{ApiKeyId, ApprovalId, Checkpoint, ExecutionId, OutcomeError, Plan, RunId, RunStatus, TenantId};
use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// A storage or queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found the record in another state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backing store failed; the cause is in the message (never shown to clients).
    #[error("storage failure: {0}")]
    Backend(String),
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Owner.
    pub tenant: TenantId,
    /// Run id.
    pub id: RunId,
    /// Lifecycle status.
    pub status: RunStatus,
    /// The validated plan.
    pub plan: Plan,
    /// The run input that step inputs may reference.
    pub input: Value,
    /// Base of the per-step seeds.
    pub base_seed: u64,
    /// Hash the checkpoint chain starts from.
    pub genesis_hash: String,
    /// Hash of the last checkpoint (the genesis hash before step 0 finishes).
    pub last_hash: String,
    /// Index of the next step to run (= number of finished steps).
    pub next_step: u32,
    /// Final output (the last step's output) once succeeded.
    pub output: Option<Value>,
    /// Why the run failed or was cancelled.
    pub error: Option<OutcomeError>,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// Last change, ms since the epoch.
    pub updated_at_ms: u64,
    /// The workflow execution this run belongs to, if any.
    pub parent: Option<ParentLink>,
    /// The run step waiting for this run (a child started by `agent_spawn` or
    /// `agent_invoke`), if any.
    pub caller: Option<CallerLink>,
}

/// Where a run that belongs to a workflow execution reports its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The execution.
    pub execution: ExecutionId,
    /// The node (element, compensation) the run is for.
    pub slot: Slot,
    /// The Step Functions task token to answer when the run ends (workflows on AWS);
    /// `None` when the embedded executor is told through the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_token: Option<String>,
}

/// Answers Step Functions tasks (`.waitForTaskToken`).
#[async_trait]
pub trait TaskTokens: Send + Sync {
    /// `SendTaskSuccess`. Returns false if the task is gone (timed out, already answered).
    async fn succeed(&self, token: &str, output: &Value) -> StoreResult<bool>;
    /// `SendTaskFailure` with an error name (see `aos_core::workflow::asl::error_name`).
    async fn fail(&self, token: &str, error: &str, cause: &str) -> StoreResult<bool>;
    /// `SendTaskHeartbeat`. Returns false if the task is gone.
    async fn heartbeat(&self, token: &str) -> StoreResult<bool>;
}

/// The immutable half of a run, written once when it is submitted. Adapters store it
/// apart from the mutable state, so a step's commit does not rewrite the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The validated plan.
    pub plan: Plan,
    /// The run input.
    pub input: Value,
    /// Base of the per-step seeds.
    pub base_seed: u64,
    /// Hash the checkpoint chain starts from.
    pub genesis_hash: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// The workflow execution this run belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentLink>,
    /// The run step waiting for this run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<CallerLink>,
}

impl RunRecord {
    /// A new run, queued at step 0, its chain starting from the genesis hash of its plan,
    /// input and seed.
    pub fn queued(
        tenant: TenantId,
        id: RunId,
        plan: Plan,
        input: Value,
        base_seed: u64,
        parent: Option<ParentLink>,
        now_ms: u64,
    ) -> Self {
        let genesis = aos_core::checkpoint::genesis_hash(&plan.to_value(), &input, base_seed);
        Self {
            tenant,
            id,
            status: RunStatus::Queued,
            plan,
            input,
            base_seed,
            last_hash: genesis.clone(),
            genesis_hash: genesis,
            next_step: 0,
            output: None,
            error: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            parent,
            caller: None,
        }
    }

    /// The same run as the child of an agent step.
    #[must_use]
    pub fn with_caller(mut self, caller: CallerLink) -> Self {
        self.caller = Some(caller);
        self
    }

    /// The run as the store composes it: the immutable spec, the plan (the spec's, or
    /// the longer one an agent's planner made it) and the mutable fields.
    pub fn compose(tenant: TenantId, id: RunId, spec: RunSpec, plan: Option<Plan>, state: RunMutable) -> Self {
        Self {
            tenant,
            id,
            status: state.status,
            plan: plan.unwrap_or(spec.plan),
            input: spec.input,
            base_seed: spec.base_seed,
            genesis_hash: spec.genesis_hash,
            last_hash: state.last_hash,
            next_step: state.next_step,
            output: state.output,
            error: state.error,
            created_at_ms: spec.created_at_ms,
            updated_at_ms: state.updated_at_ms,
            parent: spec.parent,
            caller: spec.caller,
        }
    }

    /// The run's immutable half.
    pub fn spec(&self) -> RunSpec {
        RunSpec {
            plan: self.plan.clone(),
            input: self.input.clone(),
            base_seed: self.base_seed,
            genesis_hash: self.genesis_hash.clone(),
            created_at_ms: self.created_at_ms,
            parent: self.parent.clone(),
            caller: self.caller.clone(),
        }
    }
}

/// The fields of a run that its steps change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMutable {
    /// Lifecycle status.
    pub status: RunStatus,
    /// Index of the next step.
    pub next_step: u32,
    /// Hash of the last checkpoint.
    pub last_hash: String,
    /// Final output.
    pub output: Option<Value>,
    /// Failure.
    pub error: Option<OutcomeError>,
    /// Last change, ms since the epoch.
    pub updated_at_ms: u64,
}

/// The message that tells a worker to run one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepMessage {
    /// Owner of the run.
    pub tenant: TenantId,
    /// The run.
    pub run_id: RunId,
    /// The step to run.
    pub step_index: u32,
}

/// A filter and page request for listing runs.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Page size (the use case clamps it).
    pub limit: u32,
    /// Continue after this run id (runs are listed newest first).
    pub before: Option<RunId>,
}

/// What `begin_step` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginOutcome {
    /// This worker owns the step now; `attempt` counts from 1. `taken_over` is true
    /// when an earlier attempt's claim expired without a checkpoint (it may have had
    /// its effect).
    Claimed {
        /// Attempt number.
        attempt: u32,
        /// An expired claim was taken over.
        taken_over: bool,
    },
    /// Another worker holds a live claim until `until_ms`.
    Busy {
        /// When that claim expires.
        until_ms: u64,
    },
    /// The step already has a checkpoint, or the run is finished.
    AlreadyDone,
}

/// A request to claim a step before executing it.
#[derive(Debug, Clone)]
pub struct BeginStep {
    /// Owner.
    pub tenant: TenantId,
    /// Run.
    pub run_id: RunId,
    /// Step to claim.
    pub step_index: u32,
    /// The claim expires at this time unless extended by heartbeats.
    pub claim_until_ms: u64,
    /// Whether the claim must be durable before the skill runs (non-idempotent skills).
    pub durable: bool,
    /// Now, ms since the epoch.
    pub now_ms: u64,
}

/// The atomic end of a step: checkpoint, run update, claim completion, next message
/// and acknowledgement of the current one.
#[derive(Debug, Clone)]
pub struct StepCommit {
    /// Owner.
    pub tenant: TenantId,
    /// Run.
    pub run_id: RunId,
    /// The checkpoint to store (its step_index is the step that ended).
    pub checkpoint: Checkpoint,
    /// New run status (running while more steps remain).
    pub run_status: RunStatus,
    /// Final output if the run ends successfully.
    pub run_output: Option<Value>,
    /// Failure if the run ends in failure.
    pub run_error: Option<OutcomeError>,
    /// Message for the next step, if any.
    pub next: Option<StepMessage>,
    /// The run's plan after this step, when the step (an agent's planner) extended it.
    pub plan: Option<Plan>,
    /// A message to enqueue with the commit: a workflow run's end, for its execution.
    /// Adapters that cannot make it part of the commit send it right after the commit
    /// and before acknowledging the current message, so a crash in between redelivers
    /// the message and the worker sends it again (executions ignore duplicates).
    pub notify: Option<String>,
    /// Receipt of the message being processed, acknowledged with the commit.
    pub ack: Option<String>,
    /// Ask the adapter to hand the next step straight back to this worker: its message
    /// created already received (hidden for this long) and the step claimed, in the same
    /// write. Adapters that cannot do that send the message normally.
    pub lease_next: Option<Duration>,
    /// Now, ms since the epoch.
    pub now_ms: u64,
}

/// What a step commit left behind.
#[derive(Debug, Clone)]
pub struct Committed {
    /// Run status after the commit.
    pub status: RunStatus,
    /// Index of the run's next step after the commit.
    pub next_step: u32,
    /// Hash of the run's last checkpoint after the commit.
    pub last_hash: String,
    /// The next step's message, already received and its step claimed (attempt 1) by
    /// the committing worker, when `lease_next` was honoured. Its receipt may be the
    /// current message's (SQS keeps that message in flight as the run's lease).
    pub next: Option<Received>,
}

/// A step that failed retryably and will be tried again after a delay.
#[derive(Debug, Clone)]
pub struct StepRetry {
    /// Owner.
    pub tenant: TenantId,
    /// Run.
    pub run_id: RunId,
    /// The step.
    pub step_index: u32,
    /// The failed attempt's error, kept for `GET /v1/runs/{id}/steps`.
    pub last_error: OutcomeError,
    /// Delay before the retry becomes visible.
    pub delay: Duration,
    /// Receipt of the message being processed.
    pub ack: Option<String>,
    /// Now, ms since the epoch.
    pub now_ms: u64,
}

/// A step that waits for child runs: its claim is released without using up an attempt,
/// its message acknowledged; a child's end (or the deadline message) wakes it.
#[derive(Debug, Clone)]
pub struct StepSuspend {
    /// Owner.
    pub tenant: TenantId,
    /// Run.
    pub run_id: RunId,
    /// The waiting step.
    pub step_index: u32,
    /// Send the step's message again after this delay (its deadline), if set.
    pub recheck: Option<Duration>,
    /// Receipt of the message being processed.
    pub ack: Option<String>,
    /// Now, ms since the epoch.
    pub now_ms: u64,
}

/// Progress of a step that has no checkpoint yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepProgress {
    /// The step.
    pub step_index: u32,
    /// Attempts started so far.
    pub attempts: u32,
    /// Error of the last failed attempt, if any.
    pub last_error: Option<OutcomeError>,
    /// When the current claim expires (0 when none).
    pub claim_until_ms: u64,
}

/// An idempotent request that carries its completion with the write it guards.
#[derive(Debug, Clone)]
pub struct IdempotencyCompletion {
    /// The client's key.
    pub key: String,
    /// SHA-256 of the canonical request.
    pub payload_hash: String,
    /// The response to replay on a repeat.
    pub result: Value,
    /// When the record may be forgotten.
    pub expires_at_ms: u64,
}

/// Runs, checkpoints and the step transitions, for one tenant at a time.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Stores a new run and enqueues its first step, completing the idempotency record
    /// if one is given, all at once. Fails with `Conflict` if the run id exists.
    async fn insert_run(
        &self,
        run: &RunRecord,
        first: &StepMessage,
        idempotency: Option<&IdempotencyCompletion>,
    ) -> StoreResult<()>;

    /// The run, or `None` if this tenant has no such run.
    async fn run(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Option<RunRecord>>;

    /// A page of the tenant's runs, newest first.
    async fn list_runs(&self, tenant: &TenantId, filter: &RunFilter) -> StoreResult<Vec<RunRecord>>;

    /// The run's checkpoints in step order.
    async fn checkpoints(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Vec<Checkpoint>>;

    /// Progress of steps without a checkpoint (attempt counts, last errors).
    async fn step_progress(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Vec<StepProgress>>;

    /// Outputs of the given steps (those that succeeded), by step id, for input
    /// references. Only the given steps are read.
    async fn step_outputs(&self, tenant: &TenantId, id: &RunId, steps: &[u32]) -> StoreResult<BTreeMap<String, Value>>;

    /// Claims a step for execution (see [`BeginOutcome`]).
    async fn begin_step(&self, req: &BeginStep) -> StoreResult<BeginOutcome>;

    /// Extends a live claim (heartbeat). Returns false if the claim is no longer held.
    async fn extend_claim(
        &self,
        tenant: &TenantId,
        run_id: &RunId,
        step_index: u32,
        until_ms: u64,
    ) -> StoreResult<bool>;

    /// Ends a step atomically. If the run was cancelled meanwhile, the checkpoint is
    /// still recorded but the run is not advanced.
    async fn commit_step(&self, commit: &StepCommit) -> StoreResult<Committed>;

    /// Releases the claim, records the failed attempt and re-enqueues the step with a
    /// delay, atomically.
    async fn retry_step(&self, retry: &StepRetry) -> StoreResult<()>;

    /// Parks a step that waits for child runs (see [`StepSuspend`]).
    async fn suspend_step(&self, suspend: &StepSuspend) -> StoreResult<()>;

    /// Cancels a run that is not finished. Fails with `Conflict` if it is.
    async fn cancel_run(&self, tenant: &TenantId, id: &RunId, now_ms: u64) -> StoreResult<RunRecord>;

    /// Up to `limit` of the tenant's runs still queued at step 0 that were submitted
    /// before `before_ms`: runs whose first message may have been lost (a crash between
    /// the run's write and the message's send, on adapters that cannot make them one).
    async fn queued_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<Vec<RunRecord>>;
}

/// One received queue message.
#[derive(Debug, Clone)]
pub struct Received {
    /// Handle for delete / change-visibility; changes on every receive.
    pub receipt: String,
    /// Message body.
    pub body: String,
    /// How many times the message has been received (1 on the first delivery).
    pub receive_count: u32,
}

/// A queue with SQS semantics: visibility timeout, receive count, change visibility and
/// dead-lettering after a maximum receive count.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues `body`, visible after `delay`.
    async fn send(&self, body: &str, delay: Duration) -> StoreResult<()>;
    /// Receives up to `max` visible messages, hiding them for `visibility`; waits up to
    /// `wait` for one to arrive (long polling).
    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> StoreResult<Vec<Received>>;
    /// Deletes a received message. A stale receipt is not an error.
    async fn delete(&self, receipt: &str) -> StoreResult<()>;
    /// Sets a received message's remaining invisibility (the heartbeat of long steps).
    /// Returns false if the receipt is stale (the message was received again).
    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> StoreResult<bool>;
}

/// Stored state of an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// The caller owns the key now (new, or an expired in-progress record taken over).
    Claimed,
    /// Another request with this key is in progress until `until_ms`.
    InProgress {
        /// Expiry of that claim.
        until_ms: u64,
    },
    /// A request with this key and the same payload completed; here is its result.
    Completed(Value),
    /// The key was used with a different payload.
    Conflict,
}

/// Idempotency records with Powertools semantics: in-progress with an expiry, completed
/// with the stored result and payload hash, conflict on a different payload.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request whose canonical payload hashes to `payload_hash`.
    async fn claim(
        &self,
        tenant: &TenantId,
        key: &str,
        payload_hash: &str,
        in_progress_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<ClaimOutcome>;
    /// Marks the key completed with `result` (when no other write carries it).
    async fn complete(&self, tenant: &TenantId, done: &IdempotencyCompletion) -> StoreResult<()>;
    /// Deletes an in-progress claim after a failure, so the client can retry.
    async fn release(&self, tenant: &TenantId, key: &str) -> StoreResult<()>;
}

/// Tenant-scoped key-value storage for the `kv_store` skill.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The value stored under `key`.
    async fn get(&self, tenant: &TenantId, key: &str) -> StoreResult<Option<Value>>;
    /// Stores `value` under `key`.
    async fn put(&self, tenant: &TenantId, key: &str, value: &Value) -> StoreResult<()>;
    /// Deletes `key`; returns whether it existed.
    async fn delete(&self, tenant: &TenantId, key: &str) -> StoreResult<bool>;
}

/// Named secrets (API keys of upstreams, signing keys).
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secret, or `None` if not configured.
    async fn secret(&self, name: &str) -> StoreResult<Option<SecretString>>;
}

/// Role of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Uses its own tenant's runs, skills and keys.
    Tenant,
    /// Manages tenants and their keys.
    Operator,
}

/// A stored API key (only the hash of the secret is stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public id.
    pub id: ApiKeyId,
    /// Owner.
    pub tenant: TenantId,
    /// What the key may do.
    pub role: Role,
    /// Free text label.
    pub label: String,
    /// SHA-256 of the secret key.
    pub hash: String,
    /// Creation time.
    pub created_at_ms: u64,
    /// Revocation time, if revoked.
    pub revoked_at_ms: Option<u64>,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// Id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at_ms: u64,
}

/// Tenants and API keys.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant together with its first key. `Conflict` if the id exists.
    async fn create_tenant(&self, tenant: &TenantRecord, first_key: &ApiKeyRecord) -> StoreResult<()>;
    /// The tenant, if it exists.
    async fn tenant(&self, id: &TenantId) -> StoreResult<Option<TenantRecord>>;
    /// Up to `limit` tenant ids after `after`, in id order (for sweeps over every tenant).
    async fn tenant_ids(&self, after: Option<&TenantId>, limit: u32) -> StoreResult<Vec<TenantId>>;
    /// Stores a new key for an existing tenant.
    async fn insert_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// The key whose secret hashes to `hash`.
    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// The tenant's keys (never their secrets).
    async fn keys(&self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes the tenant's key; `Ok(None)` if the tenant has no such key.
    async fn revoke_key(&self, tenant: &TenantId, id: &ApiKeyId, now_ms: u64) -> StoreResult<Option<ApiKeyRecord>>;
}

/// One version of a workflow, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRecord {
    /// Owner.
    pub tenant: TenantId,
    /// The workflow's name (its id in the API).
    pub name: String,
    /// Version, from 1.
    pub version: u32,
    /// The spec as applied.
    pub spec: WorkflowSpec,
    /// Content hash of the spec (applying the same spec again is a no-op).
    pub spec_hash: String,
    /// Its Step Functions state machine, on the AWS backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_machine_arn: Option<String>,
    /// When this version was applied.
    pub created_at_ms: u64,
}

/// A workflow execution, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// Owner.
    pub tenant: TenantId,
    /// Id.
    pub id: ExecutionId,
    /// Workflow name.
    pub workflow: String,
    /// The version it is pinned to.
    pub version: u32,
    /// Its input.
    pub input: Value,
    /// Base of the seeds of its runs.
    pub base_seed: u64,
    /// The state machine's state.
    pub state: ExecState,
    /// Optimistic-concurrency revision, from 1; every write increments it.
    pub revision: u64,
    /// Creation time.
    pub created_at_ms: u64,
    /// Last change.
    pub updated_at_ms: u64,
}

/// Status of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a decision.
    Pending,
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
    /// Nobody decided in time.
    Expired,
    /// The execution was cancelled.
    Cancelled,
}

impl ApprovalStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// Every status.
    pub const ALL: [Self; 5] = [Self::Pending, Self::Approved, Self::Rejected, Self::Expired, Self::Cancelled];

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A human approval of a workflow node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// Owner.
    pub tenant: TenantId,
    /// Id.
    pub id: ApprovalId,
    /// The execution waiting for it.
    pub execution: ExecutionId,
    /// Its workflow.
    pub workflow: String,
    /// The approval node.
    pub node: String,
    /// What the approver is asked.
    pub prompt: String,
    /// Status.
    pub status: ApprovalStatus,
    /// When it times out.
    pub expires_at_ms: u64,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Their comment.
    pub comment: Option<String>,
    /// When it was decided (or expired, or cancelled).
    pub closed_at_ms: Option<u64>,
    /// Creation time.
    pub created_at_ms: u64,
    /// The Step Functions task token a decision answers (workflows on AWS); never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_token: Option<String>,
}

impl ApprovalRecord {
    /// Its place in listings (newest first): creation time, then id.
    pub fn cursor(&self) -> String {
        aos_core::page::time_cursor(self.created_at_ms, self.id.as_str())
    }
}

/// One atomic change of an execution: its new state and everything that goes with it.
#[derive(Debug, Clone)]
pub struct ExecutionWrite {
    /// The execution with its new state; `revision` is the new revision.
    pub execution: ExecutionRecord,
    /// The revision the write expects to replace; `None` creates the execution.
    pub expected_revision: Option<u64>,
    /// Runs to create, each with its first step enqueued.
    pub runs: Vec<RunRecord>,
    /// Messages to enqueue, each visible at its time (ms since the epoch).
    pub messages: Vec<(String, u64)>,
    /// Approvals to create or update.
    pub approvals: Vec<ApprovalRecord>,
    /// Runs to cancel (those already finished are left alone).
    pub cancel_runs: Vec<RunId>,
    /// Receipt of the message being processed.
    pub ack: Option<String>,
    /// Completion of the request's Idempotency-Key.
    pub idempotency: Option<IdempotencyCompletion>,
}

/// Workflows, their executions and approvals.
#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// Stores a new version. `Conflict` if that version exists.
    async fn put_workflow(&self, workflow: &WorkflowRecord) -> StoreResult<()>;
    /// A version of the workflow, or its latest when `version` is `None`.
    async fn workflow(
        &self,
        tenant: &TenantId,
        name: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<WorkflowRecord>>;
    /// Applies a write atomically. `Conflict` if the revision moved on (or, for a new
    /// execution, the id exists); nothing is written then.
    async fn write_execution(&self, write: &ExecutionWrite) -> StoreResult<()>;
    /// The execution.
    async fn execution(&self, tenant: &TenantId, id: &ExecutionId) -> StoreResult<Option<ExecutionRecord>>;
    /// Up to `limit` of the tenant's approvals as stored, optionally of one status,
    /// newest first by [`ApprovalRecord::cursor`], each below `before` when given.
    async fn approvals(
        &self,
        tenant: &TenantId,
        status: Option<ApprovalStatus>,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ApprovalRecord>>;
    /// One approval.
    async fn approval(&self, tenant: &TenantId, id: &ApprovalId) -> StoreResult<Option<ApprovalRecord>>;
    /// Stores an approval outside an execution write (Step Functions executions): with
    /// `expect` it replaces only a record in that status, else only creates one;
    /// `Conflict` otherwise.
    async fn put_approval(&self, approval: &ApprovalRecord, expect: Option<ApprovalStatus>) -> StoreResult<()>;
}

/// A Step Functions execution as reported by `DescribeExecution`.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineExecution {
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    /// The final state document, once succeeded.
    pub output: Option<Value>,
    /// Error name, once failed.
    pub error: Option<String>,
}

/// Step Functions state machines and their executions (workflows on AWS).
#[async_trait]
pub trait StateMachines: Send + Sync {
    /// Creates a state machine; creating the same name with the same definition again
    /// returns its ARN.
    async fn create_state_machine(&self, name: &str, definition: &Value, role_arn: &str) -> StoreResult<String>;
    /// Starts an execution named `name` (idempotent for the same name and input).
    async fn start_execution(&self, state_machine_arn: &str, name: &str, input: &Value) -> StoreResult<String>;
    /// The execution's status and, when finished, its output or error.
    async fn describe_execution(&self, execution_arn: &str) -> StoreResult<MachineExecution>;
    /// Stops a running execution.
    async fn stop_execution(&self, execution_arn: &str, cause: &str) -> StoreResult<()>;
}

/// A workflow execution started on Step Functions, as stored for the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SfnExecution {
    /// Owner.
    pub tenant: TenantId,
    /// Id (also the Step Functions execution name).
    pub id: ExecutionId,
    /// Workflow name.
    pub workflow: String,
    /// Version it is pinned to.
    pub version: u32,
    /// Its input.
    pub input: Value,
    /// Base of its runs' seeds.
    pub base_seed: u64,
    /// The Step Functions execution.
    pub execution_arn: String,
    /// Creation time.
    pub created_at_ms: u64,
}

/// Progress of one node (map element, compensation) of a Step Functions execution, as
/// the worker records it: the execution's per-node view while it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeProgress {
    /// Owner.
    pub tenant: TenantId,
    /// The execution.
    pub execution: ExecutionId,
    /// Node, element, compensation.
    pub slot: Slot,
    /// The latest attempt's run.
    pub run_id: RunId,
    /// `running`, `completed` or `failed`.
    pub status: aos_core::workflow::NodeStatus,
    /// When the latest attempt started.
    pub started_at_ms: u64,
    /// When it ended.
    pub ended_at_ms: Option<u64>,
    /// Output once completed.
    pub output: Option<Value>,
    /// Error once failed.
    pub error: Option<OutcomeError>,
}

/// Records of workflow executions on Step Functions.
#[async_trait]
pub trait SfnRecords: Send + Sync {
    /// Stores a started execution.
    async fn put_sfn_execution(&self, execution: &SfnExecution) -> StoreResult<()>;
    /// The execution, if this tenant has it.
    async fn sfn_execution(&self, tenant: &TenantId, id: &ExecutionId) -> StoreResult<Option<SfnExecution>>;
    /// Records a node's progress (the latest attempt wins).
    async fn put_progress(&self, progress: &NodeProgress) -> StoreResult<()>;
    /// Every recorded progress of an execution.
    async fn progress(&self, tenant: &TenantId, execution: &ExecutionId) -> StoreResult<Vec<NodeProgress>>;
}

/// Circuit breakers, per tenant and key (`<skill>:<target>`), shared by every worker:
/// each call applies `aos_core::breaker` rules in one atomic update.
#[async_trait]
pub trait BreakerStore: Send + Sync {
    /// May a call go out now? Claims the half-open probe when it is this caller's.
    async fn admit(
        &self,
        tenant: &TenantId,
        key: &str,
        now_ms: u64,
        policy: &aos_core::breaker::BreakerPolicy,
    ) -> StoreResult<aos_core::breaker::Admission>;
    /// Records how a call ended (`failed`: an upstream failure that counts).
    async fn record(
        &self,
        tenant: &TenantId,
        key: &str,
        failed: bool,
        now_ms: u64,
        policy: &aos_core::breaker::BreakerPolicy,
    ) -> StoreResult<()>;
}
