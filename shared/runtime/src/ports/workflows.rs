//! Workflows, their executions on the embedded executor, and approvals.

use super::{IdempotencyCompletion, RunRecord, StoreResult};
use aos_core::workflow::{ExecState, WorkflowSpec};
use aos_core::{ApprovalId, ExecutionId, RunId, TenantId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::{Arc, Mutex};

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
    /// Its own budget (`budget_cents`), millicredits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_mc: Option<u64>,
    /// Where signed notices about it go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

/// Status of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a decision.
    Pending,
    /// Nobody decided in time and a policy sent it to a higher level: waiting again.
    Escalated,
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
            Self::Escalated => "escalated",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// Every status.
    pub const ALL: [Self; 6] =
        [Self::Pending, Self::Escalated, Self::Approved, Self::Rejected, Self::Expired, Self::Cancelled];

    /// Whether it still waits for a decision (pending or escalated).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Escalated)
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A human approval: of a workflow's approval node, or of a run step a policy holds back
/// (`step`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// Owner.
    pub tenant: TenantId,
    /// Id.
    pub id: ApprovalId,
    /// The execution waiting for it (approval nodes); `None` for a step's approval.
    #[serde(default)]
    pub execution: Option<ExecutionId>,
    /// Its workflow ("" for a step's approval outside workflows).
    pub workflow: String,
    /// The approval node ("" for a step's approval).
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
    /// The approval level (1-5) a decider's key must hold.
    #[serde(default = "first_level")]
    pub required_level: u8,
    /// The Step Functions task token a decision answers (workflows on AWS); never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_token: Option<String>,
    /// The run step it holds back (an approval the policy gate asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<ApprovalStep>,
    /// Every change of its status, oldest first.
    #[serde(default)]
    pub history: Vec<ApprovalTransition>,
}

fn first_level() -> u8 {
    1
}

/// The run step an approval of the policy gate holds back, and what its policies asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalStep {
    /// The run.
    pub run_id: RunId,
    /// The step waiting.
    pub step_index: u32,
    /// Its skill.
    pub skill: String,
    /// The policies that asked for the approval.
    pub policies: Vec<String>,
    /// The version of the tenant's policies that asked.
    pub policy_version: u32,
    /// How long each level has to decide, ms.
    pub timeout_ms: u64,
    /// The level an undecided request goes to at its timeout, once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<u8>,
    /// Where its signed webhooks go (the asking policies' `@notify`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
}

/// One change of an approval's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalTransition {
    /// The status before (`None`: the request was made).
    pub from: Option<ApprovalStatus>,
    /// The status after.
    pub to: ApprovalStatus,
    /// Who made the change (a decider's key id; `None`: AOS itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The approval level the change was made at (a decision: the decider's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    /// Why.
    pub reason: String,
    /// When, ms since the epoch.
    pub at_ms: u64,
}

impl ApprovalTransition {
    /// The request itself: the first entry of every approval's history.
    pub fn requested(level: u8, reason: impl Into<String>, at_ms: u64) -> Self {
        Self { from: None, to: ApprovalStatus::Pending, actor: None, level: Some(level), reason: reason.into(), at_ms }
    }
}

impl ApprovalRecord {
    /// A new request at `now`, asked of `level`, pending until `expires_at_ms`; `reason`
    /// is its history's first entry. Belongs to no execution, node or step until the
    /// caller says which.
    pub fn pending(
        tenant: TenantId,
        id: ApprovalId,
        prompt: String,
        level: u8,
        expires_at_ms: u64,
        now: u64,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            tenant,
            id,
            execution: None,
            workflow: String::new(),
            node: String::new(),
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
            history: vec![ApprovalTransition::requested(level, reason, now)],
        }
    }

    /// Its place in listings (newest first): creation time, then id.
    pub fn cursor(&self) -> String {
        aos_core::page::time_cursor(self.created_at_ms, self.id.as_str())
    }

    /// The audit entry of its latest change (`approval.request`, `approval.decide`, …),
    /// made by `actor`.
    pub fn audit(&self, actor: aos_core::audit::Actor, action: &str) -> aos_core::audit::AuditEvent {
        let last = self.history.last();
        let at = last.map_or(self.created_at_ms, |t| t.at_ms);
        let held = match &self.step {
            Some(st) => serde_json::json!({"kind": "step", "run_id": st.run_id, "step_index": st.step_index,
                "skill": st.skill, "policies": st.policies, "policy_version": st.policy_version}),
            None => serde_json::json!({"kind": "workflow_node", "execution_id": self.execution,
                "workflow": self.workflow, "node": self.node}),
        };
        aos_core::audit::AuditEvent::new(
            &self.tenant,
            actor,
            action,
            format!("approval:{}", self.id),
            self.status.as_str(),
            at,
        )
        .because(last.map(|t| t.reason.clone()).into_iter().collect())
        .with_details(serde_json::json!({
            "approval": held,
            "required_level": self.required_level,
            "level": last.and_then(|t| t.level),
        }))
    }

    /// The record as `decision` (made at approval `level`) closes it.
    #[must_use]
    pub fn decided(self, decision: &aos_core::workflow::Decision, level: u8, at_ms: u64) -> Self {
        let (to, verb) = if decision.approved {
            (ApprovalStatus::Approved, "approved")
        } else {
            (ApprovalStatus::Rejected, "rejected")
        };
        let reason = decision.comment.clone().unwrap_or_else(|| verb.to_owned());
        let mut next = self.moved(to, Some(decision.decided_by.clone()), Some(level), reason, at_ms);
        next.decided_by = Some(decision.decided_by.clone());
        next.comment.clone_from(&decision.comment);
        next
    }

    /// The record moved to `to`, with the change appended to its history.
    #[must_use]
    pub fn moved(
        mut self,
        to: ApprovalStatus,
        actor: Option<String>,
        level: Option<u8>,
        reason: String,
        at_ms: u64,
    ) -> Self {
        self.history.push(ApprovalTransition { from: Some(self.status), to, actor, level, reason, at_ms });
        self.status = to;
        if !to.is_open() {
            self.closed_at_ms = Some(at_ms);
        }
        self
    }
}

/// This process's turn at changing one execution, taken before its state is read for a
/// change and held until the change's write is queued behind every write before it.
/// A store that queues its writes in order lets it go as soon as the write is queued
/// ([`Turn::release`]): the next change can then be built on this one (its write expects
/// this write's revision, so it fails, and nothing of it is written, if this one does),
/// and the two share a commit instead of waiting for each other's. A store that does not
/// lets it go when the write is dropped, once it has been applied.
#[derive(Clone, Default)]
pub struct Turn(Option<Arc<Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>>>);

impl Turn {
    /// The turn that `guard` holds.
    pub fn new(guard: tokio::sync::OwnedMutexGuard<()>) -> Self {
        Self(Some(Arc::new(Mutex::new(Some(guard)))))
    }

    /// Lets the next change of the execution begin (once; later calls do nothing).
    pub fn release(&self) {
        if let Some(held) = &self.0 {
            drop(held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
        }
    }

    /// Whether the turn is still held.
    pub fn is_held(&self) -> bool {
        self.0.as_ref().is_some_and(|held| held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_some())
    }
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_held() { "Turn(held)" } else { "Turn(released)" })
    }
}

/// One atomic change of an execution: its new state and everything that goes with it.
#[derive(Debug, Clone)]
pub struct ExecutionWrite {
    /// The execution with its new state; `revision` is the new revision.
    pub execution: ExecutionRecord,
    /// The revision the write expects to replace; `None` creates the execution.
    pub expected_revision: Option<u64>,
    /// The nodes whose state this write changes (all of them when it creates the
    /// execution): a store that keeps nodes apart writes only these.
    pub changed_nodes: Vec<String>,
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
    /// Entries for the tenant's audit log, appended in the same write.
    pub audit: Vec<aos_core::audit::AuditEvent>,
    /// The turn at changing the execution that this write was built in, if it holds one.
    pub turn: Turn,
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
    /// execution, the id exists); nothing is written then. A store that queues its writes
    /// in order may release the write's [`Turn`] once it is queued.
    async fn write_execution(&self, write: &ExecutionWrite) -> StoreResult<()>;
    /// The execution.
    async fn execution(&self, tenant: &TenantId, id: &ExecutionId) -> StoreResult<Option<ExecutionRecord>>;
    /// The execution, read for a change that will replace it: as [`Self::execution`], but
    /// a store that keeps executions in memory may hand over what it keeps instead of a
    /// copy, and one that released a write's [`Turn`] before it committed answers the
    /// state that write leaves.
    async fn execution_to_change(&self, tenant: &TenantId, id: &ExecutionId) -> StoreResult<Option<ExecutionRecord>> {
        self.execution(tenant, id).await
    }
    /// Whether this store's run store applies an execution write that rides in a run's
    /// final commit ([`crate::ports::StepCommit::execution`]) in the same transaction.
    /// Stores that do not send the run's `run_ended` message instead.
    fn takes_run_ends(&self) -> bool {
        false
    }
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
    /// Stores an approval outside an execution write (Step Functions executions, steps'
    /// approvals): with `expect` it replaces only a record in that status, else only
    /// creates one; `Conflict` otherwise. `wake` is a step message to enqueue with it (a
    /// decision wakes the step it held back): in the same transaction where the queue is
    /// the store's, else sent right after the write (a crash in between leaves the step
    /// to its own recheck). `audit` is appended to the tenant's audit log in the same
    /// write.
    async fn put_approval(
        &self,
        approval: &ApprovalRecord,
        expect: Option<ApprovalStatus>,
        wake: Option<&str>,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<()>;
    /// Retention: deletes up to `limit` of the tenant's approvals closed before `before_ms`
    /// (decided, expired, cancelled — or pending with an expiry before it), and of its
    /// executions that ended before it (the embedded executor's records). Returns how many.
    async fn expire_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<u64>;
}
