//! Runs, their steps and the step transitions: what the step pipeline reads and writes.

use super::{IdempotencyCompletion, Received, StoreResult};
use aos_core::agent::CallerLink;
use aos_core::workflow::Slot;
use aos_core::{Checkpoint, ExecutionId, OutcomeError, Plan, RunId, RunStatus, TenantId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

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
    /// The most the run may spend, millicredits (`None`: no cap of its own).
    pub budget_mc: Option<u64>,
    /// Where signed notices about the run go (`budget.warning`), if anywhere.
    pub notify_url: Option<String>,
    /// What its steps were charged so far, millicredits.
    pub spent_mc: u64,
    /// What its steps used so far, per skill and model.
    pub usage: aos_core::usage::RunUsage,
    /// The reservation made ahead for its next step (by the commit of the step before,
    /// or the first step's claim), when its tenant is metered: that step's budget stage
    /// uses it instead of reserving again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahead: Option<aos_core::credits::Transfer>,
}

/// Where a run that belongs to a workflow execution reports its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The execution.
    pub execution: ExecutionId,
    /// The node (element, compensation) the run is for.
    pub slot: Slot,
    /// The execution's workflow (what policies see as `principal.workflow`); "" in runs
    /// made before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workflow: String,
    /// The Step Functions task token to answer when the run ends (workflows on AWS);
    /// `None` when the embedded executor is told through the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_token: Option<String>,
    /// The execution's own budget (`budget_cents`), millicredits: its runs' steps share
    /// it (and the plan's per-workflow limit) as one envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_mc: Option<u64>,
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
    /// The most the run may spend, millicredits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_mc: Option<u64>,
    /// Where signed notices about the run go, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
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
            budget_mc: None,
            notify_url: None,
            spent_mc: 0,
            usage: aos_core::usage::RunUsage::default(),
            ahead: None,
        }
    }

    /// The same run with a cap on what it may spend.
    #[must_use]
    pub fn with_budget(mut self, budget_mc: Option<u64>) -> Self {
        self.budget_mc = budget_mc;
        self
    }

    /// The same run with signed notices about it sent to `url`.
    #[must_use]
    pub fn with_notify_url(mut self, url: Option<String>) -> Self {
        self.notify_url = url;
        self
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
            budget_mc: spec.budget_mc,
            notify_url: spec.notify_url,
            spent_mc: state.spent_mc,
            usage: state.usage,
            ahead: state.ahead,
        }
    }

    /// The usage record of this run ending as `status` at `at_ms`, having used `usage`.
    pub fn usage_record(
        &self,
        status: RunStatus,
        at_ms: u64,
        usage: aos_core::usage::RunUsage,
    ) -> aos_core::usage::UsageRecord {
        aos_core::usage::UsageRecord {
            run_id: self.id.clone(),
            workflow: self.parent.as_ref().map(|p| p.workflow.clone()).filter(|w| !w.is_empty()),
            status,
            ended_at_ms: at_ms,
            usage,
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
            budget_mc: self.budget_mc,
            notify_url: self.notify_url.clone(),
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
    /// What its steps were charged so far, millicredits.
    #[serde(default)]
    pub spent_mc: u64,
    /// What its steps used so far, per skill and model.
    #[serde(default, skip_serializing_if = "aos_core::usage::RunUsage::is_empty")]
    pub usage: aos_core::usage::RunUsage,
    /// The reservation made ahead for the next step (see [`RunRecord::ahead`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahead: Option<aos_core::credits::Transfer>,
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
        /// The reservation made with the claim ([`BeginStep::reserve`]), when it was.
        reserved: Option<aos_core::credits::Transfer>,
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
    /// This claim's token, unique per claim. Every later write of the step (heartbeat,
    /// retry, suspend, commit) names it, and the store refuses it once another claim
    /// took the step over: a worker that lost its claim changes nothing.
    pub claim: String,
    /// The claim expires at this time unless extended by heartbeats.
    pub claim_until_ms: u64,
    /// Whether the claim must be durable before the skill runs (non-idempotent skills).
    pub durable: bool,
    /// A reservation to make with the first claim of a run's first step (its tenant is
    /// metered), in the same write where the store can. Made only if the tenant's
    /// credits allow it: a refused one leaves the claim to the budget stage.
    pub reserve: Option<aos_core::credits::Transfer>,
    /// The claim may be taken late: this is the first delivery of a queued run's first
    /// step, of a skill that is safe to run twice, with nothing to reserve. A store whose
    /// claim costs a round trip of its own (DynamoDB) may then write nothing here and
    /// take the claim with the step's commit, or with its first heartbeat or retry if
    /// one comes first; its commit is fenced all the same (a step claimed by anyone
    /// else meanwhile refuses it). A second delivery always claims first.
    pub deferrable: bool,
    /// The run is resumed at this step by a message delivered again that names an earlier
    /// one: the worker that carried the run on to this step died in it, perhaps while it
    /// ran. A store that finds no claim of the step (one handed back with
    /// [`StepCommit::defer_next`]) counts this claim as its second attempt, as it would
    /// have counted taking over the claim that was not written.
    pub resumed: bool,
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
    /// The end of a workflow run applied to its execution (from
    /// [`crate::workflows::WorkflowService::run_end`]): written in the same transaction
    /// instead of sending `notify`, when the execution is still at the write's expected
    /// revision and the run ends here. Otherwise `notify` is sent as without it. Adapters
    /// whose workflow store does not take run ends ignore it. An adapter that queues its
    /// commits in order may release the write's turn once the commit is queued.
    pub execution: Option<std::sync::Arc<super::ExecutionWrite>>,
    /// Receipt of the message being processed, acknowledged with the commit.
    pub ack: Option<String>,
    /// Ask the adapter to hand the next step straight back to this worker: its message
    /// created already received (hidden for this long) and the step claimed, in the same
    /// write. Adapters that cannot do that send the message normally. For a run that
    /// ends with an `execution` write, the step handed back is the first step of the
    /// first run that write starts.
    pub lease_next: Option<Duration>,
    /// The claim this commit ends (see [`BeginStep::claim`]).
    pub claim: String,
    /// The token of the next step's claim when `lease_next` is honoured.
    pub next_claim: String,
    /// With `lease_next`: the skill of the step handed back (the run's next step, or the
    /// first step of the run an `execution` write starts) is safe to run twice and the
    /// message carried on to it is on its first delivery, so the adapter may write no
    /// claim for it here and leave the claim to that step's own first write (its commit,
    /// or its first heartbeat or retry), as [`BeginStep::deferrable`] does for a run's
    /// first step. Adapters that claim the step anyway ignore this.
    pub defer_next: bool,
    /// This step was handed back with `defer_next` by the commit before: its claim may
    /// not be written yet, and this commit takes it. Fenced all the same: a step claimed
    /// by anyone else meanwhile refuses the commit.
    pub deferred: bool,
    /// Now, ms since the epoch.
    pub now_ms: u64,
    /// Entries for the tenant's audit log (a policy decision other than a plain allow),
    /// appended in the same write.
    pub audit: Vec<aos_core::audit::AuditEvent>,
    /// What the step is charged, in the same write.
    pub charge: Option<CommitCharge>,
    /// Model tokens the step used: added to its tenant's `tokens` meter for the month
    /// of `now_ms`, in the same write.
    pub tokens: u64,
    /// What the run used with this step (the commit is fenced by the step's claim, so
    /// this is exact).
    pub usage: aos_core::usage::RunUsage,
    /// The run's usage record, when this step ends it: written in the same write.
    pub usage_record: Option<aos_core::usage::UsageRecord>,
}

/// The charge a step commit writes: added to the run's spend, and its reservation (if
/// the tenant is metered) settled in the ledger.
#[derive(Debug, Clone)]
pub struct CommitCharge {
    /// The step's charge.
    pub amount: aos_core::credits::Millicredits,
    /// The run's spend with it (the commit is fenced by the step's claim, so this is
    /// exact), millicredits.
    pub run_spent_mc: u64,
    /// The reservation to settle, and what to post of it (0: void it).
    pub settle: Option<(aos_core::credits::Transfer, aos_core::credits::Millicredits)>,
    /// The step's actual charge against what it took from its tenant's spend windows.
    pub spend: Option<aos_core::limits::SpendAdjust>,
    /// The step's actual charge against what it took from its workflow execution's
    /// envelope: the execution and what to add to its meter.
    pub envelope: Option<(String, i64)>,
    /// The next step's reservation, made in the same write (so a run's steps cost one
    /// ledger write each): made only if the tenant's credits allow it, else left to the
    /// next step's budget stage, which then says why it does not fit.
    pub ahead: Option<aos_core::credits::Transfer>,
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
    /// The reservation made for the next step ([`CommitCharge::ahead`]), when the
    /// tenant's credits allowed it.
    pub ahead: Option<aos_core::credits::Transfer>,
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
    /// The claim being released (see [`BeginStep::claim`]).
    pub claim: String,
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
    /// The claim being released (see [`BeginStep::claim`]).
    pub claim: String,
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
    /// The run's status, or `None` if this tenant has no such run: what a waiter looks
    /// at before it reads the whole run. By default read from the whole run; a store
    /// that can read the status alone answers cheaper.
    async fn run_status(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Option<RunStatus>> {
        Ok(self.run(tenant, id).await?.map(|r| r.status))
    }
    /// How many of the tenant's runs are queued, running or waiting, counting up to
    /// `at_most` (the answer stops there).
    async fn live_runs(&self, tenant: &TenantId, at_most: u32) -> StoreResult<u32>;

    /// A page of the tenant's runs, newest first.
    async fn list_runs(&self, tenant: &TenantId, filter: &RunFilter) -> StoreResult<Vec<RunRecord>>;

    /// The run's checkpoints in step order.
    async fn checkpoints(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Vec<Checkpoint>> {
        self.checkpoints_from(tenant, id, 0).await
    }

    /// The run's checkpoints of steps `from` on, in step order: what a reader holding the
    /// earlier ones needs (a checkpoint never changes once written).
    async fn checkpoints_from(&self, tenant: &TenantId, id: &RunId, from: u32) -> StoreResult<Vec<Checkpoint>>;

    /// Progress of steps without a checkpoint (attempt counts, last errors).
    async fn step_progress(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Vec<StepProgress>>;

    /// Outputs of the given steps (those that succeeded), by step id, for input
    /// references. Only the given steps are read.
    async fn step_outputs(&self, tenant: &TenantId, id: &RunId, steps: &[u32]) -> StoreResult<BTreeMap<String, Value>>;

    /// Claims a step for execution (see [`BeginOutcome`]).
    async fn begin_step(&self, req: &BeginStep) -> StoreResult<BeginOutcome>;

    /// Extends the live claim `claim` (heartbeat). Returns false if it is no longer
    /// held (it expired and another claim took the step over, or the step ended).
    async fn extend_claim(
        &self,
        tenant: &TenantId,
        run_id: &RunId,
        step_index: u32,
        claim: &str,
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

    /// Cancels a run that is not finished, appending `audit` to the tenant's audit log in
    /// the same write. Fails with `Conflict` if it is finished (nothing is written).
    async fn cancel_run(
        &self,
        tenant: &TenantId,
        id: &RunId,
        now_ms: u64,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<RunRecord>;

    /// Up to `limit` of the tenant's runs still queued at step 0 that were submitted
    /// before `before_ms`: runs whose first message may have been lost (a crash between
    /// the run's write and the message's send, on adapters that cannot make them one).
    async fn queued_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<Vec<RunRecord>>;

    /// Up to `limit` of the tenant's runs cancelled in `[from_ms, to_ms)`: their waiters'
    /// wake-ups may have been lost (a crash right after the cancel, on adapters that send
    /// them after it).
    async fn cancelled_between(
        &self,
        tenant: &TenantId,
        from_ms: u64,
        to_ms: u64,
        limit: u32,
    ) -> StoreResult<Vec<RunRecord>>;

    /// Up to `limit` of the tenant's runs that ended (succeeded, failed, cancelled) before
    /// `before_ms`, oldest end first: the ones past their retention.
    async fn ended_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<Vec<RunId>>;

    /// Deletes a finished run and every record of it (checkpoints, step claims and
    /// outputs). `Ok(false)` if there is no such run; `Conflict` if it has not ended (a
    /// run that may still change is never deleted).
    async fn delete_run(&self, tenant: &TenantId, id: &RunId) -> StoreResult<bool>;
}
