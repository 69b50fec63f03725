//! End-to-end tests of the run API over HTTP on the embedded default.

use aos_api::demo::demo_router;
use aos_core::checkpoint::verify_chain;
use aos_core::Checkpoint;
use aos_tests::{serve, TestStack};
use axum::http::StatusCode as AxStatus;
use axum::routing::get;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn quickstart(stack: &TestStack) -> Value {
    let mut body: Value =
        serde_json::from_str(include_str!("../../examples/quickstart.json")).expect("quickstart parses");
    body["input"]["base_url"] = json!(format!("http://{}", stack.stack.addr));
    body
}

fn checkpoints(steps: &Value) -> Vec<Checkpoint> {
    let steps = steps["steps"].as_array().expect("steps");
    let done = steps.iter().filter(|s| s.get("hash").is_some());
    done.map(|s| serde_json::from_value(s.clone()).expect("a checkpoint")).collect()
}

#[tokio::test]
async fn the_quickstart_runs_all_three_skills_and_chains_its_checkpoints() {
    let stack = TestStack::start("").await;
    let id = stack.submit(&quickstart(&stack)).await;
    let run = stack.wait(&id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"]["status"], 200);
    let steps = stack.steps(&id).await;
    assert_eq!(steps["chain_valid"], true);
    let cps = checkpoints(&steps);
    assert_eq!(cps.len(), 4);
    verify_chain(run["genesis_hash"].as_str().expect("genesis"), &cps).expect("chain verifies client-side");
    assert_eq!(cps[1].outcome.output.as_ref().expect("output")["result"]["best"]["venue"], "south");
    let log = stack.stack.sink.lock().expect("sink");
    assert_eq!(log.deliveries.len(), 1);
    assert_eq!(log.deliveries[0].idempotency_key.as_deref(), Some(format!("aos-{id}-3").as_str()));
    assert_eq!(log.deliveries[0].body["quote"]["venue"], "south");
}

#[tokio::test]
async fn skills_are_listed_with_their_schemas() {
    let stack = TestStack::start("").await;
    let r = stack.get("/v1/skills").await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<&str> =
        r.body["skills"].as_array().expect("list").iter().map(|s| s["name"].as_str().expect("name")).collect();
    assert_eq!(
        names,
        [
            "agent_invoke",
            "agent_plan",
            "agent_spawn",
            "email_send",
            "http_call",
            "json_transform",
            "kv_store",
            "llm_invoke",
            "slack_send",
            "voyage_embed",
            "webhook_send"
        ]
    );
    for s in r.body["skills"].as_array().expect("list") {
        assert_eq!(s["input_schema"]["type"], "object");
        assert!(s["output_schema"].is_object());
        assert!(s["timeout_ms"].as_u64().expect("timeout") > 0);
        assert!(s["idempotency"].is_string());
    }
}

#[tokio::test]
async fn bad_requests_get_clear_4xx_errors_and_store_nothing() {
    let stack = TestStack::start("").await;
    let key = stack.key();
    let raw = |body: &'static str| {
        let url = format!("{}/v1/runs", stack.stack.url());
        let key = key.clone();
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("send");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, b) = raw("{\"plan\": [").await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("ERR_MALFORMED_REQUEST")), "{b}");
    assert!(b["error"]["message"].as_str().expect("msg").contains("JSON"));
    let (s, b) = raw("{\"plan\": \"nope\"}").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ERR_VALIDATION_FAILED")),
        "{b}"
    );
    // A mistyped field deep in the body: the message says where.
    let (s, b) = raw("{\"plan\": [{\"id\": 5, \"skill\": \"json_transform\", \"input\": {}}]}").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["message"].as_str().expect("msg").contains("plan[0].id"), "{b}");

    let unknown = json!({"plan": [{"id": "a", "skill": "teleport", "input": {}}]});
    let r = stack.call(Method::POST, "/v1/runs", Some(&key), Some(&unknown), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_SKILL_NOT_FOUND"));
    assert!(r.body["error"]["message"].as_str().expect("msg").contains("teleport"));

    let bad_input = json!({"plan": [{"id": "a", "skill": "kv_store", "input": {"op": "explode", "key": "k"}}]});
    let r = stack.call(Method::POST, "/v1/runs", Some(&key), Some(&bad_input), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"));
    assert!(r.body["error"]["message"].as_str().expect("msg").contains("plan[0] (a)"), "{}", r.body);

    let forward = json!({"plan": [{"id": "a", "skill": "kv_store", "input": {"op": "get", "key": "${steps.b.output.key}"}}, {"id": "b", "skill": "kv_store", "input": {"op": "get", "key": "x"}}]});
    let r = stack.call(Method::POST, "/v1/runs", Some(&key), Some(&forward), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_INVALID_PLAN"));

    let huge =
        json!({"plan": [{"skill": "kv_store", "input": {"op": "put", "key": "k", "value": "x".repeat(300 * 1024)}}]});
    let r = stack.call(Method::POST, "/v1/runs", Some(&key), Some(&huge), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::PAYLOAD_TOO_LARGE, "ERR_PAYLOAD_TOO_LARGE"));

    let ok_body = json!({"plan": [{"skill": "kv_store", "input": {"op": "get", "key": "k"}}]});
    let r = stack.call(Method::POST, "/v1/runs", None, Some(&ok_body), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "ERR_UNAUTHENTICATED"));
    let r = stack.call(Method::POST, "/v1/runs", Some("aos_not-a-real-key"), Some(&ok_body), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "ERR_UNAUTHENTICATED"));
    let r = stack.call(Method::POST, "/v1/runs", None, Some(&ok_body), &[("x-api-key", "wrong")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let created =
        stack.call(Method::POST, "/v1/api-keys", Some(&key), Some(&json!({"label": "short-lived"})), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let second = created.body["key"].as_str().expect("key shown once").to_owned();
    let key_id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(stack.call(Method::GET, "/v1/runs", None, None, &[("x-api-key", &second)]).await.status, StatusCode::OK);
    let revoked = stack.call(Method::POST, &format!("/v1/api-keys/{key_id}/revoke"), Some(&key), None, &[]).await;
    assert_eq!(revoked.status, StatusCode::OK);
    let r = stack.call(Method::POST, "/v1/runs", Some(&second), Some(&ok_body), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "ERR_UNAUTHENTICATED"), "a revoked key is refused");
    let listed = stack.get("/v1/api-keys").await;
    assert!(!listed.body.to_string().contains(&second), "keys are never shown again");

    let r = stack.get("/v1/runs").await;
    assert_eq!(r.body["runs"].as_array().expect("runs").len(), 0, "no refused request stored a run");
    let queue = &stack.stack.adapters.embedded.as_ref().expect("embedded backend").queue;
    assert_eq!(queue.depth().expect("depth"), 0, "and none enqueued a step");
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_run_and_refuses_another_body() {
    let stack = TestStack::start("").await;
    let key = stack.key();
    let body = json!({"plan": [{"skill": "kv_store", "input": {"op": "put", "key": "k", "value": 1}}], "base_seed": 7});
    let first = stack.call(Method::POST, "/v1/runs", Some(&key), Some(&body), &[("Idempotency-Key", "order-42")]).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = stack.call(Method::POST, "/v1/runs", Some(&key), Some(&body), &[("Idempotency-Key", "order-42")]).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], first.body["id"]);
    let other =
        json!({"plan": [{"skill": "kv_store", "input": {"op": "put", "key": "k", "value": 2}}], "base_seed": 7});
    let conflict =
        stack.call(Method::POST, "/v1/runs", Some(&key), Some(&other), &[("Idempotency-Key", "order-42")]).await;
    assert_eq!((conflict.status, conflict.code()), (StatusCode::CONFLICT, "ERR_IDEMPOTENCY_CONFLICT"));
    let runs = stack.get("/v1/runs").await;
    assert_eq!(runs.body["runs"].as_array().expect("runs").len(), 1, "exactly one run was stored");
}

#[tokio::test]
async fn another_tenants_key_sees_nothing_of_the_first_tenant() {
    let stack = TestStack::start("").await;
    let id = stack
        .submit(&json!({"plan": [{"skill": "kv_store", "input": {"op": "put", "key": "secret", "value": "a"}}]}))
        .await;
    stack.wait(&id).await;
    let op = stack.operator_key();
    let created = stack.call(Method::POST, "/v1/tenants", Some(&op), Some(&json!({"name": "other"})), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let other = created.body["api_key"]["key"].as_str().expect("first key").to_owned();
    let first_key_id = stack.get("/v1/api-keys").await.body["api_keys"][0]["id"].as_str().expect("key id").to_owned();

    for (method, path) in [
        (Method::GET, format!("/v1/runs/{id}")),
        (Method::GET, format!("/v1/runs/{id}/steps")),
        (Method::POST, format!("/v1/runs/{id}/cancel")),
        (Method::POST, format!("/v1/api-keys/{first_key_id}/revoke")),
    ] {
        let r = stack.call(method.clone(), &path, Some(&other), None, &[]).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "ERR_NOT_FOUND"), "{method} {path}");
    }
    let list = stack.call(Method::GET, "/v1/runs", Some(&other), None, &[]).await;
    assert_eq!(list.body["runs"].as_array().expect("runs").len(), 0);
    let keys = stack.call(Method::GET, "/v1/api-keys", Some(&other), None, &[]).await;
    assert_eq!(keys.body["api_keys"].as_array().expect("keys").len(), 1, "only its own key");
    // The other tenant's kv_store cannot read the first tenant's value.
    let peek = json!({"plan": [{"skill": "kv_store", "input": {"op": "get", "key": "secret"}}]});
    let r = stack.call(Method::POST, "/v1/runs", Some(&other), Some(&peek), &[]).await;
    let peek_id = r.body["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let run = loop {
        let run = stack.call(Method::GET, &format!("/v1/runs/{peek_id}"), Some(&other), None, &[]).await.body;
        if run["status"] == "succeeded" || Instant::now() > deadline {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run["output"]["found"], false, "{run}");
    // A tenant key cannot create tenants.
    let r = stack.call(Method::POST, "/v1/tenants", Some(&stack.key()), Some(&json!({"name": "x"})), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "ERR_PERMISSION_DENIED"));
}

#[tokio::test]
async fn the_same_plan_and_seed_give_the_same_seeds_and_outcome_hashes() {
    let stack = TestStack::start("").await;
    let plan = |seed: u64| {
        let mut q = quickstart(&stack);
        q["base_seed"] = json!(seed);
        q["plan"].as_array_mut().expect("plan").truncate(3);
        q
    };
    let a = stack.submit(&plan(99)).await;
    let b = stack.submit(&plan(99)).await;
    let c = stack.submit(&plan(100)).await;
    for id in [&a, &b, &c] {
        assert_eq!(stack.wait(id).await["status"], "succeeded");
    }
    let (sa, sb, sc) = (stack.steps(&a).await, stack.steps(&b).await, stack.steps(&c).await);
    let pick = |s: &Value, field: &str| -> Vec<Value> {
        s["steps"].as_array().expect("steps").iter().map(|x| x[field].clone()).collect()
    };
    assert_eq!(pick(&sa, "seed"), pick(&sb, "seed"));
    assert_eq!(pick(&sa, "outcome_hash"), pick(&sb, "outcome_hash"));
    assert_eq!(pick(&sa, "hash"), pick(&sb, "hash"), "the whole chain matches");
    assert_eq!(pick(&sa, "seed")[0], json!(aos_core::determinism::step_seed(99, 0)));
    assert_ne!(pick(&sa, "seed"), pick(&sc, "seed"), "another base seed gives other seeds");
}

#[tokio::test]
async fn retryable_failures_are_retried_and_permanent_ones_are_not() {
    let hits = Arc::new(AtomicU32::new(0));
    let flaky_hits = Arc::clone(&hits);
    let upstream = axum::Router::new()
        .route(
            "/flaky",
            get(move || {
                let n = flaky_hits.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        (AxStatus::SERVICE_UNAVAILABLE, "busy")
                    } else {
                        (AxStatus::OK, "fine")
                    }
                }
            }),
        )
        .route("/bad", get(|| async { (AxStatus::BAD_REQUEST, "no") }))
        .route("/down", get(|| async { (AxStatus::BAD_GATEWAY, "down") }));
    let addr = serve(upstream).await;
    let stack = TestStack::start(&addr.to_string()).await;
    let step = |path: &str, attempts: u32| json!({"plan": [{"skill": "http_call", "max_attempts": attempts, "input": {"url": format!("http://{addr}{path}")}}]});

    let flaky = stack.submit(&step("/flaky", 3)).await;
    let run = stack.wait(&flaky).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(stack.steps(&flaky).await["steps"][0]["attempts"], 3);
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    let bad = stack.submit(&step("/bad", 3)).await;
    let run = stack.wait(&bad).await;
    assert_eq!((run["status"].as_str(), run["error"]["code"].as_str()), (Some("failed"), Some("ERR_HTTP_400")));
    assert_eq!(stack.steps(&bad).await["steps"][0]["attempts"], 1, "a 400 is not retried");

    let down = stack.submit(&step("/down", 2)).await;
    let run = stack.wait(&down).await;
    assert_eq!((run["status"].as_str(), run["error"]["code"].as_str()), (Some("failed"), Some("ERR_HTTP_502")));
    let steps = stack.steps(&down).await;
    assert_eq!(steps["steps"][0]["attempts"], 2, "stops at max_attempts");
    assert_eq!(steps["steps"][0]["outcome"]["error"]["details"]["upstream_status"], 502);
}

#[tokio::test]
async fn retry_after_from_the_upstream_is_honoured() {
    let times = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let seen = Arc::clone(&times);
    let upstream = axum::Router::new().route(
        "/limited",
        get(move || {
            let mut t = seen.lock().expect("lock");
            t.push(Instant::now());
            let first = t.len() == 1;
            async move {
                if first {
                    (AxStatus::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down")
                } else {
                    (AxStatus::OK, [("retry-after", "0")], "ok")
                }
            }
        }),
    );
    let addr = serve(upstream).await;
    let stack = TestStack::start(&addr.to_string()).await;
    let id = stack
        .submit(&json!({"plan": [{"skill": "http_call", "input": {"url": format!("http://{addr}/limited")}}]}))
        .await;
    assert_eq!(stack.wait(&id).await["status"], "succeeded");
    let t = times.lock().expect("lock");
    assert_eq!(t.len(), 2);
    assert!(t[1] - t[0] >= Duration::from_millis(950), "retried after {:?}, before Retry-After", t[1] - t[0]);
}

#[tokio::test]
async fn a_long_step_heartbeats_and_runs_once() {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&hits);
    let upstream = axum::Router::new().route(
        "/slow",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(4)).await;
                "done"
            }
        }),
    );
    let addr = serve(upstream).await;
    let stack = TestStack::start(&addr.to_string()).await;
    // The step takes 4 s, well past the 1.5 s visibility timeout and claim lease: only
    // heartbeats keep the second worker from taking the step over and calling again.
    let id =
        stack.submit(&json!({"plan": [{"skill": "http_call", "input": {"url": format!("http://{addr}/slow")}}]})).await;
    let run = stack.wait(&id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(stack.steps(&id).await["steps"][0]["attempts"], 1);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the upstream was called once");
}

#[tokio::test]
async fn a_cancelled_run_starts_no_further_step() {
    let (demo, sink) = demo_router();
    let addr = serve(demo).await;
    let stack = TestStack::start(&addr.to_string()).await;
    let body = json!({"plan": [
        {"id": "slow", "skill": "http_call", "input": {"url": format!("http://{addr}/demo/quote?delay_ms=1500")}},
        {"id": "effect", "skill": "http_call", "input": {"method": "POST", "url": format!("http://{addr}/demo/sink")}}
    ]});
    let id = stack.submit(&body).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = stack.call(Method::POST, &format!("/v1/runs/{id}/cancel"), Some(&stack.key()), None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["error"]["code"], "ERR_RUN_CANCELLED");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sink.lock().expect("sink").deliveries.len(), 0, "the step after the cancel never ran");
    let steps = stack.steps(&id).await;
    assert_eq!(steps["steps"][0]["status"], "succeeded", "the step in flight finished and was recorded");
    assert_eq!(steps["steps"][1]["status"], "cancelled");
    let again = stack.call(Method::POST, &format!("/v1/runs/{id}/cancel"), Some(&stack.key()), None, &[]).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "ERR_ILLEGAL_TRANSITION"));
}

#[tokio::test]
async fn runs_are_listed_newest_first_with_paging_and_a_status_filter() {
    let stack = TestStack::start("").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = stack
            .submit(
                &json!({"plan": [{"skill": "kv_store", "input": {"op": "put", "key": format!("k{i}"), "value": i}}]}),
            )
            .await;
        stack.wait(&id).await;
        ids.push(id);
    }
    let page1 = stack.get("/v1/runs?limit=2").await.body;
    let got: Vec<&str> =
        page1["runs"].as_array().expect("runs").iter().map(|r| r["id"].as_str().expect("id")).collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()]);
    let next = page1["next_before"].as_str().expect("a next page");
    let page2 = stack.get(&format!("/v1/runs?limit=2&before={next}")).await.body;
    assert_eq!(page2["runs"][0]["id"], ids[2].as_str());
    assert_eq!(stack.get("/v1/runs?status=succeeded").await.body["runs"].as_array().expect("runs").len(), 5);
    assert_eq!(stack.get("/v1/runs?status=failed").await.body["runs"].as_array().expect("runs").len(), 0);
    let zero = stack.get("/v1/runs?limit=0").await;
    assert_eq!((zero.status, zero.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"));
    assert!(zero.body["error"]["message"].as_str().expect("message").contains("between 1 and 100"));
    assert_eq!(stack.get("/v1/runs?limit=5").await.body["next_before"], Value::Null, "five runs fit one page");
    let bad = stack.get("/v1/runs?status=sideways").await;
    assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"));
    assert_eq!(stack.call(Method::GET, "/healthz", None, None, &[]).await.status, StatusCode::OK);
    assert_eq!(stack.get("/v1/runs/run_doesnotexist").await.code(), "ERR_NOT_FOUND");
    assert_eq!(stack.get("/v1/nothing").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_step_that_exceeds_its_timeout_is_retried_then_fails_with_a_timeout_code() {
    let upstream = axum::Router::new().route(
        "/stuck",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let addr = serve(upstream).await;
    let stack = TestStack::start(&addr.to_string()).await;
    let id = stack
        .submit(&json!({"plan": [{"skill": "http_call", "timeout_ms": 300, "max_attempts": 2, "input": {"url": format!("http://{addr}/stuck")}}]}))
        .await;
    let run = stack.wait(&id).await;
    assert_eq!(run["status"], "failed");
    let code = run["error"]["code"].as_str().expect("code");
    assert!(code == "ERR_TIMEOUT" || code == "ERR_HTTP_TIMEOUT", "{code}");
    assert_eq!(stack.steps(&id).await["steps"][0]["attempts"], 2, "a timeout is retryable");
}

#[tokio::test]
async fn a_tenants_retention_is_set_at_creation_and_changed_by_itself_or_an_operator() {
    let stack = TestStack::start("").await;
    let op = stack.operator_key();
    let r =
        stack.call(Method::POST, "/v1/tenants", Some(&op), Some(&json!({"name": "t", "retention_days": 0})), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"), "{}", r.body);
    let created =
        stack.call(Method::POST, "/v1/tenants", Some(&op), Some(&json!({"name": "t", "retention_days": 7})), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["tenant"]["retention_days"], 7);
    let id = created.body["tenant"]["id"].as_str().expect("id").to_owned();
    let key = created.body["api_key"]["key"].as_str().expect("key").to_owned();
    let path = format!("/v1/tenants/{id}/retention");
    let r = stack.call(Method::PUT, &path, Some(&key), Some(&json!({"days": 400})), &[]).await;
    assert_eq!((r.status, r.body["retention_days"].clone()), (StatusCode::OK, json!(400)), "{}", r.body);
    let r = stack.call(Method::PUT, &path, Some(&stack.key()), Some(&json!({"days": 2})), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "ERR_PERMISSION_DENIED"), "another tenant may not");
    let r = stack.call(Method::PUT, &path, Some(&key), Some(&json!({"days": 3651})), &[]).await;
    assert_eq!(r.code(), "ERR_VALIDATION_FAILED");
    let r = stack.call(Method::PUT, &path, Some(&op), Some(&json!({"days": null})), &[]).await;
    assert_eq!((r.body["retention_days"].clone(), r.body["retention_is_default"].clone()), (json!(30), json!(true)));
    let r =
        stack.call(Method::PUT, "/v1/tenants/ten_nobody/retention", Some(&op), Some(&json!({"days": 3})), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "ERR_NOT_FOUND"));
}
