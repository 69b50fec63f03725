//! What runs next: the nodes whose dependencies have settled start (a task's run, a
//! map's element runs, a choice's branch, a wait's timer, an approval), and once every
//! node has settled the execution ends or its compensations run one at a time.

use super::{
    failure, final_output, settle, Action, CompensationState, Ctx, ExecState, ExecStatus, ItemState, NodeState,
    NodeStatus, Slot,
};
use crate::error_code::ErrorCode;
use crate::ids::RunId;
use crate::template::{resolve, Scope};
use crate::workflow::spec::NodeType;
use crate::workflow::validate::{parse_timestamp, selecting_branches, single_reference, Workflow};
use serde_json::{json, Value};

impl ExecState {
    /// Starts every node whose dependencies have settled (all of them after the start;
    /// after the node `from` changed, those that depend on it, and on them in turn), in
    /// canonical order; `started` gets each node started or settled here. Then ends the
    /// execution or starts compensating if every node has settled.
    ///
    /// A node's gate changes only when one of its dependencies settles, and every change
    /// is followed by this, so the nodes downstream of `from` are the only ones that can
    /// start. Taking them by their place in the canonical (topological) order starts
    /// them in the order a pass over every node would.
    pub(super) fn advance(
        &mut self,
        ctx: &mut Ctx<'_>,
        actions: &mut Vec<Action>,
        from: Option<usize>,
        started: &mut Vec<usize>,
    ) {
        if self.status != ExecStatus::Running {
            return;
        }
        let wf = ctx.workflow;
        let mut next: std::collections::BTreeSet<usize> = match from {
            None => (0..wf.canonical_order().len()).collect(),
            Some(i) => wf.dependents(i).iter().map(|&d| wf.rank(d)).collect(),
        };
        while let Some(rank) = next.pop_first() {
            let i = wf.canonical_order()[rank];
            let id = &wf.node(i).id;
            if self.nodes[id].status != NodeStatus::Pending {
                continue;
            }
            match self.gate(wf, i) {
                Gate::Wait => continue,
                gate @ (Gate::UpstreamFailed | Gate::Skip) => {
                    let node = self.nodes.get_mut(id).expect("every node has a state");
                    node.status =
                        if gate == Gate::UpstreamFailed { NodeStatus::UpstreamFailed } else { NodeStatus::Skipped };
                    node.ended_at_ms = Some(ctx.now_ms);
                }
                Gate::Run => self.start(ctx, i, actions),
            }
            started.push(i);
            next.extend(wf.dependents(i).iter().map(|&d| wf.rank(d)));
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

    /// Whether node `i` runs, given its dependencies' states.
    fn gate(&self, wf: &Workflow, i: usize) -> Gate {
        let node = wf.node(i);
        let deps = wf.deps(i);
        let status = |d: usize| self.nodes[&wf.node(d).id].status;
        let mut counted = 0;
        for &d in deps {
            match status(d) {
                NodeStatus::Pending | NodeStatus::Running | NodeStatus::Waiting => return Gate::Wait,
                NodeStatus::Failed | NodeStatus::UpstreamFailed | NodeStatus::Cancelled => return Gate::UpstreamFailed,
                _ => {}
            }
        }
        for &d in deps {
            let selects = match selecting_branches(wf.node(d), &node.id) {
                None => true,
                Some(branches) => {
                    self.nodes[&wf.node(d).id].output.as_ref().and_then(branch_of).is_some_and(|b| branches.contains(b))
                }
            };
            if status(d) == NodeStatus::Completed && selects {
                counted += 1;
            }
        }
        let runs = match node.join {
            crate::workflow::spec::Join::All => counted == deps.len(),
            crate::workflow::spec::Join::Any => deps.is_empty() || counted > 0,
        };
        if runs {
            Gate::Run
        } else {
            Gate::Skip
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>, i: usize, actions: &mut Vec<Action>) {
        let spec = ctx.workflow.node(i);
        // The node is out of the map while it starts, so that the others' outputs can be
        // read in place (a pending node has none).
        let (id, mut started) = self.nodes.remove_entry(&spec.id).expect("every node has a state");
        let fills_map = self.start_node(ctx, spec, &mut started, actions);
        self.nodes.insert(id, started);
        if fills_map {
            self.fill_map(ctx, i, actions);
        }
    }

    /// Starts `node`; answers whether it is a map whose elements are to start.
    fn start_node(
        &self,
        ctx: &mut Ctx<'_>,
        spec: &crate::workflow::spec::NodeSpec,
        node: &mut NodeState,
        actions: &mut Vec<Action>,
    ) -> bool {
        let scope = Scope::new(ctx.input, &self.nodes);
        let now = ctx.now_ms;
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
                        return true;
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
                        let level = spec.approval_level();
                        actions.push(Action::OpenApproval {
                            approval,
                            node: spec.id.clone(),
                            prompt,
                            expires_at_ms,
                            level,
                        });
                        actions.push(Action::StartTimer { node: spec.id.clone(), at_ms: expires_at_ms });
                    }
                }
            }
        }
        false
    }

    /// Starts map elements up to the node's concurrency; settles the node when every
    /// element has ended.
    pub(super) fn fill_map(&mut self, ctx: &mut Ctx<'_>, i: usize, actions: &mut Vec<Action>) {
        let spec = ctx.workflow.node(i);
        let (id, mut node) = self.nodes.remove_entry(&spec.id).expect("every node has a state");
        self.fill_items(ctx, spec, &mut node, actions);
        self.nodes.insert(id, node);
    }

    fn fill_items(
        &self,
        ctx: &mut Ctx<'_>,
        spec: &crate::workflow::spec::NodeSpec,
        node: &mut NodeState,
        actions: &mut Vec<Action>,
    ) {
        let outputs = &self.nodes;
        let scope = Scope::new(ctx.input, outputs);
        let items = spec
            .items
            .as_deref()
            .and_then(|s| resolve(&Value::String(s.to_owned()), &scope).ok())
            .and_then(|v| if let Value::Array(a) = v { Some(a) } else { None })
            .unwrap_or_default();
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
            let item_scope = Scope { item: Some((&item, &index_value)), ..Scope::new(ctx.input, outputs) };
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

    pub(super) fn next_compensation(&mut self, ctx: &mut Ctx<'_>, actions: &mut Vec<Action>) {
        let outputs = &self.nodes;
        while let Some(pos) = self.compensations.iter().position(|c| c.status == NodeStatus::Pending) {
            if self.compensations.iter().any(|c| c.status == NodeStatus::Running) {
                return;
            }
            let node_id = self.compensations[pos].node.clone();
            let Some(spec) = ctx.workflow.position(&node_id).map(|i| ctx.workflow.node(i)) else { return };
            let comp = spec.compensate.as_ref().expect("only nodes with compensate are listed");
            let entry = &mut self.compensations[pos];
            match resolve(&comp.input, &Scope::new(ctx.input, outputs)) {
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Gate {
    Wait,
    Run,
    Skip,
    UpstreamFailed,
}

fn branch_of(output: &Value) -> Option<&str> {
    output.get("branch").or_else(|| output.get("decision")).and_then(Value::as_str)
}
fn start_run(spec: &crate::workflow::spec::NodeSpec, slot: Slot, run_id: RunId, input: Value) -> Action {
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
