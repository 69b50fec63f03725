//! Handler tests from JSON event fixtures (API Gateway HTTP API v2, SQS, authorizer v2):
//! the Lambda glue turns each event into the same use case `aos dev` runs. The state is
//! the embedded store, so these tests need no AWS emulator; the AWS adapters have their
//! own contract suite.

use aos_api::{router_for, AppState, Route};
use aos_embedded::{Durability, Embedded};
use aos_runtime::auth::create_tenant;
use aos_runtime::net::AddressPolicy;
use aos_runtime::ports::Role;
use aos_runtime::runs::RunService;
use aos_runtime::skills::default_registry;
use aos_runtime::worker::{StepWorker, WorkerConfig};
use aos_runtime::RunStore;
use aws_lambda_events::event::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use aws_lambda_events::event::sqs::SqsEvent;
use secrecy::ExposeSecret;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

struct Fixture {
    embedded: Arc<Embedded>,
    state: AppState,
    key: String,
    record: aos_runtime::ports::ApiKeyRecord,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tmp");
    let embedded = Arc::new(Embedded::open(dir.path(), Durability::Full).await.expect("open"));
    let (_, key) = create_tenant(embedded.tenants.as_ref(), None, "fixture", Role::Admin).await.expect("tenant");
    let skills = Arc::new(default_registry(AddressPolicy::default()).expect("skills"));
    let runs = RunService::new(embedded.runs.clone(), embedded.idempotency.clone(), skills);
    let secrets = aos_runtime::secrets::SecretService::new(embedded.tenant_secrets.clone());
    let policies = aos_runtime::policies::PolicyService::new(embedded.policies.clone());
    let audit = aos_runtime::audit::AuditService::new(embedded.audit.clone());
    let flags = aos_runtime::flags::FlagService::new(embedded.flags.clone(), "production");
    let credits = aos_runtime::credits::CreditService::new(embedded.credits.clone());
    let state = AppState {
        runs,
        tenants: embedded.tenants.clone(),
        workflows: None,
        secrets,
        policies,
        audit,
        flags,
        credits,
        limits: None,
        quotas: aos_runtime::limits::QuotaService::new(
            embedded.tenants.clone(),
            embedded.runs.clone(),
            aos_core::limits::PlanName::Unlimited,
        ),
        usage: aos_runtime::usage::UsageService::new(embedded.usage.clone()),
    };
    Fixture { embedded, state, key: key.secret.expose_secret().to_owned(), record: key.record, _dir: dir }
}

fn event(name: &str, key: &str) -> String {
    let raw =
        std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
    raw.replace("{{API_KEY}}", key)
}

async fn call(f: &Fixture, route: Route, fixture_name: &str) -> (u16, Value) {
    let req = lambda_http::request::from_str(&event(fixture_name, &f.key)).expect("an API Gateway v2 event");
    let resp = router_for(&[route], f.state.clone()).oneshot(req.map(axum_body)).await.expect("infallible");
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn axum_body(b: lambda_http::Body) -> axum::body::Body {
    match b {
        lambda_http::Body::Empty => axum::body::Body::empty(),
        lambda_http::Body::Text(t) => axum::body::Body::from(t),
        lambda_http::Body::Binary(v) => axum::body::Body::from(v),
        other => axum::body::Body::from(other.to_vec()),
    }
}

#[tokio::test]
async fn an_api_gateway_event_creates_a_run_like_the_local_api_does() {
    let f = fixture().await;
    let (status, body) = call(&f, Route::RunsCreate, "apigw-v2-runs-create.json").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "queued");
    let (again, same) = call(&f, Route::RunsCreate, "apigw-v2-runs-create.json").await;
    assert_eq!((again, &same["id"]), (200, &body["id"]), "the Idempotency-Key header is honoured");
}

#[tokio::test]
async fn a_bad_api_gateway_event_body_gets_the_same_4xx_as_locally() {
    let f = fixture().await;
    let (status, body) = call(&f, Route::RunsCreate, "apigw-v2-runs-create-malformed.json").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("ERR_MALFORMED_REQUEST")), "{body}");
    let (status, body) = call(&f, Route::RunsGet, "apigw-v2-runs-get-unknown.json").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("ERR_NOT_FOUND")));
    let (status, _) = call(&f, Route::RunsGet, "apigw-v2-runs-create.json").await;
    assert_eq!(status, 404, "a route Lambda serves only its own route");
}

#[tokio::test]
async fn an_sqs_batch_reports_only_the_malformed_record_as_failed() {
    let f = fixture().await;
    let (_, created) = call(&f, Route::RunsCreate, "apigw-v2-runs-create.json").await;
    let run_id = aos_core::RunId::parse(created["id"].as_str().expect("id")).expect("run id");
    let tenant = aos_core::TenantId::parse(created["tenant_id"].as_str().expect("tenant")).expect("tenant id");
    let msg = serde_json::json!({"tenant": tenant, "run_id": run_id, "step_index": 0}).to_string();
    let raw = event("sqs-step-batch.json", &f.key).replace("\"{{STEP_MESSAGE}}\"", &Value::String(msg).to_string());
    let batch: SqsEvent = serde_json::from_str(&raw).expect("an SQS event");
    let e = &f.embedded;
    let worker = StepWorker::new(
        e.runs.clone(),
        e.queue.clone(),
        e.kv.clone(),
        Arc::new(default_registry(AddressPolicy::default()).expect("skills")),
        WorkerConfig::default(),
    );
    let response = aos_lambda::worker::handle_batch(&worker, batch, std::time::Duration::from_secs(60)).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["m-bad"], "the good record is not held back by the bad one");
    let run = e.runs.run(&tenant, &run_id).await.expect("read").expect("run");
    assert_eq!(run.status, aos_core::RunStatus::Succeeded);
    let wire = serde_json::to_value(&response).expect("serialize");
    assert_eq!(wire["batchItemFailures"][0]["itemIdentifier"], "m-bad", "the wire shape Lambda expects");
}

#[tokio::test]
async fn the_authorizer_maps_a_key_to_its_tenant_and_refuses_others() {
    let f = fixture().await;
    let req: ApiGatewayV2CustomAuthorizerV2Request =
        serde_json::from_str(&event("authorizer-v2.json", &f.key)).expect("event");
    let ok = aos_lambda::authorizer::authorize(f.embedded.tenants.as_ref(), &req).await;
    assert!(ok.is_authorized);
    assert!(ok.context["tenant_id"].as_str().expect("tenant").starts_with("ten_"));
    assert_eq!(
        (ok.context["role"].clone(), ok.context["scopes"].clone()),
        (serde_json::json!("admin"), serde_json::json!("*"))
    );
    let bad: ApiGatewayV2CustomAuthorizerV2Request =
        serde_json::from_str(&event("authorizer-v2.json", "aos_wrong")).expect("event");
    assert!(!aos_lambda::authorizer::authorize(f.embedded.tenants.as_ref(), &bad).await.is_authorized);
    let wire = serde_json::to_value(&ok).expect("serialize");
    assert_eq!(wire["isAuthorized"], true);
}

#[tokio::test]
async fn the_authorizer_takes_the_key_from_x_api_key_as_from_authorization() {
    let f = fixture().await;
    let req: ApiGatewayV2CustomAuthorizerV2Request =
        serde_json::from_str(&event("authorizer-v2-x-api-key.json", &f.key)).expect("event");
    let ok = aos_lambda::authorizer::authorize(f.embedded.tenants.as_ref(), &req).await;
    assert!(ok.is_authorized, "x-api-key, as the README advertises, passes the gateway");
    assert_eq!(ok.context["key_id"], f.record.id.as_str());
}

#[tokio::test]
async fn a_route_behind_the_gateway_trusts_the_authorizer_s_context_and_looks_no_key_up() {
    let f = fixture().await;
    let raw = event("apigw-v2-runs-list-authorized.json", "")
        .replace("{{TENANT_ID}}", f.record.tenant.as_str())
        .replace("{{KEY_ID}}", f.record.id.as_str());
    // The request carries no key at all: only the authorizer's context says who it is.
    let gateway = aos_lambda::api::gateway_router(&[Route::RunsList], f.state.clone());
    let req = lambda_http::request::from_str(&raw).expect("an API Gateway v2 event");
    let resp = gateway.oneshot(req.map(axum_body)).await.expect("infallible");
    assert_eq!(resp.status().as_u16(), 200, "the route answered for the authorizer's tenant");
    // Without the gateway glue the same request is refused: trust comes from the
    // authorizer's context, never from the request itself.
    let req = lambda_http::request::from_str(&raw).expect("an API Gateway v2 event");
    let plain = router_for(&[Route::RunsList], f.state.clone()).oneshot(req.map(axum_body)).await.expect("infallible");
    assert_eq!(plain.status().as_u16(), 401);
}

/// Waits until `peers` executions are under way at once (or 3 s pass), then says whether
/// they met: records handled one after another never meet.
struct Rendezvous {
    inside: Arc<std::sync::atomic::AtomicUsize>,
    peers: usize,
    sleep: std::time::Duration,
}

#[async_trait::async_trait]
impl aos_runtime::Skill for Rendezvous {
    fn descriptor(&self) -> aos_runtime::SkillDescriptor {
        aos_runtime::SkillDescriptor {
            name: "rendezvous".into(),
            version: "1.0.0".into(),
            description: "meets its peers".into(),
            input_schema: serde_json::json!({"type": "object"}),
            output_schema: serde_json::json!({"type": "object"}),
            idempotency: aos_runtime::IdempotencyClass::Pure,
            timeout_ms: 60_000,
        }
    }

    async fn execute(&self, _ctx: &aos_runtime::SkillContext, _input: Value) -> aos_core::StructuredOutcome {
        self.inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(self.sleep).await;
        let start = std::time::Instant::now();
        while self.inside.load(std::sync::atomic::Ordering::SeqCst) < self.peers {
            if start.elapsed() > std::time::Duration::from_secs(3) {
                return aos_core::StructuredOutcome::success(serde_json::json!({"met": false}));
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        aos_core::StructuredOutcome::success(serde_json::json!({"met": true}))
    }
}

/// Runs of one `rendezvous` step on the embedded store, and the SQS batch of their first
/// messages.
async fn batch_of(
    runs: usize,
    skill: Rendezvous,
) -> (Arc<Embedded>, StepWorker, Vec<aos_core::RunId>, SqsEvent, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let e = Arc::new(Embedded::open(dir.path(), Durability::Full).await.expect("open"));
    let mut reg = aos_runtime::SkillRegistry::new();
    reg.register(Arc::new(skill)).expect("skill");
    let reg = Arc::new(reg);
    let service = RunService::new(e.runs.clone(), e.idempotency.clone(), Arc::clone(&reg));
    let tenant = aos_core::TenantId::parse("ten_batch").expect("id");
    let mut ids = Vec::new();
    let mut records = Vec::new();
    for i in 0..runs {
        let body = serde_json::json!({"plan": [{"skill": "rendezvous", "input": {}, "max_attempts": 1}]});
        let id = service.submit(&tenant, serde_json::from_value(body).expect("body"), None).await.expect("run").run.id;
        let msg = serde_json::json!({"tenant": tenant, "run_id": id, "step_index": 0}).to_string();
        records.push(serde_json::json!({"messageId": format!("m{i}"), "receiptHandle": format!("r{i}"), "body": msg,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs"}));
        ids.push(id);
    }
    let batch: SqsEvent = serde_json::from_value(serde_json::json!({"Records": records})).expect("an SQS event");
    let worker = StepWorker::new(e.runs.clone(), e.queue.clone(), e.kv.clone(), reg, WorkerConfig::default());
    (e, worker, ids, batch, dir)
}

#[tokio::test]
async fn the_records_of_a_batch_run_at_the_same_time() {
    let skill = Rendezvous { inside: Arc::default(), peers: 3, sleep: std::time::Duration::ZERO };
    let (e, worker, ids, batch, _dir) = batch_of(3, skill).await;
    let response = aos_lambda::worker::handle_batch(&worker, batch, std::time::Duration::from_secs(120)).await;
    assert!(response.batch_item_failures.is_empty());
    let tenant = aos_core::TenantId::parse("ten_batch").expect("id");
    for id in ids {
        let run = e.runs.run(&tenant, &id).await.expect("read").expect("run");
        assert_eq!(run.output.expect("output")["met"], true, "every record was under way with the others");
    }
}

#[tokio::test]
async fn a_step_longer_than_the_invocation_has_left_times_out_before_the_function_does() {
    // The step declares 60 s; the invocation has 4 s left, a second of it kept for the commit.
    let skill = Rendezvous { inside: Arc::default(), peers: 1, sleep: std::time::Duration::from_secs(30) };
    let (e, worker, ids, batch, _dir) = batch_of(1, skill).await;
    let remaining = std::time::Duration::from_secs(4);
    assert_eq!(aos_lambda::worker::step_budget(remaining), std::time::Duration::from_secs(3));
    assert_eq!(
        aos_lambda::worker::step_budget(std::time::Duration::from_secs(600)),
        std::time::Duration::from_secs(580),
        "a long invocation keeps the whole margin"
    );
    let response = aos_lambda::worker::handle_batch(&worker, batch, remaining).await;
    assert!(response.batch_item_failures.is_empty(), "the step ended (failed) within the invocation");
    let tenant = aos_core::TenantId::parse("ten_batch").expect("id");
    let run = e.runs.run(&tenant, &ids[0]).await.expect("read").expect("run");
    let error = run.error.expect("failed");
    assert_eq!(error.code.as_str(), "ERR_TIMEOUT");
    assert!(error.message.contains("within 3000 ms"), "{}", error.message);
}
