//! Request rates per tenant on `aos dev --plan free` (60 requests per 60 s): every answer
//! carries `X-RateLimit-Limit`, `-Remaining` and `-Reset`; past the allowance a request
//! is refused with 429 `ERR_RATE_LIMIT_INTERNAL` and `Retry-After`, and nothing of it is
//! done; another tenant is not slowed; after `Retry-After` the tenant goes on.

use aos_cli::stack::StackConfig;
use aos_core::limits::PlanName;
use aos_tests::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

async fn call(
    stack: &TestStack,
    method: Method,
    path: &str,
    key: &str,
    body: Option<&serde_json::Value>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", stack.stack.url())).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.expect("request reaches the stack")
}

fn header(resp: &reqwest::Response, name: &str) -> u64 {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} is set"))
}

#[tokio::test]
async fn a_tenant_past_its_plans_rate_is_refused_with_retry_after_and_nothing_done() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = StackConfig::new(dir.path());
    cfg.port = 0;
    cfg.workers = 1;
    cfg.plan = PlanName::Free;
    let stack = TestStack::with_config(cfg, dir).await;
    let key = stack.key();
    for sent in 1..=60u64 {
        let r = call(&stack, Method::GET, "/v1/credits", &key, None).await;
        assert_eq!(r.status(), StatusCode::OK, "request {sent} of the allowance");
        assert_eq!(header(&r, "x-ratelimit-limit"), 60);
        assert!(header(&r, "x-ratelimit-remaining") <= 60 - sent, "remaining counts down");
        assert!(header(&r, "x-ratelimit-reset") <= 60);
    }
    let plan = json!({"plan": [{"skill": "json_transform", "input": {"expression": "a", "data": {"a": 1}}}]});
    let refused = call(&stack, Method::POST, "/v1/runs", &key, Some(&plan)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = header(&refused, "retry-after");
    assert!((1..=2).contains(&retry), "one request comes back each second: {retry}");
    assert_eq!(header(&refused, "x-ratelimit-remaining"), 0);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ERR_RATE_LIMIT_INTERNAL", "{body}");
    assert_eq!(body["error"]["details"]["limit"], 60);

    // Another tenant (the operator's) has its own allowance.
    let other = call(&stack, Method::GET, "/v1/api-keys", &stack.operator_key(), None).await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(header(&other, "x-ratelimit-remaining"), 59);

    // After Retry-After the tenant goes on, and the refused submission stored nothing.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let runs = call(&stack, Method::GET, "/v1/runs", &key, None).await;
    assert_eq!(runs.status(), StatusCode::OK);
    let runs: serde_json::Value = runs.json().await.expect("json");
    assert_eq!(runs["runs"], json!([]), "the refused run was never stored: {runs}");
}
