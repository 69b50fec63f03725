//! Plans and quotas (seed M21). Over HTTP on `aos dev`: an operator gives a tenant a plan
//! (at creation and later); the tenant's request rate, API keys and runs at once follow
//! it; a refused request is 429 with the seed's check in its details and stores nothing;
//! `GET /v1/quotas` says where the tenant stands. On both backends: the runs-per-day and
//! tokens-per-month meters refuse at their limits, concurrent adds never pass a limit
//! together, a repeated submission is not counted twice, and a step's model tokens reach
//! the meter with its commit.

use aos_core::limits::{PlanName, QuotaName};
use aos_core::TenantId;
use aos_runtime::limits::QuotaService;
use aos_runtime::runs::{RunError, RunService, SubmitRun};
use aos_runtime::skills::default_registry;
use aos_tests::backends::{self, Ports};
use aos_tests::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ASK_FIRST: &str = r#"
@id("ask-first") @category("OPERATIONAL") @approval("3")
forbid (principal, action, resource == AOS::Skill::"kv_store") when { context.input_text like "*ask*" };
"#;

fn parked_run() -> Value {
    json!({"plan": [{"skill": "kv_store", "input": {"op": "put", "key": "ask", "value": 1}}]})
}

/// Waits until `n` of the tenant's runs wait for their approval (one listing every
/// 300 ms: the free plan allows 60 requests a minute). A parked run stays `running`.
async fn waiting(stack: &TestStack, key: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = stack.call(Method::GET, "/v1/approvals?status=pending", Some(key), None, &[]).await;
        if r.body["approvals"].as_array().map(Vec::len) == Some(n) {
            return;
        }
        assert!(Instant::now() < deadline, "{n} runs never waited: {}", r.body);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn quota<'a>(quotas: &'a Value, name: &str) -> &'a Value {
    quotas["quotas"].as_array().and_then(|q| q.iter().find(|q| q["quota_name"] == name)).expect("the quota is listed")
}

#[tokio::test]
async fn a_tenants_plan_sets_its_rate_keys_and_runs_at_once_and_refusals_store_nothing() {
    let stack = TestStack::start("").await;
    let op = stack.operator_key();
    // A plan that does not exist is refused, naming the plans; nothing is created.
    let bad = json!({"name": "Free Co", "id": "ten_free", "plan": "gold"});
    let r = stack.call(Method::POST, "/v1/tenants", Some(&op), Some(&bad), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("free, dev, pro"), "{}", r.body);
    let body = json!({"name": "Free Co", "id": "ten_free", "plan": "free"});
    let created = stack.call(Method::POST, "/v1/tenants", Some(&op), Some(&body), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        (created.body["tenant"]["plan"].clone(), created.body["tenant"]["plan_is_default"].clone()),
        (json!("free"), json!(false))
    );
    let key = created.body["api_key"]["key"].as_str().expect("key").to_owned();

    // Its request rate is its plan's; the stack's default (unlimited) sets none.
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/quotas", stack.stack.url()))
        .bearer_auth(&key)
        .send()
        .await
        .expect("quotas");
    assert_eq!(resp.headers()["x-ratelimit-limit"], "60");
    let quotas: Value = resp.json().await.expect("json");
    assert_eq!((quotas["plan"].clone(), quotas["requests_per_minute"].clone()), (json!("free"), json!(60)));
    assert_eq!(
        quota(&quotas, "api_keys"),
        &json!({"allowed": true, "reason": null, "quota_name": "api_keys", "current": 1, "limit": 5})
    );
    assert_eq!(quota(&quotas, "runs_per_day")["limit"], 100);
    assert_eq!(quota(&quotas, "tokens_per_month")["limit"], 1_000_000);
    assert_eq!(quota(&quotas, "concurrent_runs")["limit"], 5);
    let dev = stack.get("/v1/quotas").await;
    assert_eq!(dev.body["plan"], "unlimited", "the dev tenant has the stack's default: {}", dev.body);
    assert!(quota(&dev.body, "runs_per_day")["limit"].is_null());

    // API keys: four more fit its five; the sixth is refused and not stored.
    for i in 0..4 {
        let r =
            stack.call(Method::POST, "/v1/api-keys", Some(&key), Some(&json!({"label": format!("k{i}")})), &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = stack.call(Method::POST, "/v1/api-keys", Some(&key), Some(&json!({"label": "one too many"})), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "ERR_QUOTA_EXCEEDED"), "{}", r.body);
    assert_eq!(
        r.body["error"]["details"],
        json!({"allowed": false, "reason": "the free plan allows 5 API keys; 5 used", "quota_name": "api_keys", "current": 5, "limit": 5})
    );
    let keys = stack.call(Method::GET, "/v1/api-keys", Some(&key), None, &[]).await;
    assert_eq!(keys.body["api_keys"].as_array().map(Vec::len), Some(5), "the refused key was not stored");

    // Runs at once: five runs wait for an approval; the sixth is refused, stores nothing
    // and takes nothing of the day's runs.
    let applied = stack.call(Method::PUT, "/v1/policies", Some(&key), Some(&json!({"text": ASK_FIRST})), &[]).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{}", applied.body);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let r = stack.call(Method::POST, "/v1/runs", Some(&key), Some(&parked_run()), &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.body["id"].as_str().expect("id").to_owned());
    }
    waiting(&stack, &key, 5).await;
    let r = stack.call(Method::POST, "/v1/runs", Some(&key), Some(&parked_run()), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "ERR_RATE_LIMIT_CONCURRENT"), "{}", r.body);
    assert_eq!(r.body["error"]["details"]["quota_name"], "concurrent_runs");
    assert_eq!(
        (r.body["error"]["details"]["current"].clone(), r.body["error"]["details"]["limit"].clone()),
        (json!(5), json!(5))
    );
    let runs = stack.call(Method::GET, "/v1/runs", Some(&key), None, &[]).await;
    assert_eq!(runs.body["runs"].as_array().map(Vec::len), Some(5), "the refused run was not stored");
    let q = stack.call(Method::GET, "/v1/quotas", Some(&key), None, &[]).await;
    assert_eq!(quota(&q.body, "runs_per_day")["current"], 5, "{}", q.body);
    assert_eq!(quota(&q.body, "concurrent_runs")["allowed"], false);
    // One ends (cancelled): another is let in.
    let c = stack.call(Method::POST, &format!("/v1/runs/{}/cancel", ids[0]), Some(&key), None, &[]).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    let r = stack.call(Method::POST, "/v1/runs", Some(&key), Some(&parked_run()), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Only an operator changes a plan; the change applies at once in this process.
    let me = stack
        .call(Method::PUT, "/v1/tenants/ten_free/plan", Some(&key), Some(&json!({"plan": "enterprise"})), &[])
        .await;
    assert_eq!((me.status, me.code()), (StatusCode::FORBIDDEN, "ERR_PERMISSION_DENIED"), "{}", me.body);
    let up = stack.call(Method::PUT, "/v1/tenants/ten_free/plan", Some(&op), Some(&json!({"plan": "pro"})), &[]).await;
    assert_eq!((up.status, up.body["plan"].clone()), (StatusCode::OK, json!("pro")), "{}", up.body);
    let missing =
        stack.call(Method::PUT, "/v1/tenants/ten_nobody/plan", Some(&op), Some(&json!({"plan": "pro"})), &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    let typo =
        stack.call(Method::PUT, "/v1/tenants/ten_free/plan", Some(&op), Some(&json!({"plan": "Pro"})), &[]).await;
    assert_eq!(typo.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", typo.body);
    let r = stack.call(Method::POST, "/v1/api-keys", Some(&key), Some(&json!({"label": "on pro"})), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "pro allows 20 keys: {}", r.body);
    let q = stack.call(Method::GET, "/v1/quotas", Some(&key), None, &[]).await;
    assert_eq!((q.body["plan"].clone(), q.body["requests_per_minute"].clone()), (json!("pro"), json!(1_200)));
    // The change is on the tenant's audit record.
    let audit = stack.call(Method::GET, "/v1/audit?action=tenant.plan", Some(&key), None, &[]).await;
    assert_eq!(audit.body["entries"][0]["details"]["plan"], "pro", "{}", audit.body);
    // Back to the default.
    let reset =
        stack.call(Method::PUT, "/v1/tenants/ten_free/plan", Some(&op), Some(&json!({"plan": null})), &[]).await;
    assert_eq!((reset.body["plan"].clone(), reset.body["plan_is_default"].clone()), (json!("unlimited"), json!(true)));
}

fn tenant() -> TenantId {
    TenantId::parse("ten_quota").expect("tenant")
}

fn transform() -> SubmitRun {
    serde_json::from_value(
        json!({"plan": [{"skill": "json_transform", "input": {"expression": "a", "data": {"a": 1}}}]}),
    )
    .expect("request")
}

async fn meters_refuse_at_their_limits(ports: Ports, atomic: bool) {
    let now = aos_runtime::clock::now_ms();
    aos_runtime::auth::create_tenant_keeping(
        ports.tenants.as_ref(),
        Some(tenant()),
        "q",
        aos_runtime::ports::Role::Admin,
        aos_runtime::auth::TenantSettings { retention_days: None, plan: Some(PlanName::Free) },
        &aos_core::audit::Actor::system(),
    )
    .await
    .expect("tenant");
    let quotas = QuotaService::new(Arc::clone(&ports.tenants), Arc::clone(&ports.runs), PlanName::Unlimited);
    let skills = Arc::new(default_registry(aos_runtime::net::AddressPolicy::default()).expect("skills"));
    let runs =
        RunService::new(Arc::clone(&ports.runs), Arc::clone(&ports.idempotency), skills).with_quotas(quotas.clone());
    let (meter, day) = QuotaName::RunsPerDay.meter(now).expect("runs meter");
    // 98 runs today already.
    assert_eq!(ports.tenants.add_to_meter(&tenant(), meter, &day, 98, Some(100)).await.expect("add"), Ok(98));
    let first = runs.submit(&tenant(), transform(), Some("k1")).await.expect("the 99th run");
    // A repeat with the same key is the same run, not another one counted.
    let again = runs.submit(&tenant(), transform(), Some("k1")).await.expect("repeat");
    assert_eq!((again.run.id.clone(), again.created), (first.run.id.clone(), false));
    runs.submit(&tenant(), transform(), None).await.expect("the 100th run");
    let Err(RunError::Quota(refusal)) = runs.submit(&tenant(), transform(), Some("k2")).await else {
        panic!("the 101st run is refused");
    };
    assert_eq!((refusal.0.quota_name, refusal.0.current, refusal.0.limit), (QuotaName::RunsPerDay, 100, Some(100)));
    assert_eq!(refusal.code().as_str(), "ERR_QUOTA_EXCEEDED");
    assert_eq!(ports.runs.live_runs(&tenant(), 100).await.expect("live"), 2, "the refused run was not stored");
    // Its idempotency key was let go: once there is room, the same key submits.
    assert_eq!(ports.tenants.add_to_meter(&tenant(), meter, &day, -1, None).await.expect("give back"), Ok(99));
    runs.submit(&tenant(), transform(), Some("k2")).await.expect("the key was released");

    // Adds never pass a limit together: 16 tasks ask for 10 units, at once where the
    // store under test applies a conditional update atomically (SQLite here, DynamoDB in
    // AWS). Moto server does not: its threads check the condition and write apart, so two
    // adds can both pass, and there the 16 go one after another.
    let mut results = Vec::new();
    if atomic {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let store = Arc::clone(&ports.tenants);
                tokio::spawn(async move { store.add_to_meter(&tenant(), "race", "p", 1, Some(10)).await })
            })
            .collect();
        for t in tasks {
            results.push(t.await.expect("task"));
        }
    } else {
        for _ in 0..16 {
            results.push(ports.tenants.add_to_meter(&tenant(), "race", "p", 1, Some(10)).await);
        }
    }
    let won = results.into_iter().filter(|r| r.as_ref().expect("store").is_ok()).count();
    assert_eq!((won, ports.tenants.meter(&tenant(), "race", "p").await.expect("meter")), (10, 10));

    // The month's tokens used up: submissions are refused until the month turns.
    let (tokens, month) = QuotaName::TokensPerMonth.meter(now).expect("tokens meter");
    ports.tenants.add_to_meter(&tenant(), tokens, &month, 1_000_000, None).await.expect("tokens").expect("no limit");
    let Err(RunError::Quota(refusal)) = runs.submit(&tenant(), transform(), None).await else {
        panic!("a tenant past its month's tokens is refused");
    };
    assert_eq!(refusal.0.quota_name, QuotaName::TokensPerMonth);
    let (_, checks) = quotas.checks(&tenant(), now).await.expect("checks");
    let tokens = checks.iter().find(|c| c.quota_name == QuotaName::TokensPerMonth).expect("tokens check");
    assert_eq!((tokens.allowed, tokens.current), (false, 1_000_000));
}

#[tokio::test]
async fn meters_refuse_at_their_limits_on_sqlite() {
    meters_refuse_at_their_limits(backends::embedded(5).await, true).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn meters_refuse_at_their_limits_on_dynamodb() {
    meters_refuse_at_their_limits(backends::aws(5).await, false).await;
}
