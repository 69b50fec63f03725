//! The execution state machine of the embedded executor: events in, state changes and
//! actions out. Pure and deterministic; the runtime persists the state and performs the
//! actions in one atomic write.
//!
//! Semantics (the ASL compiler produces the same on Step Functions):
//! - a node runs once its dependencies have settled: with `join: all` when every one
//!   completed, with `join: any` when at least one completed and the rest were skipped;
//!   a choice or approval dependency counts only if it selected the node;
//! - a node whose dependency failed is `upstream_failed`; nodes that do not depend on a
//!   failure still run to the end, so which nodes completed never depends on timing;
//! - when every node has settled and one failed, the completed nodes with a
//!   `compensate` call are compensated one at a time in reverse canonical order
//!   (reverse completion order, concurrent nodes ordered by their place in the spec);
//! - a map node runs every element (each with the node's retry policy) and fails if any
//!   element failed; its output is the elements' outputs in order.
//!
//! Events are applied in `events.rs`; what starts next is decided in `schedule.rs`.

mod events;
mod schedule;

use super::validate::Workflow;
use crate::error_code::ErrorCode;
use crate::ids::{ApprovalId, RunId};
use crate::outcome::{OutcomeError, StructuredOutcome};
use crate::template::{resolve, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecStatus {
    /// Nodes are running or waiting.
    Running,
    /// A node failed; completed nodes are being compensated.
    Compensating,
    /// Every node settled and none failed.
    Succeeded,
    /// A node failed (compensations, if any, have run).
    Failed,
    /// Cancelled on request.
    Cancelled,
}

impl ExecStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Compensating => "compensating",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Compensating, Self::Succeeded, Self::Failed, Self::Cancelled]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// True once nothing more happens.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// Status of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Waiting for its dependencies.
    Pending,
    /// Its skill call (or map elements) is running.
    Running,
    /// A timer or an approval is pending.
    Waiting,
    /// Done; `output` is set.
    Completed,
    /// Done with an error.
    Failed,
    /// Not selected by a choice or approval, or every dependency was skipped.
    Skipped,
    /// A dependency failed.
    UpstreamFailed,
    /// The execution was cancelled before the node finished.
    Cancelled,
}

impl NodeStatus {
    /// True once the node will not change any more.
    pub fn is_settled(self) -> bool {
        !matches!(self, Self::Pending | Self::Running | Self::Waiting)
    }
}

/// Which run a workflow run belongs to: a node, one element of a map node, or a node's
/// compensation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// The node.
    pub node: String,
    /// Element index, for map nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// True for the node's compensation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compensation: bool,
}

/// One element of a map node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemState {
    /// Element index.
    pub index: u32,
    /// Its run, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    /// Running, completed or failed.
    pub status: NodeStatus,
    /// Output when completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Error when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OutcomeError>,
}

/// State of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    /// Status.
    pub status: NodeStatus,
    /// Output once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Error once failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OutcomeError>,
    /// When it started, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
    /// When it settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at_ms: Option<u64>,
    /// A task node's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    /// A map node's elements: count and the started ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_total: Option<u32>,
    /// Started elements, by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemState>,
    /// An approval node's approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalId>,
    /// When a wait node's timer (or an approval's timeout) fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_at_ms: Option<u64>,
}

impl NodeState {
    fn pending() -> Self {
        Self {
            status: NodeStatus::Pending,
            output: None,
            error: None,
            started_at_ms: None,
            ended_at_ms: None,
            run_id: None,
            items_total: None,
            items: Vec::new(),
            approval: None,
            wake_at_ms: None,
        }
    }
}

/// The outputs of an execution's completed nodes, read in place.
impl crate::template::Outputs for BTreeMap<String, NodeState> {
    fn output(&self, id: &str) -> Option<&Value> {
        self.get(id).filter(|n| n.status == NodeStatus::Completed)?.output.as_ref()
    }
}

/// One compensation of the compensation phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompensationState {
    /// The node being undone.
    pub node: String,
    /// Pending, running, completed or failed.
    pub status: NodeStatus,
    /// Its run, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    /// Error when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OutcomeError>,
}

/// The whole state of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecState {
    /// Status.
    pub status: ExecStatus,
    /// Nodes by id.
    pub nodes: BTreeMap<String, NodeState>,
    /// The compensation phase, in the order it runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compensations: Vec<CompensationState>,
    /// Output once succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why the output template could not be resolved, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_error: Option<String>,
    /// The first failed node in canonical order, once failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_node: Option<String>,
    /// Its error (or the cancellation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OutcomeError>,
}

/// A human decision on an approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Approved or rejected.
    pub approved: bool,
    /// Who decided (an API key id or a user name).
    pub decided_by: String,
    /// Their comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Something that happened to an execution.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The execution was created.
    Start,
    /// A run of the execution ended.
    RunEnded {
        /// Whose run.
        slot: Slot,
        /// The run.
        run_id: RunId,
        /// Its output or error.
        result: Result<Value, OutcomeError>,
    },
    /// A wait node's timer or an approval's timeout fired.
    TimerFired {
        /// The node.
        node: String,
    },
    /// Someone decided an approval.
    Decided {
        /// The node.
        node: String,
        /// The decision.
        decision: Decision,
    },
    /// Cancelled on request.
    Cancel,
}

/// What the runtime must do, in the same write as the new state.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create a one-step run for a node, map element or compensation.
    StartRun {
        /// Whose run.
        slot: Slot,
        /// Its id.
        run_id: RunId,
        /// Skill.
        skill: String,
        /// Resolved input.
        input: Value,
        /// Attempts allowed.
        max_attempts: u32,
        /// First retry delay, ms.
        backoff_ms: u64,
        /// Per-attempt timeout, ms.
        timeout_ms: Option<u64>,
    },
    /// Deliver `TimerFired` for `node` at `at_ms`.
    StartTimer {
        /// The node.
        node: String,
        /// When.
        at_ms: u64,
    },
    /// Record a pending approval.
    OpenApproval {
        /// Its id.
        approval: ApprovalId,
        /// The node.
        node: String,
        /// The resolved prompt.
        prompt: String,
        /// When it times out.
        expires_at_ms: u64,
        /// The level a decider must hold.
        level: u8,
    },
    /// Close a pending approval that timed out or was cancelled.
    CloseApproval {
        /// Its id.
        approval: ApprovalId,
        /// `expired` or `cancelled`.
        status: &'static str,
    },
    /// Cancel a run that is still going.
    CancelRun {
        /// The run.
        run_id: RunId,
    },
}

/// Ids for new runs and approvals.
pub trait IdSource {
    /// A new run id.
    fn run_id(&mut self) -> RunId;
    /// A new approval id.
    fn approval_id(&mut self) -> ApprovalId;
}

fn failure(code: ErrorCode, message: String) -> OutcomeError {
    StructuredOutcome::failure(code, message).error.expect("failures carry an error")
}

/// Everything `apply` needs besides the state.
pub struct Ctx<'a> {
    /// The workflow.
    pub workflow: &'a Workflow,
    /// The execution input.
    pub input: &'a Value,
    /// Now, ms since the epoch.
    pub now_ms: u64,
    /// Id source.
    pub ids: &'a mut dyn IdSource,
}

impl ExecState {
    /// A new execution: every node pending.
    pub fn new(workflow: &Workflow) -> Self {
        Self {
            status: ExecStatus::Running,
            nodes: workflow.spec().nodes.iter().map(|n| (n.id.clone(), NodeState::pending())).collect(),
            compensations: Vec::new(),
            output: None,
            output_error: None,
            failed_node: None,
            error: None,
        }
    }

    /// Outputs of completed nodes, by id: what `${steps.<id>.output}` sees.
    pub fn outputs(&self) -> BTreeMap<String, Value> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.status == NodeStatus::Completed)
            .filter_map(|(id, n)| Some((id.clone(), n.output.clone()?)))
            .collect()
    }

    /// Applies `event`. Returns `None` when the event is stale (a duplicate, or for a
    /// node that is not in the state it expects): the state is then unchanged.
    pub fn apply(&mut self, ctx: &mut Ctx<'_>, event: Event) -> Option<Vec<Action>> {
        self.apply_changing(ctx, event).map(|(actions, _)| actions)
    }

    /// As [`ExecState::apply`], also answering the ids of the nodes whose state the event
    /// changed, in id order: the node it concerns and those it started or settled
    /// (every node a cancel settled). Its cost does not grow with the nodes it leaves
    /// alone (bar a scan of their statuses), so a store can write just those.
    pub fn apply_changing(&mut self, ctx: &mut Ctx<'_>, event: Event) -> Option<(Vec<Action>, Vec<String>)> {
        let mut actions = Vec::new();
        let mut changed = Vec::new();
        let from = match event {
            Event::Start => {
                if self.status != ExecStatus::Running || self.nodes.values().any(|n| n.status != NodeStatus::Pending) {
                    return None;
                }
                None
            }
            Event::Cancel => {
                if self.status.is_terminal() {
                    return None;
                }
                self.cancel(ctx.now_ms, &mut actions, &mut changed);
                return Some((actions, changed));
            }
            Event::RunEnded { slot, run_id, result } if slot.compensation => {
                self.compensation_ended(&slot, &run_id, result)?;
                self.next_compensation(ctx, &mut actions);
                return Some((actions, changed));
            }
            Event::RunEnded { slot, run_id, result } => {
                self.run_ended(ctx, &slot, &run_id, result, &mut actions)?;
                Some(slot.node)
            }
            Event::TimerFired { node } => {
                self.timer_fired(ctx, &node, &mut actions)?;
                Some(node)
            }
            Event::Decided { node, decision } => {
                self.decided(ctx.now_ms, &node, &decision)?;
                Some(node)
            }
        };
        let wf = ctx.workflow;
        let mut started = Vec::new();
        self.advance(ctx, &mut actions, from.as_deref().and_then(|id| wf.position(id)), &mut started);
        changed.extend(from);
        changed.extend(started.into_iter().map(|i| wf.node(i).id.clone()));
        changed.sort_unstable();
        changed.dedup();
        Some((actions, changed))
    }
}

/// The output of a succeeded execution: the spec's `output` template resolved against
/// the input and the completed nodes' outputs, or those outputs by node id.
pub fn final_output(wf: &Workflow, input: &Value, outputs: &BTreeMap<String, Value>) -> Result<Value, String> {
    match &wf.spec().output {
        None => Ok(Value::Object(outputs.clone().into_iter().collect())),
        Some(template) => resolve(template, &Scope::new(input, outputs)).map_err(|e| e.to_string()),
    }
}

/// Ends `node` with `result` at `now`.
fn settle(node: &mut NodeState, result: Result<Value, OutcomeError>, now: u64) {
    match result {
        Ok(v) => {
            node.status = NodeStatus::Completed;
            node.output = Some(v);
        }
        Err(e) => {
            node.status = NodeStatus::Failed;
            node.error = Some(e);
        }
    }
    node.ended_at_ms = Some(now);
}
