//! How each event changes an execution: a run ended (of a node, a map element or a
//! compensation), a timer fired, an approval was decided, a cancel was asked for.
//! Each returns `None` for a stale event, leaving the state as it was.

use super::{failure, settle, Action, Ctx, Decision, ExecState, ExecStatus, NodeStatus, Slot};
use crate::error_code::ErrorCode;
use crate::ids::RunId;
use crate::outcome::OutcomeError;
use crate::workflow::spec::NodeType;
use serde_json::{json, Value};

impl ExecState {
    /// Cancels every node and compensation still going; `changed` gets the nodes' ids.
    pub(super) fn cancel(&mut self, now: u64, actions: &mut Vec<Action>, changed: &mut Vec<String>) {
        for (id, node) in &mut self.nodes {
            if node.status.is_settled() {
                continue;
            }
            changed.push(id.clone());
            if let Some(run_id) = node.run_id.clone().filter(|_| node.status == NodeStatus::Running) {
                actions.push(Action::CancelRun { run_id });
            }
            for item in node.items.iter().filter(|i| i.status == NodeStatus::Running) {
                if let Some(run_id) = item.run_id.clone() {
                    actions.push(Action::CancelRun { run_id });
                }
            }
            if let Some(approval) = node.approval.clone().filter(|_| node.status == NodeStatus::Waiting) {
                actions.push(Action::CloseApproval { approval, status: "cancelled" });
            }
            node.status = NodeStatus::Cancelled;
            node.ended_at_ms = Some(now);
        }
        for comp in &mut self.compensations {
            if let Some(run_id) = comp.run_id.clone().filter(|_| comp.status == NodeStatus::Running) {
                actions.push(Action::CancelRun { run_id });
            }
            if !comp.status.is_settled() {
                comp.status = NodeStatus::Cancelled;
            }
        }
        self.status = ExecStatus::Cancelled;
        self.error = Some(failure(ErrorCode::ExecutionCancelled, "cancelled on request".to_owned()));
    }

    /// A compensation's run ended.
    pub(super) fn compensation_ended(
        &mut self,
        slot: &Slot,
        run_id: &RunId,
        result: Result<Value, OutcomeError>,
    ) -> Option<()> {
        let comp = self
            .compensations
            .iter_mut()
            .find(|c| c.node == slot.node && c.run_id.as_ref() == Some(run_id))
            .filter(|c| c.status == NodeStatus::Running)?;
        match result {
            Ok(_) => comp.status = NodeStatus::Completed,
            Err(e) => {
                comp.status = NodeStatus::Failed;
                comp.error = Some(e);
            }
        }
        Some(())
    }

    /// A node's run, or one of a map node's element runs, ended.
    pub(super) fn run_ended(
        &mut self,
        ctx: &mut Ctx<'_>,
        slot: &Slot,
        run_id: &RunId,
        result: Result<Value, OutcomeError>,
        actions: &mut Vec<Action>,
    ) -> Option<()> {
        let node = self.nodes.get_mut(&slot.node)?;
        if node.status != NodeStatus::Running {
            return None;
        }
        let Some(index) = slot.item else {
            if node.run_id.as_ref() != Some(run_id) {
                return None;
            }
            settle(node, result, ctx.now_ms);
            return Some(());
        };
        let item = node.items.iter_mut().find(|i| i.index == index && i.run_id.as_ref() == Some(run_id))?;
        if item.status != NodeStatus::Running {
            return None;
        }
        match result {
            Ok(v) => {
                item.status = NodeStatus::Completed;
                item.output = Some(v);
            }
            Err(e) => {
                item.status = NodeStatus::Failed;
                item.error = Some(e);
            }
        }
        let pos = ctx.workflow.position(&slot.node)?;
        self.fill_map(ctx, pos, actions);
        Some(())
    }

    /// A wait node's time came, or an approval's timeout.
    pub(super) fn timer_fired(&mut self, ctx: &mut Ctx<'_>, id: &str, actions: &mut Vec<Action>) -> Option<()> {
        let pos = ctx.workflow.position(id)?;
        let spec = ctx.workflow.node(pos);
        let node = self.nodes.get_mut(id)?;
        if node.status != NodeStatus::Waiting {
            return None;
        }
        match spec.kind {
            NodeType::Wait => settle(node, Ok(json!({})), ctx.now_ms),
            NodeType::Approval => {
                if let Some(approval) = node.approval.clone() {
                    actions.push(Action::CloseApproval { approval, status: "expired" });
                }
                let result = if spec.on_timeout.as_ref().is_some_and(|t| !t.is_empty()) {
                    Ok(json!({"decision": "timed_out"}))
                } else {
                    Err(failure(
                        ErrorCode::ApprovalTimedOut,
                        format!("approval {id:?} was not decided within {} s", spec.approval_timeout_s()),
                    ))
                };
                settle(node, result, ctx.now_ms);
            }
            _ => return None,
        }
        Some(())
    }

    /// A person decided an approval node.
    pub(super) fn decided(&mut self, now: u64, id: &str, decision: &Decision) -> Option<()> {
        let node = self.nodes.get_mut(id)?;
        if node.status != NodeStatus::Waiting || node.approval.is_none() {
            return None;
        }
        let result = if decision.approved {
            Ok(json!({"decision": "approved", "decided_by": decision.decided_by, "comment": decision.comment}))
        } else {
            Err(failure(
                ErrorCode::ApprovalRejected,
                format!(
                    "rejected by {}{}",
                    decision.decided_by,
                    decision.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
                ),
            ))
        };
        settle(node, result, now);
        Some(())
    }
}
