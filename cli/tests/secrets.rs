//! Tenant secrets end to end on the real `aos dev` process, on both backends: each tenant
//! signs webhooks with its own key (another tenant's key does not verify them), no tenant
//! reaches a deployment secret, `${secrets.NAME}` hands the value to the skill and to
//! nothing else — not the API's answers, not the log at TRACE, not the stored rows.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use common::{free_port, spawn_with, Api, Backend};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "tok-alpha-7f3a9c1e5b42";
const DEPLOY: &str = "deploy-only-value-0042";
const KEY_A: &[u8] = b"tenant-a-signing-key-0123456789";
const KEY_B: &[u8] = b"tenant-b-signing-key-9876543210";

fn whsec(key: &[u8]) -> String {
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// `/echo` answers with the Authorization header it got (so a leak would show in the
/// step's output); `/hook` records webhooks.
async fn upstream() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    async fn echo(headers: HeaderMap, body: Bytes) -> Json<Value> {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        Json(json!({"authorization": auth, "body": String::from_utf8_lossy(&body)}))
    }
    async fn hook(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> &'static str {
        seen.lock().expect("seen").push((headers, body));
        "ok"
    }
    let router = Router::new().route("/echo", post(echo)).route("/hook", post(hook)).with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, seen)
}

/// Whether the Standard Webhooks signature in `headers` verifies under `key`: computed
/// here from the specification, not with AOS's signer.
fn verifies(headers: &HeaderMap, body: &[u8], key: &[u8]) -> bool {
    let h = |n: &str| headers[n].to_str().expect("ascii").to_owned();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{}.{}.", h("webhook-id"), h("webhook-timestamp")).as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    h("webhook-signature").split(' ').any(|s| s == expected)
}

/// Every text the test saw from the API, to search for secret values.
#[derive(Default)]
struct Answers(Mutex<String>);

impl Answers {
    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        self.0.lock().expect("answers").push_str(&text);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

async fn run_to_end(api: &Api, answers: &Answers, key: &str, plan: Value) -> Value {
    let (status, run) = answers
        .send(api.http.post(format!("{}/v1/runs", api.base)).bearer_auth(key).json(&json!({"plan": plan})))
        .await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, run) = answers.send(api.http.get(format!("{}/v1/runs/{id}", api.base)).bearer_auth(key)).await;
        if ["succeeded", "failed", "cancelled"].contains(&run["status"].as_str().unwrap_or_default()) {
            answers.send(api.http.get(format!("{}/v1/runs/{id}/steps", api.base)).bearer_auth(key)).await;
            return run;
        }
        assert!(std::time::Instant::now() < deadline, "run {id} did not end");
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
}

async fn put_secret(api: &Api, answers: &Answers, key: &str, name: &str, value: &str) -> (u16, Value) {
    answers
        .send(api.http.put(format!("{}/v1/secrets/{name}", api.base)).bearer_auth(key).json(&json!({"value": value})))
        .await
}

async fn secrets_stay_with_their_tenant_and_their_skill(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let (up, seen) = upstream().await;
    let port = free_port();
    let prefix = match &backend {
        Backend::Aws { name, .. } => format!("{name}/"),
        Backend::Embedded => "aos/".to_owned(),
    };
    // The deployment's own secret, where the operator keeps it (the environment on the
    // embedded backend, set below; Secrets Manager on AWS).
    backend.store_deployment_secret(&format!("{prefix}DEPLOY_KEY"), DEPLOY).await;
    let envs = [("AOS_LOG", "trace"), ("AOS_SECRET_DEPLOY_KEY", DEPLOY), ("AOS_SECRETS_PREFIX", prefix.as_str())];
    let mut child = spawn_with(&backend, dir.path(), port, &up.to_string(), None, &envs);
    let api = Api::connect(dir.path(), port).await;
    let answers = Answers::default();
    let a = api.key.clone();
    let operator = std::fs::read_to_string(dir.path().join("data/operator-api-key")).expect("operator key");
    let (status, created) = answers
        .send(api.http.post(format!("{}/v1/tenants", api.base)).bearer_auth(&operator).json(&json!({"name": "globex"})))
        .await;
    assert_eq!(status, 201, "{created}");
    let b = created["api_key"]["key"].as_str().expect("key").to_owned();

    // Each tenant sets its own signing key under the same name; values never come back.
    assert_eq!(put_secret(&api, &answers, &a, "WEBHOOK_SIGNING_SECRET", &whsec(KEY_A)).await.0, 201);
    assert_eq!(put_secret(&api, &answers, &b, "WEBHOOK_SIGNING_SECRET", &whsec(KEY_B)).await.0, 201);
    assert_eq!(put_secret(&api, &answers, &a, "TOKEN", "first-value-replaced").await.0, 201);
    let (status, replaced) = put_secret(&api, &answers, &a, "TOKEN", TOKEN).await;
    assert_eq!((status, replaced["created"].clone()), (200, json!(false)), "{replaced}");
    let (_, listed) = answers.send(api.http.get(format!("{}/v1/secrets", api.base)).bearer_auth(&a)).await;
    let names: Vec<&str> =
        listed["secrets"].as_array().expect("list").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["TOKEN", "WEBHOOK_SIGNING_SECRET"]);
    let (_, listed) = answers.send(api.http.get(format!("{}/v1/secrets", api.base)).bearer_auth(&b)).await;
    assert_eq!(listed["secrets"].as_array().expect("list").len(), 1, "B sees only its own: {listed}");

    // Bad input is refused with a code and changes nothing.
    let (status, err) = put_secret(&api, &answers, &a, "bad%20name", "x").await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("ERR_VALIDATION_FAILED")), "{err}");
    let (status, err) = put_secret(&api, &answers, &a, "EMPTY", "").await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("ERR_VALIDATION_FAILED")), "{err}");
    let (status, _) = answers
        .send(
            api.http.put(format!("{}/v1/secrets/X", api.base)).bearer_auth(&a).json(&json!({"value": "v", "extra": 1})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = answers.send(api.http.get(format!("{}/v1/secrets", api.base))).await;
    assert_eq!(status, 401, "secrets need a key");

    // The token reaches the upstream, and is redacted from what comes back.
    let echo = format!("http://{up}/echo");
    let hook = format!("http://{up}/hook");
    let run = run_to_end(
        &api,
        &answers,
        &a,
        json!([
            {"id": "call", "skill": "http_call", "input": {"method": "POST", "url": echo,
                "headers": {"authorization": "Bearer ${secrets.TOKEN}"}, "body": {"note": "token ${secrets.TOKEN}"}}},
            {"id": "notify", "skill": "webhook_send", "input": {"url": hook, "payload": {"from": "a"}}},
        ]),
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let (_, steps) = answers
        .send(api.http.get(format!("{}/v1/runs/{}/steps", api.base, run["id"].as_str().expect("id"))).bearer_auth(&a))
        .await;
    let call = &steps["steps"][0]["outcome"]["output"]["body"];
    assert_eq!(call["authorization"], "Bearer [secret TOKEN]", "{steps}");
    assert_eq!(call["body"], r#"{"note":"token [secret TOKEN]"}"#, "{steps}");
    let run_b = run_to_end(
        &api,
        &answers,
        &b,
        json!([{"skill": "webhook_send", "input": {"url": hook, "payload": {"from": "b"}}}]),
    )
    .await;
    assert_eq!(run_b["status"], "succeeded", "{run_b}");

    // A's webhook verifies under A's key only; B's under B's only.
    {
        let seen = seen.lock().expect("seen");
        assert_eq!(seen.len(), 2);
        let from = |who: &str| {
            seen.iter()
                .find(|(_, body)| serde_json::from_slice::<Value>(body).expect("json")["from"] == who)
                .expect("sent")
        };
        let (ha, ba) = from("a");
        let (hb, bb) = from("b");
        assert!(verifies(ha, ba, KEY_A) && !verifies(ha, ba, KEY_B), "A's webhook signed with A's key only");
        assert!(verifies(hb, bb, KEY_B) && !verifies(hb, bb, KEY_A), "B's webhook signed with B's key only");
    }

    // No tenant reaches a deployment secret, by skill field or by reference; a missing
    // secret fails its step naming it.
    for (plan, missing) in [
        (
            json!([{"skill": "webhook_send", "input": {"url": hook, "payload": {}, "secret": "DEPLOY_KEY"}}]),
            "DEPLOY_KEY",
        ),
        (
            json!([{"skill": "http_call", "input": {"url": echo, "method": "POST", "headers": {"x": "${secrets.DEPLOY_KEY}"}}}]),
            "DEPLOY_KEY",
        ),
        (
            json!([{"skill": "http_call", "input": {"url": echo, "method": "POST", "headers": {"x": "${secrets.NOPE}"}}}]),
            "NOPE",
        ),
    ] {
        let run = run_to_end(&api, &answers, &b, plan).await;
        assert_eq!(run["error"]["code"], "ERR_SECRET_NOT_FOUND", "{run}");
        assert!(run["error"]["message"].as_str().expect("message").contains(missing), "{run}");
    }
    assert_eq!(seen.lock().expect("seen").len(), 2, "nothing went out under a deployment secret");

    // Deleted is gone: 204, then 404, then a step that needs it fails.
    let (status, _) = answers.send(api.http.delete(format!("{}/v1/secrets/TOKEN", api.base)).bearer_auth(&a)).await;
    assert_eq!(status, 204);
    let (status, err) = answers.send(api.http.delete(format!("{}/v1/secrets/TOKEN", api.base)).bearer_auth(&a)).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("ERR_NOT_FOUND")));
    let run = run_to_end(
        &api,
        &answers,
        &a,
        json!([{"skill": "http_call", "input": {"url": echo, "method": "POST", "headers": {"x": "${secrets.TOKEN}"}}}]),
    )
    .await;
    assert_eq!(run["error"]["code"], "ERR_SECRET_NOT_FOUND", "{run}");
    answers.send(api.http.get(format!("{}/v1/runs", api.base)).bearer_auth(&a)).await;

    let _ = child.kill();
    let _ = child.wait();
    let values = [TOKEN.to_owned(), whsec(KEY_A), whsec(KEY_B), DEPLOY.to_owned()];
    let answered = answers.0.lock().expect("answers").clone();
    let log = std::fs::read_to_string(dir.path().join("aos.log")).expect("log");
    assert!(log.contains("TRACE"), "the log ran at TRACE");
    let rows = backend.stored_rows(&dir.path().join("data")).await;
    for v in &values {
        assert!(!answered.contains(v.as_str()), "an API answer carries a secret value");
        assert!(!log.contains(v.as_str()), "the log (TRACE) carries a secret value");
        assert!(!rows.contains(v.as_str()), "the store's rows carry a secret value");
    }
    assert!(answered.contains("[secret TOKEN]"), "the answers were searched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_secrets_on_the_embedded_backend_stay_with_their_tenant_and_their_skill() {
    secrets_stay_with_their_tenant_and_their_skill(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn tenant_secrets_on_the_aws_backend_stay_with_their_tenant_and_their_skill() {
    secrets_stay_with_their_tenant_and_their_skill(Backend::aws()).await;
}
