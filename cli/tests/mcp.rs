//! The MCP server as an MCP client (rmcp, the official SDK) sees it, on loopback: over
//! streamable HTTP at `aos dev`'s `/mcp` with an API key, and over stdio from `aos mcp`.
//! List the tools, call a skill, read the run it made; a call whose arguments break the
//! skill's schema is a tool error naming the field, and makes no run.

mod common;

use common::{free_port, spawn_aos};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Dev {
    child: Child,
    url: String,
    key: String,
    _dir: tempfile::TempDir,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dev() -> Dev {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let child = spawn_aos(dir.path(), port, "", None);
    let key_file = dir.path().join("data/dev-api-key");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !key_file.exists() {
        assert!(Instant::now() < deadline, "aos dev did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let key = std::fs::read_to_string(key_file).expect("key").trim().to_owned();
    Dev { child, url: format!("http://127.0.0.1:{port}"), key, _dir: dir }
}

fn call(name: &'static str, args: Value) -> CallToolRequestParams {
    let Value::Object(args) = args else { panic!("arguments are an object") };
    CallToolRequestParams::new(name).with_arguments(args)
}

fn text(r: &CallToolResult) -> String {
    serde_json::to_string(&r.content).expect("json")
}

/// What both transports must do: the same tools, the same answers.
async fn round_trip(client: &RunningService<RoleClient, ()>, dev: &Dev) {
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in
        ["json_transform", "http_call", "kv_store", "aos_run_submit", "aos_run_get", "aos_run_wait", "aos_run_cancel"]
    {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(!names.contains(&"agent_plan"), "the planner's own step is no tool");
    let jt = tools.iter().find(|t| t.name == "json_transform").expect("json_transform");
    assert_eq!(jt.input_schema.get("required"), Some(&json!(["expression", "data"])), "the skill's own input schema");

    // A call is a one-step run.
    let answer = client
        .call_tool(call("json_transform", json!({"expression": "a.b", "data": {"a": {"b": 42}}})))
        .await
        .expect("tools/call");
    assert_eq!(answer.is_error, Some(false), "{answer:?}");
    assert_eq!(answer.structured_content, Some(json!({"result": 42})), "{answer:?}");
    let run_id =
        answer.meta.as_ref().and_then(|m| m.0.get("aos/run_id")).and_then(Value::as_str).expect("the run").to_owned();
    assert!(text(&answer).contains(&run_id), "the text names the run: {}", text(&answer));

    // The run it made, through the run tools and through the HTTP API.
    let got = client.call_tool(call("aos_run_get", json!({"run_id": run_id}))).await.expect("get");
    let run = got.structured_content.expect("a run");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["plan"][0]["skill"], "json_transform");
    assert_eq!(run["steps_done"], 1);
    let http = reqwest::Client::new();
    let steps: Value = http
        .get(format!("{}/v1/runs/{run_id}/steps", dev.url))
        .bearer_auth(&dev.key)
        .send()
        .await
        .expect("steps")
        .json()
        .await
        .expect("json");
    assert_eq!(steps["chain_valid"], true, "checkpointed and chained: {steps}");
    // Arguments that break the skill's schema: a tool error naming the field, no run.
    let runs_before = count_runs(&http, dev).await;
    let bad = client.call_tool(call("json_transform", json!({"expression": 7, "data": {}}))).await.expect("answered");
    assert_eq!(bad.is_error, Some(true), "{bad:?}");
    assert!(text(&bad).contains("/expression"), "names the field: {}", text(&bad));
    let missing = client.call_tool(call("kv_store", json!({"op": "get"}))).await.expect("answered");
    assert_eq!(missing.is_error, Some(true));
    assert!(text(&missing).contains("key"), "names the missing field: {}", text(&missing));
    assert_eq!(count_runs(&http, dev).await, runs_before, "a refused call makes no run");

    // A skill that fails: a tool error with the run and its code.
    let failed = client
        .call_tool(call("json_transform", json!({"expression": "to_number(`x`) + `[`", "data": {}})))
        .await
        .expect("answered");
    assert_eq!(failed.is_error, Some(true), "{failed:?}");
    assert!(text(&failed).contains("ERR_"), "{}", text(&failed));

    // Run control: submit a plan, wait for it, cancel a finished one (refused).
    let submitted = client
        .call_tool(call(
            "aos_run_submit",
            json!({"run": {"plan": [{"id": "one", "skill": "json_transform", "input": {"expression": "n", "data": {"n": 1}}}]}, "wait_s": 10}),
        ))
        .await
        .expect("submit");
    let run = submitted.structured_content.expect("a run");
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["id"].as_str().expect("id");
    let waited = client.call_tool(call("aos_run_wait", json!({"run_id": id, "timeout_s": 1}))).await.expect("wait");
    assert_eq!(waited.structured_content.expect("run")["output"], json!({"result": 1}));
    let cancel = client.call_tool(call("aos_run_cancel", json!({"run_id": id}))).await.expect("cancel");
    assert_eq!(cancel.is_error, Some(true));
    assert!(text(&cancel).contains("ERR_ILLEGAL_TRANSITION"), "{}", text(&cancel));
    let nope = client.call_tool(call("aos_run_get", json!({"run_id": "run_nope"}))).await.expect("get");
    assert!(nope.is_error == Some(true) && text(&nope).contains("ERR_NOT_FOUND"), "{}", text(&nope));
    assert!(client.call_tool(call("no_such_tool", json!({}))).await.is_err(), "an unknown tool is a protocol error");
}

async fn count_runs(http: &reqwest::Client, dev: &Dev) -> usize {
    let page: Value = http
        .get(format!("{}/v1/runs?limit=100", dev.url))
        .bearer_auth(&dev.key)
        .send()
        .await
        .expect("runs")
        .json()
        .await
        .expect("json");
    page["runs"].as_array().expect("runs").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_lists_calls_and_reads_runs_over_streamable_http() {
    let dev = start_dev();
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", dev.url)).auth_header(dev.key.clone());
    let client = ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("initialize");
    round_trip(&client, &dev).await;

    // Policy-gated like any step: a policy that keeps http_call to one host stops the
    // call, and the gate's refusal is on the audit record with the run.
    let http = reqwest::Client::new();
    let policy = r#"@id("hosts") @category("SAFETY") @reason("http_call may reach api.example.com only")
forbid (principal, action == AOS::Action::"call", resource == AOS::Skill::"http_call")
unless { context.host == "api.example.com" };"#;
    let applied = http
        .put(format!("{}/v1/policies", dev.url))
        .bearer_auth(&dev.key)
        .json(&json!({"text": policy}))
        .send()
        .await
        .expect("apply");
    assert_eq!(applied.status(), 201, "{:?}", applied.text().await);
    let denied =
        client.call_tool(call("http_call", json!({"url": format!("{}/demo/quote", dev.url)}))).await.expect("answered");
    assert_eq!(denied.is_error, Some(true), "{denied:?}");
    assert!(text(&denied).contains("ERR_POLICY_VIOLATION"), "{}", text(&denied));
    let run_id =
        denied.meta.as_ref().and_then(|m| m.0.get("aos/run_id")).and_then(Value::as_str).expect("the run").to_owned();
    let audit: Value = http
        .get(format!("{}/v1/audit?action=gate.&limit=100", dev.url))
        .bearer_auth(&dev.key)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    assert!(audit.to_string().contains(&run_id), "the gate's refusal is on the audit record: {audit}");
    client.cancel().await.expect("close");

    // Without a key: refused before any tool.
    let nokey = http
        .post(format!("{}/mcp", dev.url))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(nokey.status(), 401);
    let body: Value = nokey.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ERR_UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aos_mcp_serves_the_same_tools_over_stdio() {
    let dev = start_dev();
    let transport = TokioChildProcess::new(tokio::process::Command::new(env!("CARGO_BIN_EXE_aos")).configure(|cmd| {
        cmd.arg("mcp").env("AOS_URL", &dev.url).env("AOS_API_KEY", &dev.key).env("AOS_LOG", "warn");
    }))
    .expect("aos mcp starts");
    let client = ().serve(transport).await.expect("initialize");
    round_trip(&client, &dev).await;
    client.cancel().await.expect("close");
}

#[test]
fn aos_mcp_without_a_key_says_what_to_set() {
    let out = Command::new(env!("CARGO_BIN_EXE_aos"))
        .arg("mcp")
        .env_remove("AOS_API_KEY")
        .env("AOS_DATA_DIR", Path::new("/nonexistent-aos-data"))
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("AOS_API_KEY"), "{said}");
}
