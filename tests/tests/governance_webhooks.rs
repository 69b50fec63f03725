//! Signed governance webhooks on `aos dev`: a policy's `@notify` URL hears an approval's
//! request and its decision, a flag's `webhook_url` hears each change, each notice once
//! (its delivery is a run of `webhook_send`, keyed by what it is about), each signed per
//! Standard Webhooks — verified by the independent `standardwebhooks` package.

use aos_tests::TestStack;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn receiver() -> (std::net::SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    async fn take(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> &'static str {
        seen.lock().expect("seen").push((headers, body));
        "ok"
    }
    let router = Router::new().route("/hook", post(take)).with_state(Arc::clone(&seen));
    (aos_tests::serve(router).await, seen)
}

fn events(seen: &Seen) -> Vec<String> {
    let seen = seen.lock().expect("seen");
    seen.iter()
        .map(|(_, b)| serde_json::from_slice::<Value>(b).expect("json")["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn until_heard(seen: &Seen, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().expect("seen").len() < n {
        assert!(Instant::now() < deadline, "only {:?} arrived", events(seen));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `aos dev` whose tenant signs webhooks with [`SECRET`], a receiver on loopback, and the
/// receiver's URL.
async fn signing_stack() -> (TestStack, Seen, String) {
    let (addr, seen) = receiver().await;
    let stack = TestStack::start(&addr.to_string()).await;
    let secret = json!({"value": SECRET});
    let r = stack.call(Method::PUT, "/v1/secrets/WEBHOOK_SIGNING_SECRET", Some(&stack.key()), Some(&secret), &[]).await;
    assert!(r.status.is_success(), "{}", r.body);
    (stack, seen, format!("http://{addr}/hook"))
}

/// Whether the independent Standard Webhooks implementation accepts `body` as signed.
fn verified(headers: &HeaderMap, body: &[u8]) -> bool {
    let h = |n: &str| headers[n].to_str().expect("ascii").to_owned();
    let headers = json!({"webhook-id": h("webhook-id"), "webhook-timestamp": h("webhook-timestamp"), "webhook-signature": h("webhook-signature")});
    aos_tests::standard_webhook_check(SECRET, &headers, body).status.success()
}

#[tokio::test]
#[ignore = "needs Python with standardwebhooks (AOS_PYTHON): ./scripts/test.sh runs it"]
async fn approvals_and_flag_changes_send_signed_webhooks_once_each() {
    let (stack, seen, hook) = signing_stack().await;
    let policies = format!(
        "@id(\"ask-first\") @approval(\"2\") @notify(\"{hook}\")\n\
         forbid (principal, action, resource == AOS::Skill::\"kv_store\") when {{ context.input_text like \"*ask*\" }};"
    );
    let r = stack.call(Method::PUT, "/v1/policies", Some(&stack.key()), Some(&json!({"text": policies})), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let run =
        stack.submit(&json!({"plan": [{"skill": "kv_store", "input": {"op": "put", "key": "ask", "value": 1}}]})).await;
    until_heard(&seen, 1).await;
    let requested: Value = serde_json::from_slice(&seen.lock().expect("seen")[0].1).expect("json");
    assert_eq!(requested["type"], "approval.requested", "{requested}");
    assert_eq!(requested["data"]["step"]["run_id"], run.as_str(), "{requested}");
    let id = requested["data"]["approval_id"].as_str().expect("approval id").to_owned();
    let decided = stack
        .call(
            Method::POST,
            &format!("/v1/approvals/{id}/decision"),
            Some(&stack.key()),
            Some(&json!({"decision": "approve"})),
            &[],
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.body);
    assert_eq!(stack.wait(&run).await["status"], "succeeded");
    until_heard(&seen, 2).await;

    let flag = json!({"enabled": true, "rollout_percent": 25, "webhook_url": hook});
    let r = stack.call(Method::PUT, "/v1/flags/beta", Some(&stack.key()), Some(&flag), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    until_heard(&seen, 3).await;
    // Nothing more comes: each notice once, though the woken step looked at its approval again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(events(&seen), ["approval.requested", "approval.decided", "flag.changed"]);
    let decided: Value = serde_json::from_slice(&seen.lock().expect("seen")[1].1).expect("json");
    assert_eq!(
        (decided["data"]["status"].as_str(), decided["data"]["approval_id"].as_str()),
        (Some("approved"), Some(id.as_str()))
    );

    // Each verifies with the independent implementation; a tampered body does not.
    for (headers, body) in seen.lock().expect("seen").iter() {
        assert!(verified(headers, body), "standardwebhooks refused {}", String::from_utf8_lossy(body));
        let mut tampered = body.to_vec();
        tampered[3] ^= 1;
        assert!(!verified(headers, &tampered), "a tampered body must not verify");
    }
}

/// A run's `notify_url` hears, signed, when the run passes 80 % of its budget — once,
/// though the run goes on — and a workflow execution's when its envelope does; a
/// `notify_url` that is no http(s) URL is refused at submission.
#[tokio::test]
#[ignore = "needs Python with standardwebhooks (AOS_PYTHON): ./scripts/test.sh runs it"]
async fn budget_warnings_send_signed_webhooks_to_the_runs_notify_url() {
    let (stack, seen, hook) = signing_stack().await;
    let step = |n: u32| json!({"skill": "json_transform", "input": {"expression": "n", "data": {"n": n}}});
    // One credit a step against five: the fourth passes 80 %.
    let body = json!({"plan": [step(1), step(2), step(3), step(4), step(5)], "budget_cents": 5, "notify_url": hook});
    let run = stack.submit(&body).await;
    assert_eq!(stack.wait(&run).await["status"], "succeeded");
    until_heard(&seen, 1).await;
    let warned: Value = serde_json::from_slice(&seen.lock().expect("seen")[0].1).expect("json");
    assert_eq!(warned["type"], "budget.warning", "{warned}");
    assert_eq!(
        (warned["data"]["scope"].clone(), warned["data"]["spent_cents"].clone(), warned["data"]["limit_cents"].clone()),
        (json!("run"), json!(4.0), json!(5.0)),
        "{warned}"
    );
    assert_eq!(warned["data"]["resource"], format!("run:{run}"), "{warned}");
    let (headers, bytes) = seen.lock().expect("seen")[0].clone();
    assert!(verified(&headers, &bytes), "signed per Standard Webhooks");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(events(&seen), ["budget.warning"], "once");

    // A workflow execution's envelope: four nodes of one credit against five.
    let spec = "name: four\nnodes:\n  - {id: a, skill: json_transform, input: {expression: n, data: {n: 1}}}\n  - {id: b, skill: json_transform, depends_on: [a], input: {expression: n, data: {n: 1}}}\n  - {id: c, skill: json_transform, depends_on: [b], input: {expression: n, data: {n: 1}}}\n  - {id: d, skill: json_transform, depends_on: [c], input: {expression: n, data: {n: 1}}}\n";
    stack.apply_workflow(spec).await;
    let start = json!({"budget_cents": 5, "notify_url": hook});
    let r = stack.call(Method::POST, "/v1/workflows/four/executions", Some(&stack.key()), Some(&start), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    until_heard(&seen, 2).await;
    let warned: Value = serde_json::from_slice(&seen.lock().expect("seen")[1].1).expect("json");
    assert_eq!(
        (warned["data"]["scope"].clone(), warned["data"]["spent_cents"].clone()),
        (json!("workflow"), json!(4.0))
    );
    assert_eq!(warned["data"]["resource"], format!("execution:{}", r.body["id"].as_str().unwrap_or_default()));

    let bad = json!({"plan": [step(1)], "notify_url": "ftp://example.com/x"});
    let r = stack.call(Method::POST, "/v1/runs", Some(&stack.key()), Some(&bad), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("notify_url"), "{}", r.body);
}
