//! `llm_invoke` against local servers that speak each provider's wire format (loopback
//! only, no internet): request shapes, keys from the secrets port, costs, AOS's response
//! cache, 429 with Retry-After retried after it, 400 not retried, missing keys, and the
//! SSRF guard on provider URLs.

use aos_embedded::LocalSecrets;
use aos_runtime::llm::{LlmConfig, ProviderConfig, ProviderKind};
use aos_runtime::net::AddressPolicy;
use aos_runtime::skills::LlmInvokeSkill;
use aos_runtime::SkillRegistry;
use aos_tests::StepRig;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One scripted answer: status, extra headers, body.
type Reply = (u16, Vec<(&'static str, &'static str)>, Value);

/// What a fake provider saw, and what it answers: a queue of replies (the last repeats).
#[derive(Default)]
struct Fake {
    seen: Vec<(Instant, HeaderMap, Value)>,
    script: Vec<Reply>,
}

type Shared = Arc<Mutex<Fake>>;

async fn answer(State(fake): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut f = fake.lock().expect("fake");
    f.seen.push((Instant::now(), headers, body));
    let (status, extra, reply) = if f.script.len() > 1 { f.script.remove(0) } else { f.script[0].clone() };
    let mut resp = (StatusCode::from_u16(status).expect("status"), Json(reply)).into_response();
    for (k, v) in extra {
        resp.headers_mut().insert(k, v.parse().expect("header"));
    }
    resp
}

async fn serve(script: Vec<Reply>) -> (SocketAddr, Shared) {
    let fake: Shared = Arc::new(Mutex::new(Fake { seen: Vec::new(), script }));
    let router = Router::new()
        .route("/v1/messages", post(answer))
        .route("/v1/chat/completions", post(answer))
        .route("/model/{model}/converse", post(answer))
        .with_state(Arc::clone(&fake));
    (aos_tests::serve(router).await, fake)
}

fn anthropic_ok() -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
           "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "there"}],
           "stop_reason": "end_turn",
           "usage": {"input_tokens": 1000, "output_tokens": 500, "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 0}})
}

fn openai_ok() -> Value {
    json!({"id": "c1", "object": "chat.completion", "model": "llama3.1",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42, "prompt_tokens_details": {"cached_tokens": 30}}})
}

/// An embedded store and a worker whose registry holds `llm_invoke` with providers at
/// `addr` (`anthropic` with a key in secrets.json unless `no_key`, `local` without one).
async fn make_rig(addr: SocketAddr, allow: bool, no_key: bool) -> StepRig {
    // The secrets file must outlive the rig: the directory is leaked on purpose.
    let dir = Box::leak(Box::new(tempfile::tempdir().expect("tmp")));
    let secrets_file = dir.path().join("secrets.json");
    if !no_key {
        std::fs::write(&secrets_file, json!({"ANTHROPIC_API_KEY": "sk-test-123"}).to_string()).expect("secrets");
    }
    let mut llm = LlmConfig::default();
    llm.providers.insert(
        "anthropic".into(),
        ProviderConfig::at(ProviderKind::Anthropic, format!("http://{addr}"), Some("ANTHROPIC_API_KEY")),
    );
    llm.providers.insert("local".into(), ProviderConfig::at(ProviderKind::OpenAi, format!("http://{addr}/v1"), None));
    let policy = if allow {
        AddressPolicy::parse_allow_list(&addr.to_string()).expect("allow")
    } else {
        AddressPolicy::default()
    };
    let mut registry = SkillRegistry::new();
    let secrets = Arc::new(LocalSecrets::new(Some(secrets_file)));
    llm.providers.insert("bedrock".into(), ProviderConfig::at(ProviderKind::Bedrock, format!("http://{addr}"), None));
    // Bedrock through the real SDK (SigV4 with test credentials) against the local server.
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_bedrockruntime::config::SharedCredentialsProvider::new(
            aws_sdk_bedrockruntime::config::Credentials::new("AKIDTEST", "secret", None, None, "test"),
        ))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let skill = LlmInvokeSkill::new(llm, secrets, Arc::new(policy))
        .with_provider(ProviderKind::Bedrock, Arc::new(aos_aws::BedrockConverse::new(sdk)));
    registry.register(Arc::new(skill)).expect("register");
    StepRig::new(Arc::new(registry)).await
}

/// Runs one `llm_invoke` step.
trait RunLlm {
    async fn run_llm(&self, input: Value) -> (aos_runtime::ports::RunRecord, Vec<aos_core::Checkpoint>);
}

impl RunLlm for StepRig {
    async fn run_llm(&self, input: Value) -> (aos_runtime::ports::RunRecord, Vec<aos_core::Checkpoint>) {
        self.run(json!({"skill": "llm_invoke", "input": input})).await
    }
}

fn ask(provider: &str, model: &str, extra: Value) -> Value {
    let mut v = json!({"provider": provider, "model": model, "system": "You are a planner. Answer in JSON.",
                       "messages": [{"role": "user", "content": "plan the day"}], "max_tokens": 64});
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

#[tokio::test]
async fn anthropic_requests_carry_the_key_from_secrets_and_cache_control_and_are_costed() {
    let (addr, fake) = serve(vec![(200, vec![], anthropic_ok())]).await;
    let rig = make_rig(addr, true, false).await;
    let (run, cps) = rig.run_llm(ask("anthropic", "claude-sonnet-4-20250514", json!({"temperature": 0.5}))).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    let out = run.output.expect("output");
    assert_eq!(out["text"], "hello there");
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 1000, "output_tokens": 500, "cache_read_tokens": 2000, "cache_write_tokens": 0})
    );
    // 1000 x 300 + 500 x 1500 + 2000 x 30 (cache reads at a tenth) cents per million = 1.11 c.
    assert!((out["cost_cents_exact"].as_f64().expect("cost") - 1.11).abs() < 1e-9, "{out}");
    assert_eq!(cps[0].outcome.cost_cents, 2, "charged in whole cents, rounded up");
    assert_eq!(out["cache"]["hit"], false);
    let f = fake.lock().expect("fake");
    let (_, headers, body) = &f.seen[0];
    assert_eq!(headers["x-api-key"], "sk-test-123");
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert!(headers.get("authorization").is_none());
    assert_eq!(body["system"][0]["cache_control"], json!({"type": "ephemeral"}), "the stable prefix is cached: {body}");
    assert_eq!(body["messages"], json!([{"role": "user", "content": "plan the day"}]));
    assert_eq!(
        (body["model"].clone(), body["max_tokens"].clone(), body["temperature"].clone()),
        (json!("claude-sonnet-4-20250514"), json!(64), json!(0.5))
    );
    // Nothing of the key or the prompt is in the stored outcome.
    let stored = serde_json::to_string(&cps).expect("json");
    assert!(!stored.contains("sk-test-123"));
}

#[tokio::test]
async fn an_openai_compatible_server_gets_the_chat_completions_shape_and_deterministic_calls_hit_the_cache() {
    let (addr, fake) = serve(vec![(200, vec![], openai_ok())]).await;
    let rig = make_rig(addr, true, false).await;
    let input = ask("local", "llama3.1", json!({"temperature": 0, "seed": 7}));
    let (first, _) = rig.run_llm(input.clone()).await;
    let out = first.output.expect("output");
    assert_eq!((out["text"].clone(), out["cache"]["hit"].clone()), (json!("ok"), json!(false)));
    assert_eq!(out["usage"]["input_tokens"], 10, "prompt tokens minus the provider-cached ones");
    assert_eq!(out["usage"]["cache_read_tokens"], 30);
    let (second, cps) = rig.run_llm(input).await;
    let out2 = second.output.expect("output");
    assert_eq!(out2["cache"]["hit"], true, "{out2}");
    assert_eq!(out2["cache"]["tokens_saved"], 42);
    assert_eq!(out2["text"], "ok");
    assert_eq!(cps[0].outcome.cost_cents, 0, "a cache hit costs nothing");
    {
        let f = fake.lock().expect("fake");
        assert_eq!(f.seen.len(), 1, "the second identical deterministic call never reached the server");
        let (_, headers, body) = &f.seen[0];
        assert!(headers.get("authorization").is_none(), "no key configured, none sent");
        assert_eq!(body["messages"][0], json!({"role": "system", "content": "You are a planner. Answer in JSON."}));
        assert_eq!(body["messages"][1], json!({"role": "user", "content": "plan the day"}));
        assert_eq!((body["seed"].clone(), body["temperature"].as_f64()), (json!(7), Some(0.0)));
    }
    // A sampling request (temperature > 0, no seed) is never served from the cache.
    let sampled = ask("local", "llama3.1", json!({"temperature": 0.9}));
    rig.run_llm(sampled.clone()).await;
    rig.run_llm(sampled).await;
    assert_eq!(fake.lock().expect("fake").seen.len(), 3);
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_and_a_400_is_not_retried() {
    let limited = json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}});
    let (addr, fake) = serve(vec![(429, vec![("retry-after", "1")], limited), (200, vec![], anthropic_ok())]).await;
    let rig = make_rig(addr, true, false).await;
    let (run, cps) = rig.run_llm(ask("anthropic", "claude-sonnet-4-20250514", json!({}))).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    assert_eq!(cps[0].attempts, 2);
    let gap = {
        let f = fake.lock().expect("fake");
        f.seen[1].0 - f.seen[0].0
    };
    assert!(gap >= Duration::from_millis(1000), "the retry waited for Retry-After: {gap:?}");

    let bad = json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}});
    let (addr, fake) = serve(vec![(400, vec![], bad)]).await;
    let rig = make_rig(addr, true, false).await;
    let (run, cps) = rig.run_llm(ask("anthropic", "claude-sonnet-4-20250514", json!({}))).await;
    assert_eq!(run.status.as_str(), "failed");
    let err = run.error.expect("error");
    assert_eq!(err.code.as_str(), "ERR_HTTP_400");
    assert!(err.message.contains("max_tokens: too large"), "{}", err.message);
    assert!(!err.retryable);
    assert_eq!((cps[0].attempts, fake.lock().expect("fake").seen.len()), (1, 1), "not retried");
}

#[tokio::test]
async fn a_missing_key_names_the_secret_and_provider_urls_pass_the_ssrf_guard() {
    let (addr, fake) = serve(vec![(200, vec![], anthropic_ok())]).await;
    let rig = make_rig(addr, true, true).await;
    let (run, _) = rig.run_llm(ask("anthropic", "claude-sonnet-4-20250514", json!({}))).await;
    let err = run.error.expect("error");
    assert_eq!(err.code.as_str(), "ERR_SECRET_NOT_FOUND");
    assert!(err.message.contains("ANTHROPIC_API_KEY"), "{}", err.message);

    // Without an allow-list entry, a provider on a loopback address is refused before
    // any connection.
    let rig = make_rig(addr, false, false).await;
    let (run, _) = rig.run_llm(ask("local", "llama3.1", json!({}))).await;
    assert_eq!(run.error.expect("error").code.as_str(), "ERR_BLOCKED_ADDRESS");
    assert!(fake.lock().expect("fake").seen.is_empty());

    let (run, _) = rig.run_llm(ask("nope", "m", json!({}))).await;
    let err = run.error.expect("error");
    assert!(
        err.code.as_str() == "ERR_VALIDATION_FAILED" && err.message.contains("configured providers"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn bedrock_converse_gets_a_signed_request_with_a_cache_point_and_throttling_is_retryable() {
    let converse = json!({"output": {"message": {"role": "assistant", "content": [{"text": "hi from bedrock"}]}},
                          "stopReason": "end_turn",
                          "usage": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 170, "cacheReadInputTokens": 50, "cacheWriteInputTokens": 0},
                          "metrics": {"latencyMs": 12}});
    let (addr, fake) = serve(vec![(200, vec![], converse)]).await;
    let rig = make_rig(addr, true, false).await;
    let model = "anthropic.claude-3-5-sonnet-20240620-v1:0";
    let (run, _) = rig.run_llm(ask("bedrock", model, json!({"temperature": 0.2}))).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    let out = run.output.expect("output");
    assert_eq!((out["text"].clone(), out["model"].clone()), (json!("hi from bedrock"), json!(model)));
    assert_eq!(out["usage"]["cache_read_tokens"], 50);
    // 100 x 300 + 20 x 1500 + 50 x 30 cents per million.
    assert!((out["cost_cents_exact"].as_f64().expect("cost") - 0.0615).abs() < 1e-9, "{out}");
    {
        let f = fake.lock().expect("fake");
        let (_, headers, body) = &f.seen[0];
        let auth = headers["authorization"].to_str().expect("ascii");
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/"), "SigV4-signed: {auth}");
        assert_eq!(
            body["system"],
            json!([{"text": "You are a planner. Answer in JSON."}, {"cachePoint": {"type": "default"}}])
        );
        assert_eq!(body["messages"], json!([{"role": "user", "content": [{"text": "plan the day"}]}]));
        assert_eq!(body["inferenceConfig"]["maxTokens"], 64);
    }
    let throttled = json!({"message": "Too many requests, please wait before trying again."});
    let (addr, throttler) = serve(vec![(429, vec![("x-amzn-errortype", "ThrottlingException")], throttled)]).await;
    let rig = make_rig(addr, true, false).await;
    let mut input = ask("bedrock", model, json!({}));
    input["max_tokens"] = json!(8);
    let (run, _) = rig.run(json!({"skill": "llm_invoke", "input": input, "max_attempts": 1})).await;
    let err = run.error.expect("error");
    assert_eq!((err.code.as_str(), err.retryable), ("ERR_LLM_RATE_LIMIT", true), "{}", err.message);
    assert_eq!(throttler.lock().expect("fake").seen.len(), 1, "the SDK does not retry behind the step loop's back");
}
