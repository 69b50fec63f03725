//! The `aos` command as a person or a script uses it: `aos dev` prints the URL and the
//! key and writes the key file; client commands submit, watch, read runs and create
//! tenants and keys. Everything runs on 127.0.0.1.

mod common;

use common::{enable_moto_step_functions, free_port};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Dev {
    child: Child,
    url: String,
    banner: Vec<String>,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dev(data: &Path) -> Dev {
    start_dev_env(data, &[])
}

fn start_dev_env(data: &Path, env: &[(&str, String)]) -> Dev {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aos"))
        .arg("dev")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("AOS_PORT", port.to_string())
        .env("AOS_DATA_DIR", data)
        .env("AOS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("aos dev starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut banner = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let line = lines.next().expect("banner line").expect("utf-8");
        let done = line.starts_with("Press Ctrl-C");
        banner.push(line);
        if done {
            break;
        }
    }
    Dev { child, url: format!("http://127.0.0.1:{port}"), banner }
}

fn aos(dev: &Dev, key: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aos"));
    cmd.args(args).env("AOS_URL", &dev.url).env_remove("AOS_API_KEY").env_remove("AOS_DATA_DIR");
    if let Some(k) = key {
        cmd.env("AOS_API_KEY", k);
    }
    cmd.output().expect("aos runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn aos_dev_prints_the_url_and_key_and_writes_the_key_file_owner_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let dev = start_dev(dir.path());
    let key_file = dir.path().join("dev-api-key");
    let key = std::fs::read_to_string(&key_file).expect("key file");
    assert!(key.starts_with("aos_") && key.len() > 40);
    let banner = dev.banner.join("\n");
    assert!(banner.contains(&dev.url), "{banner}");
    assert!(banner.contains(&key), "the banner shows the dev key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is readable by its owner only");
    }
}

#[test]
fn run_submit_watch_shows_each_step_and_the_output_then_run_get_reads_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let dev = start_dev(&dir.path().join("data"));
    let key = std::fs::read_to_string(dir.path().join("data/dev-api-key")).expect("key");
    let plan = dir.path().join("plan.json");
    let body = format!(
        r#"{{"input": {{"symbol": "XYZ"}}, "plan": [
            {{"id": "fetch", "skill": "http_call", "input": {{"url": "{}/demo/quote?symbol=${{input.symbol}}"}}}},
            {{"id": "pick", "skill": "json_transform", "input": {{"expression": "symbol", "data": "${{steps.fetch.output.body}}"}}}}
        ]}}"#,
        dev.url
    );
    std::fs::write(&plan, body).expect("write plan");
    let out = aos(&dev, Some(&key), &["run", "submit", plan.to_str().expect("path"), "--watch"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("[1/2] fetch (http_call) succeeded"), "{shown}");
    assert!(shown.contains("[2/2] pick (json_transform) succeeded"), "{shown}");
    assert!(shown.contains("checkpoint chain verified"), "{shown}");
    assert!(shown.contains("\"XYZ\""), "the final output is printed: {shown}");
    let id = shown.split_whitespace().find(|w| w.starts_with("run_")).expect("run id").to_owned();
    let got = aos(&dev, Some(&key), &["run", "get", &id]);
    assert!(got.status.success());
    let run: serde_json::Value = serde_json::from_slice(&got.stdout).expect("json");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["output"]["result"], "XYZ");

    let missing = aos(&dev, Some(&key), &["run", "get", "run_nope"]);
    assert!(!missing.status.success());
    assert!(text(&missing).contains("ERR_NOT_FOUND"), "{}", text(&missing));
    let nokey = aos(&dev, None, &["run", "get", &id]);
    assert!(!nokey.status.success());
    assert!(text(&nokey).contains("AOS_API_KEY"), "says how to give a key: {}", text(&nokey));
}

/// The quickstart as committed runs on whatever port `aos dev` has (never 8787 here):
/// the demo service's address is a field of the run input, set with --set.
#[test]
fn the_quickstart_example_runs_on_any_port_with_set_base_url() {
    let dir = tempfile::tempdir().expect("tmp");
    let dev = start_dev(&dir.path().join("data"));
    let key = std::fs::read_to_string(dir.path().join("data/dev-api-key")).expect("key");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart.json");
    let example = example.to_str().expect("path");
    let bad = aos(&dev, Some(&key), &["run", "submit", example, "--set", "base_url"]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("write FIELD=VALUE"), "{}", text(&bad));
    let listed = aos(&dev, Some(&key), &["run", "list"]);
    assert!(!text(&listed).contains("run_"), "a refused --set submits nothing: {}", text(&listed));

    let base = format!("base_url={}", dev.url);
    let out = aos(&dev, Some(&key), &["run", "submit", example, "--set", &base, "--set", "symbol=QS", "--watch"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("[4/4] notify (http_call) succeeded"), "{shown}");
    let id = shown.split_whitespace().find(|w| w.starts_with("run_")).expect("run id").to_owned();
    let got = aos(&dev, Some(&key), &["run", "get", &id]);
    let run: serde_json::Value = serde_json::from_slice(&got.stdout).expect("json");
    assert_eq!(run["input"]["symbol"], "QS", "the input field set on the command line: {run}");
    assert_eq!(run["input"]["base_url"], dev.url.as_str(), "{run}");
    assert_eq!(run["input"]["alert_above"], 10, "the file's other fields stay: {run}");
}

#[test]
fn tenant_and_key_commands_create_working_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let dev = start_dev(dir.path());
    let operator = std::fs::read_to_string(dir.path().join("operator-api-key")).expect("operator key");
    let created = aos(&dev, Some(&operator), &["tenant", "create", "acme", "--id", "ten_acme"]);
    assert!(created.status.success(), "{}", text(&created));
    let v: serde_json::Value = serde_json::from_slice(&created.stdout).expect("json");
    assert_eq!(v["tenant"]["id"], "ten_acme");
    let acme_key = v["api_key"]["key"].as_str().expect("key shown once").to_owned();

    let second = aos(&dev, Some(&acme_key), &["key", "create", "--label", "ci"]);
    assert!(second.status.success(), "{}", text(&second));
    let v: serde_json::Value = serde_json::from_slice(&second.stdout).expect("json");
    assert_eq!(v["tenant_id"], "ten_acme");
    let ci_key = v["api_key"].get("key").or(v.get("key")).and_then(|k| k.as_str()).expect("key").to_owned();
    let list = aos(&dev, Some(&ci_key), &["run", "list"]);
    assert!(list.status.success(), "the new key works: {}", text(&list));

    let again = aos(&dev, Some(&operator), &["tenant", "create", "acme", "--id", "ten_acme"]);
    assert!(!again.status.success());
    assert!(text(&again).contains("409"), "{}", text(&again));
    let denied = aos(&dev, Some(&acme_key), &["tenant", "create", "evil"]);
    assert!(text(&denied).contains("ERR_PERMISSION_DENIED"), "{}", text(&denied));
}

/// The emulator endpoint for the AWS-backend tests (ignored unless `./scripts/test.sh`,
/// which starts moto server, runs them with `--include-ignored`).
fn emulator() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:") => url,
        Ok(url) => panic!("AWS_ENDPOINT_URL must be a loopback emulator in tests, not {url}"),
        Err(_) => panic!("this test needs the AWS emulator: AWS_ENDPOINT_URL is not set; run ./scripts/test.sh"),
    }
}

fn start_dev_aws(data: &Path, endpoint: &str, name: &str, create: bool) -> Child {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aos"));
    cmd.args(["dev", "--backend", "aws", "--port", &port.to_string(), "--data-dir"])
        .arg(data)
        .env("AOS_TABLE", name)
        .env("AOS_STEP_QUEUE_URL", format!("{endpoint}/123456789012/{name}"))
        .env("AOS_WORKFLOW_ROLE_ARN", "arn:aws:iam::123456789012:role/aos-workflows")
        .env("AOS_WORKFLOW_PREFIX", format!("{name}-"))
        .env("AOS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if create {
        cmd.arg("--create-resources");
    }
    cmd.spawn().expect("aos dev starts")
}

#[test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
fn aos_dev_on_the_aws_backend_runs_a_plan_against_the_emulator() {
    let endpoint = emulator();
    let dir = tempfile::tempdir().expect("tmp");
    let name = format!("aos-cli-{}", std::process::id());
    let mut child = start_dev_aws(dir.path(), &endpoint, &name, true);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = loop {
        let line = lines.next().expect("banner").expect("utf-8");
        if let Some(u) = line.trim().strip_prefix("API:") {
            break u.trim().to_owned();
        }
    };
    let dev = Dev { child, url, banner: Vec::new() };
    let key = std::fs::read_to_string(dir.path().join("dev-api-key")).expect("key");
    let plan = dir.path().join("plan.json");
    let body = r#"{"plan": [
        {"id": "put", "skill": "kv_store", "input": {"op": "put", "key": "k", "value": 7}},
        {"id": "get", "skill": "kv_store", "input": {"op": "get", "key": "k"}}
    ]}"#;
    std::fs::write(&plan, body).expect("write");
    let out = aos(&dev, Some(&key), &["run", "submit", plan.to_str().expect("path"), "--watch"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("[2/2] get (kv_store) succeeded"), "{shown}");
    assert!(shown.contains("\"value\": 7"), "{shown}");
}

#[test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
fn aos_dev_on_the_aws_backend_names_a_missing_table() {
    let endpoint = emulator();
    let dir = tempfile::tempdir().expect("tmp");
    let child = start_dev_aws(dir.path(), &endpoint, "aos-no-such-table", false);
    let out = child.wait_with_output().expect("exits");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("aos-no-such-table") && err.contains("--create-resources"), "{err}");
}

/// The two workflow examples of the README, as a person runs them on `aos dev`.
#[test]
fn the_workflow_examples_run_on_aos_dev_with_compensation_and_an_approval() {
    let dir = tempfile::tempdir().expect("tmp");
    let dev = start_dev(&dir.path().join("data"));
    let key = std::fs::read_to_string(dir.path().join("data/dev-api-key")).expect("key");
    run_workflow_examples(&dev, &key, dir.path(), false);
}

/// The same examples on the AWS backend: state machines on the emulator's Step
/// Functions, the worker answering their tasks, the per-node view projected.
#[test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
fn the_workflow_examples_run_on_step_functions_with_aos_dev_on_the_aws_backend() {
    let endpoint = emulator();
    enable_moto_step_functions(&endpoint);
    let dir = tempfile::tempdir().expect("tmp");
    let name = format!("aos-wf-{}", std::process::id());
    let mut child = start_dev_aws(dir.path(), &endpoint, &name, true);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = loop {
        let line = lines.next().expect("banner").expect("utf-8");
        if let Some(u) = line.trim().strip_prefix("API:") {
            break u.trim().to_owned();
        }
    };
    let dev = Dev { child, url, banner: Vec::new() };
    let key = std::fs::read_to_string(dir.path().join("dev-api-key")).expect("key");
    run_workflow_examples(&dev, &key, dir.path(), true);
}

fn run_workflow_examples(dev: &Dev, key: &str, dir: &Path, on_aws: bool) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    // The examples as committed: the port of this `aos dev` is given with --set.
    let spec = |name: &str| examples.join(name).to_str().expect("path").to_owned();
    let input = spec;
    let base = format!("base_url={}", dev.url);

    let out = aos(dev, Some(key), &["workflow", "apply", &spec("workflow-compensation.yaml")]);
    assert!(text(&out).contains("workflow order-saga applied as version 1"), "{}", text(&out));
    let comp_input = input("workflow-compensation.input.json");
    let out =
        aos(dev, Some(key), &["workflow", "start", "order-saga", "--input", &comp_input, "--set", &base, "--watch"]);
    let shown = text(&out);
    assert!(!out.status.success(), "a failed execution exits non-zero: {shown}");
    assert!(shown.contains("ship (task) FAILED") && shown.contains("ERR_HTTP_503"), "{shown}");
    assert!(shown.contains("failed node: ship"), "{shown}");
    if !on_aws {
        assert!(shown.contains("confirm (task) upstream_failed"), "{shown}");
    }
    let charge = shown.find("compensated charge: completed").expect("charge compensated");
    let reserve = shown.find("compensated reserve: completed").expect("reserve compensated");
    assert!(charge < reserve, "reverse order: {shown}");

    let out = aos(dev, Some(key), &["workflow", "apply", &spec("workflow-approval.yaml")]);
    assert!(out.status.success(), "{}", text(&out));
    let appr_input = input("workflow-approval.input.json");
    let out = aos(dev, Some(key), &["workflow", "start", "refund-approval", "--input", &appr_input, "--set", &base]);
    let shown = text(&out);
    let exe = shown.split_whitespace().find(|w| w.starts_with("exe_")).expect("execution id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let approval = loop {
        let list = text(&aos(dev, Some(key), &["approvals", "list"]));
        if let Some(id) = list.split_whitespace().find(|w| w.starts_with("apr_")) {
            assert!(list.contains("Refund") && list.contains("ada@example.com"), "{list}");
            break id.to_owned();
        }
        assert!(Instant::now() < deadline, "no approval appeared: {list}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = aos(dev, Some(key), &["approvals", "approve", &approval, "--comment", "fine"]);
    assert!(text(&out).contains("approved by key_"), "{}", text(&out));
    let again = aos(dev, Some(key), &["approvals", "reject", &approval]);
    assert!(!again.status.success() && text(&again).contains("ERR_APPROVAL_NOT_PENDING"), "{}", text(&again));
    let out = aos(dev, Some(key), &["workflow", "watch", &exe]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("approve (approval) approved by key_"), "{shown}");
    assert!(shown.contains("escalate (task) skipped") && shown.contains("\"decision\": \"approved\""), "{shown}");
    let got = aos(dev, Some(key), &["workflow", "execution", &exe]);
    let e: serde_json::Value = serde_json::from_slice(&got.stdout).expect("json");
    let quote = e["nodes"].as_array().and_then(|n| n.iter().find(|n| n["id"] == "quote")).expect("quote").clone();
    assert_eq!(quote["status"], "completed", "{e}");
    assert!(quote["run_id"].as_str().is_some_and(|r| r.starts_with("run_")), "a node links its run: {quote}");

    // An execution's budget holds its nodes' runs together (one credit a node).
    let chain = dir.join("chain.yaml");
    let node = |id: &str, after: &str| {
        format!("  - {{id: {id}, skill: json_transform, {after}input: {{expression: n, data: {{n: 1}}}}}}\n")
    };
    let text_of = format!(
        "name: chain\nnodes:\n{}{}{}",
        node("a", ""),
        node("b", "depends_on: [a], "),
        node("c", "depends_on: [b], ")
    );
    std::fs::write(&chain, text_of).expect("write spec");
    let out = aos(dev, Some(key), &["workflow", "apply", chain.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out));
    let out = aos(dev, Some(key), &["workflow", "start", "chain", "--budget-cents", "2", "--watch"]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("c (task) FAILED") && shown.contains("ERR_BUDGET_EXCEEDED"), "{shown}");
    assert!(shown.contains("b (task) completed"), "{shown}");
}

/// Replies a scripted model gives, in order (the last one repeats).
type Script = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A loopback server speaking the OpenAI Chat Completions format: answers each request
/// with the next scripted reply; counts the requests.
fn scripted_model() -> (u16, Script, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let script: Script = std::sync::Arc::default();
    let replies = std::sync::Arc::clone(&script);
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let text = {
                let r = replies.lock().expect("script");
                r.get(n).or_else(|| r.last()).cloned().unwrap_or_default()
            };
            let answer = serde_json::json!({
                "id": "c1", "object": "chat.completion", "model": "llama3.1",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960}
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (port, script, count)
}

#[test]
fn the_offline_agent_example_runs_against_a_local_openai_compatible_server() {
    let dir = tempfile::tempdir().expect("tmp");
    let (model_port, script, requests) = scripted_model();
    let local = format!("http://127.0.0.1:{model_port}/v1");
    // Naming the local model server is what lets `aos dev` reach it on loopback.
    let dev = start_dev_env(&dir.path().join("data"), &[("AOS_LLM_LOCAL_URL", local)]);
    let key = std::fs::read_to_string(dir.path().join("data/dev-api-key")).expect("key");
    // The model's decisions, as a local model would answer them (the second in a fence).
    *script.lock().expect("script") = vec![
        r#"{"thought": "get the quotes", "next": [{"id": "fetch", "skill": "http_call", "input": {"method": "GET", "url": "${input.base_url}/demo/quote?symbol=${input.symbol}"}}]}"#.to_owned(),
        "```json\n{\"thought\": \"pick and remember the best\", \"next\": [
  {\"id\": \"best\", \"skill\": \"json_transform\", \"input\": {\"expression\": \"max_by(quotes, &price)\", \"data\": \"${steps.fetch.output.body}\"}},
  {\"id\": \"remember\", \"skill\": \"kv_store\", \"input\": {\"op\": \"put\", \"key\": \"last-quote/${input.symbol}\", \"value\": \"${steps.best.output.result}\"}}]}\n```".to_owned(),
        r#"{"thought": "done", "finish": {"symbol": "${input.symbol}", "venue": "${steps.best.output.result.venue}", "price": "${steps.best.output.result.price}"}}"#.to_owned(),
    ];
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agent-offline.json");
    let base = format!("base_url={}", dev.url);
    let out = aos(&dev, Some(&key), &["run", "submit", example.to_str().expect("path"), "--set", &base, "--watch"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("an agent: its planner decides the steps"), "{shown}");
    assert!(shown.contains("plan-1 (agent_plan) the planner chose fetch (http_call): get the quotes"), "{shown}");
    assert!(shown.contains("the planner chose best (json_transform), remember (kv_store)"), "{shown}");
    assert!(shown.contains("remember (kv_store) succeeded"), "{shown}");
    assert!(shown.contains("plan-3 (agent_plan) the planner finished: done"), "{shown}");
    assert!(shown.contains("checkpoint chain verified"), "{shown}");
    assert!(shown.contains("\"symbol\": \"AOS\"") && shown.contains("\"venue\""), "{shown}");
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 3, "one model call per decision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aos_audit_lists_the_record_and_verify_finds_an_entry_edited_in_the_database() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let dev = start_dev(&data);
    let key = std::fs::read_to_string(data.join("dev-api-key")).expect("key file");
    let policy = dir.path().join("p.cedar");
    std::fs::write(&policy, "@id(\"no-ls\") forbid (principal, action, resource == AOS::Skill::\"http_call\");\n")
        .expect("policy file");
    let applied = aos(&dev, Some(&key), &["policy", "apply", policy.to_str().expect("path")]);
    assert!(applied.status.success(), "{}", text(&applied));
    // A sample API request against the example's policies about API operations.
    let api = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policies/api.cedar");
    let tested = aos(&dev, Some(&key), &["policy", "test", api, "--operation", "secrets.put", "--role", "infra"]);
    assert!(tested.status.success(), "{}", text(&tested));
    let answer: serde_json::Value = serde_json::from_slice(&tested.stdout).expect("json answer");
    assert_eq!(
        (answer["decision"].clone(), answer["role_allows"].clone()),
        (serde_json::json!("deny"), serde_json::json!(true)),
        "{answer}"
    );
    let listed = aos(&dev, Some(&key), &["audit", "list", "--action", "policy."]);
    assert!(listed.status.success(), "{}", text(&listed));
    assert!(text(&listed).contains("policy.apply") && !text(&listed).contains("tenant.create"), "{}", text(&listed));
    let verified = aos(&dev, Some(&key), &["audit", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(text(&verified).contains("verifies: 3 entries"), "tenant, key, policy: {}", text(&verified));
    drop(dev);

    // Someone with the database file, not AOS, edits the second entry.
    let store = aos_embedded::Embedded::open(&data, aos_embedded::Durability::Full).await.expect("open");
    store
        .db
        .write(true, |c| {
            c.execute("UPDATE audit SET body = json_set(body, '$.decision', 'nothing') WHERE seq = 2", ())
                .map(|_| ())
                .map_err(|e| aos_runtime::StoreError::Backend(e.to_string()))
        })
        .await
        .expect("edit");
    store.db.close();
    drop(store);

    let dev = start_dev(&data);
    let verified = aos(&dev, Some(&key), &["audit", "verify"]);
    assert!(!verified.status.success(), "an edited log does not verify: {}", text(&verified));
    assert!(text(&verified).contains("position 2") && text(&verified).contains("edited"), "{}", text(&verified));
}

#[test]
fn aos_flags_sets_lists_and_evaluates_a_flag() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let dev = start_dev(&data);
    let key = std::fs::read_to_string(data.join("dev-api-key")).expect("key file");
    let set = aos(&dev, Some(&key), &["flags", "set", "beta", "--rollout", "30", "--skill", "kv_store"]);
    assert!(set.status.success(), "{}", text(&set));
    assert!(text(&set).contains("flag beta version 1: on at 30"), "{}", text(&set));
    let list = aos(&dev, Some(&key), &["flags", "list"]);
    assert!(text(&list).contains("beta  v1  on  30"), "{}", text(&list));
    let eval = aos(&dev, Some(&key), &["flags", "eval", "beta", "--id", "run_abc", "team=core"]);
    assert!(eval.status.success(), "{}", text(&eval));
    let answer: serde_json::Value = serde_json::from_slice(&eval.stdout).expect("json answer");
    assert_eq!(answer["reason"], "rollout", "{answer}");
    let again = aos(&dev, Some(&key), &["flags", "eval", "beta", "--id", "run_abc"]);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json answer");
    assert_eq!(again["bucket"], answer["bucket"], "the same id, the same bucket");
    let bad = aos(&dev, Some(&key), &["flags", "set", "beta", "--rollout", "130"]);
    assert!(!bad.status.success() && text(&bad).contains("rollout_percent"), "{}", text(&bad));
}

#[test]
fn aos_credits_grants_shows_and_lists_and_aos_run_simulate_prices_a_plan() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let dev = start_dev(&data);
    let key = std::fs::read_to_string(data.join("dev-api-key")).expect("key file");
    let operator = std::fs::read_to_string(data.join("operator-api-key")).expect("operator key file");
    let unmetered = aos(&dev, Some(&key), &["credits", "show"]);
    assert!(
        text(&unmetered).contains("available 0 c") && text(&unmetered).contains("unmetered"),
        "{}",
        text(&unmetered)
    );
    let granted = aos(&dev, Some(&operator), &["credits", "grant", "ten_dev", "700", "--id", "welcome"]);
    assert!(granted.status.success(), "{}", text(&granted));
    assert!(text(&granted).contains("grant welcome for ten_dev: made; available now 700"), "{}", text(&granted));
    let again = aos(&dev, Some(&operator), &["credits", "grant", "ten_dev", "700", "--id", "welcome"]);
    assert!(text(&again).contains("already made"), "{}", text(&again));
    let show = aos(&dev, Some(&key), &["credits", "show"]);
    assert!(text(&show).contains("available 700") && text(&show).contains("welcome  paid  active"), "{}", text(&show));
    let ledger = aos(&dev, Some(&key), &["credits", "ledger", "--json"]);
    let lines: Vec<serde_json::Value> =
        text(&ledger).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 1, "{}", text(&ledger));
    assert_eq!(lines[0]["amount_cents"], 700.0);

    let plan = dir.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"plan": [{"skill": "llm_invoke", "iterations": 10}, {"skill": "email_send", "iterations": 10}]}"#,
    )
    .expect("write plan");
    let sim = aos(&dev, Some(&key), &["run", "simulate", plan.to_str().expect("utf-8"), "--budget-cents", "50"]);
    assert!(sim.status.success(), "{}", text(&sim));
    assert!(text(&sim).starts_with("budget_insufficient: 60 c, 25000 ms"), "{}", text(&sim));

    // Plans: created with one, changed, and shown by `aos quotas`.
    let made = aos(&dev, Some(&operator), &["tenant", "create", "Free Co", "--id", "ten_freeco", "--plan", "free"]);
    assert!(made.status.success(), "{}", text(&made));
    let made: serde_json::Value = serde_json::from_slice(&made.stdout).expect("json answer");
    assert_eq!(made["tenant"]["plan"], "free");
    let free_key = made["api_key"]["key"].as_str().expect("key").to_owned();
    let quotas = aos(&dev, Some(&free_key), &["quotas"]);
    assert!(text(&quotas).starts_with("plan free: requests 60 per 60 s"), "{}", text(&quotas));
    assert!(text(&quotas).contains("api_keys") && text(&quotas).contains("1 of 5"), "{}", text(&quotas));
    assert!(text(&quotas).contains("spend_per_day") && text(&quotas).contains("0 c of 10000 c"), "{}", text(&quotas));
    let changed = aos(&dev, Some(&operator), &["tenant", "plan", "ten_freeco", "pro"]);
    assert!(changed.status.success(), "{}", text(&changed));
    let quotas = aos(&dev, Some(&free_key), &["quotas", "--json"]);
    let quotas: serde_json::Value = serde_json::from_slice(&quotas.stdout).expect("json answer");
    assert_eq!(quotas["plan"], "pro");
    let bad = aos(&dev, Some(&operator), &["tenant", "plan", "ten_freeco", "gold"]);
    assert!(!bad.status.success() && text(&bad).contains("unknown plan"), "{}", text(&bad));

    // Usage: a finished run's steps and cost, as a table and as CSV.
    let transform = dir.path().join("transform.json");
    std::fs::write(
        &transform,
        r#"{"plan": [{"skill": "json_transform", "input": {"expression": "a", "data": {"a": 1}}}]}"#,
    )
    .expect("write plan");
    let ran = aos(&dev, Some(&key), &["run", "submit", transform.to_str().expect("utf-8"), "--watch"]);
    assert!(ran.status.success(), "{}", text(&ran));
    let table = aos(&dev, Some(&key), &["usage", "--group-by", "skill"]);
    assert!(table.status.success(), "{}", text(&table));
    assert!(text(&table).contains(": 1 runs, 1 c") && text(&table).contains("json_transform"), "{}", text(&table));
    let csv = aos(&dev, Some(&key), &["usage", "--group-by", "skill", "--csv"]);
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout),
        "skill,runs,steps,tokens_in,tokens_out,cache_hits,tokens_saved,cost_cents\njson_transform,1,1,0,0,0,0,1\n"
    );
    let wrong = aos(&dev, Some(&key), &["usage", "--group-by", "tenant"]);
    assert!(!wrong.status.success() && text(&wrong).contains("group_by must be one of"), "{}", text(&wrong));
}
