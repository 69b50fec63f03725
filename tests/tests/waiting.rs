//! Waiting for a run and following it over HTTP on `aos dev`: `?wait=` on a run's read
//! and on its submission answers when the run is finished or when the time is up;
//! `GET /v1/runs/{id}/events` streams the run's steps as Server-Sent Events while it runs,
//! ends with the run, and resumes after `Last-Event-ID` (an execution's nodes the same);
//! bad parameters get clear 422s.

use aos_tests::{serve, TestStack};
use axum::routing::get;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// A loopback endpoint whose every call waits until the test releases one.
async fn gate() -> (std::net::SocketAddr, Arc<Semaphore>) {
    let permits = Arc::new(Semaphore::new(0));
    let held = Arc::clone(&permits);
    let router = axum::Router::new().route(
        "/hold",
        get(move || {
            let held = Arc::clone(&held);
            async move {
                held.acquire().await.expect("gate").forget();
                axum::Json(json!({"released": true}))
            }
        }),
    );
    (serve(router).await, permits)
}

/// Three steps; the middle one waits at the gate.
fn held_plan(gate: std::net::SocketAddr) -> Value {
    json!({"plan": [
        {"id": "a", "skill": "json_transform", "input": {"expression": "n", "data": {"n": 1}}},
        {"id": "held", "skill": "http_call", "input": {"method": "GET", "url": format!("http://{gate}/hold")}},
        {"id": "c", "skill": "json_transform", "input": {"expression": "n", "data": {"n": 3}}}
    ]})
}

/// The events of an SSE body: (event, id, data).
fn events(body: &str) -> Vec<(String, Option<String>, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let (mut event, mut id, mut data) = (String::new(), None, String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            (!event.is_empty()).then(|| (event, id, serde_json::from_str(&data).unwrap_or(Value::Null)))
        })
        .collect()
}

async fn stream(stack: &TestStack, id: &str, last: Option<&str>) -> reqwest::Response {
    let mut req =
        reqwest::Client::new().get(format!("http://{}/v1/runs/{id}/events", stack.stack.addr)).bearer_auth(stack.key());
    if let Some(l) = last {
        req = req.header("Last-Event-ID", l);
    }
    req.send().await.expect("events")
}

#[tokio::test]
async fn a_waited_read_answers_at_the_runs_end_or_when_the_time_is_up() {
    let (gate, permits) = gate().await;
    let stack = TestStack::start(&gate.to_string()).await;
    let id = stack.submit(&held_plan(gate)).await;
    // Held at its second step: the time is up first, and the run is answered as it is.
    let r = stack.get(&format!("/v1/runs/{id}?wait=300ms")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "running", "{}", r.body);
    // Released: the same read answers once the run has ended.
    permits.add_permits(1);
    let r = stack.get(&format!("/v1/runs/{id}?wait=30s")).await;
    assert_eq!(r.body["status"], "succeeded", "{}", r.body);
    assert_eq!(r.body["output"]["result"], 3);

    // Submit and wait in one call; a repeat with the same key answers the same run.
    permits.add_permits(1);
    let key = stack.key();
    let headers = [("Idempotency-Key", "wait-once")];
    let r = stack.call(Method::POST, "/v1/runs?wait=30s", Some(&key), Some(&held_plan(gate)), &headers).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "succeeded", "{}", r.body);
    let again = stack.call(Method::POST, "/v1/runs?wait=1s", Some(&key), Some(&held_plan(gate)), &headers).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!((again.body["id"].clone(), again.body["status"].clone()), (r.body["id"].clone(), json!("succeeded")));

    // Bad parameters: clear 422s, nothing stored.
    for path in [format!("/v1/runs/{id}?wait=soon"), format!("/v1/runs/{id}?wait=5h"), format!("/v1/runs/{id}?wiat=1s")]
    {
        let r = stack.get(&path).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"),
            "{path}: {}",
            r.body
        );
        assert!(!r.body["error"]["message"].as_str().unwrap_or("").is_empty());
    }
    let listed = stack.get("/v1/runs").await;
    let before = listed.body["runs"].as_array().expect("runs").len();
    let r = stack.call(Method::POST, "/v1/runs?wait=never", Some(&key), Some(&held_plan(gate)), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"), "{}", r.body);
    let listed = stack.get("/v1/runs").await;
    assert_eq!(listed.body["runs"].as_array().expect("runs").len(), before, "the refused submission stored nothing");
    assert_eq!(stack.get("/v1/runs/run_00000000000000000000000000000000?wait=1s").await.status, StatusCode::NOT_FOUND);
    // Another tenant's waited read of this run finds nothing, at once.
    let op = stack.operator_key();
    let other = stack.call(Method::POST, "/v1/tenants", Some(&op), Some(&json!({"name": "other"})), &[]).await;
    let other_key = other.body["api_key"]["key"].as_str().expect("key").to_owned();
    let started = std::time::Instant::now();
    let theirs = stack.call(Method::GET, &format!("/v1/runs/{id}?wait=20s"), Some(&other_key), None, &[]).await;
    assert_eq!((theirs.status, theirs.code()), (StatusCode::NOT_FOUND, "ERR_NOT_FOUND"), "{}", theirs.body);
    assert!(started.elapsed() < Duration::from_secs(20), "answered without waiting");
}

#[tokio::test]
async fn a_runs_events_stream_while_it_runs_and_resume_after_the_last_id() {
    let (gate, permits) = gate().await;
    let stack = TestStack::start(&gate.to_string()).await;
    let id = stack.submit(&held_plan(gate)).await;
    let mut live = stream(&stack, &id, None).await;
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    // Step 0's event arrives while the run is held at step 1.
    let mut seen = String::new();
    while !seen.contains("id: 0") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), live.chunk())
            .await
            .expect("an event while the run runs")
            .expect("read")
            .expect("the stream is open while the run runs");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    permits.add_permits(1);
    seen.push_str(&tokio::time::timeout(Duration::from_secs(20), live.text()).await.expect("the end").expect("read"));
    let got = events(&seen);
    let finished: Vec<(Option<String>, Value)> = got
        .iter()
        .filter(|(e, id, _)| e == "step" && id.is_some())
        .map(|(_, id, d)| (id.clone(), d["status"].clone()))
        .collect();
    assert_eq!(
        finished,
        [
            (Some("0".into()), json!("succeeded")),
            (Some("1".into()), json!("succeeded")),
            (Some("2".into()), json!("succeeded"))
        ],
        "{seen}"
    );
    let (last, _, run) = got.last().expect("events");
    assert_eq!(
        (last.as_str(), run["status"].clone(), run["id"].as_str()),
        ("run", json!("succeeded"), Some(id.as_str()))
    );
    // The finished steps' events are the steps view's, checkpoint fields included.
    let step1 = got.iter().find(|(_, id, _)| id.as_deref() == Some("1")).expect("step 1");
    assert_eq!((step1.2["skill"].clone(), step1.2["outcome"]["ok"].clone()), (json!("http_call"), json!(true)));
    assert!(step1.2["hash"].is_string());

    // Reconnecting after step 1: step 2 and the run's end only.
    let resumed = stream(&stack, &id, Some("1")).await;
    let body = resumed.text().await.expect("read");
    let kinds: Vec<(String, Option<String>)> = events(&body).into_iter().map(|(e, id, _)| (e, id)).collect();
    assert_eq!(kinds, [("step".to_owned(), Some("2".to_owned())), ("run".to_owned(), None)], "{body}");

    // A Last-Event-ID this run never sent, or one that is not an id: clear 422s.
    for bad in ["3", "x"] {
        let r = stream(&stack, &id, Some(bad)).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "Last-Event-ID {bad}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "ERR_VALIDATION_FAILED", "{body}");
    }
    let r = stream(&stack, "run_00000000000000000000000000000000", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// An execution's nodes stream the same way: each node as it changes (a finished node's
/// id as the event id), then the execution's end; a waited read answers at its end; after
/// `Last-Event-ID: <node>` only the nodes that finished after it come.
#[tokio::test]
async fn an_executions_events_stream_its_nodes_and_resume_after_the_last_node() {
    let (gate, permits) = gate().await;
    let stack = TestStack::start(&gate.to_string()).await;
    let yaml = format!(
        "name: held\nnodes:\n  - {{id: a, skill: json_transform, input: {{expression: n, data: {{n: 1}}}}}}\n  - {{id: held, skill: http_call, depends_on: [a], input: {{method: GET, url: 'http://{gate}/hold'}}}}\n  - {{id: c, skill: json_transform, depends_on: [held], input: {{expression: n, data: {{n: 3}}}}}}\n"
    );
    stack.apply_workflow(&yaml).await;
    let key = stack.key();
    let started = stack.call(Method::POST, "/v1/workflows/held/executions", Some(&key), Some(&json!({})), &[]).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let id = started.body["id"].as_str().expect("id").to_owned();
    let r = stack.get(&format!("/v1/executions/{id}?wait=300ms")).await;
    assert_eq!((r.status, r.body["finished"].clone()), (StatusCode::OK, json!(false)), "{}", r.body);

    let mut live = reqwest::Client::new()
        .get(format!("http://{}/v1/executions/{id}/events", stack.stack.addr))
        .bearer_auth(&key)
        .send()
        .await
        .expect("events");
    assert_eq!(live.status(), StatusCode::OK);
    let mut seen = String::new();
    while !seen.contains("id: a") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), live.chunk())
            .await
            .expect("an event while the execution runs")
            .expect("read")
            .expect("the stream is open while the execution runs");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    permits.add_permits(1);
    let done = stack.get(&format!("/v1/executions/{id}?wait=30s")).await;
    assert_eq!(done.body["status"], "succeeded", "{}", done.body);
    seen.push_str(&tokio::time::timeout(Duration::from_secs(20), live.text()).await.expect("the end").expect("read"));
    let got = events(&seen);
    let finished: Vec<Option<String>> =
        got.iter().filter(|(e, id, _)| e == "node" && id.is_some()).map(|(_, id, _)| id.clone()).collect();
    assert_eq!(finished, [Some("a".to_owned()), Some("held".to_owned()), Some("c".to_owned())], "{seen}");
    let (last, _, end) = got.last().expect("events");
    assert_eq!((last.as_str(), end["status"].clone()), ("execution", json!("succeeded")), "{seen}");

    let resumed = reqwest::Client::new()
        .get(format!("http://{}/v1/executions/{id}/events", stack.stack.addr))
        .bearer_auth(&key)
        .header("Last-Event-ID", "held")
        .send()
        .await
        .expect("events");
    let body = resumed.text().await.expect("read");
    let kinds: Vec<(String, Option<String>)> = events(&body).into_iter().map(|(e, id, _)| (e, id)).collect();
    assert_eq!(kinds, [("node".to_owned(), Some("c".to_owned())), ("execution".to_owned(), None)], "{body}");
    let bad = reqwest::Client::new()
        .get(format!("http://{}/v1/executions/{id}/events", stack.stack.addr))
        .bearer_auth(&key)
        .header("Last-Event-ID", "ghost")
        .send()
        .await
        .expect("events");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
