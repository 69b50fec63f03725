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

use super::spec::NodeType;
use super::validate::{parse_timestamp, selecting_branches, single_reference, Workflow};
use crate::error_code::ErrorCode;
use crate::ids::{ApprovalId, RunId};
use crate::outcome::{OutcomeError, StructuredOutcome};
use crate::template::{resolve, Scope};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// One compensation of the compensation phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        let mut actions = Vec::new();
        match event {
            Event::Start => {
                if self.status != ExecStatus::Running || self.nodes.values().any(|n| n.status != NodeStatus::Pending) {
                    return None;
                }
            }
            Event::Cancel => {
                if self.status.is_terminal() {
                    return None;
                }
                self.cancel(ctx.now_ms, &mut actions);
                return Some(actions);
            }
            Event::RunEnded { slot, run_id, result } if slot.compensation => {
                let comp = self
                    .compensations
                    .iter_mut()
                    .find(|c| c.node == slot.node && c.run_id.as_ref() == Some(&run_id))
                    .filter(|c| c.status == NodeStatus::Running)?;
                match result {
                    Ok(_) => comp.status = NodeStatus::Completed,
                    Err(e) => {
                        comp.status = NodeStatus::Failed;
                        comp.error = Some(e);
                    }
                }
                self.next_compensation(ctx, &mut actions);
                return Some(actions);
            }
            Event::RunEnded { slot, run_id, result } => {
                let node = self.nodes.get_mut(&slot.node)?;
                if node.status != NodeStatus::Running {
                    return None;
                }
                match slot.item {
                    None => {
                        if node.run_id.as_ref() != Some(&run_id) {
                            return None;
                        }
                        settle(node, result, ctx.now_ms);
                    }
                    Some(index) => {
                        let item =
                            node.items.iter_mut().find(|i| i.index == index && i.run_id.as_ref() == Some(&run_id))?;
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
                        self.fill_map(ctx, pos, &mut actions);
                    }
                }
            }
            Event::TimerFired { node: id } => {
                let pos = ctx.workflow.position(&id)?;
                let spec = ctx.workflow.node(pos);
                let node = self.nodes.get_mut(&id)?;
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
            }
            Event::Decided { node: id, decision } => {
                let node = self.nodes.get_mut(&id)?;
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
                settle(node, result, ctx.now_ms);
            }
        }
        self.advance(ctx, &mut actions);
        Some(actions)
    }

    fn cancel(&mut self, now: u64, actions: &mut Vec<Action>) {
        for node in self.nodes.values_mut() {
            if node.status.is_settled() {
                continue;
            }
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

    /// Starts every node whose dependencies have settled, until nothing changes; then
    /// ends the execution or starts compensating if every node has settled.
    fn advance(&mut self, ctx: &mut Ctx<'_>, actions: &mut Vec<Action>) {
        if self.status != ExecStatus::Running {
            return;
        }
        let wf = ctx.workflow;
        loop {
            let mut changed = false;
            for &i in wf.canonical_order() {
                let id = &wf.node(i).id;
                if self.nodes[id].status != NodeStatus::Pending {
                    continue;
                }
                match self.gate(wf, i) {
                    Gate::Wait => {}
                    Gate::UpstreamFailed | Gate::Skip => {
                        let upstream = matches!(self.gate(wf, i), Gate::UpstreamFailed);
                        let node = self.nodes.get_mut(id).expect("every node has a state");
                        node.status = if upstream { NodeStatus::UpstreamFailed } else { NodeStatus::Skipped };
                        node.ended_at_ms = Some(ctx.now_ms);
                        changed = true;
                    }
                    Gate::Run => {
                        self.start(ctx, i, actions);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        if !self.nodes.values().all(|n| n.status.is_settled()) {
            return;
        }
        let failed = wf
            .canonical_order()
            .iter()
            .map(|&i| &wf.node(i).id)
            .find(|id| self.nodes[*id].status == NodeStatus::Failed);
        if let Some(failed) = failed.cloned() {
            self.error.clone_from(&self.nodes[&failed].error);
            self.failed_node = Some(failed);
            self.compensations = wf
                .canonical_order()
                .iter()
                .rev()
                .map(|&i| wf.node(i))
                .filter(|n| n.compensate.is_some() && self.nodes[&n.id].status == NodeStatus::Completed)
                .map(|n| CompensationState {
                    node: n.id.clone(),
                    status: NodeStatus::Pending,
                    run_id: None,
                    error: None,
                })
                .collect();
            self.status = ExecStatus::Compensating;
            self.next_compensation(ctx, actions);
            return;
        }
        match final_output(wf, ctx.input, &self.outputs()) {
            Ok(v) => self.output = Some(v),
            Err(e) => self.output_error = Some(e),
        }
        self.status = ExecStatus::Succeeded;
    }

    fn gate(&self, wf: &Workflow, i: usize) -> Gate {
        let node = wf.node(i);
        let deps = wf.deps(i);
        let mut counted = 0;
        for &d in deps {
            let dep = &self.nodes[&wf.node(d).id];
            match dep.status {
                NodeStatus::Pending | NodeStatus::Running | NodeStatus::Waiting => return Gate::Wait,
                NodeStatus::Failed | NodeStatus::UpstreamFailed | NodeStatus::Cancelled => return Gate::UpstreamFailed,
                _ => {}
            }
        }
        for &d in deps {
            let dep = &self.nodes[&wf.node(d).id];
            let selects = match selecting_branches(wf.node(d), &node.id) {
                None => true,
                Some(branches) => dep.output.as_ref().and_then(branch_of).is_some_and(|b| branches.contains(b)),
            };
            if dep.status == NodeStatus::Completed && selects {
                counted += 1;
            }
        }
        let runs = match node.join {
            super::spec::Join::All => counted == deps.len(),
            super::spec::Join::Any => deps.is_empty() || counted > 0,
        };
        if runs {
            Gate::Run
        } else {
            Gate::Skip
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>, i: usize, actions: &mut Vec<Action>) {
        let spec = ctx.workflow.node(i);
        let outputs = self.outputs();
        let scope = Scope::new(ctx.input, &outputs);
        let now = ctx.now_ms;
        let node = self.nodes.get_mut(&spec.id).expect("every node has a state");
        node.started_at_ms = Some(now);
        match spec.kind {
            NodeType::Task => match resolve(&spec.input_template(), &scope) {
                Err(e) => settle(node, Err(failure(ErrorCode::UnresolvedReference, e.to_string())), now),
                Ok(input) => {
                    let run_id = ctx.ids.run_id();
                    node.status = NodeStatus::Running;
                    node.run_id = Some(run_id.clone());
                    actions.push(start_run(
                        spec,
                        Slot { node: spec.id.clone(), item: None, compensation: false },
                        run_id,
                        input,
                    ));
                }
            },
            NodeType::Map => {
                let items = spec.items.as_deref().map(|s| resolve(&Value::String(s.to_owned()), &scope));
                match items {
                    Some(Ok(Value::Array(a))) => {
                        node.status = NodeStatus::Running;
                        node.items_total = Some(u32::try_from(a.len()).unwrap_or(u32::MAX));
                        self.fill_map(ctx, i, actions);
                    }
                    Some(Ok(other)) => settle(
                        node,
                        Err(failure(
                            ErrorCode::ValidationFailed,
                            format!("items resolved to {}, not an array", json_type(&other)),
                        )),
                        now,
                    ),
                    Some(Err(e)) => settle(node, Err(failure(ErrorCode::UnresolvedReference, e.to_string())), now),
                    None => settle(node, Err(failure(ErrorCode::ValidationFailed, "no items".to_owned())), now),
                }
            }
            NodeType::Choice => {
                let rules = spec.choices.as_deref().unwrap_or_default();
                let index = rules.iter().position(|r| r.when.eval(&scope)).unwrap_or(rules.len());
                settle(node, Ok(json!({"branch": spec.branch_name(index)})), now);
            }
            NodeType::Wait => {
                let at = match (spec.seconds, spec.until.as_deref()) {
                    (Some(s), _) => Ok(now + s * 1000),
                    (None, Some(u)) if single_reference(u).is_some() => {
                        match resolve(&Value::String(u.to_owned()), &scope) {
                            Ok(Value::String(ts)) => parse_timestamp(&ts)
                                .ok_or(format!("until resolved to {ts:?}, not an RFC 3339 UTC timestamp")),
                            Ok(other) => {
                                Err(format!("until resolved to {}, not a timestamp string", json_type(&other)))
                            }
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    (None, Some(u)) => parse_timestamp(u).ok_or(format!("bad timestamp {u:?}")),
                    (None, None) => Err("no seconds or until".to_owned()),
                };
                match at {
                    Ok(at_ms) => {
                        node.status = NodeStatus::Waiting;
                        node.wake_at_ms = Some(at_ms);
                        actions.push(Action::StartTimer { node: spec.id.clone(), at_ms });
                    }
                    Err(m) => settle(node, Err(failure(ErrorCode::ValidationFailed, m)), now),
                }
            }
            NodeType::Approval => {
                let prompt = spec.prompt.clone().unwrap_or_else(|| format!("Approve {}?", spec.id));
                match resolve(&Value::String(prompt), &scope) {
                    Err(e) => settle(node, Err(failure(ErrorCode::UnresolvedReference, e.to_string())), now),
                    Ok(prompt) => {
                        let approval = ctx.ids.approval_id();
                        let expires_at_ms = now + spec.approval_timeout_s() * 1000;
                        node.status = NodeStatus::Waiting;
                        node.approval = Some(approval.clone());
                        node.wake_at_ms = Some(expires_at_ms);
                        let prompt = match prompt {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        actions.push(Action::OpenApproval { approval, node: spec.id.clone(), prompt, expires_at_ms });
                        actions.push(Action::StartTimer { node: spec.id.clone(), at_ms: expires_at_ms });
                    }
                }
            }
        }
    }

    /// Starts map elements up to the node's concurrency; settles the node when every
    /// element has ended.
    fn fill_map(&mut self, ctx: &mut Ctx<'_>, i: usize, actions: &mut Vec<Action>) {
        let spec = ctx.workflow.node(i);
        let outputs = self.outputs();
        let scope = Scope::new(ctx.input, &outputs);
        let items = spec
            .items
            .as_deref()
            .and_then(|s| resolve(&Value::String(s.to_owned()), &scope).ok())
            .and_then(|v| if let Value::Array(a) = v { Some(a) } else { None })
            .unwrap_or_default();
        let node = self.nodes.get_mut(&spec.id).expect("every node has a state");
        let total = node.items_total.unwrap_or(0);
        let template = spec.input_template();
        loop {
            let running = node.items.iter().filter(|it| it.status == NodeStatus::Running).count();
            let started = u32::try_from(node.items.len()).unwrap_or(u32::MAX);
            if running >= spec.concurrency() as usize || started >= total {
                break;
            }
            let index = started;
            let item = items.get(index as usize).cloned().unwrap_or(Value::Null);
            let index_value = json!(index);
            let item_scope = Scope { item: Some((&item, &index_value)), ..Scope::new(ctx.input, &outputs) };
            match resolve(&template, &item_scope) {
                Err(e) => node.items.push(ItemState {
                    index,
                    run_id: None,
                    status: NodeStatus::Failed,
                    output: None,
                    error: Some(failure(ErrorCode::UnresolvedReference, e.to_string())),
                }),
                Ok(input) => {
                    let run_id = ctx.ids.run_id();
                    node.items.push(ItemState {
                        index,
                        run_id: Some(run_id.clone()),
                        status: NodeStatus::Running,
                        output: None,
                        error: None,
                    });
                    let slot = Slot { node: spec.id.clone(), item: Some(index), compensation: false };
                    actions.push(start_run(spec, slot, run_id, input));
                }
            }
        }
        let done = node.items.len() as u64 == u64::from(total) && node.items.iter().all(|it| it.status.is_settled());
        if done {
            let result = match node.items.iter().find(|it| it.status == NodeStatus::Failed) {
                Some(bad) => {
                    let mut e = bad.error.clone().unwrap_or_else(|| failure(ErrorCode::Unknown, String::new()));
                    e.message = format!("element {}: {}", bad.index, e.message);
                    Err(e)
                }
                None => {
                    Ok(Value::Array(node.items.iter().map(|it| it.output.clone().unwrap_or(Value::Null)).collect()))
                }
            };
            settle(node, result, ctx.now_ms);
        }
    }

    fn next_compensation(&mut self, ctx: &mut Ctx<'_>, actions: &mut Vec<Action>) {
        let outputs = self.outputs();
        while let Some(pos) = self.compensations.iter().position(|c| c.status == NodeStatus::Pending) {
            if self.compensations.iter().any(|c| c.status == NodeStatus::Running) {
                return;
            }
            let node_id = self.compensations[pos].node.clone();
            let Some(spec) = ctx.workflow.position(&node_id).map(|i| ctx.workflow.node(i)) else { return };
            let comp = spec.compensate.as_ref().expect("only nodes with compensate are listed");
            let entry = &mut self.compensations[pos];
            match resolve(&comp.input, &Scope::new(ctx.input, &outputs)) {
                Err(e) => {
                    entry.status = NodeStatus::Failed;
                    entry.error = Some(failure(ErrorCode::UnresolvedReference, e.to_string()));
                }
                Ok(input) => {
                    let run_id = ctx.ids.run_id();
                    entry.status = NodeStatus::Running;
                    entry.run_id = Some(run_id.clone());
                    actions.push(Action::StartRun {
                        slot: Slot { node: node_id, item: None, compensation: true },
                        run_id,
                        skill: comp.skill.clone(),
                        input,
                        max_attempts: spec.retry_policy().max_attempts,
                        backoff_ms: u64::from(spec.retry_policy().backoff_s) * 1000,
                        timeout_ms: spec.timeout_s.map(|s| s * 1000),
                    });
                    return;
                }
            }
        }
        if !self.compensations.iter().any(|c| c.status == NodeStatus::Running) {
            self.status = ExecStatus::Failed;
        }
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

enum Gate {
    Wait,
    Run,
    Skip,
    UpstreamFailed,
}

fn branch_of(output: &Value) -> Option<&str> {
    output.get("branch").or_else(|| output.get("decision")).and_then(Value::as_str)
}

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

fn start_run(spec: &super::spec::NodeSpec, slot: Slot, run_id: RunId, input: Value) -> Action {
    let retry = spec.retry_policy();
    Action::StartRun {
        slot,
        run_id,
        skill: spec.skill.clone().unwrap_or_default(),
        input,
        max_attempts: retry.max_attempts,
        backoff_ms: u64::from(retry.backoff_s) * 1000,
        timeout_ms: spec.timeout_s.map(|s| s * 1000),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
