//! `webhook_send` and `slack_send` against loopback receivers: the webhook's signature is
//! verified by an independent implementation (the `standardwebhooks` package from PyPI,
//! which `scripts/test.sh` installs and names in `AOS_PYTHON`), the Slack URL comes from
//! the run's tenant's secrets, and both go through the SSRF guard.

use aos_embedded::LocalSecrets;
use aos_runtime::net::AddressPolicy;
use aos_runtime::skills::{Outbound, SlackSendSkill, VoyageEmbedSkill, WebhookSendSkill};
use aos_runtime::{SkillRegistry, TenantSecrets};
use aos_tests::StepRig;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receiver() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    async fn take(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> &'static str {
        seen.lock().expect("seen").push((headers, body));
        "ok"
    }
    async fn embed(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> axum::Json<Value> {
        seen.lock().expect("seen").push((headers, body));
        // Out of order on purpose: the skill sorts by index.
        axum::Json(json!({"object": "list", "model": "voyage-3", "usage": {"total_tokens": 7},
            "data": [{"object": "embedding", "index": 1, "embedding": [0.5, 0.25]},
                     {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]}))
    }
    let router = Router::new()
        .route("/hook", post(take))
        .route("/slack", post(take))
        .route("/v1/embeddings", post(embed))
        .with_state(Arc::clone(&seen));
    (aos_tests::serve(router).await, seen)
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn run_step(addr: SocketAddr, allow: bool, step: Value) -> aos_runtime::ports::RunRecord {
    let dir = tempfile::tempdir().expect("tmp");
    let secrets_file = dir.path().join("secrets.json");
    // The deployment's secrets: the provider key, and names a tenant must not reach.
    std::fs::write(
        &secrets_file,
        json!({"VOYAGE_API_KEY": "pa-test", "WEBHOOK_SIGNING_SECRET": "whsec_ZGVwbG95bWVudA==", "DEPLOY_ONLY": "x"})
            .to_string(),
    )
    .expect("secrets");
    let policy = if allow {
        AddressPolicy::parse_allow_list(&addr.to_string()).expect("allow")
    } else {
        AddressPolicy::default()
    };
    let outbound = Arc::new(Outbound::new(Arc::new(LocalSecrets::new(Some(secrets_file))), Arc::new(policy)));
    let mut registry = SkillRegistry::new();
    registry.register(Arc::new(WebhookSendSkill(Arc::clone(&outbound)))).expect("register");
    registry.register(Arc::new(SlackSendSkill(Arc::clone(&outbound)))).expect("register");
    let base_url = format!("http://{addr}");
    registry.register(Arc::new(VoyageEmbedSkill { outbound, base_url })).expect("register");
    let rig = StepRig::new(Arc::new(registry)).await;
    let tenant = aos_tests::rig_tenant();
    let put = |name: &'static str, value: String| {
        let secrets = rig.embedded.tenant_secrets.clone();
        let tenant = tenant.clone();
        async move { secrets.put(&tenant, name, &value.into(), 1).await.expect("tenant secret") }
    };
    put("WEBHOOK_SIGNING_SECRET", SECRET.to_owned()).await;
    put("SLACK_WEBHOOK_URL", format!("http://{addr}/slack")).await;
    rig.run(step).await.0
}

#[tokio::test]
#[ignore = "needs Python with standardwebhooks (AOS_PYTHON): ./scripts/test.sh runs it"]
async fn webhook_signatures_verify_with_the_standard_webhooks_reference_implementation() {
    let (addr, seen) = receiver().await;
    let payload = json!({"event": "run.succeeded", "run": {"id": "run_1", "n": 3}, "note": "héllo"});
    let run = run_step(
        addr,
        true,
        json!({"skill": "webhook_send", "input": {"url": format!("http://{addr}/hook"), "payload": payload}}),
    )
    .await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    let out = run.output.expect("output");
    let (headers, body) = seen.lock().expect("seen")[0].clone();
    assert_eq!(headers["webhook-id"].to_str().expect("ascii"), out["webhook_id"].as_str().expect("id"));
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("json"), payload);
    let header = |n: &str| headers[n].to_str().expect("ascii").to_owned();
    let verify = |body: &[u8], signature: &str| {
        let headers = json!({"webhook-id": header("webhook-id"), "webhook-timestamp": header("webhook-timestamp"), "webhook-signature": signature});
        aos_tests::standard_webhook_check(SECRET, &headers, body)
    };
    let ok = verify(&body, &header("webhook-signature"));
    assert!(ok.status.success(), "standardwebhooks refused AOS's signature: {}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "verified");
    // The same check refuses a tampered body: it really verifies.
    let mut tampered = body.to_vec();
    tampered[2] ^= 1;
    assert!(!verify(&tampered, &header("webhook-signature")).status.success());
}

#[tokio::test]
async fn slack_messages_go_to_the_url_in_secrets_and_both_skills_pass_the_ssrf_guard() {
    let (addr, seen) = receiver().await;
    let run = run_step(
        addr,
        true,
        json!({"skill": "slack_send", "input": {"text": "deploy done", "blocks": [{"type": "divider"}]}}),
    )
    .await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    let (_, body) = seen.lock().expect("seen")[0].clone();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("json"),
        json!({"text": "deploy done", "blocks": [{"type": "divider"}]})
    );

    let before = seen.lock().expect("seen").len();
    let run = run_step(addr, false, json!({"skill": "slack_send", "input": {"text": "x"}})).await;
    let err = run.error.expect("refused");
    assert_eq!(err.code.as_str(), "ERR_BLOCKED_ADDRESS");
    assert!(!err.message.contains("/slack"), "the secret URL stays out of errors: {}", err.message);
    let run = run_step(
        addr,
        false,
        json!({"skill": "webhook_send", "input": {"url": format!("http://{addr}/hook"), "payload": {}}}),
    )
    .await;
    assert_eq!(run.error.expect("refused").code.as_str(), "ERR_BLOCKED_ADDRESS");
    assert_eq!(seen.lock().expect("seen").len(), before, "nothing reached the receiver");
    let run = run_step(addr, true, json!({"skill": "webhook_send", "input": {"url": format!("http://{addr}/hook"), "payload": {}, "secret": "NOPE"}})).await;
    let err = run.error.expect("missing");
    assert!(err.code.as_str() == "ERR_SECRET_NOT_FOUND" && err.message.contains("NOPE"), "{}", err.message);
    // A deployment secret is not a tenant's to name, for signing or as a Slack URL.
    for step in [
        json!({"skill": "webhook_send", "input": {"url": format!("http://{addr}/hook"), "payload": {}, "secret": "DEPLOY_ONLY"}}),
        json!({"skill": "slack_send", "input": {"text": "x", "webhook_secret": "VOYAGE_API_KEY"}}),
    ] {
        let run = run_step(addr, true, step).await;
        assert_eq!(run.error.expect("refused").code.as_str(), "ERR_SECRET_NOT_FOUND");
    }
    assert_eq!(seen.lock().expect("seen").len(), before, "nothing went out under a deployment secret");
}

#[tokio::test]
async fn voyage_embeddings_come_back_in_input_order_with_the_key_from_secrets() {
    let (addr, seen) = receiver().await;
    let step = json!({"skill": "voyage_embed", "input": {"input": ["alpha", "beta"], "input_type": "document"}});
    let run = run_step(addr, true, step).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    let out = run.output.expect("output");
    assert_eq!(out["embeddings"], json!([[0.1, 0.2], [0.5, 0.25]]));
    assert_eq!((out["dimensions"].clone(), out["model"].clone()), (json!(2), json!("voyage-3")));
    let (headers, body) = seen.lock().expect("seen")[0].clone();
    assert_eq!(headers["authorization"], "Bearer pa-test");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("json"),
        json!({"input": ["alpha", "beta"], "model": "voyage-3", "input_type": "document"})
    );
}
