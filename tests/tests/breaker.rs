//! The circuit breaker in the step pipeline: five failing calls to one target open it,
//! the next call is refused with ERR_CIRCUIT_OPEN without reaching the target, after the
//! cooldown one probe goes out and its success closes the breaker; other targets and
//! tenants are unaffected.

use aos_cli::stack::StackConfig;
use aos_tests::TestStack;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use reqwest::Method;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct Upstream {
    healthy: AtomicBool,
    calls: AtomicU32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_target_opens_its_breaker_and_a_probe_closes_it() {
    let upstream = Arc::new(Upstream::default());
    async fn flaky(State(u): State<Arc<Upstream>>) -> (StatusCode, &'static str) {
        u.calls.fetch_add(1, Ordering::SeqCst);
        if u.healthy.load(Ordering::SeqCst) {
            (StatusCode::OK, "fine")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "down")
        }
    }
    let router = Router::new().route("/thing", get(flaky)).with_state(Arc::clone(&upstream));
    let addr = aos_tests::serve(router).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = StackConfig::new(dir.path());
    cfg.port = 0;
    cfg.workers = 1;
    cfg.allow_hosts = addr.to_string();
    cfg.worker.poll_wait = Duration::from_millis(50);
    cfg.worker.breaker.cooldown_ms = 800;
    let stack = TestStack::with_config(cfg, dir).await;
    let call =
        json!({"plan": [{"skill": "http_call", "input": {"url": format!("http://{addr}/thing")}, "max_attempts": 1}]});
    for _ in 0..5 {
        let run = stack.wait(&stack.submit(&call).await).await;
        assert_eq!(run["error"]["code"], "ERR_HTTP_503", "{run}");
    }
    assert_eq!(upstream.calls.load(Ordering::SeqCst), 5);
    let run = stack.wait(&stack.submit(&call).await).await;
    assert_eq!(run["error"]["code"], "ERR_CIRCUIT_OPEN", "{run}");
    assert_eq!(run["error"]["retryable"], true);
    assert!(run["error"]["details"]["retry_after_ms"].as_u64().is_some_and(|ms| ms <= 800), "{run}");
    assert_eq!(upstream.calls.load(Ordering::SeqCst), 5, "an open breaker does not call");

    // Another tenant's calls to the same target are not affected.
    let op = stack.operator_key();
    let other = stack.call(Method::POST, "/v1/tenants", Some(&op), Some(&json!({"name": "other"})), &[]).await;
    let other_key = other.body["api_key"]["key"].as_str().expect("key").to_owned();
    let r = stack.call(Method::POST, "/v1/runs", Some(&other_key), Some(&call), &[]).await;
    let id = r.body["id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let their = loop {
        let v = stack.call(Method::GET, &format!("/v1/runs/{id}"), Some(&other_key), None, &[]).await.body;
        if v["status"] == "failed" || v["status"] == "succeeded" {
            break v;
        }
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(their["error"]["code"], "ERR_HTTP_503", "another tenant's breaker is its own: {their}");

    // After the cooldown: one probe; it succeeds and closes the breaker.
    tokio::time::sleep(Duration::from_millis(900)).await;
    upstream.healthy.store(true, Ordering::SeqCst);
    let before = upstream.calls.load(Ordering::SeqCst);
    let run = stack.wait(&stack.submit(&call).await).await;
    assert_eq!(run["status"], "succeeded", "the probe went out: {run}");
    let run = stack.wait(&stack.submit(&call).await).await;
    assert_eq!(run["status"], "succeeded", "closed again: {run}");
    assert_eq!(upstream.calls.load(Ordering::SeqCst), before + 2);
    stack.stop().await;
}
