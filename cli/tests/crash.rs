//! Crash tests of the real `aos dev` process: `kill -9` in the middle of a multi-step
//! run, and an abort right after a step's effect and before its checkpoint. All traffic
//! stays on 127.0.0.1.

mod common;

use aos_api::demo::{demo_router, Sink};
use aos_core::checkpoint::verify_chain;
use aos_core::Checkpoint;
use common::{free_port, spawn_aos, spawn_on, Api, Backend};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};

async fn start_sink() -> (SocketAddr, Sink) {
    let (router, sink) = demo_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, sink)
}

fn kill9(mut child: Child) {
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}

/// Waits (30 s at most) for `child` to die at its injected fault; how it ended.
async fn aborted(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(Instant::now() < deadline, "the process did not abort");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn chain_of(steps: &Value) -> Vec<Checkpoint> {
    let steps = steps["steps"].as_array().expect("steps");
    let done = steps.iter().filter(|s| s.get("hash").is_some());
    done.map(|s| serde_json::from_value(s.clone()).expect("a checkpoint")).collect()
}

fn effects_in_order(sink: &Sink) -> (Vec<(String, Value)>, usize) {
    let log = sink.lock().expect("sink");
    let mut seen = std::collections::BTreeSet::new();
    let mut applied = Vec::new();
    for d in &log.deliveries {
        let key = d.idempotency_key.clone().expect("every delivery carries an Idempotency-Key");
        if seen.insert(key.clone()) {
            applied.push((key, d.body.clone()));
        }
    }
    (applied, log.deliveries.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_run_loses_nothing_and_repeats_no_effect() {
    kill_9_mid_run(&Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn kill_9_of_aos_dev_on_the_aws_backend_in_the_middle_of_a_run_loses_nothing_and_repeats_no_effect() {
    kill_9_mid_run(&Backend::aws()).await;
}

async fn kill_9_mid_run(backend: &Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (sink_addr, sink) = start_sink().await;
    let port = free_port();
    let allow = sink_addr.to_string();
    let post = |n: u32| json!({"skill": "http_call", "input": {"method": "POST", "url": format!("http://{sink_addr}/demo/sink"), "body": {"n": n}}});
    let slow = json!({"skill": "http_call", "input": {"url": format!("http://{sink_addr}/demo/quote?delay_ms=300")}});
    let plan = json!({"base_seed": 7, "plan": [
        post(0), slow, post(1),
        {"skill": "json_transform", "input": {"expression": "price", "data": "${steps.s1.output.body}"}},
        slow, post(2),
        {"skill": "kv_store", "input": {"op": "put", "key": "price", "value": "${steps.s3.output.result}"}},
        slow, post(3),
        {"skill": "kv_store", "input": {"op": "get", "key": "price"}}
    ]});

    let child = spawn_on(backend, dir.path(), port, &allow, None);
    let api = Api::connect(dir.path(), port).await;
    let id = api.submit(&plan).await;
    // Kill at several points: between steps, during slow calls, right after effects.
    // Each kill waits for progress past the previous one, so no step is killed twice
    // (three kills of one step would exhaust its attempts, by design).
    let mut child = child;
    let mut done = 0;
    for (target, pause_ms) in [(1, 0), (3, 60), (5, 150), (7, 20)] {
        api.wait_until(&id, 30, |r| r["steps_done"].as_u64() >= Some(target.max(done + 1))).await;
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        kill9(child);
        child = spawn_on(backend, dir.path(), port, &allow, None);
        Api::connect(dir.path(), port).await;
        // The step in flight at the kill is the first one not done now.
        done = api.get(&format!("/v1/runs/{id}")).await["steps_done"].as_u64().expect("steps_done");
    }
    let run =
        api.wait_until(&id, 60, |r| matches!(r["status"].as_str(), Some("succeeded" | "failed" | "cancelled"))).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["steps_done"], 10);

    let steps = api.get(&format!("/v1/runs/{id}/steps")).await;
    assert_eq!(steps["chain_valid"], true, "{steps}");
    let cps = chain_of(&steps);
    assert_eq!(cps.len(), 10);
    verify_chain(run["genesis_hash"].as_str().expect("genesis"), &cps).expect("the checkpoint chain is unbroken");

    let (applied, deliveries) = effects_in_order(&sink);
    let expected: Vec<(String, Value)> = [(0, 0), (2, 1), (5, 2), (8, 3)]
        .iter()
        .map(|(step, n)| (format!("aos-{id}-{step}"), json!({"n": n})))
        .collect();
    assert_eq!(applied, expected, "each effect reached the sink exactly once, in order");
    eprintln!("sink: {} effects from {deliveries} deliveries", applied.len());
    kill9(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_between_effect_and_checkpoint_resends_with_the_same_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let (sink_addr, sink) = start_sink().await;
    let port = free_port();
    let allow = sink_addr.to_string();
    let plan = json!({"plan": [
        {"skill": "kv_store", "input": {"op": "put", "key": "k", "value": 1}},
        {"skill": "http_call", "input": {"method": "POST", "url": format!("http://{sink_addr}/demo/sink"), "body": {"paid": 10}}},
        {"skill": "kv_store", "input": {"op": "get", "key": "k"}}
    ]});
    let mut child = spawn_aos(dir.path(), port, &allow, Some(1));
    let api = Api::connect(dir.path(), port).await;
    let id = api.submit(&plan).await;
    let status = aborted(&mut child).await;
    assert!(!status.success(), "the process died at the injected fault");
    assert_eq!(sink.lock().expect("sink").deliveries.len(), 1, "the effect happened before the crash");

    let child = spawn_aos(dir.path(), port, &allow, None);
    let api = Api::connect(dir.path(), port).await;
    let run = api.wait_until(&id, 30, |r| matches!(r["status"].as_str(), Some("succeeded" | "failed"))).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let steps = api.get(&format!("/v1/runs/{id}/steps")).await;
    assert_eq!(steps["steps"][1]["attempts"], 2, "the keyed step was re-run once");
    let (applied, deliveries) = effects_in_order(&sink);
    assert_eq!(deliveries, 2, "delivered twice");
    assert_eq!(applied, vec![(format!("aos-{id}-1"), json!({"paid": 10}))], "with one key: one effect");
    kill9(child);
}

impl Api {
    async fn send(&self, path: &str, body: String, media: &str) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", media)
            .body(body)
            .send()
            .await
            .expect("post");
        r.json().await.expect("json")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_workflow_resumes_it_with_each_effect_once() {
    kill_9_mid_workflow(&Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn kill_9_of_aos_dev_on_the_aws_backend_in_the_middle_of_a_workflow_on_step_functions_repeats_no_effect() {
    kill_9_mid_workflow(&Backend::aws_with_workflows()).await;
}

/// A map of twelve effects, a slow node and a final effect; `aos dev` is killed three
/// times, each after the sink saw more effects than at the kill before (so while map
/// elements or the slow node are in flight). On AWS the execution itself lives on in
/// Step Functions while the process is dead; its tasks wait in the queue.
async fn kill_9_mid_workflow(backend: &Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (sink_addr, sink) = start_sink().await;
    let port = free_port();
    let allow = sink_addr.to_string();
    let spec = format!(
        r#"
name: crashy
nodes:
  - id: each
    type: map
    items: "${{input.xs}}"
    max_concurrency: 3
    skill: http_call
    # Three kills may all land while one element is in flight: each takeover is an
    # attempt, and this test is about resuming, not about running out of attempts.
    retry: {{max_attempts: 10}}
    input: {{method: POST, url: "http://{sink_addr}/demo/sink", body: {{n: "${{item}}"}}}}
  - id: slow
    skill: http_call
    depends_on: [each]
    input: {{url: "http://{sink_addr}/demo/quote?delay_ms=300"}}
  - id: done
    skill: http_call
    depends_on: [slow]
    input: {{method: POST, url: "http://{sink_addr}/demo/sink", body: {{n: done, count: "${{steps.each.output}}"}}}}
"#
    );
    let mut child = spawn_on(backend, dir.path(), port, &allow, None);
    let api = Api::connect(dir.path(), port).await;
    let applied = api.send("/v1/workflows", spec, "application/yaml").await;
    assert_eq!(applied["version"], 1, "{applied}");
    let xs: Vec<u32> = (0..12).collect();
    let started =
        api.send("/v1/workflows/crashy/executions", json!({"input": {"xs": xs}}).to_string(), "application/json").await;
    let id = started["id"].as_str().unwrap_or_else(|| panic!("{started}")).to_owned();
    let mut seen = 0;
    for target in [2, 6, 10] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = effects_in_order(&sink).0.len();
            // (13 effects in all: a kill after the last one still tests the resumed end.)
            if now >= target.max(seen + 1).min(13) {
                seen = now;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no progress past {seen} effects: {}",
                api.get(&format!("/v1/executions/{id}")).await
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        kill9(child);
        child = spawn_on(backend, dir.path(), port, &allow, None);
        Api::connect(dir.path(), port).await;
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    let e = loop {
        let e = api.get(&format!("/v1/executions/{id}")).await;
        if e["finished"] == true {
            break e;
        }
        assert!(Instant::now() < deadline, "execution did not finish: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(e["status"], "succeeded", "{e}");
    let each = e["nodes"].as_array().and_then(|n| n.iter().find(|n| n["id"] == "each")).expect("the map node");
    let outputs = each["output"].as_array().unwrap_or_else(|| panic!("map output: {each}"));
    assert_eq!(outputs.len(), 12);
    let (applied, deliveries) = effects_in_order(&sink);
    let mut ns: Vec<String> = applied.iter().map(|(_, b)| b["n"].to_string()).collect();
    ns.sort();
    let mut want: Vec<String> = (0..12).map(|n| n.to_string()).chain(["\"done\"".to_owned()]).collect();
    want.sort();
    assert_eq!(ns, want, "every element's effect and the final one, each exactly once");
    eprintln!("workflow sink: {} effects from {deliveries} deliveries", applied.len());
    kill9(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_during_concurrent_runs_and_an_agent_tree_loses_nothing() {
    kill_9_during_concurrent_work(&Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn kill_9_of_aos_dev_on_the_aws_backend_during_concurrent_runs_and_an_agent_tree_loses_nothing() {
    kill_9_during_concurrent_work(&Backend::aws()).await;
}

/// Four runs and a three-level agent tree at once; `aos dev` is killed three times at
/// pseudo-random moments (the seed is printed) and restarted. Everything ends succeeded,
/// every chain verifies, every effect reached the sink exactly once. On AWS a kill between
/// a child run's write and its first message is repaired by the sweep (a minute's grace,
/// every 30 s), hence the long wait.
async fn kill_9_during_concurrent_work(backend: &Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (sink_addr, sink) = start_sink().await;
    let port = free_port();
    let allow = sink_addr.to_string();
    // Each takeover after a kill is an attempt: room for them, this test is about resuming.
    let post = |tag: String| json!({"skill": "http_call", "max_attempts": 10, "input": {"method": "POST", "url": format!("http://{sink_addr}/demo/sink"), "body": {"tag": tag}}});
    let slow = json!({"skill": "http_call", "max_attempts": 10, "input": {"url": format!("http://{sink_addr}/demo/quote?delay_ms=250")}});
    let grandchild = json!({"goal": "the leaf", "agent": {"planner": {"type": "static", "steps": [post("leaf".into()), slow.clone()]}}});
    let child = json!({"goal": "the middle", "agent": {"planner": {"type": "static", "steps": [
        post("middle-0".into()),
        {"skill": "agent_invoke", "max_attempts": 10, "input": grandchild},
        post("middle-1".into())
    ]}}});
    let tree = json!({"plan": [{"skill": "agent_invoke", "max_attempts": 10, "input": child}, post("root".into())]});

    let mut child = spawn_on(backend, dir.path(), port, &allow, None);
    let api = Api::connect(dir.path(), port).await;
    let mut ids = Vec::new();
    for r in 0..4 {
        let plan = json!({"plan": [post(format!("r{r}-0")), slow.clone(), post(format!("r{r}-1")), slow.clone(), post(format!("r{r}-2"))]});
        ids.push(api.submit(&plan).await);
    }
    ids.push(api.submit(&tree).await);
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64;
    eprintln!("kill moments seeded with {seed}");
    let mut interrupted = 0;
    for _ in 0..3 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        tokio::time::sleep(Duration::from_millis(150 + (seed >> 33) % 500)).await;
        for id in &ids {
            let r = api.get(&format!("/v1/runs/{id}")).await;
            interrupted += usize::from(!matches!(r["status"].as_str(), Some("succeeded" | "failed" | "cancelled")));
        }
        kill9(child);
        child = spawn_on(backend, dir.path(), port, &allow, None);
        Api::connect(dir.path(), port).await;
    }
    assert!(interrupted > 0, "at least one kill found work in flight");
    for id in &ids {
        let run = api
            .wait_until(id, 180, |r| matches!(r["status"].as_str(), Some("succeeded" | "failed" | "cancelled")))
            .await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let steps = api.get(&format!("/v1/runs/{id}/steps")).await;
        assert_eq!(steps["chain_valid"], true, "{steps}");
        verify_chain(run["genesis_hash"].as_str().expect("genesis"), &chain_of(&steps)).expect("chain");
    }
    let (applied, deliveries) = effects_in_order(&sink);
    let mut tags: Vec<String> = applied.iter().map(|(_, b)| b["tag"].as_str().expect("tag").to_owned()).collect();
    tags.sort();
    let mut expected: Vec<String> = (0..4).flat_map(|r| (0..3).map(move |i| format!("r{r}-{i}"))).collect();
    expected.extend(["leaf", "middle-0", "middle-1", "root"].map(String::from));
    expected.sort();
    assert_eq!(tags, expected, "each effect exactly once (by its key)");
    eprintln!("sink: {} effects from {deliveries} deliveries", applied.len());
    kill9(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_a_step_waits_for_its_approval_and_right_after_the_decision_loses_neither() {
    kill_9_around_an_approval(&Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn kill_9_of_aos_dev_on_the_aws_backend_around_a_steps_approval_loses_neither() {
    kill_9_around_an_approval(&Backend::aws()).await;
}

/// A step a policy holds back waits through a `kill -9` (its request and its park
/// survive), and a decision followed at once by a `kill -9` still wakes it: the step runs
/// once, after the decision, and the run ends.
async fn kill_9_around_an_approval(backend: &Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (sink_addr, sink) = start_sink().await;
    let port = free_port();
    let allow = sink_addr.to_string();
    let post = |n: &str| json!({"skill": "http_call", "input": {"method": "POST", "url": format!("http://{sink_addr}/demo/sink"), "body": {"n": n}}});
    let mut child = spawn_on(backend, dir.path(), port, &allow, None);
    let api = Api::connect(dir.path(), port).await;
    let policy = r#"@id("hold-payments") @approval("3") @reason("payments need a level-3 approval")
        forbid (principal, action, resource == AOS::Skill::"http_call") when { context.input_text like "*payment*" };"#;
    let r = api
        .http
        .put(format!("{}/v1/policies", api.base))
        .bearer_auth(&api.key)
        .json(&json!({"text": policy}))
        .send()
        .await
        .expect("put policies");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let id = api.submit(&json!({"plan": [post("before"), post("payment"), post("after")]})).await;

    let approval = pending_approval(&api, &id).await;
    assert_eq!((approval["kind"].as_str(), approval["required_level"].as_u64()), (Some("step"), Some(3)));

    // Killed while the step waits: after the restart the request still waits, and so does the run.
    kill9(child);
    child = spawn_on(backend, dir.path(), port, &allow, None);
    Api::connect(dir.path(), port).await;
    let again = pending_approval(&api, &id).await;
    assert_eq!(again["id"], approval["id"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let run = api.get(&format!("/v1/runs/{id}")).await;
    assert_eq!((run["status"].as_str(), run["steps_done"].as_u64()), (Some("running"), Some(1)), "{run}");
    let bodies = |sink: &Sink| effects_in_order(sink).0.into_iter().map(|(_, b)| b["n"].clone()).collect::<Vec<_>>();
    assert_eq!(bodies(&sink), vec![json!("before")], "the held step has not run");

    // Approved, then killed at once: the wake-up was written with the decision.
    let path = format!("/v1/approvals/{}/decision", approval["id"].as_str().expect("id"));
    let decided =
        api.send(&path, json!({"decision": "approve", "comment": "ok"}).to_string(), "application/json").await;
    assert_eq!(decided["status"], "approved", "{decided}");
    kill9(child);
    let child = spawn_on(backend, dir.path(), port, &allow, None);
    Api::connect(dir.path(), port).await;
    let run =
        api.wait_until(&id, 60, |r| matches!(r["status"].as_str(), Some("succeeded" | "failed" | "cancelled"))).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(bodies(&sink), vec![json!("before"), json!("payment"), json!("after")], "each effect once, in order");
    let steps = api.get(&format!("/v1/runs/{id}/steps")).await;
    assert_eq!(steps["chain_valid"], true, "{steps}");
    assert_eq!(steps["steps"][1]["gate"]["decision"], "approved", "{steps}");
    assert_eq!(steps["steps"][1]["gate"]["approval"], approval["id"], "{steps}");
    kill9(child);
}

/// The pending approval of `run`'s step, once `GET /v1/approvals` lists it.
async fn pending_approval(api: &Api, run: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = api.get("/v1/approvals?status=pending").await;
        let mine = list["approvals"].as_array().and_then(|l| l.iter().find(|a| a["step"]["run_id"] == run));
        if let Some(a) = mine {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "no pending approval for {run}: {list}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_between_a_steps_reservation_and_its_settle_charges_it_once() {
    abort_between_reserve_and_settle(&Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn an_abort_of_aos_dev_on_the_aws_backend_between_reservation_and_settle_charges_it_once() {
    abort_between_reserve_and_settle(&Backend::aws()).await;
}

/// A metered tenant's three-step run; the process aborts after step 1's effect, when its
/// credits are reserved (ahead, by step 0's commit) and not settled. After the restart the
/// step runs again (a second attempt): its first reservation goes back, the run is
/// charged once per step, and the ledger balances.
async fn abort_between_reserve_and_settle(backend: &Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (sink_addr, _sink) = start_sink().await;
    let port = free_port();
    let allow = sink_addr.to_string();
    let plan = json!({"plan": [
        {"skill": "kv_store", "input": {"op": "put", "key": "k", "value": 1}},
        {"skill": "http_call", "input": {"method": "POST", "url": format!("http://{sink_addr}/demo/sink"), "body": {"paid": 10}}},
        {"skill": "kv_store", "input": {"op": "get", "key": "k"}}
    ]});
    let mut child = spawn_on(backend, dir.path(), port, &allow, Some(1));
    let api = Api::connect(dir.path(), port).await;
    let operator = std::fs::read_to_string(dir.path().join("data/operator-api-key")).expect("operator key");
    let granted = api
        .http
        .post(format!("{}/v1/credits/grants", api.base))
        .bearer_auth(operator.trim())
        .json(&json!({"tenant_id": "ten_dev", "id": "start", "amount_cents": 100}))
        .send()
        .await
        .expect("grant");
    assert_eq!(granted.status(), reqwest::StatusCode::CREATED);
    let id = api.submit(&plan).await;
    aborted(&mut child).await;
    child = spawn_on(backend, dir.path(), port, &allow, None);
    let api = Api::connect(dir.path(), port).await;
    let run = api.wait_until(&id, 30, |r| matches!(r["status"].as_str(), Some("succeeded" | "failed"))).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["spent_cents"], 3.0, "one credit per step, the re-run step once: {run}");
    let credits = api.get("/v1/credits").await;
    assert_eq!(
        (credits["available_cents"].clone(), credits["reserved_cents"].clone(), credits["spent_cents"].clone()),
        (json!(97.0), json!(0.0), json!(3.0)),
        "no lost and no double charge: {credits}"
    );
    let ledger = api.get("/v1/credits/ledger").await;
    let kinds: Vec<String> = ledger["transfers"]
        .as_array()
        .expect("transfers")
        .iter()
        .map(|t| format!("{} {}", t["kind"].as_str().unwrap_or(""), t["id"].as_str().unwrap_or("")))
        .collect();
    let count = |kind: &str| kinds.iter().filter(|k| k.starts_with(kind)).count();
    assert_eq!((count("reserve"), count("post"), count("void")), (4, 3, 1), "{kinds:?}");
    // Step 1's credits were reserved ahead, with step 0's commit (attempt 0: the step's
    // reservation, not an attempt's); the second attempt returned them and reserved its own.
    assert!(
        kinds.contains(&format!("void {id}:1:0:reserve/void")),
        "the aborted attempt's reservation went back: {kinds:?}"
    );
    assert!(kinds.contains(&format!("post {id}:1:2:reserve/post")), "the second attempt paid: {kinds:?}");
    kill9(child);
}
