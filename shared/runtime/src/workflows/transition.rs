//! How an execution changes: the handling of its messages, the end of one of its runs
//! folded into the run's last commit, and the state machine's step turned into one
//! atomic write (state, new runs, timers, approvals, cancellations).

use super::{ChildRun, FlowError, WorkflowMessage, WorkflowService, MAX_RACES};
use crate::clock::{now_ms, unique_suffix};
use crate::ports::{ApprovalRecord, ApprovalStatus, ExecutionRecord, ExecutionWrite, StoreError, Turn};
use aos_core::workflow::{Action, Ctx, Event, IdSource, Workflow};
use aos_core::{ApprovalId, ErrorCode, ExecutionId, RunId, RunStatus, TenantId};
use serde_json::Value;
use std::sync::Arc;

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

struct Ids;

impl IdSource for Ids {
    fn run_id(&mut self) -> RunId {
        RunId::from_suffix(&unique_suffix()).expect("uuid suffixes are valid ids")
    }
    fn approval_id(&mut self) -> ApprovalId {
        ApprovalId::from_suffix(&unique_suffix()).expect("uuid suffixes are valid ids")
    }
}

impl WorkflowService {
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
    /// message carries it then. The write holds this process's turn at changing the
    /// execution ([`ExecutionWrite::turn`]): its other changes wait until the store has
    /// queued the commit (or the write is dropped).
    pub async fn run_end(
        &self,
        run: &crate::ports::RunRecord,
        status: RunStatus,
        output: Option<&Value>,
        error: Option<&aos_core::OutcomeError>,
    ) -> Result<Option<ExecutionWrite>, FlowError> {
        let Some(parent) = run.parent.as_ref().filter(|p| p.task_token.is_none()) else { return Ok(None) };
        if self.sfn.is_some() || !self.store.takes_run_ends() {
            return Ok(None);
        }
        let turn = Turn::new(Arc::clone(self.stripe(&parent.execution)).lock_owned().await);
        let Some(execution) = self.store.execution_to_change(&run.tenant, &parent.execution).await? else {
            return Ok(None);
        };
        let workflow = self.pinned(&execution).await?;
        let result = run_result(status, output.cloned(), error.cloned());
        let event = Event::RunEnded { slot: parent.slot.clone(), run_id: run.id.clone(), result };
        Ok(self.step(&workflow, execution, event, now_ms())?.map(|write| ExecutionWrite { turn, ..write }))
    }

    /// Applies `event` to the execution and writes the result, retrying when another
    /// writer got there first. `Ok(None)` when the event is stale: nothing is written.
    pub(super) async fn transition(
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
                Ok(()) => {
                    self.written(&write.execution);
                    return Ok(Some(write.execution));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Store(StoreError::Backend(format!("execution {id}: too many concurrent writers"))))
    }

    /// Runs the state machine and turns its actions into a write. `None` if stale.
    pub(super) fn step(
        &self,
        workflow: &Workflow,
        mut execution: ExecutionRecord,
        event: Event,
        now: u64,
    ) -> Result<Option<ExecutionWrite>, FlowError> {
        // A stale event leaves the state as it was (`apply`'s contract), so it changes the
        // state in place, and says which nodes it changed (checked against a comparison
        // of every node in debug builds).
        #[cfg(debug_assertions)]
        let full_before = execution.state.nodes.clone();
        let mut ids = Ids;
        let mut ctx = Ctx { workflow, input: &execution.input, now_ms: now, ids: &mut ids };
        let Some((actions, changed_nodes)) = execution.state.apply_changing(&mut ctx, event) else { return Ok(None) };
        #[cfg(debug_assertions)]
        {
            let compared: Vec<&String> = execution
                .state
                .nodes
                .iter()
                .filter(|(id, n)| full_before.get(*id) != Some(*n))
                .map(|(id, _)| id)
                .collect();
            debug_assert_eq!(
                changed_nodes.iter().collect::<Vec<_>>(),
                compared,
                "the nodes the event changed are not those it named"
            );
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
            turn: Turn::default(),
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
                    let reason = format!("approval node {node}");
                    let opened = ApprovalRecord {
                        execution: Some(execution.id.clone()),
                        workflow: execution.workflow.clone(),
                        node,
                        ..ApprovalRecord::pending(
                            execution.tenant.clone(),
                            approval,
                            prompt,
                            level,
                            expires_at_ms,
                            now,
                            reason,
                        )
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
