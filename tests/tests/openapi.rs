//! The OpenAPI document against the API it describes, over HTTP on a local stack: the
//! served document is the committed one, and every answer of a tour of every route (its
//! successes and its errors) has a status the document lists for that operation and a
//! body its schema accepts.

use aos_tests::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const COMMITTED: &str = include_str!("../../docs/openapi.json");

/// Checks answers against the document.
struct Checker {
    doc: Value,
    stack: TestStack,
    http: reqwest::Client,
    /// Operations answered, as `METHOD template`.
    seen: std::collections::BTreeSet<String>,
    checked: usize,
}

impl Checker {
    /// The schema of `template`'s `method` answer with `status` (failing when the
    /// document does not list that status).
    fn schema(&self, method: &Method, template: &str, status: StatusCode) -> Option<Value> {
        let op = &self.doc["paths"][template][method.as_str().to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {template} is not in the document");
        let mut response = &op["responses"][status.as_str()];
        assert!(response.is_object(), "{method} {template} answered {status}, which the document does not list");
        if let Some(r) = response["$ref"].as_str() {
            response = &self.doc["components"]["responses"][r.rsplit('/').next().unwrap_or_default()];
        }
        let schema = response["content"]["application/json"]["schema"].clone();
        (!schema.is_null()).then_some(schema)
    }

    /// Asserts that `body` is what the document says `template`'s `method` answers with
    /// `status`.
    fn conforms(&mut self, method: &Method, template: &str, status: StatusCode, body: &Value) {
        self.seen.insert(format!("{method} {template}"));
        let errors = self.errors(method, template, status, body);
        assert!(errors.is_empty(), "{method} {template} {status} breaks its schema: {errors:?}\n{body}");
        self.checked += 1;
    }

    /// How `body` breaks the schema of that answer (none: it conforms).
    fn errors(&self, method: &Method, template: &str, status: StatusCode, body: &Value) -> Vec<String> {
        let Some(schema) = self.schema(method, template, status) else {
            return if body.is_null() { Vec::new() } else { vec![format!("the document says no body, got {body}")] };
        };
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"].clone(),
            "allOf": [schema],
        });
        let validator = jsonschema::validator_for(&root).expect("the document's schemas compile");
        validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path)).take(5).collect()
    }

    /// Sends a request (`path` is `template` filled in) and checks its answer.
    async fn call(
        &mut self,
        method: Method,
        template: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.stack.stack.url()));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request reaches the stack");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON answer") };
        self.conforms(&method, template, status, &value);
        (status, value)
    }

    /// The whole stream of a finished run or execution, which the document describes as
    /// Server-Sent Events rather than JSON.
    async fn events(&mut self, template: &str, path: &str, key: &str) -> String {
        let resp = self.http.get(format!("{}{path}", self.stack.stack.url())).bearer_auth(key).send().await;
        let resp = resp.expect("stream");
        assert_eq!(resp.status(), StatusCode::OK);
        let media = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(media.starts_with("text/event-stream"), "{media}");
        let op = &self.doc["paths"][template]["get"]["responses"]["200"]["content"];
        assert!(op["text/event-stream"].is_object() && op["application/json"].is_null(), "{template}: {op}");
        self.seen.insert(format!("GET {template}"));
        resp.text().await.expect("the stream of a finished run ends")
    }

    async fn raw(&mut self, template: &str, path: &str, content_type: &str, body: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.stack.stack.url()))
            .bearer_auth(self.stack.key())
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .expect("request reaches the stack");
        let status = resp.status();
        let value: Value = serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        self.conforms(&Method::POST, template, status, &value);
        (status, value)
    }
}

#[tokio::test]
async fn every_answer_of_every_route_is_what_the_document_says() {
    let stack = TestStack::start("").await;
    let (dev, op) = (stack.key(), stack.operator_key());
    let served = reqwest::get(format!("{}/v1/openapi.json", stack.stack.url())).await.expect("served");
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.text().await.expect("text"), COMMITTED, "the served document is docs/openapi.json");
    let doc: Value = serde_json::from_str(COMMITTED).expect("json");
    let mut c = Checker { doc, stack, http: reqwest::Client::new(), seen: Default::default(), checked: 0 };
    let (dev, op) = (dev.as_str(), op.as_str());
    let (get, post, put, delete) = (Method::GET, Method::POST, Method::PUT, Method::DELETE);

    c.call(get.clone(), "/healthz", "/healthz", None, None).await;
    c.call(get.clone(), "/v1/openapi.json", "/v1/openapi.json", None, None).await;
    c.call(get.clone(), "/v1/skills", "/v1/skills", Some(dev), None).await;
    c.call(get.clone(), "/v1/skills", "/v1/skills", None, None).await;
    c.call(get.clone(), "/v1/skills", "/v1/skills", Some("aos_not-a-key"), None).await;

    // Runs: submitted and awaited, read, listed, stepped, cancelled once finished; and
    // refused: a bad plan, malformed JSON, another content type, an unknown run.
    let step = json!({"skill": "json_transform", "input": {"expression": "a", "data": {"a": 1}}});
    let plan = json!({"plan": [step, step, step]});
    let (st, run) = c.call(post.clone(), "/v1/runs", "/v1/runs?wait=10s", Some(dev), Some(plan.clone())).await;
    assert_eq!((st, run["status"].as_str()), (StatusCode::CREATED, Some("succeeded")), "{run}");
    let id = run["id"].as_str().expect("id").to_owned();
    // The check itself can fail: a run with a status it never has, or a step without its
    // checkpoint's hash, breaks the schema.
    let mut broken = run.clone();
    broken["status"] = json!("exploded");
    assert!(!c.errors(&post, "/v1/runs", StatusCode::CREATED, &broken).is_empty());
    broken = run.clone();
    broken.as_object_mut().expect("object").remove("steps_done");
    assert!(!c.errors(&post, "/v1/runs", StatusCode::CREATED, &broken).is_empty());
    c.call(get.clone(), "/v1/runs/{id}", &format!("/v1/runs/{id}"), Some(dev), None).await;
    c.call(get.clone(), "/v1/runs/{id}", &format!("/v1/runs/{id}?wait=1s"), Some(dev), None).await;
    c.call(get.clone(), "/v1/runs/{id}", "/v1/runs/run_missing", Some(dev), None).await;
    c.call(get.clone(), "/v1/runs/{id}", &format!("/v1/runs/{id}?wait=forever"), Some(dev), None).await;
    let (_, steps) = c.call(get.clone(), "/v1/runs/{id}/steps", &format!("/v1/runs/{id}/steps"), Some(dev), None).await;
    assert_eq!(steps["chain_valid"], true, "{steps}");
    let mut broken = steps.clone();
    broken["steps"][0]["hash"] = json!(42);
    assert!(!c.errors(&get, "/v1/runs/{id}/steps", StatusCode::OK, &broken).is_empty());
    c.call(get.clone(), "/v1/runs", "/v1/runs?limit=2", Some(dev), None).await;
    c.call(get.clone(), "/v1/runs", "/v1/runs?status=nope", Some(dev), None).await;
    c.call(get.clone(), "/v1/runs", "/v1/runs?limit=0", Some(dev), None).await;
    c.call(post.clone(), "/v1/runs/{id}/cancel", &format!("/v1/runs/{id}/cancel"), Some(dev), None).await;
    let waiting =
        json!({"plan": [{"skill": "json_transform", "input": {"expression": "a", "data": {"a": 1}}, "timeout_ms": 0}]});
    c.call(post.clone(), "/v1/runs", "/v1/runs", Some(dev), Some(waiting)).await;
    c.call(post.clone(), "/v1/runs", "/v1/runs", Some(dev), Some(json!({"plan": [{"skill": "teleport"}]}))).await;
    c.call(post.clone(), "/v1/runs", "/v1/runs", Some(dev), Some(json!({"plan": [step], "colour": "red"}))).await;
    c.raw("/v1/runs", "/v1/runs", "application/json", "{not json").await;
    c.raw("/v1/runs", "/v1/runs", "text/plain", "hello").await;
    let goal = json!({"goal": "say hi", "agent": {"planner": {"type": "static", "steps": [step]}}});
    let (st, agent) = c.call(post.clone(), "/v1/runs", "/v1/runs?wait=10s", Some(dev), Some(goal)).await;
    assert_eq!(st, StatusCode::CREATED, "{agent}");
    let text = c.events("/v1/runs/{id}/events", &format!("/v1/runs/{id}/events"), dev).await;
    assert!(text.contains("event: run"), "{text}");
    c.call(get.clone(), "/v1/runs/{id}/events", "/v1/runs/run_missing/events", Some(dev), None).await;
    c.call(
        post.clone(),
        "/v1/runs/simulate",
        "/v1/runs/simulate",
        Some(dev),
        Some(json!({"plan": [{"skill": "llm_invoke", "iterations": 10}], "budget_cents": 100})),
    )
    .await;
    c.call(post.clone(), "/v1/runs/simulate", "/v1/runs/simulate", Some(dev), Some(json!({"goal": "x"}))).await;

    // Tenants, plans and keys.
    let (st, made) = c
        .call(post.clone(), "/v1/tenants", "/v1/tenants", Some(op), Some(json!({"name": "Acme", "id": "ten_acme"})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{made}");
    c.call(post.clone(), "/v1/tenants", "/v1/tenants", Some(dev), Some(json!({"name": "Nope"}))).await;
    c.call(
        put.clone(),
        "/v1/tenants/{id}/retention",
        "/v1/tenants/ten_acme/retention",
        Some(op),
        Some(json!({"days": 7})),
    )
    .await;
    c.call(
        put.clone(),
        "/v1/tenants/{id}/retention",
        "/v1/tenants/ten_acme/retention",
        Some(op),
        Some(json!({"days": 0})),
    )
    .await;
    c.call(put.clone(), "/v1/tenants/{id}/plan", "/v1/tenants/ten_acme/plan", Some(op), Some(json!({"plan": "pro"})))
        .await;
    c.call(put.clone(), "/v1/tenants/{id}/plan", "/v1/tenants/ten_acme/plan", Some(op), Some(json!({"plan": "gold"})))
        .await;
    let (_, key) = c
        .call(post.clone(), "/v1/api-keys", "/v1/api-keys", Some(dev), Some(json!({"label": "ci", "role": "readonly"})))
        .await;
    c.call(post.clone(), "/v1/api-keys", "/v1/api-keys", Some(dev), Some(json!({"role": "emperor"}))).await;
    // An array is no body of any route, even where every field has a default (found by
    // schemathesis).
    let (st, _) = c.call(post.clone(), "/v1/api-keys", "/v1/api-keys", Some(dev), Some(json!([]))).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    c.call(get.clone(), "/v1/api-keys", "/v1/api-keys", Some(dev), None).await;
    let key_id = key["id"].as_str().unwrap_or_else(|| panic!("a key: {key}"));
    c.call(post.clone(), "/v1/api-keys/{id}/revoke", &format!("/v1/api-keys/{key_id}/revoke"), Some(dev), None).await;
    c.call(post.clone(), "/v1/api-keys/{id}/revoke", "/v1/api-keys/key_missing/revoke", Some(dev), None).await;
    c.call(get.clone(), "/v1/quotas", "/v1/quotas", Some(dev), None).await;

    // Secrets, policies, audit, flags.
    c.call(put.clone(), "/v1/secrets/{name}", "/v1/secrets/token", Some(dev), Some(json!({"value": "s3cret"}))).await;
    c.call(put.clone(), "/v1/secrets/{name}", "/v1/secrets/token", Some(dev), Some(json!({"value": 7}))).await;
    c.call(get.clone(), "/v1/secrets", "/v1/secrets", Some(dev), None).await;
    c.call(delete.clone(), "/v1/secrets/{name}", "/v1/secrets/token", Some(dev), None).await;
    c.call(delete.clone(), "/v1/secrets/{name}", "/v1/secrets/token", Some(dev), None).await;
    let policy = "@id(\"no-email\")\nforbid (principal, action == AOS::Action::\"step\", resource) when { resource.skill == \"email_send\" };";
    c.call(put.clone(), "/v1/policies", "/v1/policies", Some(dev), Some(json!({"text": policy}))).await;
    c.call(put.clone(), "/v1/policies", "/v1/policies", Some(dev), Some(json!({"text": "permit (principal"}))).await;
    c.call(put.clone(), "/v1/policies", "/v1/policies", Some(dev), Some(json!({"text": policy, "base_version": 0})))
        .await;
    c.call(get.clone(), "/v1/policies", "/v1/policies", Some(dev), None).await;
    c.call(
        post.clone(),
        "/v1/policies/evaluate",
        "/v1/policies/evaluate",
        Some(dev),
        Some(json!({"skill": "email_send"})),
    )
    .await;
    c.call(
        post.clone(),
        "/v1/policies/evaluate",
        "/v1/policies/evaluate",
        Some(dev),
        Some(json!({"operation": "runs.create", "role": "readonly"})),
    )
    .await;
    c.call(
        post.clone(),
        "/v1/policies/evaluate",
        "/v1/policies/evaluate",
        Some(dev),
        Some(json!({"skill": "teleport"})),
    )
    .await;
    c.call(get.clone(), "/v1/audit", "/v1/audit?limit=5", Some(dev), None).await;
    c.call(get.clone(), "/v1/audit", "/v1/audit?order=asc", Some(dev), None).await;
    c.call(get.clone(), "/v1/audit", "/v1/audit?order=sideways", Some(dev), None).await;
    // Past the stores' signed integers (found by schemathesis): refused, not a 500.
    let (st, _) = c.call(get.clone(), "/v1/audit", "/v1/audit?before=9223372036854775808", Some(dev), None).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let flag = json!({"description": "new planner", "enabled": true, "rollout_percent": 30, "rules": [{"attribute": "plan", "op": "in", "values": ["pro"], "serve": true}]});
    c.call(put.clone(), "/v1/flags/{key}", "/v1/flags/new-planner", Some(dev), Some(flag)).await;
    c.call(
        put.clone(),
        "/v1/flags/{key}",
        "/v1/flags/new-planner",
        Some(dev),
        Some(json!({"enabled": true, "colour": 1})),
    )
    .await;
    c.call(get.clone(), "/v1/flags", "/v1/flags", Some(dev), None).await;
    c.call(get.clone(), "/v1/flags/{key}", "/v1/flags/new-planner", Some(dev), None).await;
    c.call(get.clone(), "/v1/flags/{key}", "/v1/flags/missing", Some(dev), None).await;
    c.call(
        get.clone(),
        "/v1/flags/{key}/evaluate",
        "/v1/flags/new-planner/evaluate?id=run_1&plan=pro",
        Some(dev),
        None,
    )
    .await;
    c.call(get.clone(), "/v1/flags/{key}/evaluate", "/v1/flags/new-planner/evaluate", Some(dev), None).await;

    // Credits and usage.
    c.call(
        post.clone(),
        "/v1/credits/grants",
        "/v1/credits/grants",
        Some(op),
        Some(json!({"tenant_id": "ten_acme", "id": "welcome", "amount_cents": 500})),
    )
    .await;
    c.call(
        post.clone(),
        "/v1/credits/grants",
        "/v1/credits/grants",
        Some(op),
        Some(json!({"tenant_id": "ten_acme", "amount_cents": -1})),
    )
    .await;
    c.call(get.clone(), "/v1/credits", "/v1/credits", Some(dev), None).await;
    c.call(get.clone(), "/v1/credits/ledger", "/v1/credits/ledger", Some(dev), None).await;
    c.call(get.clone(), "/v1/credits/ledger", "/v1/credits/ledger?after=nope", Some(dev), None).await;
    c.call(get.clone(), "/v1/usage", "/v1/usage?group_by=skill", Some(dev), None).await;
    c.call(get.clone(), "/v1/usage", "/v1/usage?group_by=colour", Some(dev), None).await;

    // Workflows, executions and approvals.
    let spec = "name: confo\nnodes:\n  - id: t\n    skill: json_transform\n    input: {expression: a, data: {a: 1}}\n  - id: ok\n    type: approval\n    depends_on: [t]\n    prompt: Go?\n    timeout_s: 60\noutput: {t: \"${steps.t.output.result}\"}\n";
    let (st, w) = c.raw("/v1/workflows", "/v1/workflows", "application/yaml", spec).await;
    assert_eq!(st, StatusCode::CREATED, "{w}");
    c.raw("/v1/workflows", "/v1/workflows", "application/yaml", "name: [").await;
    c.raw("/v1/workflows", "/v1/workflows", "application/json", "{\"name\": \"empty\", \"nodes\": []}").await;
    c.call(get.clone(), "/v1/workflows/{name}", "/v1/workflows/confo", Some(dev), None).await;
    c.call(get.clone(), "/v1/workflows/{name}", "/v1/workflows/missing", Some(dev), None).await;
    c.call(
        post.clone(),
        "/v1/workflows/{name}/simulate",
        "/v1/workflows/confo/simulate",
        Some(dev),
        Some(json!({"budget_cents": 10})),
    )
    .await;
    let (st, e) = c
        .call(
            post.clone(),
            "/v1/workflows/{name}/executions",
            "/v1/workflows/confo/executions",
            Some(dev),
            Some(json!({"input": {}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{e}");
    c.call(
        post.clone(),
        "/v1/workflows/{name}/executions",
        "/v1/workflows/confo/executions",
        Some(dev),
        Some(json!({"version": 99})),
    )
    .await;
    let exe = e["id"].as_str().expect("execution id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let approval = loop {
        let (_, list) = c.call(get.clone(), "/v1/approvals", "/v1/approvals?status=pending", Some(dev), None).await;
        if let Some(a) = list["approvals"].as_array().and_then(|a| a.first()) {
            break a["id"].as_str().expect("approval id").to_owned();
        }
        assert!(Instant::now() < deadline, "the approval node asks: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    c.call(get.clone(), "/v1/approvals", "/v1/approvals?status=maybe", Some(dev), None).await;
    let decide = format!("/v1/approvals/{approval}/decision");
    c.call(post.clone(), "/v1/approvals/{id}/decision", &decide, Some(dev), Some(json!({"decision": "perhaps"}))).await;
    c.call(
        post.clone(),
        "/v1/approvals/{id}/decision",
        &decide,
        Some(dev),
        Some(json!({"decision": "approve", "comment": "ok"})),
    )
    .await;
    c.call(post.clone(), "/v1/approvals/{id}/decision", &decide, Some(dev), Some(json!({"decision": "approve"}))).await;
    let (_, done) =
        c.call(get.clone(), "/v1/executions/{id}", &format!("/v1/executions/{exe}?wait=20s"), Some(dev), None).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    c.call(get.clone(), "/v1/executions/{id}", "/v1/executions/exe_missing", Some(dev), None).await;
    let text = c.events("/v1/executions/{id}/events", &format!("/v1/executions/{exe}/events"), dev).await;
    assert!(text.contains("event: execution"), "{text}");
    c.call(get.clone(), "/v1/executions/{id}/events", "/v1/executions/exe_missing/events", Some(dev), None).await;
    c.call(post.clone(), "/v1/executions/{id}/cancel", &format!("/v1/executions/{exe}/cancel"), Some(dev), None).await;

    // The document's example bodies work as they are.
    let doc: Value = serde_json::from_str(&aos_api::document_json()).expect("json");
    for (template, path, method) in [
        ("/v1/runs", "/v1/runs".to_owned(), "post"),
        ("/v1/runs/simulate", "/v1/runs/simulate".to_owned(), "post"),
        ("/v1/workflows", "/v1/workflows".to_owned(), "post"),
        ("/v1/workflows/{name}/executions", "/v1/workflows/example/executions".to_owned(), "post"),
    ] {
        let example = doc["paths"][template][method]["requestBody"]["content"]["application/json"]["example"].clone();
        assert!(example.is_object(), "{template} has an example body");
        let (status, body) = c.call(post.clone(), template, &path, Some(dev), Some(example)).await;
        assert!(status.is_success(), "the example of {template} is accepted: {status} {body}");
    }

    let all: Vec<String> = aos_api::Route::ALL
        .iter()
        .filter(|r| r.in_openapi())
        .map(|r| {
            let (m, p) = r.method_and_path();
            format!("{m} {p}")
        })
        .collect();
    let missed: Vec<&String> = all.iter().filter(|r| !c.seen.contains(*r)).collect();
    assert!(missed.is_empty(), "every route is toured: {missed:?}");
    assert!(c.checked > 80, "{} answers checked", c.checked);
    c.stack.stop().await;
}
