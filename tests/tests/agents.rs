//! Agents: goal-driven runs decided by a scripted model (a loopback server speaking the
//! OpenAI Chat Completions format), the planner's repair loop, its step and LLM-call
//! budgets, the replay and static planners, and child runs (`agent_invoke`,
//! `agent_spawn`) with their depth, fan-out and deadline limits.

use aos_core::agent::PLAN_SKILL;
use aos_core::{Checkpoint, RunStatus};
use aos_embedded::LocalSecrets;
use aos_runtime::agent::{AgentLimits, PlannerDefaults};
use aos_runtime::llm::{LlmConfig, ProviderConfig, ProviderKind};
use aos_runtime::net::AddressPolicy;
use aos_runtime::ports::RunStore;
use aos_runtime::skills::{default_registry, LlmInvokeSkill};
use aos_runtime::worker::WorkerConfig;
use aos_tests::{rig_tenant, StepRig};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A model that answers with scripted texts in order (the last one repeats) and keeps
/// every request it got.
#[derive(Default)]
struct Model {
    requests: Vec<Value>,
    script: Vec<String>,
}

type Shared = Arc<Mutex<Model>>;

/// A scripted reply that makes the model answer 429 with `Retry-After: 1`.
const THROTTLED: &str = "<429>";

async fn complete(State(model): State<Shared>, headers: HeaderMap, Json(mut body): Json<Value>) -> Response {
    let mut m = model.lock().expect("model");
    body["_authorization"] = json!(headers.get("authorization").and_then(|v| v.to_str().ok()));
    body["_at_ms"] = json!(aos_runtime::clock::now_ms());
    m.requests.push(body);
    let text = if m.script.len() > 1 { m.script.remove(0) } else { m.script[0].clone() };
    if text == THROTTLED {
        let err = json!({"error": {"message": "slow down", "type": "rate_limit"}});
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], Json(err)).into_response();
    }
    Json(json!({
        "id": "c1", "object": "chat.completion", "model": "scripted-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
    }))
    .into_response()
}

/// The same script in the Anthropic Messages format.
async fn messages(State(model): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    let mut m = model.lock().expect("model");
    m.requests.push(body);
    let text = if m.script.len() > 1 { m.script.remove(0) } else { m.script[0].clone() };
    Json(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 50, "output_tokens": 40, "cache_read_input_tokens": 900, "cache_creation_input_tokens": 0}
    }))
}

/// Replies after a pause (a slow upstream for deadline tests).
async fn slow() -> Json<Value> {
    tokio::time::sleep(Duration::from_secs(4)).await;
    Json(json!({"ok": true}))
}

struct Rig {
    rig: StepRig,
    model: Shared,
    addr: SocketAddr,
}

fn script(replies: &[Value]) -> Vec<String> {
    replies.iter().map(|r| if let Value::String(s) = r { s.clone() } else { r.to_string() }).collect()
}

/// A rig of `workers` workers whose planner defaults to the scripted model, with
/// `kv_store`, `json_transform`, `http_call` (loopback allowed), `llm_invoke` and the agent
/// steps; `limits` bound child runs.
async fn rig(replies: &[Value], workers: usize, limits: AgentLimits) -> Rig {
    let model: Shared = Arc::new(Mutex::new(Model { requests: Vec::new(), script: script(replies) }));
    let router = Router::new()
        .route("/v1/chat/completions", post(complete))
        .route("/v1/messages", post(messages))
        .route("/slow", get(slow))
        .with_state(Arc::clone(&model));
    let addr = aos_tests::serve(router).await;
    let policy = AddressPolicy::parse_allow_list(&addr.to_string()).expect("allow");
    let mut registry = default_registry(policy.clone()).expect("registry");
    let mut llm = LlmConfig::default();
    llm.providers.insert(
        "local".into(),
        ProviderConfig::at(ProviderKind::OpenAi, format!("http://{addr}/v1"), Some("LOCAL_MODEL_KEY")),
    );
    // Anthropic at the same server, its key in the secrets file under its usual name;
    // `nokey` names a secret that does not exist.
    llm.providers.insert(
        "anthropic".into(),
        ProviderConfig::at(ProviderKind::Anthropic, format!("http://{addr}"), Some("ANTHROPIC_API_KEY")),
    );
    llm.providers.insert(
        "nokey".into(),
        ProviderConfig::at(ProviderKind::Anthropic, format!("http://{addr}"), Some("MISSING_KEY")),
    );
    llm.prices.insert("scripted".into(), aos_runtime::llm::Price { input: 100.0, output: 500.0 });
    // The provider's key lives in the secrets file (the scripted model ignores it).
    let dir = Box::leak(Box::new(tempfile::tempdir().expect("tmp")));
    let secrets = dir.path().join("secrets.json");
    std::fs::write(
        &secrets,
        json!({"LOCAL_MODEL_KEY": "sk-local-7f3e9a", "ANTHROPIC_API_KEY": "sk-ant-test"}).to_string(),
    )
    .expect("secrets");
    let skill = LlmInvokeSkill::new(llm, Arc::new(LocalSecrets::new(Some(secrets))), Arc::new(policy));
    registry.register(Arc::new(skill)).expect("llm_invoke");
    aos_runtime::agent::declare(&mut registry).expect("agent steps");
    let config = WorkerConfig {
        poll_wait: Duration::from_millis(50),
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(200),
        agents: limits,
        planner: PlannerDefaults { provider: "local".into(), model: "scripted-1".into() },
        ..WorkerConfig::default()
    };
    Rig { rig: StepRig::with_workers(Arc::new(registry), config, workers).await, model, addr }
}

impl Rig {
    fn requests(&self) -> Vec<Value> {
        self.model.lock().expect("model").requests.clone()
    }
}

fn skills_of(cps: &[Checkpoint]) -> Vec<String> {
    cps.iter().map(|c| format!("{}:{}", c.step_id, c.skill)).collect()
}

fn planner_outputs(cps: &[Checkpoint]) -> Vec<Value> {
    cps.iter().filter(|c| c.skill == PLAN_SKILL).filter_map(|c| c.outcome.output.clone()).collect()
}

fn save_city() -> Value {
    json!({"thought": "store the city first",
           "next": [{"id": "save", "skill": "kv_store", "input": {"op": "put", "key": "city", "value": "${input.city}"}},
                    {"id": "read", "skill": "kv_store", "input": {"op": "get", "key": "city"}}]})
}

fn done() -> Value {
    json!({"thought": "nothing to do", "finish": {"ok": true}})
}

fn finish() -> Value {
    json!({"thought": "done", "finish": {"stored": "${steps.read.output.value}", "ok": true}})
}

#[tokio::test]
async fn a_goal_driven_run_finishes_in_the_steps_the_model_chose() {
    let r = rig(&[save_city(), finish()], 1, AgentLimits::default()).await;
    let (run, cps) = r
        .rig
        .submit(json!({"goal": "Remember which city the user lives in.", "input": {"city": "Lisbon"},
                       "agent": {"max_steps": 5, "skills": ["kv_store", "json_transform"]}}))
        .await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(skills_of(&cps), ["plan-1:agent_plan", "save:kv_store", "read:kv_store", "plan-2:agent_plan"]);
    // The answer's references are resolved against what the steps returned.
    assert_eq!(run.output, Some(json!({"stored": "Lisbon", "ok": true})));
    assert_eq!(cps[2].outcome.output.as_ref().expect("read")["value"], json!("Lisbon"));
    // The plan grew with the decisions, and the chain of checkpoints verifies.
    assert_eq!(run.plan.len(), 4);
    aos_core::checkpoint::verify_chain(&run.genesis_hash, &cps).expect("chain verifies");
    let plans = planner_outputs(&cps);
    assert_eq!(plans[0]["decision"], "continue");
    assert_eq!((plans[0]["llm_calls"].as_u64(), plans[0]["repairs"].as_u64()), (Some(1), Some(0)));
    assert_eq!(plans[0]["thought"], "store the city first");
    assert_eq!(plans[1]["decision"], "finish");
    // Each decision was charged: 1000 input tokens at 100 c/M and 100 output at 500 c/M,
    // 0.15 c, rounded up to 1 c.
    assert!(cps.iter().filter(|c| c.skill == PLAN_SKILL).all(|c| c.outcome.cost_cents == 1));
    let reqs = r.requests();
    assert_eq!(reqs.len(), 2);
    // The stable prefix (format + allowed skills with their schemas) is the same in both
    // decisions; only the allowed skills are shown.
    let system = |req: &Value| req["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
    assert_eq!(system(&reqs[0]), system(&reqs[1]));
    assert!(system(&reqs[0]).contains("- kv_store (") && system(&reqs[0]).contains("\"op\""));
    assert!(!system(&reqs[0]).contains("- http_call ("), "only the allowed skills are offered");
    // Without a list, every skill but the agent steps is offered.
    let r = rig(&[done()], 1, AgentLimits::default()).await;
    r.rig.submit(json!({"goal": "Anything."})).await;
    let offered = system(&r.requests()[0]);
    assert!(offered.contains("- http_call (") && offered.contains("- llm_invoke ("), "{offered}");
    assert!(!offered.contains("- agent_spawn (") && !offered.contains("- agent_plan ("), "{offered}");
    assert_eq!(reqs[0]["model"], "scripted-1");
    assert_eq!(reqs[0]["temperature"], 0.0);
    // The second decision sees the goal, the input and what the steps returned.
    let situation = reqs[1]["messages"][1]["content"].as_str().expect("user message");
    assert!(situation.contains("Remember which city") && situation.contains("Lisbon"));
    assert!(situation.contains("read kv_store") && situation.contains("at most 3 more steps"), "{situation}");
    assert!(!situation.contains("budget"), "a run without a budget is told none: {situation}");
    // A run with a budget: its planner is told what is left of it.
    let r = rig(&[done()], 1, AgentLimits::default()).await;
    r.rig.submit(json!({"goal": "Anything.", "budget_cents": 50})).await;
    let situation = r.requests()[0]["messages"][1]["content"].as_str().expect("user message").to_owned();
    assert!(situation.contains("spent 0 of its budget of 50 cents: 50 cents are left"), "{situation}");
}

#[tokio::test]
async fn every_decision_sees_every_step_so_far_in_order() {
    // One worker: its later decisions read the run's earlier checkpoints from memory and
    // only the newer ones from the store; what the model is shown must not change for it.
    let put = |id: &str, v: &str| json!({"next": [{"id": id, "skill": "kv_store", "input": {"op": "put", "key": id, "value": v}}]});
    let r = rig(&[put("first", "one"), put("second", "two"), put("third", "three"), done()], 1, AgentLimits::default())
        .await;
    let (run, cps) = r.rig.submit(json!({"goal": "Store three things.", "agent": {"max_steps": 5}})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(cps.len(), 7);
    let reqs = r.requests();
    assert_eq!(reqs.len(), 4);
    for (i, req) in reqs.iter().enumerate() {
        let situation = req["messages"][1]["content"].as_str().expect("user message");
        let shown: Vec<&str> = situation
            .lines()
            .filter(|l| l.starts_with("- "))
            .map(|l| l.split(' ').nth(1).unwrap_or_default())
            .collect();
        assert_eq!(shown, ["first", "second", "third"][..i], "decision {}: {situation}", i + 1);
        assert!(situation.contains(&format!("This is decision {}.", i + 1)), "{situation}");
        assert!(situation.contains(&format!("at most {} more steps", 5 - i)), "{situation}");
    }
}

#[tokio::test]
async fn a_planner_is_not_offered_skills_the_tenants_policies_never_allow() {
    let r = rig(&[done()], 1, AgentLimits::default()).await;
    r.rig
        .apply_policies(
            r#"@id("no-http") @category("SAFETY") forbid (principal, action, resource == AOS::Skill::"http_call");
            @id("big-kv") forbid (principal, action, resource == AOS::Skill::"kv_store") when { context.input_bytes > 1000 };"#,
        )
        .await;
    let (run, _) = r.rig.submit(json!({"goal": "Anything."})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let offered = r.requests()[0]["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
    assert!(!offered.contains("- http_call ("), "a skill no step may call is not offered: {offered}");
    assert!(offered.contains("- kv_store ("), "a skill some steps may call is: {offered}");
    assert!(offered.contains("- json_transform ("), "{offered}");
}

#[tokio::test]
async fn the_planner_repairs_a_reply_that_breaks_a_skill_schema_and_the_skill_never_sees_it() {
    let bad = json!({"next": [{"id": "save", "skill": "kv_store", "input": {"op": "explode", "key": "k"}}]});
    let r = rig(&[bad, done()], 1, AgentLimits::default()).await;
    let (run, cps) = r.rig.submit(json!({"goal": "Store something.", "agent": {"skills": ["kv_store"]}})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(skills_of(&cps), ["plan-1:agent_plan"], "the malformed step never ran");
    let plan = &planner_outputs(&cps)[0];
    assert_eq!((plan["llm_calls"].as_u64(), plan["repairs"].as_u64()), (Some(2), Some(1)));
    let reqs = r.requests();
    assert_eq!(reqs.len(), 2);
    // The repair shows the model its reply and what was wrong with it.
    let msgs = reqs[1]["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 4, "system, situation, the bad reply, the repair request");
    assert_eq!(msgs[2]["role"], "assistant");
    let repair = msgs[3]["content"].as_str().expect("repair");
    assert!(repair.contains("next[0]") && repair.contains("kv_store") && repair.contains("explode"), "{repair}");
}

#[tokio::test]
async fn a_model_that_never_answers_usable_json_fails_the_run_with_a_clear_code() {
    let r = rig(&[json!("Sure! I would first look up the weather.")], 1, AgentLimits::default()).await;
    let (run, cps) = r.rig.submit(json!({"goal": "Plan a picnic."})).await;
    assert_eq!(run.status, RunStatus::Failed);
    let err = run.error.expect("error");
    assert_eq!(err.code.as_str(), "ERR_PLANNER_INVALID_PLAN");
    assert!(err.message.contains("no JSON object"), "{}", err.message);
    assert!(!err.retryable);
    assert_eq!(r.requests().len(), 3, "one answer and two repairs, then the run fails");
    assert_eq!(skills_of(&cps), ["plan-1:agent_plan"]);
}

#[tokio::test]
async fn unknown_skills_and_invalid_references_are_repaired_not_run() {
    let unknown = json!({"next": [{"skill": "shell_exec", "input": {"cmd": "rm -rf /"}}]});
    let forward = json!({"next": [{"id": "a", "skill": "json_transform",
                                   "input": {"data": "${steps.zzz.output}", "expression": "@"}}]});
    let r = rig(&[unknown, forward, done()], 1, AgentLimits::default()).await;
    let (run, cps) = r.rig.submit(json!({"goal": "Do something."})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(skills_of(&cps), ["plan-1:agent_plan"]);
    let reqs = r.requests();
    let repair = |i: usize, j: usize| reqs[i]["messages"][j]["content"].as_str().unwrap_or_default().to_owned();
    assert!(repair(1, 3).contains("unknown skill \"shell_exec\""), "{}", repair(1, 3));
    assert!(repair(2, 5).contains("not an earlier step"), "{}", repair(2, 5));
}

#[tokio::test]
async fn the_agent_loop_ends_on_its_step_limit_and_on_its_llm_call_budget() {
    // Two steps allowed; the model keeps asking for more.
    let one_more = json!({"next": [{"skill": "kv_store", "input": {"op": "get", "key": "x"}}]});
    let r = rig(std::slice::from_ref(&one_more), 1, AgentLimits::default()).await;
    let (run, cps) =
        r.rig.submit(json!({"goal": "Loop forever.", "agent": {"max_steps": 2, "max_llm_calls": 20}})).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_ref().expect("error").code.as_str(), "ERR_AGENT_STEP_LIMIT");
    assert_eq!(cps.iter().filter(|c| c.skill == "kv_store").count(), 2, "exactly max_steps skill steps ran");

    // Three model calls allowed: each decision takes one, the fourth is refused.
    let r = rig(&[one_more], 1, AgentLimits::default()).await;
    let (run, cps) =
        r.rig.submit(json!({"goal": "Loop forever.", "agent": {"max_steps": 20, "max_llm_calls": 3}})).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_ref().expect("error").code.as_str(), "ERR_AGENT_LLM_BUDGET");
    assert_eq!(r.requests().len(), 3);
    assert_eq!(cps.iter().filter(|c| c.skill == "kv_store").count(), 3);
}

#[tokio::test]
async fn the_replay_planner_re_runs_recorded_decisions_without_calling_the_model() {
    let r = rig(&[save_city(), finish()], 1, AgentLimits::default()).await;
    let (first, first_cps) = r.rig.submit(json!({"goal": "Remember the city.", "input": {"city": "Oslo"}})).await;
    assert_eq!(first.status, RunStatus::Succeeded);
    let calls = r.requests().len();
    let (replay, cps) = r
        .rig
        .submit(json!({"goal": "Remember the city.", "input": {"city": "Oslo"},
                       "agent": {"planner": {"type": "replay", "run_id": first.id}}}))
        .await;
    assert_eq!(replay.status, RunStatus::Succeeded, "{:?}", replay.error);
    assert_eq!(r.requests().len(), calls, "the model was not called");
    assert_eq!(skills_of(&cps), skills_of(&first_cps));
    assert_eq!(replay.output, first.output);
    let outputs = |c: &[Checkpoint]| -> Vec<Option<Value>> {
        c.iter().filter(|c| c.skill != PLAN_SKILL).map(|c| c.outcome.output.clone()).collect()
    };
    assert_eq!(outputs(&cps), outputs(&first_cps));
    assert_eq!(planner_outputs(&cps)[0]["planner"], "replay");
    assert_eq!(planner_outputs(&cps)[0]["steps"], planner_outputs(&first_cps)[0]["steps"]);

    // A run with fewer recorded decisions than the replay asks for fails clearly.
    let (short, _) = r
        .rig
        .submit(json!({"goal": "x", "agent": {"planner": {"type": "static", "steps": [
            {"skill": "kv_store", "input": {"op": "get", "key": "k"}}]}}}))
        .await;
    assert_eq!(short.status, RunStatus::Succeeded, "the static planner runs its steps, then finishes");
    assert_eq!(short.output, Some(json!({"found": false, "key": "k"})));
    let static_then_more =
        json!({"goal": "x", "agent": {"planner": {"type": "replay", "run_id": first.id}, "max_steps": 1}});
    let (limited, _) = r.rig.submit(static_then_more).await;
    assert_eq!(limited.error.as_ref().map(|e| e.code.as_str()), Some("ERR_AGENT_STEP_LIMIT"));
}

#[tokio::test]
async fn agent_invoke_returns_the_child_result_and_agent_spawn_waits_for_all_without_holding_a_worker() {
    // One worker: a parent that held it while waiting would never let its children run.
    let r = rig(&[json!({"finish": "hi"})], 1, AgentLimits::default()).await;
    let child =
        |v: &str| json!({"plan": [{"skill": "json_transform", "input": {"data": {"v": v}, "expression": "v"}}]});
    let (run, cps) = r
        .rig
        .submit(json!({"plan": [
            {"id": "one", "skill": "agent_invoke", "input": {"correlation_id": "solo", "plan": child("a")["plan"]}},
            {"id": "many", "skill": "agent_spawn", "input": {"tasks": [
                {"correlation_id": "x", "plan": child("x")["plan"]},
                {"correlation_id": "y", "plan": child("y")["plan"]},
                {"correlation_id": "z", "goal": "Say hi."}
            ]}},
            {"id": "pick", "skill": "json_transform", "input": {"data": "${steps.many.output}", "expression": "children[].correlation_id"}}
        ]}))
        .await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let one = cps[0].outcome.output.clone().expect("invoke output");
    assert_eq!(
        (one["status"].clone(), one["output"].clone(), one["correlation_id"].clone()),
        (json!("succeeded"), json!({"result": "a"}), json!("solo"))
    );
    let many = cps[1].outcome.output.clone().expect("spawn output");
    assert_eq!((many["succeeded"].as_u64(), many["failed"].as_u64()), (Some(3), Some(0)));
    let outs: Vec<Value> = many["children"].as_array().expect("children").iter().map(|c| c["output"].clone()).collect();
    assert_eq!(outs, [json!({"result": "x"}), json!({"result": "y"}), json!("hi")]);
    assert_eq!(run.output, Some(json!({"result": ["x", "y", "z"]})));
    // Waiting did not use up attempts: each agent step committed on its first attempt.
    assert_eq!((cps[0].attempts, cps[1].attempts), (1, 1));
    // Children know their caller.
    let child_id = aos_core::RunId::parse(one["run_id"].as_str().expect("id")).expect("run id");
    let child_run = r.rig.embedded.runs.run(&rig_tenant(), &child_id).await.expect("read").expect("child");
    let link = child_run.caller.expect("caller link");
    assert_eq!((link.run_id, link.step_index, link.depth, link.correlation_id.as_str()), (run.id, 0, 1, "solo"));
}

#[tokio::test]
async fn children_beyond_the_depth_limit_are_refused_and_the_failure_reaches_the_caller() {
    let r = rig(&[finish()], 2, AgentLimits { max_depth: 1, ..AgentLimits::default() }).await;
    let grandchild = json!({"plan": [{"skill": "kv_store", "input": {"op": "get", "key": "k"}}]});
    let (run, _) = r
        .rig
        .submit(json!({"plan": [{"skill": "agent_invoke", "input": {"plan": [
            {"skill": "agent_spawn", "input": {"tasks": [grandchild]}}
        ]}}]}))
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    let err = run.error.expect("error");
    assert_eq!(err.code.as_str(), "ERR_AGENT_CHILD_FAILED");
    assert!(err.message.contains("ERR_AGENT_DEPTH_EXCEEDED"), "{}", err.message);
    let details = err.details.expect("details");
    assert_eq!(details["error"]["code"], "ERR_AGENT_DEPTH_EXCEEDED");
    // Nothing was started at depth 2: the parent and its one child are all the runs.
    let runs = r.rig.runs.list(&rig_tenant(), aos_runtime::runs::RunQuery::default()).await.expect("list").items;
    assert_eq!(runs.len(), 2);

    // Fan-out: more children than one step may start is refused before any starts.
    let r = rig(&[finish()], 1, AgentLimits { max_fan_out: 2, ..AgentLimits::default() }).await;
    let task = json!({"plan": [{"skill": "kv_store", "input": {"op": "get", "key": "k"}}]});
    let (run, _) =
        r.rig.submit(json!({"plan": [{"skill": "agent_spawn", "input": {"tasks": [task, task, task]}}]})).await;
    assert_eq!(run.error.as_ref().map(|e| e.code.as_str()), Some("ERR_AGENT_FAN_OUT_EXCEEDED"));
    let runs = r.rig.runs.list(&rig_tenant(), aos_runtime::runs::RunQuery::default()).await.expect("list").items;
    assert_eq!(runs.len(), 1);
}

#[tokio::test]
async fn a_child_that_misses_the_deadline_is_cancelled_and_the_caller_fails_with_its_status() {
    let r = rig(&[finish()], 2, AgentLimits::default()).await;
    let url = format!("http://{}/slow", r.addr);
    let (run, cps) = r
        .rig
        .submit(json!({"plan": [{"skill": "agent_invoke", "input": {"timeout_s": 1, "plan": [
            {"skill": "http_call", "input": {"url": url, "method": "GET"}, "timeout_ms": 10000}
        ]}}]}))
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    let err = run.error.expect("error");
    assert_eq!(err.code.as_str(), "ERR_AGENT_CHILD_FAILED");
    assert!(err.message.contains("cancelled") && err.message.contains("waited 1 s"), "{}", err.message);
    assert!(cps[0].outcome.duration_ms < 3000, "the caller did not wait for the slow child");
}

#[tokio::test]
async fn a_deadline_cancels_the_late_child_s_own_children_too() {
    let r = rig(&[finish()], 2, AgentLimits::default()).await;
    let url = format!("http://{}/slow", r.addr);
    let grandchild =
        json!({"plan": [{"skill": "http_call", "input": {"url": url, "method": "GET"}, "timeout_ms": 10000}]});
    let child = json!({"plan": [{"skill": "agent_invoke", "input": {"timeout_s": 60, "plan": grandchild["plan"]}}]});
    let (run, _) = r
        .rig
        .submit(json!({"plan": [{"skill": "agent_invoke", "input": {"timeout_s": 1, "plan": child["plan"]}}]}))
        .await;
    assert_eq!(run.status, RunStatus::Failed, "{:?}", run.error);
    let all = r.rig.runs.list(&rig_tenant(), aos_runtime::runs::RunQuery::default()).await.expect("list").items;
    let by_depth =
        |d: u32| all.iter().find(|x| x.caller.as_ref().is_some_and(|c| c.depth == d)).expect("a run at that depth");
    assert_eq!(by_depth(1).status, RunStatus::Cancelled, "the late child");
    assert_eq!(by_depth(2).status, RunStatus::Cancelled, "and its own child, down the tree");
}

#[tokio::test]
async fn bad_goal_requests_are_refused_with_what_to_fix_and_nothing_is_stored() {
    let r = rig(&[finish()], 1, AgentLimits::default()).await;
    let tenant = rig_tenant();
    let refuse = |body: Value| {
        let runs = r.rig.runs.clone();
        let tenant = tenant.clone();
        async move {
            let req: aos_runtime::runs::SubmitRun = serde_json::from_value(body).expect("parses");
            match runs.submit(&tenant, req, None).await {
                Err(e) => (e.code().as_str().to_owned(), e.to_string()),
                Ok(_) => panic!("accepted"),
            }
        }
    };
    let (code, msg) = refuse(json!({"goal": "x", "plan": [{"skill": "kv_store"}]})).await;
    assert_eq!(code, "ERR_INVALID_PLAN");
    assert!(msg.contains("either `plan`"), "{msg}");
    let (code, msg) = refuse(json!({"goal": "x", "agent": {"max_steps": 0}})).await;
    assert_eq!((code.as_str(), msg.contains("max_steps")), ("ERR_VALIDATION_FAILED", true));
    let (code, msg) = refuse(json!({"goal": "x", "agent": {"skills": ["teleport"]}})).await;
    assert_eq!((code.as_str(), msg.contains("agent.skills[0]")), ("ERR_SKILL_NOT_FOUND", true));
    let (code, _) = refuse(json!({"plan": [{"skill": "agent_plan", "input": {"goal": "x"}}]})).await;
    assert_eq!(code, "ERR_INVALID_PLAN");
    let runs = r.rig.runs.list(&tenant, aos_runtime::runs::RunQuery::default()).await.expect("list").items;
    assert!(runs.is_empty());
}

/// Collects everything the process logs (all levels) while a test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn goals_prompts_replies_and_keys_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // This test's runtime is single-threaded: the workers log on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let bad = json!({"thought": "REPLY-MARKER-5521", "next": [{"skill": "kv_store", "input": {"op": "explode", "key": "k"}}]});
    let r = rig(&[bad, save_city(), finish()], 1, AgentLimits::default()).await;
    let (run, _) = r
        .rig
        .submit(json!({"goal": "GOAL-MARKER-8812: remember the city.", "input": {"city": "INPUT-MARKER-3307"}}))
        .await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(r.requests()[0]["_authorization"], "Bearer sk-local-7f3e9a", "the key reached the provider");
    let logs = String::from_utf8(captured.0.lock().expect("log").clone()).expect("utf-8");
    assert!(logs.contains("step committed") && logs.contains("asking for a repair"), "logs were captured");
    for secret in
        ["GOAL-MARKER-8812", "INPUT-MARKER-3307", "REPLY-MARKER-5521", "sk-local-7f3e9a", "You are the planner"]
    {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}

#[tokio::test]
async fn cancelling_an_agent_cancels_the_children_it_waits_for() {
    let r = rig(&[done()], 2, AgentLimits::default()).await;
    let url = format!("http://{}/slow", r.addr);
    let slow = json!({"plan": [{"skill": "http_call", "input": {"url": url, "method": "GET"}, "timeout_ms": 10000}]});
    let tenant = rig_tenant();
    let req: aos_runtime::runs::SubmitRun = serde_json::from_value(json!({"plan": [
        {"skill": "agent_spawn", "input": {"tasks": [slow.clone(), slow]}}
    ]}))
    .expect("body");
    let id = r.rig.runs.submit(&tenant, req, None).await.expect("submitted").run.id;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let worker = r.rig.worker();
    let task = tokio::spawn(worker.run_loop(rx));
    // Wait until both children exist, then cancel the caller.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let children = loop {
        let all = r.rig.runs.list(&tenant, aos_runtime::runs::RunQuery::default()).await.expect("list").items;
        let kids: Vec<_> = all.into_iter().filter(|x| x.caller.is_some()).collect();
        if kids.len() == 2 {
            break kids;
        }
        assert!(std::time::Instant::now() < deadline, "children were not started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    r.rig.runs.cancel(&tenant, &id, &aos_core::audit::Actor::key("key_test", "admin")).await.expect("cancelled");
    for child in children {
        let now = r.rig.runs.get(&tenant, &child.id).await.expect("child");
        assert_eq!(now.status, RunStatus::Cancelled, "child {} was left running", child.id);
    }
    let _ = stop.send(true);
    let _ = task.await;
}

#[tokio::test]
async fn a_throttled_planner_step_is_retried_after_the_providers_retry_after() {
    let r = rig(&[json!(THROTTLED), done()], 1, AgentLimits::default()).await;
    let (run, cps) = r.rig.submit(json!({"goal": "Wait politely."})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(cps[0].attempts, 2, "the 429 was retried by the step loop");
    let reqs = r.requests();
    let gap = reqs[1]["_at_ms"].as_u64().unwrap_or(0).saturating_sub(reqs[0]["_at_ms"].as_u64().unwrap_or(0));
    assert!(gap >= 900, "the retry waited for Retry-After: 1 (came after {gap} ms)");
    // The throttled call counts against the agent's budget of model calls.
    assert_eq!(planner_outputs(&cps)[0]["llm_calls"], 2);
}

#[tokio::test]
async fn an_anthropic_planner_marks_its_stable_prefix_for_prompt_caching_and_a_missing_key_is_named() {
    let r = rig(&[save_city(), finish()], 1, AgentLimits::default()).await;
    let (run, cps) = r
        .rig
        .submit(json!({"goal": "Remember the city.", "input": {"city": "Turin"},
                       "agent": {"planner": {"type": "llm", "provider": "anthropic", "model": "claude-sonnet-4-5"}}}))
        .await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let reqs = r.requests();
    assert_eq!(reqs.len(), 2);
    for req in &reqs {
        assert_eq!(req["system"][0]["cache_control"], json!({"type": "ephemeral"}), "the prefix is cached");
    }
    assert_eq!(reqs[0]["system"], reqs[1]["system"], "the cached prefix is the same in every decision");
    assert_eq!(planner_outputs(&cps)[0]["usage"]["cache_read_tokens"], 900);

    let r = rig(&[done()], 1, AgentLimits::default()).await;
    let (run, _) = r
        .rig
        .submit(json!({"goal": "x", "agent": {"planner": {"type": "llm", "provider": "nokey", "model": "m"}}}))
        .await;
    let err = run.error.expect("error");
    assert_eq!(err.code.as_str(), "ERR_SECRET_NOT_FOUND");
    assert!(err.message.contains("MISSING_KEY"), "{}", err.message);
    assert!(r.requests().is_empty(), "nothing was sent without the key");
}
