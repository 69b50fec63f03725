use super::exec::Action;
use super::*;
use crate::error_code::ErrorCode;
use crate::ids::{ApprovalId, RunId};
use crate::outcome::{OutcomeError, StructuredOutcome};
use serde_json::{json, Value};
use std::collections::VecDeque;

/// Skills `echo` (returns its input) and `fail` (fails); `fail` refuses static input
/// with a field `bad`, like a schema would.
struct Catalog;

impl SkillCatalog for Catalog {
    fn check(&self, skill: &str, input: Option<&Value>) -> Result<(), String> {
        match skill {
            "echo" | "fail" | "undo" => match input {
                Some(v) if v.get("bad").is_some() => Err("input: additional property \"bad\"".to_owned()),
                _ => Ok(()),
            },
            other => Err(format!("unknown skill {other:?}")),
        }
    }
}

fn wf(yaml: &str) -> Result<Workflow, WorkflowError> {
    let spec = parse(yaml, Format::Yaml).map_err(|e| WorkflowError { node: None, message: e.0 })?;
    Workflow::new(spec, &Catalog)
}

fn invalid(yaml: &str) -> WorkflowError {
    wf(yaml).expect_err("should be invalid")
}

#[derive(Default)]
struct Ids(u32);

impl IdSource for Ids {
    fn run_id(&mut self) -> RunId {
        self.0 += 1;
        RunId::from_suffix(&format!("{:04x}", self.0)).expect("valid")
    }
    fn approval_id(&mut self) -> ApprovalId {
        self.0 += 1;
        ApprovalId::from_suffix(&format!("{:04x}", self.0)).expect("valid")
    }
}

/// Drives an execution to its end: runs finish in the order they were started (one at
/// a time), timers fire in time order, approvals are answered by `decide`.
struct Driver {
    state: ExecState,
    runs: VecDeque<(Slot, RunId, String, Value)>,
    timers: Vec<(u64, String)>,
    /// Skills called, in order, as "skill:slot".
    log: Vec<String>,
    approvals: Vec<(String, ApprovalId)>,
    max_in_flight: usize,
}

fn fail_err() -> OutcomeError {
    StructuredOutcome::failure(ErrorCode::Http500, "boom").error.expect("error")
}

impl Driver {
    fn run(w: &Workflow, input: &Value, decide: impl Fn(&str) -> Option<Decision>) -> Driver {
        let mut d = Driver {
            state: ExecState::new(w),
            runs: VecDeque::new(),
            timers: Vec::new(),
            log: Vec::new(),
            approvals: Vec::new(),
            max_in_flight: 0,
        };
        let mut ids = Ids::default();
        let mut now = 1_000_000;
        let mut event = Some(Event::Start);
        while let Some(ev) = event.take() {
            let mut ctx = Ctx { workflow: w, input, now_ms: now, ids: &mut ids };
            let before = d.state.nodes.clone();
            let (actions, changed) = d.state.apply_changing(&mut ctx, ev).expect("no stale events in the driver");
            // The nodes it names as changed are exactly those whose state differs.
            let differ: Vec<&String> =
                d.state.nodes.iter().filter(|(id, n)| before.get(*id) != Some(*n)).map(|(id, _)| id).collect();
            assert_eq!(changed.iter().collect::<Vec<_>>(), differ, "the nodes an event changed");
            // Nothing is left pending that could start: what lets an event look only at
            // the nodes downstream of the one it concerns.
            if d.state.status == ExecStatus::Running {
                for (i, n) in w.spec().nodes.iter().enumerate() {
                    if d.state.nodes[&n.id].status == NodeStatus::Pending {
                        let waits = w.deps(i).iter().any(|&j| !d.state.nodes[&w.node(j).id].status.is_settled());
                        assert!(waits, "{} could start but is still pending", n.id);
                    }
                }
            }
            for a in actions {
                match a {
                    Action::StartRun { slot, run_id, skill, input, .. } => {
                        d.runs.push_back((slot, run_id, skill, input));
                    }
                    Action::StartTimer { node, at_ms } => d.timers.push((at_ms, node)),
                    Action::OpenApproval { approval, node, .. } => d.approvals.push((node, approval)),
                    Action::CloseApproval { .. } | Action::CancelRun { .. } => {}
                }
            }
            d.max_in_flight = d.max_in_flight.max(d.runs.len());
            if let Some((slot, run_id, skill, input)) = d.runs.pop_front() {
                let tag = match (slot.item, slot.compensation) {
                    (Some(i), _) => format!("{skill}:{}[{i}]", slot.node),
                    (None, true) => format!("{skill}:{}(undo)", slot.node),
                    _ => format!("{skill}:{}", slot.node),
                };
                d.log.push(tag);
                let result = if skill == "fail" { Err(fail_err()) } else { Ok(input) };
                event = Some(Event::RunEnded { slot, run_id, result });
                continue;
            }
            if let Some((node, _)) = d.approvals.iter().find(|(n, _)| d.state.nodes[n].status == NodeStatus::Waiting) {
                if let Some(decision) = decide(node) {
                    event = Some(Event::Decided { node: node.clone(), decision });
                    continue;
                }
            }
            d.timers.sort();
            let due = d.timers.iter().position(|(_, n)| d.state.nodes[n].status == NodeStatus::Waiting);
            if let Some(pos) = due {
                let (at, node) = d.timers.remove(pos);
                now = now.max(at);
                event = Some(Event::TimerFired { node });
            }
        }
        d
    }

    fn status(&self, node: &str) -> NodeStatus {
        self.state.nodes[node].status
    }
}

#[test]
fn yaml_and_json_specs_parse_to_the_same_workflow() {
    let yaml = "name: demo\nnodes:\n  - id: a\n    skill: echo\n    input: {x: 1}\n  - id: b\n    skill: echo\n    depends_on: [a]\n";
    let json = r#"{"name":"demo","nodes":[{"id":"a","skill":"echo","input":{"x":1}},{"id":"b","skill":"echo","depends_on":["a"]}]}"#;
    assert_eq!(parse(yaml, Format::Yaml), parse(json, Format::Json));
    assert_eq!(Format::guess("flow.yml"), Format::Yaml);
    assert_eq!(Format::guess("application/json"), Format::Json);
    let e = parse("name: x\nnodes: [{id: a, skil: echo}]\n", Format::Yaml).expect_err("unknown field");
    assert!(e.0.contains("unknown field `skil`"), "{e}");
}

#[test]
fn validation_names_the_node_and_what_to_fix() {
    let e = invalid("name: c\nnodes:\n  - {id: a, skill: echo, depends_on: [c]}\n  - {id: b, skill: echo, depends_on: [a]}\n  - {id: c, skill: echo, depends_on: [b]}\n");
    assert!(e.message.contains("dependency cycle a -> b -> c -> a"), "{e}");
    for n in ["a", "b", "c"] {
        assert!(e.message.contains(n), "{e}");
    }
    let e = invalid("name: u\nnodes:\n  - {id: a, skill: echo, depends_on: [nope]}\n");
    assert_eq!(e.node.as_deref(), Some("a"));
    assert!(e.message.contains("unknown node \"nope\""), "{e}");
    let e = invalid("name: s\nnodes:\n  - {id: a, skill: teleport}\n");
    assert!(e.to_string().contains("node \"a\": unknown skill \"teleport\""), "{e}");
    let e = invalid("name: s\nnodes:\n  - {id: a, skill: echo, input: {bad: 1}}\n");
    assert!(e.message.contains("additional property"), "{e}");
    // A referenced input is checked at run time, not here.
    wf("name: s\nnodes:\n  - {id: a, skill: echo, input: {bad: '${input.x}'}}\n").expect("dynamic input passes");
    let e = invalid(
        "name: s\nnodes:\n  - {id: a, skill: echo}\n  - {id: b, skill: echo, input: {v: '${steps.a.output}'}}\n",
    );
    assert!(e.message.contains("does not depend on; add it to depends_on"), "{e}");
    let e = invalid("name: s\nnodes:\n  - {id: a, skill: echo, input: {v: '${item}'}}\n");
    assert!(e.message.contains("only in a map node"), "{e}");
    let e = invalid("name: s\nnodes:\n  - {id: a, type: wait, seconds: 5, skill: echo}\n");
    assert!(e.message.contains("field `skill` does not apply to a wait node"), "{e}");
    let e = invalid("name: s\nnodes:\n  - {id: a, type: map, skill: echo, items: 'x'}\n");
    assert!(e.message.contains("items must be exactly one reference"), "{e}");
    let e = invalid("name: Bad Name\nnodes:\n  - {id: a, skill: echo}\n");
    assert!(e.message.contains("name"), "{e}");
    let e = invalid("name: s\nnodes:\n  - {id: a, skill: echo, compensate: {skill: nope}}\n");
    assert!(e.message.contains("compensate: unknown skill"), "{e}");
}

#[test]
fn a_node_needing_two_branches_of_one_choice_is_unreachable() {
    let spec = "name: r\nnodes:\n  - id: pick\n    type: choice\n    choices:\n      - {when: {var: '${input.n}', op: gt, value: 1}, next: [big]}\n    default: [small]\n  - {id: big, skill: echo}\n  - {id: small, skill: echo}\n  - {id: both, skill: echo, depends_on: [big, small]}\n";
    let e = invalid(spec);
    assert_eq!(e.node.as_deref(), Some("both"));
    assert!(e.message.contains("unreachable") && e.message.contains("\"pick\""), "{e}");
    wf(&spec.replace("depends_on: [big, small]}", "depends_on: [big, small], join: any}")).expect("join any is fine");
}

const DIAMOND: &str = r"
name: diamond
nodes:
  - {id: a, skill: echo, input: {v: 1}}
  - {id: b, skill: echo, depends_on: [a], input: {v: '${steps.a.output.v}'}}
  - {id: c, skill: echo, depends_on: [a], input: {w: 2}}
  - {id: d, skill: echo, depends_on: [b, c], input: {sum: '${steps.b.output.v}+${steps.c.output.w}'}}
output: {result: '${steps.d.output.sum}'}
";

#[test]
fn a_diamond_runs_every_node_once_and_resolves_the_output() {
    let w = wf(DIAMOND).expect("valid");
    let d = Driver::run(&w, &json!({}), |_| None);
    assert_eq!(d.state.status, ExecStatus::Succeeded);
    assert_eq!(d.log, ["echo:a", "echo:b", "echo:c", "echo:d"]);
    assert_eq!(d.state.output, Some(json!({"result": "1+2"})));
    assert_eq!(w.layers(), vec![vec![0], vec![1, 2], vec![3]]);
}

const SAGA: &str = r"
name: saga
nodes:
  - {id: reserve, skill: echo, input: {sku: '${input.sku}'}, compensate: {skill: undo, input: {sku: '${steps.reserve.output.sku}'}}}
  - {id: charge, skill: echo, depends_on: [reserve], compensate: {skill: undo}}
  - {id: audit, skill: echo, compensate: {skill: undo}}
  - {id: ship, skill: fail, depends_on: [charge], retry: {max_attempts: 1}}
  - {id: notify, skill: echo, depends_on: [ship]}
";

#[test]
fn a_failure_compensates_completed_nodes_in_reverse_order_after_independent_ones_finish() {
    let w = wf(SAGA).expect("valid");
    let d = Driver::run(&w, &json!({"sku": "x1"}), |_| None);
    assert_eq!(d.state.status, ExecStatus::Failed);
    assert_eq!(d.status("ship"), NodeStatus::Failed);
    assert_eq!(d.status("notify"), NodeStatus::UpstreamFailed);
    assert_eq!(d.status("audit"), NodeStatus::Completed);
    assert_eq!(d.state.failed_node.as_deref(), Some("ship"));
    assert_eq!(d.state.error.as_ref().map(|e| e.code), Some(ErrorCode::Http500));
    let undo: Vec<&String> = d.log.iter().filter(|l| l.ends_with("(undo)")).collect();
    // Canonical order is reserve, charge, audit, ship; compensation runs in reverse.
    assert_eq!(undo, ["undo:audit(undo)", "undo:charge(undo)", "undo:reserve(undo)"]);
    assert!(d.state.compensations.iter().all(|c| c.status == NodeStatus::Completed));
}

const CHOICE: &str = r"
name: choice
nodes:
  - {id: check, skill: echo, input: {total: '${input.total}'}}
  - id: route
    type: choice
    depends_on: [check]
    choices:
      - {name: big, when: {var: '${steps.check.output.total}', op: gte, value: 100}, next: [review]}
    default: [auto]
  - {id: review, skill: echo}
  - {id: auto, skill: echo}
  - {id: done, skill: echo, depends_on: [review, auto], join: any}
  - {id: after_review, skill: echo, depends_on: [review]}
";

#[test]
fn a_choice_skips_the_branch_not_taken_and_a_join_any_runs() {
    let w = wf(CHOICE).expect("valid");
    let d = Driver::run(&w, &json!({"total": 150}), |_| None);
    assert_eq!(d.state.status, ExecStatus::Succeeded);
    assert_eq!(d.state.nodes["route"].output, Some(json!({"branch": "big"})));
    assert_eq!((d.status("review"), d.status("auto")), (NodeStatus::Completed, NodeStatus::Skipped));
    assert_eq!((d.status("done"), d.status("after_review")), (NodeStatus::Completed, NodeStatus::Completed));
    let d = Driver::run(&w, &json!({"total": 5}), |_| None);
    assert_eq!(d.state.nodes["route"].output, Some(json!({"branch": "default"})));
    assert_eq!((d.status("review"), d.status("auto")), (NodeStatus::Skipped, NodeStatus::Completed));
    assert_eq!((d.status("done"), d.status("after_review")), (NodeStatus::Completed, NodeStatus::Skipped));
}

#[test]
fn a_map_respects_its_concurrency_and_keeps_element_order() {
    let w = wf("name: m\nnodes:\n  - {id: each, type: map, items: '${input.xs}', max_concurrency: 3, skill: echo, input: {x: '${item}', i: '${index}'}}\n").expect("valid");
    let d = Driver::run(&w, &json!({"xs": ["a", "b", "c", "d", "e", "f", "g"]}), |_| None);
    assert_eq!(d.state.status, ExecStatus::Succeeded);
    assert_eq!(d.max_in_flight, 3);
    let out = d.state.nodes["each"].output.clone().expect("output");
    assert_eq!(out[6], json!({"x": "g", "i": 6}));
    assert_eq!(out.as_array().map(Vec::len), Some(7));
    let d = Driver::run(&w, &json!({"xs": []}), |_| None);
    assert_eq!(d.state.nodes["each"].output, Some(json!([])));
    let d = Driver::run(&w, &json!({"xs": "nope"}), |_| None);
    assert_eq!(d.state.status, ExecStatus::Failed);
    assert!(d.state.error.as_ref().is_some_and(|e| e.message.contains("not an array")));
}

const APPROVAL: &str = r"
name: approval
nodes:
  - {id: prepare, skill: echo, compensate: {skill: undo}}
  - {id: ok, type: approval, depends_on: [prepare], prompt: 'Refund ${input.amount}?', timeout_s: 60, on_timeout: [escalate]}
  - {id: pay, skill: echo, depends_on: [ok]}
  - {id: escalate, skill: echo}
";

#[test]
fn approvals_approve_reject_and_time_out_into_the_escalation_path() {
    let w = wf(APPROVAL).expect("valid");
    let yes = |_: &str| Some(Decision { approved: true, decided_by: "key_1".into(), comment: Some("fine".into()) });
    let d = Driver::run(&w, &json!({"amount": 5}), yes);
    assert_eq!(d.state.status, ExecStatus::Succeeded);
    assert_eq!((d.status("pay"), d.status("escalate")), (NodeStatus::Completed, NodeStatus::Skipped));
    assert_eq!(d.state.nodes["ok"].output.as_ref().map(|o| o["decided_by"].clone()), Some(json!("key_1")));
    let no = |_: &str| Some(Decision { approved: false, decided_by: "key_2".into(), comment: None });
    let d = Driver::run(&w, &json!({"amount": 5}), no);
    assert_eq!(d.state.status, ExecStatus::Failed);
    assert_eq!(d.state.error.as_ref().map(|e| e.code), Some(ErrorCode::ApprovalRejected));
    assert_eq!(d.log.last().map(String::as_str), Some("undo:prepare(undo)"));
    let d = Driver::run(&w, &json!({"amount": 5}), |_| None);
    assert_eq!(d.state.status, ExecStatus::Succeeded);
    assert_eq!((d.status("pay"), d.status("escalate")), (NodeStatus::Skipped, NodeStatus::Completed));
    let strict = wf(&APPROVAL.replace(", on_timeout: [escalate]", "")).expect("valid");
    let d = Driver::run(&strict, &json!({"amount": 5}), |_| None);
    assert_eq!(d.state.error.as_ref().map(|e| e.code), Some(ErrorCode::ApprovalTimedOut));
}

#[test]
fn stale_and_duplicate_events_change_nothing_and_cancel_stops_everything() {
    let w = wf(DIAMOND).expect("valid");
    let input = json!({});
    let mut ids = Ids::default();
    let mut state = ExecState::new(&w);
    let mut ctx = Ctx { workflow: &w, input: &input, now_ms: 1, ids: &mut ids };
    let actions = state.apply(&mut ctx, Event::Start).expect("starts");
    let Some(Action::StartRun { slot, run_id, .. }) = actions.first().cloned() else { panic!("a run starts") };
    let ended = Event::RunEnded { slot: slot.clone(), run_id, result: Ok(json!({"v": 1})) };
    assert!(state.apply(&mut ctx, ended.clone()).is_some());
    let before = state.clone();
    assert_eq!(state.apply(&mut ctx, ended), None, "a duplicate is stale");
    let other = RunId::from_suffix("ffff").expect("valid");
    assert_eq!(state.apply(&mut ctx, Event::RunEnded { slot, run_id: other, result: Ok(json!(1)) }), None);
    assert_eq!(state.apply(&mut ctx, Event::Start), None);
    assert_eq!(state, before);
    let before = state.nodes.clone();
    let (actions, changed) = state.apply_changing(&mut ctx, Event::Cancel).expect("cancels");
    assert_eq!(actions.iter().filter(|a| matches!(a, Action::CancelRun { .. })).count(), 2);
    let unsettled: Vec<String> =
        before.iter().filter(|(_, n)| !n.status.is_settled()).map(|(id, _)| id.clone()).collect();
    assert_eq!(changed, unsettled, "a cancel changes every node still going");
    assert!(changed.len() >= 2);
    assert_eq!(state.status, ExecStatus::Cancelled);
    assert_eq!(state.apply(&mut ctx, Event::Cancel), None);
}

#[test]
fn waits_fire_at_their_time() {
    let w = wf("name: w\nnodes:\n  - {id: pause, type: wait, seconds: 30}\n  - {id: at, type: wait, until: '2026-12-01T09:00:00.5Z'}\n  - {id: then, skill: echo, depends_on: [pause, at]}\n").expect("valid");
    let d = Driver::run(&w, &json!({}), |_| None);
    assert_eq!(d.state.status, ExecStatus::Succeeded);
    assert_eq!(d.state.nodes["pause"].wake_at_ms, Some(1_030_000));
    assert_eq!(d.state.nodes["at"].wake_at_ms, Some(1_796_115_600_500));
    assert_eq!(validate::parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(validate::parse_timestamp("2026-13-01T00:00:00Z"), None);
}

#[test]
fn a_nodes_retry_policy_and_timeout_reach_its_run() {
    let w = wf("name: t\nnodes:\n  - {id: a, skill: echo, timeout_s: 7, retry: {max_attempts: 5, backoff_s: 3}}\n  - {id: b, skill: echo, depends_on: [a]}\n").expect("valid");
    let input = json!({});
    let mut ids = Ids::default();
    let mut state = ExecState::new(&w);
    let mut ctx = Ctx { workflow: &w, input: &input, now_ms: 1, ids: &mut ids };
    let actions = state.apply(&mut ctx, Event::Start).expect("starts");
    match actions.as_slice() {
        [Action::StartRun { max_attempts, backoff_ms, timeout_ms, .. }] => {
            assert_eq!((*max_attempts, *backoff_ms, *timeout_ms), (5, 3000, Some(7000)));
        }
        other => panic!("one run starts: {other:?}"),
    }
    let asl = asl::compile(&w, &asl::AslOptions { queue_url: "q".into() }).expect("compiles");
    let retry = &asl["States"]["a.start"]["Retry"][0];
    assert_eq!((retry["MaxAttempts"].clone(), retry["IntervalSeconds"].clone()), (json!(4), json!(3)));
    assert!(retry["ErrorEquals"]
        .as_array()
        .is_some_and(|e| e.contains(&json!("ERR_HTTP_503")) && e.contains(&json!("States.Timeout"))));
    assert!(
        !retry["ErrorEquals"].as_array().is_some_and(|e| e.contains(&json!("ERR_HTTP_400"))),
        "non-retryable codes fail at once"
    );
    let default = &asl["States"]["b.start"]["Retry"][0];
    assert_eq!(
        (default["MaxAttempts"].clone(), default["IntervalSeconds"].clone()),
        (json!(2), json!(1)),
        "default: 3 attempts"
    );
    assert_eq!(asl::error_name(ErrorCode::Http503, true), "ERR_HTTP_503");
    assert_eq!(asl::error_name(ErrorCode::Http503, false), asl::ERROR_NOT_RETRYABLE);
    assert_eq!(asl::error_name(ErrorCode::Http400, true), asl::ERROR_RETRYABLE);
}

#[test]
fn an_approval_level_is_1_to_5_and_only_on_approvals() {
    for bad in ["0", "6"] {
        let e = invalid(&format!("name: w\nnodes:\n  - id: ok\n    type: approval\n    level: {bad}\n"));
        assert!(e.to_string().contains("level must be 1..=5"), "{e}");
    }
    let e = invalid("name: w\nnodes:\n  - id: a\n    skill: echo\n    level: 2\n");
    assert!(e.to_string().contains("field `level` does not apply to a task node"), "{e}");
    let w = wf("name: w\nnodes:\n  - id: ok\n    type: approval\n    level: 4\n").expect("valid");
    assert_eq!(w.node(0).approval_level(), 4);
    let default = wf("name: w\nnodes:\n  - id: ok\n    type: approval\n").expect("valid");
    assert_eq!(default.node(0).approval_level(), 1);
}

/// Random graphs (each node after a random set of earlier ones, `join` all or any, one
/// node in five failing) run to their end, every event naming exactly the nodes it
/// changed and leaving no node pending that could start (the driver checks both).
#[test]
fn random_graphs_run_to_their_end_with_each_event_naming_the_nodes_it_changed() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..300 {
        let count = 2 + next(11) as usize;
        let mut yaml = String::from("name: g\nnodes:\n");
        for i in 0..count {
            let deps: Vec<String> = (0..i).filter(|_| next(3) == 0).map(|j| format!("n{j}")).collect();
            let skill = if next(5) == 0 { "fail" } else { "echo" };
            let join = if next(2) == 0 { "all" } else { "any" };
            yaml += &format!("  - {{id: n{i}, skill: {skill}, join: {join}, depends_on: [{}]}}\n", deps.join(", "));
        }
        let w = wf(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e:?}"));
        let d = Driver::run(&w, &json!({}), |_| None);
        assert!(d.state.status.is_terminal(), "{yaml}: {:?}", d.state.status);
        assert!(d.state.nodes.values().all(|n| n.status.is_settled()), "{yaml}");
    }
}
