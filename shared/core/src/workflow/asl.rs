//! Compiles a validated workflow to an Amazon States Language definition (JSONPath
//! only: no JSONata, no variables), for Step Functions.

use crate::template::Reference;

/// The JSONPath of a reference in the state document `{"input": ..., "steps": {<id>:
/// {"status": ..., "output": ...}}}` that the generated state machine passes along.
pub fn json_path(reference: &Reference) -> Result<String, String> {
    let (mut path, rest) = match reference {
        Reference::Input(rest) => ("$.input".to_owned(), rest),
        Reference::StepOutput(id, rest) => (format!("$.steps.{id}.output"), rest),
        Reference::Item(_) | Reference::Index => {
            return Err("${item} and ${index} have no path in the state".to_owned())
        }
        Reference::Secret(_) => return Err("secrets have no path in the state".to_owned()),
    };
    for seg in rest {
        if seg.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{seg}]"));
        } else if seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            path.push('.');
            path.push_str(seg);
        } else {
            return Err(format!("field {seg:?} cannot be addressed in Step Functions; use letters, digits and '_'"));
        }
    }
    Ok(path)
}

use super::spec::{NodeSpec, NodeType};
use super::validate::{selecting_branches, single_reference, Workflow};
use crate::error_code::ErrorCode;
use serde_json::{json, Map, Value};

/// The task resource every node dispatches through: a message on the step queue and a
/// task token the worker answers.
pub const SEND_AND_WAIT: &str = "arn:aws:states:::sqs:sendMessage.waitForTaskToken";
/// Error name the worker reports for a retryable failure whose code is not retryable
/// by default.
pub const ERROR_RETRYABLE: &str = "AOS.Retryable";
/// Error name for a failure that must not be retried although its code usually is.
pub const ERROR_NOT_RETRYABLE: &str = "AOS.NotRetryable";
/// Error name of a rejected approval.
pub const ERROR_REJECTED: &str = "AOS.ApprovalRejected";
/// Error of the final `Fail` state of a failed workflow.
pub const ERROR_WORKFLOW_FAILED: &str = "AOS.WorkflowFailed";
/// Task timeout (a backstop: the worker enforces the node's own timeout).
pub const TASK_TIMEOUT_S: u64 = 3600;
/// Nodes with a timeout above this are "long": their tasks carry `HeartbeatSeconds`.
pub const LONG_NODE_S: u64 = 60;
/// `HeartbeatSeconds` of long nodes; the worker heartbeats well within it.
pub const HEARTBEAT_S: u64 = 120;

/// The error name a worker reports to Step Functions for a failed outcome: the code
/// itself when its retryability is the code's default, else one of the two overrides.
pub fn error_name(code: ErrorCode, retryable: bool) -> &'static str {
    match (code.retryable(), retryable) {
        (true, false) => ERROR_NOT_RETRYABLE,
        (false, true) => ERROR_RETRYABLE,
        _ => code.as_str(),
    }
}

/// Error names a node's `Retry` matches: every retryable code, the override, and
/// Step Functions' own timeout.
pub fn retryable_error_names() -> Vec<String> {
    let mut names: Vec<String> =
        ErrorCode::ALL.iter().filter(|c| c.retryable()).map(|c| c.as_str().to_owned()).collect();
    names.push(ERROR_RETRYABLE.to_owned());
    names.push("States.Timeout".to_owned());
    names
}

/// Where the generated state machine sends its tasks.
#[derive(Debug, Clone)]
pub struct AslOptions {
    /// URL of the step queue.
    pub queue_url: String,
}

/// Kind of task message a state sends.
fn message(task: &str, node: &NodeSpec, extra: &[(&str, Value)]) -> Value {
    let mut body = Map::new();
    body.insert("kind".into(), json!("sfn_task"));
    body.insert("task".into(), json!(task));
    body.insert("node".into(), json!(node.id));
    body.insert("token.$".into(), json!("$$.Task.Token"));
    body.insert("attempt.$".into(), json!("$$.State.RetryCount"));
    if task != "approval" {
        // The node's attempts in all: a run taken over after a worker died resumes
        // within what is left of them, as it does on the embedded executor.
        body.insert("max_attempts".into(), json!(node.retry_policy().max_attempts));
    }
    for (k, v) in extra {
        body.insert((*k).to_owned(), v.clone());
    }
    Value::Object(body)
}

fn pass(result: Value, path: &str, next: &str) -> Value {
    let mut state = json!({"Type": "Pass", "ResultPath": path});
    state["Result"] = result;
    with_next(state, next)
}

fn with_next(mut state: Value, next: &str) -> Value {
    if next.is_empty() {
        state["End"] = json!(true);
    } else {
        state["Next"] = json!(next);
    }
    state
}

fn one_or(kind: &str, mut rules: Vec<Value>) -> Value {
    if rules.len() == 1 {
        rules.remove(0)
    } else {
        json!({ kind: rules })
    }
}

fn status_is(node: &str, status: &str) -> Value {
    json!({"Variable": format!("$.steps.{node}.status"), "StringEquals": status})
}

struct Compiler<'a> {
    wf: &'a Workflow,
    opts: &'a AslOptions,
    states: Map<String, Value>,
}

impl Compiler<'_> {
    /// A node's task: the message and its token, with the node's retry policy. Each
    /// attempt must be a fresh task with a fresh token; some engines (moto's, for one)
    /// reuse one token across the retries of a Task state, so a node that retries wraps
    /// its Task in a one-branch Parallel and retries that (same errors, same policy).
    fn task_state(
        &self,
        node: &NodeSpec,
        state: &str,
        body: Value,
        next: &str,
        fail_to: &str,
        success_path: &str,
    ) -> Value {
        let retry = node.retry_policy();
        let timeout = node.timeout_s.unwrap_or(0);
        let mut task = json!({
            "Type": "Task",
            "Resource": SEND_AND_WAIT,
            "Parameters": {"QueueUrl": self.opts.queue_url},
            "TimeoutSeconds": TASK_TIMEOUT_S,
        });
        task["Parameters"]["MessageBody"] = body;
        if timeout > LONG_NODE_S {
            task["HeartbeatSeconds"] = json!(HEARTBEAT_S);
        }
        let (mut state, output) = if retry.max_attempts > 1 {
            task["End"] = json!(true);
            let attempt = format!("{state}.attempt");
            let mut wrapper = json!({"Type": "Parallel", "Branches": [{"StartAt": attempt, "States": {}}]});
            wrapper["Branches"][0]["States"][&attempt] = task;
            wrapper["Retry"] = json!([{
                "ErrorEquals": retryable_error_names(),
                "IntervalSeconds": retry.backoff_s,
                "MaxAttempts": retry.max_attempts - 1,
                "BackoffRate": 2.0,
            }]);
            (wrapper, "$[0]")
        } else {
            (task, "$")
        };
        state["ResultSelector"] = json!({"status": "completed", "output.$": output});
        state["ResultPath"] = json!(success_path);
        state["Catch"] = json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": fail_to}]);
        with_next(state, next)
    }

    fn context() -> Value {
        json!({"input.$": "$.input", "steps.$": "$.steps"})
    }

    /// The states of one node, entered at `<id>` and leaving to `next` ("" = end of a
    /// branch), each path setting `$.steps.<id>`.
    fn node(&mut self, i: usize, next: &str) -> Result<(), String> {
        let node = self.wf.node(i).clone();
        let id = node.id.clone();
        let at = format!("$.steps.{id}");
        let (start, failed, skipped, upstream) =
            (format!("{id}.start"), format!("{id}.failed"), format!("{id}.skipped"), format!("{id}.upstream_failed"));
        // The gate: dependencies failed -> upstream_failed; selected -> start; else skipped.
        let deps = self.wf.deps(i).to_vec();
        if deps.is_empty() {
            self.states.insert(id.clone(), json!({"Type": "Pass", "Next": start}));
        } else {
            let mut bad = Vec::new();
            let mut counted = Vec::new();
            for &d in &deps {
                let dep = self.wf.node(d);
                for s in ["failed", "upstream_failed", "cancelled"] {
                    bad.push(status_is(&dep.id, s));
                }
                let mut rule = vec![status_is(&dep.id, "completed")];
                if let Some(branches) = selecting_branches(dep, &id) {
                    let field = if dep.kind == NodeType::Approval { "decision" } else { "branch" };
                    let picks: Vec<Value> = branches
                        .iter()
                        .map(|b| json!({"Variable": format!("$.steps.{}.output.{field}", dep.id), "StringEquals": b}))
                        .collect();
                    rule.push(one_or("Or", picks));
                }
                counted.push(one_or("And", rule));
            }
            let runs = match node.join {
                super::spec::Join::All => one_or("And", counted),
                super::spec::Join::Any => one_or("Or", counted),
            };
            let mut up = one_or("Or", bad);
            up["Next"] = json!(upstream);
            let mut go = runs;
            go["Next"] = json!(start);
            self.states.insert(id.clone(), json!({"Type": "Choice", "Choices": [up, go], "Default": skipped}));
            self.states.insert(upstream, pass(json!({"status": "upstream_failed"}), &at, next));
            self.states.insert(skipped, pass(json!({"status": "skipped"}), &at, next));
        }
        if matches!(node.kind, NodeType::Task | NodeType::Map | NodeType::Approval) {
            self.states.insert(failed.clone(), pass(json!({"status": "failed"}), &at, next));
        }
        // Canonical (keys sorted): a definition's text never depends on how maps order keys.
        let template = |v: &Value| json!(crate::determinism::canonical_json(v));
        match node.kind {
            NodeType::Task => {
                let body = message(
                    "node",
                    &node,
                    &[
                        ("aos.$", json!("$.aos")),
                        ("skill", json!(node.skill)),
                        ("template", template(&node.input_template())),
                        ("timeout_s", json!(node.timeout_s)),
                        ("doc", Self::context()),
                    ],
                );
                let state = self.task_state(&node, &start, body, next, &failed, &at);
                self.states.insert(start, state);
            }
            NodeType::Map => {
                let items =
                    node.items.as_deref().and_then(single_reference).ok_or("map items must be one reference")?;
                let item_task = format!("{id}.item");
                let item_failed = format!("{id}.item_failed");
                let body = message(
                    "item",
                    &node,
                    &[
                        ("aos.$", json!("$.aos")),
                        ("skill", json!(node.skill)),
                        ("template", template(&node.input_template())),
                        ("timeout_s", json!(node.timeout_s)),
                        ("doc.$", json!("$.doc")),
                        ("item.$", json!("$.item")),
                        ("index.$", json!("$.index")),
                    ],
                );
                let mut item_state = self.task_state(&node, &item_task, body, "", &item_failed, "$");
                if let Some(o) = item_state.as_object_mut() {
                    // Each element's result replaces its input: {"status", "output"}.
                    o.remove("ResultPath");
                }
                let processor = json!({
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": item_task,
                    "States": {
                        item_task: item_state,
                        item_failed: {"Type": "Pass", "Result": {"status": "failed"}, "End": true},
                    },
                });
                let (statuses, verdict, ok) = (format!("{id}.statuses"), format!("{id}.verdict"), format!("{id}.ok"));
                self.states.insert(
                    start,
                    json!({
                        "Type": "Map",
                        "ItemsPath": json_path(&items)?,
                        "MaxConcurrency": node.concurrency(),
                        "ItemSelector": {
                            "aos.$": "$.aos",
                            "doc": Self::context(),
                            "item.$": "$$.Map.Item.Value",
                            "index.$": "$$.Map.Item.Index",
                        },
                        "ItemProcessor": processor,
                        "ResultPath": "$.map",
                        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": failed}],
                        "Next": statuses,
                    }),
                );
                self.states.insert(
                    statuses,
                    json!({"Type": "Pass", "Parameters": {"statuses.$": "$.map[*].status", "outputs.$": "$.map[*].output"}, "ResultPath": "$.map", "Next": verdict}),
                );
                self.states.insert(
                    verdict.clone(),
                    json!({"Type": "Pass", "Parameters": {"failed.$": "States.ArrayContains($.map.statuses, 'failed')", "outputs.$": "$.map.outputs"}, "ResultPath": "$.map", "Next": format!("{verdict}?")}),
                );
                self.states.insert(
                    format!("{verdict}?"),
                    json!({"Type": "Choice", "Choices": [{"Variable": "$.map.failed", "BooleanEquals": true, "Next": failed}], "Default": ok}),
                );
                self.states.insert(
                    ok,
                    with_next(
                        json!({"Type": "Pass", "Parameters": {"status": "completed", "output.$": "$.map.outputs"}, "ResultPath": at}),
                        next,
                    ),
                );
            }
            NodeType::Choice => {
                let rules = node.choices.clone().unwrap_or_default();
                let mut choices = Vec::new();
                for (k, rule) in rules.iter().enumerate() {
                    let target = format!("{id}.branch_{k}");
                    let mut c = rule.when.to_asl()?;
                    c["Next"] = json!(target);
                    choices.push(c);
                    self.states.insert(
                        target,
                        pass(json!({"status": "completed", "output": {"branch": node.branch_name(k)}}), &at, next),
                    );
                }
                let default = format!("{id}.branch_default");
                self.states.insert(
                    default.clone(),
                    pass(json!({"status": "completed", "output": {"branch": "default"}}), &at, next),
                );
                self.states.insert(start, json!({"Type": "Choice", "Choices": choices, "Default": default}));
            }
            NodeType::Wait => {
                let done = format!("{id}.done");
                let mut wait = json!({"Type": "Wait", "Next": done});
                match (node.seconds, node.until.as_deref()) {
                    (Some(s), _) => wait["Seconds"] = json!(s),
                    (None, Some(u)) => match single_reference(u) {
                        Some(r) => wait["TimestampPath"] = json!(json_path(&r)?),
                        None => wait["Timestamp"] = json!(u),
                    },
                    (None, None) => return Err(format!("wait node {id:?} has no time")),
                }
                self.states.insert(start, wait);
                self.states.insert(done, pass(json!({"status": "completed", "output": {}}), &at, next));
            }
            NodeType::Approval => {
                let timed_out = format!("{id}.timed_out");
                let prompt = node.prompt.clone().unwrap_or_else(|| format!("Approve {id}?"));
                let body = message(
                    "approval",
                    &node,
                    &[
                        ("aos.$", json!("$.aos")),
                        ("template", template(&json!(prompt))),
                        ("timeout_s", json!(node.approval_timeout_s())),
                        ("level", json!(node.approval_level())),
                        ("doc", Self::context()),
                    ],
                );
                let state = with_next(
                    json!({
                        "Type": "Task",
                        "Resource": SEND_AND_WAIT,
                        "Parameters": {"QueueUrl": self.opts.queue_url, "MessageBody": body},
                        "TimeoutSeconds": node.approval_timeout_s(),
                        "ResultSelector": {"status": "completed", "output.$": "$"},
                        "ResultPath": at,
                        "Catch": [
                            {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.caught", "Next": timed_out},
                            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": failed},
                        ],
                    }),
                    next,
                );
                self.states.insert(start, state);
                let on_timeout = node.on_timeout.as_ref().is_some_and(|t| !t.is_empty());
                let result = if on_timeout {
                    json!({"status": "completed", "output": {"decision": "timed_out"}})
                } else {
                    json!({"status": "failed"})
                };
                self.states.insert(timed_out, pass(result, &at, next));
            }
        }
        Ok(())
    }
}

/// Compiles `wf` to an ASL definition. The state machine takes
/// `{"input": ..., "steps": {}, "aos": {...}}` (see `start_document`), runs the nodes
/// layer by layer (a layer's nodes in a `Parallel`), sets `$.steps.<id>` for every
/// node on every path, then succeeds with that document or compensates the completed
/// nodes in reverse canonical order and fails.
pub fn compile(wf: &Workflow, opts: &AslOptions) -> Result<Value, String> {
    let mut c = Compiler { wf, opts, states: Map::new() };
    let layers = wf.layers();
    let mut done: Vec<String> = Vec::new();
    for (l, layer) in layers.iter().enumerate() {
        let next = if l + 1 < layers.len() { format!("layer_{}", l + 1) } else { "outcome".to_owned() };
        let name = format!("layer_{l}");
        if let [only] = layer.as_slice() {
            c.node(*only, &next)?;
            let entry = wf.node(*only).id.clone();
            c.states.insert(name, json!({"Type": "Pass", "Next": entry}));
        } else {
            let mut branches = Vec::new();
            let mut selector = Map::new();
            for (b, &i) in layer.iter().enumerate() {
                let mut sub = Compiler { wf, opts, states: Map::new() };
                sub.node(i, "")?;
                let id = &wf.node(i).id;
                branches.push(json!({"StartAt": id, "States": sub.states}));
                selector.insert(format!("{id}.$"), json!(format!("$[{b}].steps.{id}")));
            }
            let merge = format!("{name}.merge");
            c.states.insert(
                name,
                json!({"Type": "Parallel", "Branches": branches, "ResultSelector": selector, "ResultPath": "$.layer", "Next": merge}),
            );
            let mut steps = Map::new();
            for id in done.iter().chain(layer.iter().map(|&i| &wf.node(i).id)) {
                let from = if layer.iter().any(|&i| &wf.node(i).id == id) {
                    format!("$.layer.{id}")
                } else {
                    format!("$.steps.{id}")
                };
                steps.insert(format!("{id}.$"), json!(from));
            }
            c.states.insert(
                merge,
                json!({"Type": "Pass", "Parameters": {"input.$": "$.input", "aos.$": "$.aos", "compensations": {}, "steps": steps}, "Next": next}),
            );
        }
        done.extend(layer.iter().map(|&i| wf.node(i).id.clone()));
    }
    // Outcome: any failed node -> compensation chain -> Fail; else Succeed.
    let comps: Vec<usize> =
        wf.canonical_order().iter().rev().copied().filter(|&i| wf.node(i).compensate.is_some()).collect();
    let first_comp = comps.first().map_or("failed".to_owned(), |&i| format!("{}.compensate?", wf.node(i).id));
    let any_failed: Vec<Value> = wf.spec().nodes.iter().map(|n| status_is(&n.id, "failed")).collect();
    let mut rule = one_or("Or", any_failed);
    rule["Next"] = json!(first_comp);
    c.states.insert("outcome".into(), json!({"Type": "Choice", "Choices": [rule], "Default": "succeeded"}));
    c.states.insert("succeeded".into(), json!({"Type": "Succeed"}));
    c.states.insert(
        "failed".into(),
        json!({"Type": "Fail", "Error": ERROR_WORKFLOW_FAILED, "Cause": "a node failed; its completed nodes were compensated"}),
    );
    for (k, &i) in comps.iter().enumerate() {
        let node = wf.node(i);
        let id = &node.id;
        let next = comps.get(k + 1).map_or("failed".to_owned(), |&j| format!("{}.compensate?", wf.node(j).id));
        let undo = format!("{id}.compensate");
        let mut when = status_is(id, "completed");
        when["Next"] = json!(undo);
        c.states.insert(format!("{undo}?"), json!({"Type": "Choice", "Choices": [when], "Default": next}));
        let comp = node.compensate.as_ref().expect("filtered on compensate");
        let body = message(
            "compensation",
            node,
            &[
                ("aos.$", json!("$.aos")),
                ("skill", json!(comp.skill)),
                ("template", json!(crate::determinism::canonical_json(&comp.input))),
                ("timeout_s", json!(node.timeout_s)),
                ("doc", Compiler::context()),
            ],
        );
        let path = format!("$.compensations.{id}");
        let mut state = c.task_state(node, &undo, body, &next, &next, &path);
        state["Catch"][0]["ResultPath"] = json!(path);
        c.states.insert(undo, state);
    }
    Ok(json!({
        "Comment": format!("AOS workflow {} (generated; do not edit)", wf.spec().name),
        "StartAt": "layer_0",
        "States": c.states,
    }))
}

/// The input of a generated state machine's execution.
pub fn start_document(input: &Value, aos: &Value) -> Value {
    json!({"input": input, "steps": {}, "compensations": {}, "aos": aos})
}
