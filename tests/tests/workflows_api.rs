//! Workflows on the embedded executor, through the HTTP API: apply (versions), start
//! (idempotent), per-node state, compensation, approvals, maps, waits, cancel, and the
//! refusals of bad input.

use aos_tests::{Resp, TestStack};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn apply(stack: &TestStack, body: &str, media: &str) -> Resp {
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/v1/workflows", stack.stack.url()))
        .bearer_auth(stack.key())
        .header("content-type", media)
        .body(body.to_owned())
        .send()
        .await
        .expect("request reaches the stack");
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    Resp { status, body }
}

async fn apply_ok(stack: &TestStack, yaml: &str) -> Value {
    let r = apply(stack, yaml, "application/yaml").await;
    assert!(r.status.is_success(), "apply refused: {}", r.body);
    r.body
}

async fn start(stack: &TestStack, name: &str, body: &Value) -> String {
    let r = stack
        .call(Method::POST, &format!("/v1/workflows/{name}/executions"), Some(&stack.key()), Some(body), &[])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "start refused: {}", r.body);
    r.body["id"].as_str().expect("execution id").to_owned()
}

async fn wait_until(stack: &TestStack, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = stack.get(&format!("/v1/executions/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        if done(&r.body) {
            return r.body;
        }
        assert!(Instant::now() < deadline, "execution {id} did not get there: {}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn finish(stack: &TestStack, id: &str) -> Value {
    wait_until(stack, id, |e| e["finished"] == true).await
}

fn node<'a>(execution: &'a Value, id: &str) -> &'a Value {
    execution["nodes"].as_array().and_then(|n| n.iter().find(|n| n["id"] == id)).expect("node in the view")
}

fn base(stack: &TestStack) -> String {
    stack.stack.url()
}

const DIAMOND: &str = r#"
name: diamond
nodes:
  - id: fetch
    skill: http_call
    input: {method: GET, url: "${input.base}/demo/quote?symbol=${input.symbol}"}
  - id: best
    skill: json_transform
    depends_on: [fetch]
    input: {expression: "max_by(quotes, &price)", data: "${steps.fetch.output.body}"}
  - id: worst
    skill: json_transform
    depends_on: [fetch]
    input: {expression: "min_by(quotes, &price)", data: "${steps.fetch.output.body}"}
  - id: spread
    skill: json_transform
    depends_on: [best, worst]
    input: {expression: "[hi.price, lo.price]", data: {hi: "${steps.best.output.result}", lo: "${steps.worst.output.result}"}}
output: {prices: "${steps.spread.output.result}", venue: "${steps.best.output.result.venue}"}
"#;

#[tokio::test]
async fn a_diamond_workflow_runs_on_the_embedded_executor_with_per_node_state() {
    let stack = TestStack::start("").await;
    let w = apply_ok(&stack, DIAMOND).await;
    assert_eq!(w["version"], 1);
    let id = start(&stack, "diamond", &json!({"input": {"base": base(&stack), "symbol": "AOS"}})).await;
    let e = finish(&stack, &id).await;
    assert_eq!(e["status"], "succeeded", "{e}");
    assert_eq!(e["output"]["venue"], "south", "{e}");
    let prices = e["output"]["prices"].as_array().expect("prices");
    assert_eq!(prices.len(), 2);
    assert!(prices[0].as_f64() > prices[1].as_f64(), "{e}");
    for id in ["fetch", "best", "worst", "spread"] {
        let n = node(&e, id);
        assert_eq!(n["status"], "completed", "{n}");
        assert!(n["started_at_ms"].as_u64() <= n["ended_at_ms"].as_u64(), "{n}");
        // Every node ran as a run of the step pipeline, with its checkpoint chain.
        let run_id = n["run_id"].as_str().expect("run id");
        let steps = stack.steps(run_id).await;
        assert_eq!(steps["chain_valid"], true, "{steps}");
    }
    let fetch_end = node(&e, "fetch")["ended_at_ms"].as_u64();
    assert!(node(&e, "best")["started_at_ms"].as_u64() >= fetch_end, "dependencies run first: {e}");
    stack.stop().await;
}

#[tokio::test]
async fn specs_are_versioned_and_executions_stay_pinned() {
    let stack = TestStack::start("").await;
    let v1 = "name: pinned\nnodes:\n  - {id: a, skill: json_transform, input: {expression: '`1`', data: {}}}\n";
    assert_eq!(apply(&stack, v1, "application/yaml").await.status, StatusCode::CREATED);
    let again = apply(&stack, v1, "application/x-yaml").await;
    assert_eq!((again.status, again.body["version"].clone()), (StatusCode::OK, json!(1)), "same spec, same version");
    let v2 = v1.replace("'`1`'", "'`2`'");
    let r = apply(&stack, &v2, "application/yaml").await;
    assert_eq!((r.status, r.body["version"].clone()), (StatusCode::CREATED, json!(2)));
    let json_spec = serde_json::to_string(&r.body["spec"]).expect("json");
    let r = apply(&stack, &json_spec, "application/json").await;
    assert_eq!((r.status, r.body["version"].clone()), (StatusCode::OK, json!(2)), "JSON of the same spec: {}", r.body);

    let old = start(&stack, "pinned", &json!({"version": 1})).await;
    let new = start(&stack, "pinned", &json!({})).await;
    let (old, new) = (finish(&stack, &old).await, finish(&stack, &new).await);
    assert_eq!((old["version"].clone(), old["output"]["a"]["result"].clone()), (json!(1), json!(1)), "{old}");
    assert_eq!((new["version"].clone(), new["output"]["a"]["result"].clone()), (json!(2), json!(2)), "{new}");
    assert_eq!(
        stack.get("/v1/workflows/pinned?version=1").await.body["spec"]["nodes"][0]["input"]["expression"],
        "`1`"
    );

    let r = stack
        .call(Method::POST, "/v1/workflows/pinned/executions", Some(&stack.key()), Some(&json!({"version": 9})), &[])
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "ERR_NOT_FOUND"), "{}", r.body);
    let r = stack.call(Method::POST, "/v1/workflows/nope/executions", Some(&stack.key()), Some(&json!({})), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    stack.stop().await;
}

#[tokio::test]
async fn invalid_specs_are_refused_with_the_code_and_the_node_and_nothing_is_stored() {
    let stack = TestStack::start("").await;
    let cases = [
        ("name: bad\nnodes:\n  - {id: a, skill: json_transform, depends_on: [b]}\n  - {id: b, skill: json_transform, depends_on: [a]}\n", "ERR_INVALID_WORKFLOW", Some("a"), "dependency cycle a -> b -> a"),
        ("name: bad\nnodes:\n  - {id: a, skill: teleport}\n", "ERR_INVALID_WORKFLOW", Some("a"), "unknown skill \"teleport\""),
        ("name: bad\nnodes:\n  - {id: a, skill: json_transform, depends_on: [ghost]}\n", "ERR_INVALID_WORKFLOW", Some("a"), "unknown node \"ghost\""),
        ("name: bad\nnodes:\n  - {id: a, skill: json_transform, input: {expression: 5}}\n", "ERR_INVALID_WORKFLOW", Some("a"), "input of json_transform"),
        ("name: bad\nnodes:\n  - id: c\n    type: choice\n    choices: [{when: {var: '${input.x}', op: eq, value: 1}, next: [a]}]\n    default: [b]\n  - {id: a, type: wait, seconds: 1}\n  - {id: b, type: wait, seconds: 1}\n  - {id: j, type: wait, seconds: 1, depends_on: [a, b]}\n", "ERR_INVALID_WORKFLOW", Some("j"), "unreachable"),
        ("name: bad\nnodes: [{id: a, skil: http_call}]\n", "ERR_MALFORMED_REQUEST", None, "unknown field `skil`"),
        ("name: bad\nnodes: [", "ERR_MALFORMED_REQUEST", None, "YAML"),
    ];
    for (yaml, code, node, words) in cases {
        let r = apply(&stack, yaml, "application/yaml").await;
        let want =
            if code == "ERR_MALFORMED_REQUEST" { StatusCode::BAD_REQUEST } else { StatusCode::UNPROCESSABLE_ENTITY };
        assert_eq!(r.status, want, "{}", r.body);
        assert_eq!(r.code(), code, "{}", r.body);
        assert_eq!(r.body["error"]["node"].as_str(), node, "{}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap_or("").contains(words), "{words:?} in {}", r.body);
    }
    let r = apply(&stack, "name: x", "text/plain").await;
    assert_eq!((r.status, r.code()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "ERR_UNSUPPORTED_MEDIA_TYPE"));
    assert_eq!(stack.get("/v1/workflows/bad").await.status, StatusCode::NOT_FOUND, "nothing stored");
    stack.stop().await;
}

const SAGA: &str = r#"
name: saga
nodes:
  - id: reserve
    skill: http_call
    input: {method: POST, url: "${input.base}/demo/sink", body: {do: reserve}}
    compensate: {skill: http_call, input: {method: POST, url: "${input.base}/demo/sink", body: {undo: reserve, status: "${steps.reserve.output.status}"}}}
  - id: charge
    skill: http_call
    depends_on: [reserve]
    input: {method: POST, url: "${input.base}/demo/sink", body: {do: charge}}
    compensate: {skill: http_call, input: {method: POST, url: "${input.base}/demo/sink", body: {undo: charge}}}
  - id: audit
    skill: http_call
    input: {method: POST, url: "${input.base}/demo/sink", body: {do: audit}}
    compensate: {skill: http_call, input: {method: POST, url: "${input.base}/demo/sink", body: {undo: audit}}}
  - id: ship
    skill: http_call
    depends_on: [charge]
    retry: {max_attempts: 2, backoff_s: 1}
    input: {method: POST, url: "${input.base}/demo/fail?status=${input.ship_status}"}
  - id: notify
    skill: http_call
    depends_on: [ship]
    input: {method: POST, url: "${input.base}/demo/sink", body: {do: notify}}
"#;

#[tokio::test]
async fn a_failing_node_compensates_the_completed_ones_in_reverse_order() {
    let stack = TestStack::start("").await;
    apply_ok(&stack, SAGA).await;
    let id = start(&stack, "saga", &json!({"input": {"base": base(&stack), "ship_status": 400}})).await;
    let e = finish(&stack, &id).await;
    assert_eq!(e["status"], "failed", "{e}");
    assert_eq!(e["failed_node"], "ship");
    assert_eq!(e["error"]["code"], "ERR_HTTP_400");
    assert_eq!(node(&e, "notify")["status"], "upstream_failed");
    assert_eq!(node(&e, "audit")["status"], "completed", "independent nodes finish");
    let order: Vec<&str> =
        e["compensations"].as_array().expect("list").iter().filter_map(|c| c["node"].as_str()).collect();
    assert_eq!(order, ["audit", "charge", "reserve"], "{e}");
    assert!(e["compensations"].as_array().expect("list").iter().all(|c| c["status"] == "completed"), "{e}");
    // The sink saw the compensations, in that order, after the work.
    let sink = stack.get("/demo/sink").await.body;
    let undos: Vec<&str> =
        sink["bodies"].as_array().expect("bodies").iter().filter_map(|b| b["undo"].as_str()).collect();
    assert_eq!(undos, ["audit", "charge", "reserve"], "{sink}");
    let reserve_undo =
        sink["bodies"].as_array().expect("bodies").iter().find(|b| b["undo"] == "reserve").expect("undo");
    assert_eq!(reserve_undo["status"], 200, "compensation input sees the node's own output");
    stack.stop().await;
}

const APPROVAL: &str = r#"
name: refund
nodes:
  - id: prepare
    skill: http_call
    input: {method: POST, url: "${input.base}/demo/sink", body: {do: prepare}}
    compensate: {skill: http_call, input: {method: POST, url: "${input.base}/demo/sink", body: {undo: prepare}}}
  - id: approve
    type: approval
    depends_on: [prepare]
    prompt: "Refund ${input.amount} USD?"
    timeout_s: 2
    on_timeout: [escalate]
  - id: pay
    skill: http_call
    depends_on: [approve]
    input: {method: POST, url: "${input.base}/demo/sink", body: {do: pay}}
  - id: escalate
    skill: http_call
    input: {method: POST, url: "${input.base}/demo/sink", body: {do: escalate}}
"#;

async fn pending_approval(stack: &TestStack, execution: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = stack.get("/v1/approvals?status=pending").await.body;
        if let Some(a) = list["approvals"].as_array().and_then(|l| l.iter().find(|a| a["execution_id"] == execution)) {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "no pending approval: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn approvals_are_decided_once_by_their_tenant_and_time_out_into_escalation() {
    let stack = TestStack::start("").await;
    apply_ok(&stack, &APPROVAL.replace("timeout_s: 2", "timeout_s: 600")).await;
    let input = json!({"input": {"base": base(&stack), "amount": 40}});

    // Approved: the decider's key id is recorded, the rest runs.
    let id = start(&stack, "refund", &input).await;
    let a = pending_approval(&stack, &id).await;
    assert_eq!(a["prompt"], "Refund 40 USD?");
    assert_eq!(a["node"], "approve");
    let op = stack.operator_key();
    let other = stack.call(Method::POST, "/v1/tenants", Some(&op), Some(&json!({"name": "other"})), &[]).await;
    let other_key = other.body["api_key"]["key"].as_str().expect("key").to_owned();
    let path = format!("/v1/approvals/{}/decision", a["id"].as_str().expect("id"));
    let r = stack.call(Method::POST, &path, Some(&other_key), Some(&json!({"decision": "approve"})), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another tenant's approval: {}", r.body);
    let r = stack.call(Method::POST, &path, Some(&stack.key()), Some(&json!({"decision": "maybe"})), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"));
    let r = stack
        .call(Method::POST, &path, Some(&stack.key()), Some(&json!({"decision": "approve", "comment": "ok"})), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let me = stack.get("/v1/api-keys").await.body["api_keys"][0]["id"].clone();
    assert_eq!((r.body["status"].clone(), r.body["decided_by"].clone()), (json!("approved"), me));
    let again = stack
        .call(Method::POST, &path, Some(&stack.key()), Some(&json!({"decision": "approve", "comment": "ok"})), &[])
        .await;
    assert_eq!(
        (again.status, again.body["status"].clone()),
        (StatusCode::OK, json!("approved")),
        "a repeat is answered alike"
    );
    let r = stack.call(Method::POST, &path, Some(&stack.key()), Some(&json!({"decision": "reject"})), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "ERR_APPROVAL_NOT_PENDING"), "{}", r.body);
    let e = finish(&stack, &id).await;
    assert_eq!(e["status"], "succeeded", "{e}");
    assert_eq!(
        (node(&e, "pay")["status"].clone(), node(&e, "escalate")["status"].clone()),
        (json!("completed"), json!("skipped"))
    );
    assert_eq!(node(&e, "approve")["output"]["comment"], "ok");

    // Rejected: the workflow fails and the prepared node is compensated.
    let id = start(&stack, "refund", &input).await;
    let a = pending_approval(&stack, &id).await;
    let path = format!("/v1/approvals/{}/decision", a["id"].as_str().expect("id"));
    let r = stack
        .call(Method::POST, &path, Some(&stack.key()), Some(&json!({"decision": "reject", "comment": "no"})), &[])
        .await;
    assert_eq!(r.body["status"], "rejected", "{}", r.body);
    let e = finish(&stack, &id).await;
    assert_eq!(
        (e["status"].clone(), e["error"]["code"].clone()),
        (json!("failed"), json!("ERR_APPROVAL_REJECTED")),
        "{e}"
    );
    assert_eq!(e["compensations"][0]["node"], "prepare");
    stack.stop().await;

    // Timed out: the escalation path runs and the approval is expired.
    let stack = TestStack::start("").await;
    apply_ok(&stack, APPROVAL).await;
    let input = json!({"input": {"base": base(&stack), "amount": 40}});
    let id = start(&stack, "refund", &input).await;
    let a = pending_approval(&stack, &id).await;
    let e = finish(&stack, &id).await;
    assert_eq!(e["status"], "succeeded", "{e}");
    assert_eq!(node(&e, "approve")["output"]["decision"], "timed_out");
    assert_eq!(
        (node(&e, "pay")["status"].clone(), node(&e, "escalate")["status"].clone()),
        (json!("skipped"), json!("completed"))
    );
    let list = stack.get("/v1/approvals?status=expired").await.body;
    assert_eq!(list["approvals"][0]["id"], a["id"], "{list}");
    assert_eq!(list["approvals"][0]["prompt"], "Refund 40 USD?", "closing keeps the prompt");
    let path = format!("/v1/approvals/{}/decision", a["id"].as_str().expect("id"));
    let r = stack.call(Method::POST, &path, Some(&stack.key()), Some(&json!({"decision": "approve"})), &[]).await;
    assert_eq!(r.code(), "ERR_APPROVAL_NOT_PENDING");
    let r = stack.get("/v1/approvals?status=bogus").await;
    assert_eq!(r.code(), "ERR_VALIDATION_FAILED");
    stack.stop().await;
}

#[tokio::test]
async fn maps_waits_choices_idempotent_starts_and_cancel() {
    let stack = TestStack::start("").await;
    apply_ok(
        &stack,
        r#"
name: fan
nodes:
  - id: each
    type: map
    items: "${input.symbols}"
    max_concurrency: 4
    skill: json_transform
    input: {expression: "join('-', [s, to_string(i)])", data: {s: "${item}", i: "${index}"}}
  - id: pause
    type: wait
    seconds: 1
    depends_on: [each]
  - id: route
    type: choice
    depends_on: [pause]
    choices:
      - {name: many, when: {var: "${steps.each.output.11.result}", op: exists, value: true}, next: [big]}
    default: [small]
  - {id: big, skill: json_transform, input: {expression: "`true`", data: {}}}
  - {id: small, skill: json_transform, input: {expression: "`false`", data: {}}}
"#,
    )
    .await;
    let symbols: Vec<String> = (0..12).map(|i| format!("S{i}")).collect();
    let body = json!({"input": {"symbols": symbols}});
    let key = [("idempotency-key", "fan-1")];
    let first = stack.call(Method::POST, "/v1/workflows/fan/executions", Some(&stack.key()), Some(&body), &key).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = stack.call(Method::POST, "/v1/workflows/fan/executions", Some(&stack.key()), Some(&body), &key).await;
    assert_eq!((again.status, again.body["id"].clone()), (StatusCode::OK, first.body["id"].clone()));
    let other = json!({"input": {"symbols": ["x"]}});
    let clash = stack.call(Method::POST, "/v1/workflows/fan/executions", Some(&stack.key()), Some(&other), &key).await;
    assert_eq!((clash.status, clash.code()), (StatusCode::CONFLICT, "ERR_IDEMPOTENCY_CONFLICT"));
    let id = first.body["id"].as_str().expect("id").to_owned();
    let e = finish(&stack, &id).await;
    assert_eq!(e["status"], "succeeded", "{e}");
    let out = node(&e, "each")["output"].as_array().expect("array").clone();
    assert_eq!(out.len(), 12);
    assert_eq!(out[11]["result"], "S11-11", "element order is kept: {e}");
    assert_eq!(node(&e, "each")["items"]["completed"], 12);
    let pause = node(&e, "pause");
    assert!(pause["duration_ms"].as_u64().unwrap_or(0) >= 1000, "{pause}");
    assert_eq!(node(&e, "route")["output"]["branch"], "many");
    assert_eq!(
        (node(&e, "big")["status"].clone(), node(&e, "small")["status"].clone()),
        (json!("completed"), json!("skipped"))
    );

    // Cancel: a waiting execution stops; a second cancel is refused.
    apply_ok(&stack, "name: slow\nnodes:\n  - {id: nap, type: wait, seconds: 3600}\n  - {id: after, skill: json_transform, depends_on: [nap], input: {expression: '`1`', data: {}}}\n").await;
    let id = start(&stack, "slow", &json!({})).await;
    wait_until(&stack, &id, |e| node(e, "nap")["status"] == "waiting").await;
    let r = stack.call(Method::POST, &format!("/v1/executions/{id}/cancel"), Some(&stack.key()), None, &[]).await;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::OK, json!("cancelled")), "{}", r.body);
    assert_eq!(node(&r.body, "after")["status"], "cancelled");
    let r = stack.call(Method::POST, &format!("/v1/executions/{id}/cancel"), Some(&stack.key()), None, &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "ERR_ILLEGAL_TRANSITION"));
    let r = stack.get("/v1/executions/exe_0000").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    stack.stop().await;
}

#[tokio::test]
async fn cancelling_a_node_s_run_ends_its_execution_instead_of_leaving_it_running() {
    let slow = aos_tests::serve(axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "late"
        }),
    ))
    .await;
    let stack = TestStack::start(&slow.to_string()).await;
    apply_ok(
        &stack,
        "name: held\nnodes:\n  - {id: call, skill: http_call, input: {url: '${input.url}'}}\n  - {id: after, skill: json_transform, depends_on: [call], input: {expression: '`1`', data: {}}}\n",
    )
    .await;
    let id = start(&stack, "held", &json!({"input": {"url": format!("http://{slow}/slow")}})).await;
    let running = wait_until(&stack, &id, |e| node(e, "call")["run_id"].is_string()).await;
    let run = node(&running, "call")["run_id"].as_str().expect("run id").to_owned();
    let r = stack.call(Method::POST, &format!("/v1/runs/{run}/cancel"), Some(&stack.key()), None, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The execution hears of its node's end: it does not wait for a run that will never end.
    let e = finish(&stack, &id).await;
    assert_eq!(e["status"], "failed", "{e}");
    assert_eq!(node(&e, "call")["status"], "failed", "{e}");
    assert_eq!(node(&e, "call")["error"]["code"], "ERR_RUN_CANCELLED", "{e}");
    assert_eq!(node(&e, "after")["status"], "upstream_failed", "{e}");
    stack.stop().await;
}

#[tokio::test]
async fn an_ended_execution_and_its_node_runs_go_at_the_end_of_the_tenants_retention() {
    let stack = TestStack::start("").await;
    apply_ok(&stack, DIAMOND).await;
    let id = start(&stack, "diamond", &json!({"input": {"base": base(&stack), "symbol": "AOS"}})).await;
    let e = finish(&stack, &id).await;
    let fetch_run = node(&e, "fetch")["run_id"].as_str().expect("run id").to_owned();
    let tenant = stack.get("/v1/api-keys").await.body["api_keys"][0]["tenant_id"].as_str().expect("tenant").to_owned();
    let tenant = aos_core::TenantId::parse(tenant).expect("tenant id");
    let a = &stack.stack.adapters;
    let reaper = aos_runtime::retention::Reaper::new(a.tenants.clone(), a.runs.clone()).with_records(
        a.workflows.clone(),
        a.kv.clone(),
        a.breakers.clone(),
    );
    let now = aos_runtime::clock::now_ms();
    let kept = reaper.reap(now + 29 * 86_400_000).await.expect("reap");
    assert_eq!((kept.runs, kept.workflow_records), (0, 0), "within the default 30 days nothing goes");
    assert_eq!(stack.get(&format!("/v1/executions/{id}")).await.status, StatusCode::OK);
    let gone = reaper.reap(now + 31 * 86_400_000).await.expect("reap");
    assert_eq!((gone.runs, gone.workflow_records), (4, 1), "the four node runs and the execution");
    assert_eq!(stack.get(&format!("/v1/executions/{id}")).await.status, StatusCode::NOT_FOUND);
    // A change of it finds it gone too (not the state the store kept of its last write).
    let r = stack.call(Method::POST, &format!("/v1/executions/{id}/cancel"), Some(&stack.key()), None, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(stack.get(&format!("/v1/runs/{fetch_run}")).await.status, StatusCode::NOT_FOUND);
    assert!(a.runs.run(&tenant, &aos_core::RunId::parse(&fetch_run).expect("id")).await.expect("read").is_none());
    stack.stop().await;
}

const WIDE: &str = r#"
name: wide
nodes:
  - {id: a, skill: http_call, input: {method: GET, url: "${input.base}/part?n=0"}}
  - {id: b, skill: http_call, input: {method: GET, url: "${input.base}/part?n=1"}}
  - {id: c, skill: http_call, input: {method: GET, url: "${input.base}/part?n=2"}}
  - {id: d, skill: http_call, input: {method: GET, url: "${input.base}/part?n=3"}}
  - id: sizes
    skill: json_transform
    depends_on: [a, b, c, d]
    input:
      expression: "[length(a.text), length(b.text), length(c.text), length(d.text)]"
      data: {a: "${steps.a.output.body}", b: "${steps.b.output.body}", c: "${steps.c.output.body}", d: "${steps.d.output.body}"}
output: {sizes: "${steps.sizes.output.result}", last: "${steps.d.output.body}"}
"#;

#[tokio::test]
async fn node_outputs_adding_up_to_1_mib_flow_through_a_workflow_whole() {
    const PART: usize = 256 * 1024;
    async fn part(
        axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    ) -> axum::Json<Value> {
        let n: u8 = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(0);
        axum::Json(json!({"n": n, "text": String::from(char::from(b'a' + n)).repeat(PART)}))
    }
    let upstream = aos_tests::serve(axum::Router::new().route("/part", axum::routing::get(part))).await;
    let stack = TestStack::start(&upstream.to_string()).await;
    apply_ok(&stack, WIDE).await;
    let id = start(&stack, "wide", &json!({"input": {"base": format!("http://{upstream}")}})).await;
    let e = finish(&stack, &id).await;
    assert_eq!(e["status"], "succeeded", "{e}");
    assert_eq!(e["output"]["sizes"], json!([PART, PART, PART, PART]), "every node read its upstreams whole");
    assert_eq!(e["output"]["last"]["text"].as_str().map(str::len), Some(PART));
    for n in ["a", "b", "c", "d"] {
        let run = node(&e, n)["run_id"].as_str().expect("run id").to_owned();
        let steps = stack.steps(&run).await;
        assert_eq!(steps["chain_valid"], true);
        let text = steps["steps"][0]["outcome"]["output"]["body"]["text"].as_str().map(str::len);
        assert_eq!(text, Some(PART), "node {n}'s checkpoint holds its whole output");
    }
    stack.stop().await;
}
