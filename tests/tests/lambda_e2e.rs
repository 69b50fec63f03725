//! The real Lambdas end to end: the function binaries run under `cargo lambda watch`
//! (its Lambda runtime emulator) on the AWS adapters against moto server. The test
//! submits a run over HTTP to the `api-runs-create` function URL, acts as the SQS event
//! source mapping for `worker-step` (batches from the moto queue, deleting only the
//! records the partial batch response does not list), and checks the run ends with the
//! same outcome hashes and output as the same plan on the embedded default.

use aos_api::demo::demo_router;
use aos_aws::{create_queue, create_table, DynamoTenants};
use aos_core::limits::PlanName;
use aos_runtime::auth::create_tenant;
use aos_runtime::ports::Role;
use aos_tests::{serve, TestStack};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf()
}

fn has_cargo_lambda() -> bool {
    Command::new("cargo").args(["lambda", "--version"]).output().is_ok_and(|o| o.status.success())
}

/// `cargo lambda watch` and the file its output goes to: kept (and named) if the test
/// fails, removed if it passes.
struct Watch(Child, std::path::PathBuf);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking() {
            eprintln!("cargo lambda watch's output: {}", self.1.display());
        } else {
            let _ = std::fs::remove_file(&self.1);
        }
    }
}

fn plan(sink: std::net::SocketAddr) -> Value {
    json!({"base_seed": 77, "input": {"symbol": "LMB"}, "plan": [
        {"id": "fetch", "skill": "http_call", "input": {"url": format!("http://{sink}/demo/quote?symbol=${{input.symbol}}")}},
        {"id": "best", "skill": "json_transform", "input": {"expression": "max_by(quotes, &price)", "data": "${steps.fetch.output.body}"}},
        {"id": "save", "skill": "kv_store", "input": {"op": "put", "key": "best", "value": "${steps.best.output.result}"}},
        {"id": "read", "skill": "kv_store", "input": {"op": "get", "key": "best"}}
    ]})
}

fn hashes(steps: &Value) -> Vec<(Value, Value, Value)> {
    steps["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| (s["seed"].clone(), s["outcome_hash"].clone(), s["hash"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator and cargo-lambda: ./scripts/test.sh runs it"]
async fn the_lambdas_run_a_plan_with_the_same_results_as_the_embedded_default() {
    let endpoint = aos_tests::backends::emulator_endpoint();
    assert!(has_cargo_lambda(), "this test needs cargo-lambda on PATH: run ./scripts/test.sh, which installs it");
    aos_tests::backends::enable_step_functions(&endpoint).await;
    let (demo, sink_log) = demo_router();
    let sink = serve(demo).await;

    // The embedded default, for reference.
    let local = TestStack::start(&sink.to_string()).await;
    let local_id = local.submit(&plan(sink)).await;
    assert_eq!(local.wait(&local_id).await["status"], "succeeded");
    let local_steps = local.steps(&local_id).await;
    let local_run = local.get(&format!("/v1/runs/{local_id}")).await.body;

    // The AWS resources and a tenant.
    let conf = aos_aws::sdk_config().await;
    let name = format!("aos-e2e-{}", std::process::id());
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    create_table(&ddb, &name).await.expect("table");
    let queue = create_queue(&sqs, &name, 5, 30).await.expect("queue").queue;
    let (_, key) = create_tenant(&DynamoTenants::new(ddb, &name), None, "e2e", Role::Admin).await.expect("tenant");
    let key = key.secret.expose_secret().to_owned();

    // The functions under cargo lambda's runtime emulator.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let log_path = std::env::temp_dir().join(format!("{name}-watch.log"));
    let log = std::fs::File::create(&log_path).expect("log");
    let watch = Watch(
        Command::new("cargo")
            .args(["lambda", "watch", "--ignore-changes", "--quiet", "-A", "127.0.0.1", "-P", &port.to_string()])
            .current_dir(workspace_root())
            .env("AOS_TABLE", &name)
            .env("AOS_STEP_QUEUE_URL", &queue)
            .env("AOS_HTTP_ALLOW_HOSTS", sink.to_string())
            .env("AOS_WORKFLOW_ROLE_ARN", "arn:aws:iam::123456789012:role/aos-workflows")
            .env("AOS_WORKFLOW_PREFIX", format!("{name}-"))
            .env("AOS_LOG", "info")
            // A policy change judges the next step at once (not after the 10 s cache).
            .env("AOS_POLICY_CACHE_MS", "0")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("cargo lambda watch starts"),
        log_path,
    );
    let base = format!("http://127.0.0.1:{port}");
    // The first call to each function waits for `cargo lambda watch` to compile it: on a
    // busy 2-core machine that has taken over 5 minutes.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(900)).build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "cargo lambda watch did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let created = http
        .post(format!("{base}/lambda-url/api-runs-create/v1/runs"))
        .bearer_auth(&key)
        .json(&plan(sink))
        .send()
        .await
        .expect("api-runs-create answers");
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();

    // Act as the event source mapping until the run ends.
    let lambdas = Lambdas { http: &http, sqs: &sqs, queue: &queue, base: &base, key: &key };
    let run = lambdas.pump_until(&format!("api-runs-get/v1/runs/{id}"), run_ended).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"], local_run["output"], "the same output as on the embedded default");
    let steps: Value = http
        .get(format!("{base}/lambda-url/api-runs-steps/v1/runs/{id}/steps"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("steps")
        .json()
        .await
        .expect("json");
    assert_eq!(steps["chain_valid"], true);
    assert_eq!(hashes(&steps), hashes(&local_steps), "same seeds, outcome hashes and chain as the embedded default");
    // Its events through the events Lambda: one response with every finished step (each
    // with its index as the event id) and the run's end; after a Last-Event-ID, the rest.
    let n = steps["steps"].as_array().expect("steps").len();
    let events = |last: Option<usize>| {
        let mut req = http.get(format!("{base}/lambda-url/api-runs-events/v1/runs/{id}/events")).bearer_auth(&key);
        if let Some(l) = last {
            req = req.header("Last-Event-ID", l.to_string());
        }
        async move { req.send().await.expect("api-runs-events answers").text().await.expect("text") }
    };
    let all = events(None).await;
    let ids: Vec<&str> = all.lines().filter_map(|l| l.strip_prefix("id: ")).collect();
    let want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    assert_eq!(ids, want, "{all}");
    assert!(all.contains("event: run") && all.contains("\"succeeded\""), "{all}");
    let rest = events(Some(n - 2)).await;
    let ids: Vec<&str> = rest.lines().filter_map(|l| l.strip_prefix("id: ")).collect();
    assert_eq!(ids, [(n - 1).to_string()], "{rest}");
    // A waited read of a finished run answers at once.
    let waited: Value = http
        .get(format!("{base}/lambda-url/api-runs-get/v1/runs/{id}?wait=20s"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("api-runs-get answers")
        .json()
        .await
        .expect("json");
    assert_eq!(waited["status"], "succeeded", "{waited}");
    // The run's usage, written by the worker Lambda with its end, read through its route.
    let usage: Value = http
        .get(format!("{base}/lambda-url/api-usage-get/v1/usage?group_by=skill"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("api-usage-get answers")
        .json()
        .await
        .expect("json");
    let local_usage = local.get("/v1/usage?group_by=skill").await.body;
    assert_eq!(usage["runs"], 1, "{usage}");
    assert_eq!(usage["groups"], local_usage["groups"], "the same usage as on the embedded default");

    // The MCP route Lambda: a tool call is a one-step run that the worker Lambda runs
    // (this test pumps the queue while the call waits for its run).
    let mcp = |body: Value| {
        let req = http
            .post(format!("{base}/lambda-url/api-mcp/mcp"))
            .bearer_auth(&key)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        async move { req.send().await.expect("api-mcp answers").json::<Value>().await.expect("json") }
    };
    let tools = mcp(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})).await;
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"json_transform") && names.contains(&"aos_run_get"), "{tools}");
    let call = tokio::spawn(mcp(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "json_transform", "arguments": {"expression": "a", "data": {"a": 7}}}})));
    while !call.is_finished() {
        pump(&http, &sqs, &queue, &base).await;
    }
    let answer = call.await.expect("the call");
    assert_eq!(answer["result"]["structuredContent"], json!({"result": 7}), "{answer}");
    let mcp_run = answer["result"]["_meta"]["aos/run_id"].as_str().expect("the run it made").to_owned();
    let made: Value = http
        .get(format!("{base}/lambda-url/api-runs-get/v1/runs/{mcp_run}"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("api-runs-get answers")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (made["status"].as_str(), made["plan"][0]["skill"].as_str()),
        (Some("succeeded"), Some("json_transform"))
    );

    // A tenant secret through the secrets Lambda, used by the worker Lambda: the skill
    // gets the value, the API's answers do not.
    let put = http
        .put(format!("{base}/lambda-url/api-secrets-put/v1/secrets/SINK_TOKEN"))
        .bearer_auth(&key)
        .json(&json!({"value": "e2e-sink-token-5f1c"}))
        .send()
        .await
        .expect("api-secrets-put answers");
    assert_eq!(put.status(), 201);
    let with_secret = json!({"plan": [{"skill": "http_call", "input": {"method": "POST",
        "url": format!("http://{sink}/demo/sink"), "body": {"token": "${secrets.SINK_TOKEN}"}}}]});
    let created = http
        .post(format!("{base}/lambda-url/api-runs-create/v1/runs"))
        .bearer_auth(&key)
        .json(&with_secret)
        .send()
        .await
        .expect("api-runs-create answers");
    let secret_run = created.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let done = lambdas.pump_until(&format!("api-runs-get/v1/runs/{secret_run}"), run_ended).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let delivered = sink_log.lock().expect("sink").deliveries.iter().any(|d| d.body["token"] == "e2e-sink-token-5f1c");
    assert!(delivered, "the worker Lambda resolved the tenant's secret for the skill");
    let shown = http
        .get(format!("{base}/lambda-url/api-runs-steps/v1/runs/{secret_run}/steps"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("steps")
        .text()
        .await
        .expect("text");
    assert!(!shown.contains("e2e-sink-token-5f1c"), "the value stays out of the API");

    // A workflow through the workflow Lambdas: its version becomes a state machine on the
    // emulator's Step Functions, whose tasks the worker Lambda answers.
    let spec = WORKFLOW.replace("SINK", &sink.to_string());
    let local_exe = {
        let http = reqwest::Client::new();
        let applied = http
            .post(format!("{}/v1/workflows", local.stack.url()))
            .bearer_auth(local.key())
            .header("content-type", "application/yaml")
            .body(spec.clone())
            .send()
            .await
            .expect("apply locally");
        assert_eq!(applied.status(), 201);
        let started = local
            .call(
                reqwest::Method::POST,
                "/v1/workflows/e2e/executions",
                Some(&local.key()),
                Some(&json!({"base_seed": 9})),
                &[],
            )
            .await;
        let id = started.body["id"].as_str().expect("id").to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let e = local.get(&format!("/v1/executions/{id}")).await.body;
            if e["finished"] == true {
                break e;
            }
            assert!(Instant::now() < deadline, "the local execution did not finish: {e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(local_exe["status"], "succeeded", "{local_exe}");
    let applied = http
        .post(format!("{base}/lambda-url/api-workflows-apply/v1/workflows"))
        .bearer_auth(&key)
        .header("content-type", "application/yaml")
        .body(spec)
        .send()
        .await
        .expect("api-workflows-apply answers");
    assert_eq!(applied.status(), 201, "{:?}", applied.text().await);
    let started: Value = http
        .post(format!("{base}/lambda-url/api-executions-start/v1/workflows/e2e/executions"))
        .bearer_auth(&key)
        .json(&json!({"base_seed": 9}))
        .send()
        .await
        .expect("api-executions-start answers")
        .json()
        .await
        .expect("json");
    let exe_id = started["id"].as_str().unwrap_or_else(|| panic!("not started: {started}")).to_owned();
    let exe =
        lambdas.pump_until(&format!("api-executions-get/v1/executions/{exe_id}"), |e| e["finished"] == true).await;
    assert_eq!(exe["status"], "succeeded", "{exe}");
    assert_eq!(exe["output"], local_exe["output"], "the same output as on the embedded executor");
    let node = |e: &Value, id: &str| e["nodes"].as_array().and_then(|n| n.iter().find(|n| n["id"] == id)).cloned();
    assert!(node(&exe, "quote").and_then(|n| n["run_id"].as_str().map(str::to_owned)).is_some(), "{exe}");
    // Its nodes through the events Lambda (Step Functions' view): each finished node's
    // event with its id, then the execution's end.
    let streamed = http
        .get(format!("{base}/lambda-url/api-executions-events/v1/executions/{exe_id}/events"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("api-executions-events answers")
        .text()
        .await
        .expect("text");
    let nodes = exe["nodes"].as_array().expect("nodes").len();
    assert_eq!(streamed.lines().filter(|l| l.starts_with("id: ")).count(), nodes, "{streamed}");
    assert!(streamed.contains("event: execution"), "{streamed}");

    // An agent step on the Lambdas: the worker starts a child agent run (its static
    // planner decides the steps), parks the step, and the child's end wakes it.
    let child = json!({"goal": "read the quote", "agent": {"planner": {"type": "static", "steps": [
        {"id": "q", "skill": "http_call", "input": {"url": format!("http://{sink}/demo/quote?symbol=AOS")}},
        {"id": "sym", "skill": "json_transform", "input": {"expression": "symbol", "data": "${steps.q.output.body}"}}
    ]}}});
    let body = json!({"plan": [{"id": "ask", "skill": "agent_invoke", "input": child}]});
    let created: Value = http
        .post(format!("{base}/lambda-url/api-runs-create/v1/runs"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .expect("api-runs-create answers")
        .json()
        .await
        .expect("json");
    let agent_id = created["id"].as_str().unwrap_or_else(|| panic!("not created: {created}")).to_owned();
    let agent = lambdas.pump_until(&format!("api-runs-get/v1/runs/{agent_id}"), run_ended).await;
    assert_eq!(agent["status"], "succeeded", "{agent}");
    assert_eq!(agent["output"]["output"], json!({"result": "AOS"}), "{agent}");

    // The tenant's policies through the policy Lambdas, on DynamoDB.
    let policies = include_str!("../../examples/policies/guardrails.cedar");
    let applied = http
        .put(format!("{base}/lambda-url/api-policies-put/v1/policies"))
        .bearer_auth(&key)
        .json(&json!({"text": policies}))
        .send()
        .await
        .expect("api-policies-put answers");
    assert_eq!(applied.status(), 201, "{:?}", applied.text().await);
    let invalid = http
        .put(format!("{base}/lambda-url/api-policies-put/v1/policies"))
        .bearer_auth(&key)
        .json(&json!({"text": "forbid (principal, action, resource) when { context.nope };"}))
        .send()
        .await
        .expect("api-policies-put answers");
    assert_eq!(invalid.status(), 422);
    let listed: Value = http
        .get(format!("{base}/lambda-url/api-policies-list/v1/policies"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("api-policies-list answers")
        .json()
        .await
        .expect("json");
    assert_eq!((listed["current"]["version"].clone(), listed["current"]["policies"].clone()), (json!(1), json!(4)));
    let judged: Value = http
        .post(format!("{base}/lambda-url/api-policies-evaluate/v1/policies/evaluate"))
        .bearer_auth(&key)
        .json(&json!({"skill": "http_call", "input": {"url": "https://evil.example.net/"}}))
        .send()
        .await
        .expect("api-policies-evaluate answers")
        .json()
        .await
        .expect("json");
    assert_eq!((judged["decision"].clone(), judged["policy_version"].clone()), (json!("deny"), json!(1)), "{judged}");
    assert_eq!(judged["violations"][0]["policy"], "http-call-hosts", "{judged}");
    // The worker Lambda's gate: the same policies refuse a call to the sink's host.
    let before = sink_log.lock().expect("sink").deliveries.len();
    let delivery = json!({"plan": [{"skill": "http_call", "input": {"method": "POST",
        "url": format!("http://{sink}/demo/sink"), "body": {"gated": true}}}]});
    let refused: Value = http
        .post(format!("{base}/lambda-url/api-runs-create/v1/runs"))
        .bearer_auth(&key)
        .json(&delivery)
        .send()
        .await
        .expect("api-runs-create answers")
        .json()
        .await
        .expect("json");
    let refused_id = refused["id"].as_str().unwrap_or_else(|| panic!("not created: {refused}")).to_owned();
    let gated = lambdas.pump_until(&format!("api-runs-get/v1/runs/{refused_id}"), run_ended).await;
    assert_eq!(
        (gated["status"].clone(), gated["error"]["code"].clone()),
        (json!("failed"), json!("ERR_POLICY_VIOLATION")),
        "{gated}"
    );
    assert!(gated["error"]["message"].as_str().unwrap_or_default().contains("http-call-hosts"), "{gated}");
    assert_eq!(sink_log.lock().expect("sink").deliveries.len(), before, "the refused step never called out");
    // Both are on the tenant's audit record, read through the audit Lambda.
    let record: Value = http
        .get(format!("{base}/lambda-url/api-audit-list/v1/audit?limit=10"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("api-audit-list answers")
        .json()
        .await
        .expect("json");
    let actions: Vec<&str> = record["entries"]
        .as_array()
        .map(|l| l.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(&actions[..2], ["gate.decide", "policy.apply"], "{record}");
    assert_eq!(record["entries"][0]["resource"], format!("run:{refused_id}/step:0"), "{record}");

    // A step the policies hold for an approval parks on the worker Lambda, is decided
    // through the approval Lambdas and then runs; a policy about API operations refuses a
    // route Lambda's request.
    let held = format!(
        "{policies}\n@id(\"transform-approval\") @approval(\"2\") forbid (principal, action, resource == AOS::Skill::\"json_transform\");\n{}",
        include_str!("../../examples/policies/api.cedar")
    );
    let lambda = |method: reqwest::Method, route: String, key: String, body: Value| {
        let req = http.request(method, format!("{base}/lambda-url/{route}")).bearer_auth(key).json(&body);
        async move {
            let resp = req.send().await.unwrap_or_else(|e| panic!("{route} answers: {e}"));
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) =
        lambda(reqwest::Method::PUT, "api-policies-put/v1/policies".into(), key.clone(), json!({"text": held})).await;
    assert_eq!(status, 201, "{body}");
    let plan = json!({"plan": [{"skill": "json_transform", "input": {"expression": "a", "data": {"a": 7}}}]});
    let (_, created) = lambda(reqwest::Method::POST, "api-runs-create/v1/runs".into(), key.clone(), plan).await;
    let held_id = created["id"].as_str().unwrap_or_else(|| panic!("not created: {created}")).to_owned();
    let of_run =
        |l: &Value| l["approvals"].as_array()?.iter().find(|x| x["step"]["run_id"] == held_id.as_str()).cloned();
    let waiting = lambdas.pump_until("api-approvals-list/v1/approvals?status=pending", |l| of_run(l).is_some()).await;
    let approval = of_run(&waiting).expect("the held step's approval");
    assert_eq!((approval["kind"].clone(), approval["required_level"].clone()), (json!("step"), json!(2)), "{approval}");
    let route = format!("api-approvals-decide/v1/approvals/{}/decision", approval["id"].as_str().expect("id"));
    let (status, body) =
        lambda(reqwest::Method::POST, route, key.clone(), json!({"decision": "approve", "comment": "fine"})).await;
    assert_eq!(status, 200, "{body}");
    let ran = lambdas.pump_until(&format!("api-runs-get/v1/runs/{held_id}"), run_ended).await;
    assert_eq!((ran["status"].clone(), ran["output"].clone()), (json!("succeeded"), json!({"result": 7})), "{ran}");
    let (_, made) =
        lambda(reqwest::Method::POST, "api-keys-create/v1/api-keys".into(), key.clone(), json!({"role": "infra"}))
            .await;
    let infra = made["key"].as_str().unwrap_or_else(|| panic!("no key: {made}")).to_owned();
    let (status, refused) =
        lambda(reqwest::Method::PUT, "api-secrets-put/v1/secrets/OTHER".into(), infra, json!({"value": "v"})).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "ERR_POLICY_VIOLATION", "{refused}");
    assert_eq!(refused["error"]["details"]["violations"][0]["policy"], "secrets-by-admins-only", "{refused}");

    // Quotas and request rates through the route Lambdas: a tenant on the free plan.
    let tenants = DynamoTenants::new(aws_sdk_dynamodb::Client::new(&conf), &name);
    let settings = aos_runtime::auth::TenantSettings { retention_days: None, plan: Some(PlanName::Free) };
    let (_, free) = aos_runtime::auth::create_tenant_keeping(
        &tenants,
        None,
        "free",
        Role::Admin,
        settings,
        &aos_core::audit::Actor::system(),
    )
    .await
    .expect("free tenant");
    let free = free.secret.expose_secret().to_owned();
    // The tenant's bucket fills from its first request on: the bound on what passes
    // counts from here.
    let started = aos_tests::BothClocks::start();
    let quotas = http.get(format!("{base}/lambda-url/api-quotas-get/v1/quotas")).bearer_auth(&free).send().await;
    let quotas = quotas.expect("api-quotas-get answers");
    assert_eq!(quotas.headers()["x-ratelimit-limit"], "60", "the Lambdas hold the tenant to its plan's rate");
    let quotas: Value = quotas.json().await.expect("json");
    assert_eq!(quotas["plan"], "free", "{quotas}");
    for i in 0..4 {
        let (status, body) = lambda(
            reqwest::Method::POST,
            "api-keys-create/v1/api-keys".into(),
            free.clone(),
            json!({"label": format!("k{i}")}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) =
        lambda(reqwest::Method::POST, "api-keys-create/v1/api-keys".into(), free.clone(), json!({"label": "sixth"}))
            .await;
    assert_eq!((status, body["error"]["code"].clone()), (429, json!("ERR_QUOTA_EXCEEDED")), "{body}");
    assert_eq!(body["error"]["details"]["quota_name"], "api_keys", "{body}");
    // 6 requests so far; the rest of the minute's 60 (and what refills meanwhile) pass.
    let mut passed = 6u64;
    let refused = loop {
        let r = http.get(format!("{base}/lambda-url/api-quotas-get/v1/quotas")).bearer_auth(&free).send().await;
        let r = r.expect("api-quotas-get answers");
        if r.status() == 429 {
            break r;
        }
        assert_eq!(r.status(), 200);
        passed += 1;
        let elapsed = started.elapsed();
        assert!(passed <= 60 + elapsed.as_secs() + 1, "{passed} requests passed a 60-a-minute plan in {elapsed:?}");
    };
    assert!(passed >= 60, "the whole allowance passed first: {passed}");
    let retry: u64 = refused.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ERR_RATE_LIMIT_INTERNAL", "{body}");
    drop(watch);
}

/// A workflow with a fan-out map and a join, calling the test's sink.
const WORKFLOW: &str = r#"
name: e2e
nodes:
  - id: quote
    skill: http_call
    input: {url: "http://SINK/demo/quote?symbol=AOS"}
  - id: each
    type: map
    depends_on: [quote]
    items: "${steps.quote.output.body.quotes}"
    max_concurrency: 2
    skill: json_transform
    input: {expression: "venue", data: "${item}"}
  - id: join
    skill: json_transform
    depends_on: [each]
    input: {expression: "join(',', [*].result)", data: "${steps.each.output}"}
output: {venues: "${steps.join.output.result}", symbol: "${steps.quote.output.body.symbol}"}
"#;

/// Delivers what is on the queue to the worker Lambda once, as the SQS event source
/// mapping would, and deletes the records it did not report as failures.
fn run_ended(run: &Value) -> bool {
    matches!(run["status"].as_str(), Some("succeeded" | "failed" | "cancelled"))
}

/// The functions under `cargo lambda watch`, and the queue the test delivers for them.
struct Lambdas<'a> {
    http: &'a reqwest::Client,
    sqs: &'a aws_sdk_sqs::Client,
    queue: &'a str,
    base: &'a str,
    key: &'a str,
}

impl Lambdas<'_> {
    /// Acts as the event source mapping until `GET <route>` answers something `done`
    /// (at most 240 s); returns that answer.
    async fn pump_until(&self, route: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            pump(self.http, self.sqs, self.queue, self.base).await;
            let got: Value = self
                .http
                .get(format!("{}/lambda-url/{route}", self.base))
                .bearer_auth(self.key)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            if done(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "{route} did not finish on the Lambdas: {got}");
        }
    }
}

async fn pump(http: &reqwest::Client, sqs: &aws_sdk_sqs::Client, queue: &str, base: &str) {
    let got = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .visibility_timeout(30)
        .wait_time_seconds(1)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .expect("receive");
    let messages = got.messages.unwrap_or_default();
    if messages.is_empty() {
        return;
    }
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let count = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned()
                .unwrap_or_else(|| "1".into());
            json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                   "attributes": {"ApproximateReceiveCount": count}, "messageAttributes": {},
                   "eventSource": "aws:sqs", "awsRegion": "us-east-1"})
        })
        .collect();
    let resp = http
        .post(format!("{base}/2015-03-31/functions/worker-step/invocations"))
        .json(&json!({"Records": records}))
        .send()
        .await
        .expect("worker-step answers");
    let batch: Value = resp.json().await.expect("batch response");
    let failed: Vec<&str> = batch["batchItemFailures"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["itemIdentifier"].as_str()).collect())
        .unwrap_or_default();
    for m in &messages {
        if !failed.contains(&m.message_id.as_deref().unwrap_or_default()) {
            let _ = sqs
                .delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                .send()
                .await;
        }
    }
}
