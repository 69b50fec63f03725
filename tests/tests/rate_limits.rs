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

/// A DynamoDB client on the emulator that counts its calls. Its calls reach the emulator
/// one at a time (through the proxy, which lives as long as it is held), so that a
/// conditional update is atomic with its check as on DynamoDB.
async fn counted_dynamodb() -> (aws_sdk_dynamodb::Client, aos_aws::CallCounter, String, aos_tests::faults::FaultProxy) {
    let proxy = aos_tests::faults::FaultProxy::one_at_a_time(&aos_tests::backends::emulator_endpoint()).await;
    let conf = aos_tests::backends::sdk_config_at(&proxy.endpoint()).await;
    let counter = aos_aws::CallCounter::default();
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&conf).interceptor(counter.clone()).build(),
    );
    let table = format!("aos-rate-{}", uuid::Uuid::new_v4().simple());
    aos_aws::create_table(&ddb, &table).await.expect("table");
    (ddb, counter, table, proxy)
}

/// The route Lambdas' limiter: one bucket per tenant in DynamoDB. Two instances (two
/// Lambdas) with 16 tasks between them let through the free plan's 60 requests a minute
/// and not more (plus what refills while the test runs, one a second), refuse the rest
/// with Retry-After, and a busy tenant costs a write per lease of a second's requests, not
/// per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn lambdas_share_one_bucket_per_tenant_in_dynamodb() {
    use aos_runtime::limits::RateLimiter;
    let (ddb, counter, table, _proxy) = counted_dynamodb().await;
    let instances = [
        std::sync::Arc::new(aos_aws::DynamoRateLimiter::new(ddb.clone(), &table)),
        std::sync::Arc::new(aos_aws::DynamoRateLimiter::new(ddb.clone(), &table)),
    ];
    let tenant = aos_core::TenantId::parse("ten_rate").expect("tenant");
    let started = aos_tests::BothClocks::start();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let limiter = std::sync::Arc::clone(&instances[i % 2]);
        let tenant = tenant.clone();
        tasks.push(tokio::spawn(async move {
            let mut decisions = Vec::new();
            for _ in 0..6 {
                decisions.push(limiter.check(&tenant, PlanName::Free).await.expect("free has a rate"));
            }
            decisions
        }));
    }
    let mut decisions = Vec::new();
    for t in tasks {
        decisions.extend(t.await.expect("task"));
    }
    let elapsed = started.elapsed().as_secs() + 1;
    let allowed = decisions.iter().filter(|d| d.allowed).count() as u64;
    assert!(
        (60..=60 + elapsed).contains(&allowed),
        "{allowed} of 96 let through in {elapsed} s: the plan's 60 and what refilled meanwhile"
    );
    for refused in decisions.iter().filter(|d| !d.allowed) {
        assert_eq!((refused.limit, refused.remaining), (60, 0));
        assert!((1..=2).contains(&refused.retry_after_s), "one comes back each second: {refused:?}");
    }
    // Another tenant has its own bucket.
    let other = aos_core::TenantId::parse("ten_other").expect("tenant");
    let d = instances[0].check(&other, PlanName::Free).await.expect("decision");
    assert!(d.allowed && d.remaining == 59, "{d:?}");
    // Without a rate, nothing is asked of the table.
    assert!(instances[0].check(&other, PlanName::Unlimited).await.is_none());

    // Leases: 50 requests of a dev tenant (300 a minute, five a lease) from one instance
    // cost about one write per five.
    counter.reset();
    let dev = aos_core::TenantId::parse("ten_dev_rate").expect("tenant");
    for _ in 0..50 {
        assert!(instances[1].check(&dev, PlanName::Dev).await.expect("decision").allowed);
    }
    let writes = counter.snapshot().get("dynamodb.UpdateItem").copied().unwrap_or(0);
    assert!(writes <= 12, "{writes} writes for 50 requests");
}
