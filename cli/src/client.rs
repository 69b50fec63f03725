//! API client commands: submit and watch runs, read them, create tenants and keys.

use anyhow::{bail, Context};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::path::Path;

/// Where and as whom the client talks to AOS: the `aos-client` crate, read as JSON
/// for the commands that print what the API answered.
pub struct Client {
    api: aos_client::Client,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8787`) with `key`.
    pub fn new(base: &str, key: &str) -> anyhow::Result<Self> {
        Ok(Self { api: aos_client::Client::new(base, key)? })
    }

    /// The typed client.
    pub fn api(&self) -> &aos_client::Client {
        &self.api
    }

    /// Sends a request and returns the JSON body, or fails with the API's status, error
    /// code and message.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        idem: Option<&str>,
    ) -> anyhow::Result<Value> {
        self.api.call(method, path, body, idem, None).await.map_err(explain)
    }

    /// Sends a raw body with a content type (workflow specs in YAML or JSON); whether it
    /// created something, and the answer.
    pub async fn send_text(&self, path: &str, body: String, content_type: &str) -> anyhow::Result<(bool, Value)> {
        let answer = self
            .api
            .send_raw::<Value>(reqwest::Method::POST, path, content_type, body.into_bytes())
            .await
            .map_err(explain)?;
        Ok((answer.created, answer.value))
    }
}

/// A client error as the command prints it (a transport failure names `AOS_URL`).
fn explain(e: aos_client::Error) -> anyhow::Error {
    match e {
        aos_client::Error::Transport { .. } => anyhow::anyhow!("{e} (set AOS_URL to where the API listens)"),
        other => other.into(),
    }
}

/// `aos run submit FILE [--set FIELD=VALUE]... [--watch]`.
pub async fn submit(
    client: &Client,
    file: &Path,
    sets: &[String],
    idem: Option<&str>,
    watch_run: bool,
) -> anyhow::Result<bool> {
    let body = read_run_file(file, sets)?;
    submit_body(client, &body, idem, watch_run).await
}

/// Reads a run file (a `POST /v1/runs` body) and applies `--set FIELD=VALUE` to its input.
pub fn read_run_file(file: &Path, sets: &[String]) -> anyhow::Result<Value> {
    let raw = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut body: Value =
        serde_json::from_str(&raw).with_context(|| format!("{} is not valid JSON", file.display()))?;
    let Some(obj) = body.as_object_mut() else { bail!("{} must hold a JSON object (a run body)", file.display()) };
    set_fields(obj.entry("input").or_insert_with(|| json!({})), sets)?;
    Ok(body)
}

/// Applies `--set FIELD=VALUE` assignments to a run or execution input: FIELD is a
/// dotted path (`base_url`, `order.sku`; objects on the way are made), VALUE is JSON when
/// it parses as JSON (`3`, `true`, `{"a":1}`) and a string otherwise.
pub fn set_fields(input: &mut Value, sets: &[String]) -> anyhow::Result<()> {
    for set in sets {
        let Some((path, raw)) = set.split_once('=') else {
            bail!("--set {set:?}: write FIELD=VALUE (e.g. --set base_url=http://127.0.0.1:9000)")
        };
        if path.is_empty() || path.split('.').any(str::is_empty) {
            bail!("--set {set:?}: FIELD is a dotted path of non-empty names (e.g. order.sku)")
        }
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
        let mut at = &mut *input;
        for name in path.split('.') {
            if !at.is_object() {
                bail!("--set {set:?}: the input at {name:?} is not an object");
            }
            at = at.as_object_mut().expect("checked").entry(name).or_insert_with(|| json!({}));
        }
        *at = value;
    }
    Ok(())
}

/// Submits a `POST /v1/runs` body, optionally following the run.
pub async fn submit_body(client: &Client, body: &Value, idem: Option<&str>, watch_run: bool) -> anyhow::Result<bool> {
    let run = client.call(reqwest::Method::POST, "/v1/runs", Some(body), idem).await?;
    let id = run["id"].as_str().unwrap_or_default().to_owned();
    if run["goal"].is_string() {
        println!("run {id} submitted (an agent: its planner decides the steps)");
    } else {
        println!("run {id} submitted ({} steps)", run["steps_total"]);
    }
    if !watch_run {
        println!("{}", serde_json::to_string_pretty(&run)?);
        return Ok(true);
    }
    watch(client, &id).await
}

/// Follows a run through its event stream (`GET /v1/runs/{id}/events`), printing each
/// step as it changes, then the final output; reconnects after the last event id when a
/// stream ends before the run (a gateway's cap). Returns whether the run succeeded.
pub async fn watch(client: &Client, id: &str) -> anyhow::Result<bool> {
    let run_id = aos_core::RunId::parse(id).map_err(|e| anyhow::anyhow!("{e}"))?;
    let run = client.api.get(&run_id).await.map_err(explain)?;
    let mut total = u64::from(run.steps_total);
    let mut events = std::pin::pin!(client.api.follow(&run_id));
    while let Some(event) = events.next().await {
        match event.map_err(explain)?.data {
            aos_client::RunEvent::Step(step) => {
                let step = serde_json::to_value(&step)?;
                total = total.max(step["step_index"].as_u64().unwrap_or(0) + 1);
                print_step(&step, total);
            }
            aos_client::RunEvent::Run(run) => return finish(client, id, &serde_json::to_value(&run)?).await,
        }
    }
    bail!("the event stream of run {id} ended before the run")
}

/// Prints a finished run's end: its status, whether its chain verifies, its output or error.
async fn finish(client: &Client, id: &str, run: &Value) -> anyhow::Result<bool> {
    let steps = client.call(reqwest::Method::GET, &format!("/v1/runs/{id}/steps"), None, None).await?;
    let status = run["status"].as_str().unwrap_or("");
    println!(
        "run {id} {status}; checkpoint chain {}",
        if steps["chain_valid"] == json!(true) { "verified" } else { "BROKEN" }
    );
    if status == "succeeded" {
        println!("output:\n{}", serde_json::to_string_pretty(&run["output"])?);
    } else {
        println!("error:\n{}", serde_json::to_string_pretty(&run["error"])?);
    }
    Ok(status == "succeeded")
}

/// Prints one step of a run of `total` steps as its state changed.
fn print_step(s: &Value, total: u64) {
    let index = s["step_index"].as_u64().unwrap_or(0);
    let status = s["status"].as_str().unwrap_or("?").to_owned();
    let attempts = s["attempts"].as_u64().unwrap_or(0);
    let name = format!(
        "[{}/{total}] {} ({})",
        index + 1,
        s["step_id"].as_str().unwrap_or(""),
        s["skill"].as_str().unwrap_or("")
    );
    let thought = s["outcome"]["output"]["thought"].as_str().map(|t| format!(": {t}")).unwrap_or_default();
    match status.as_str() {
        "succeeded" if s["skill"] == "agent_plan" => {
            let out = &s["outcome"]["output"];
            if out["decision"] == "finish" {
                println!("{name} the planner finished{thought}");
            } else {
                let ids: Vec<String> = out["steps"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|st| {
                                format!(
                                    "{} ({})",
                                    st["id"].as_str().unwrap_or("?"),
                                    st["skill"].as_str().unwrap_or("?")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                println!("{name} the planner chose {}{thought}", ids.join(", "));
            }
        }
        "succeeded" => println!("{name} succeeded in {} ms, attempt {attempts}", s["outcome"]["duration_ms"]),
        "waiting" if s["last_error"].is_null() => println!("{name} waiting for its child runs"),
        "failed" => println!(
            "{name} FAILED: {} {}",
            s["outcome"]["error"]["code"].as_str().unwrap_or(""),
            s["outcome"]["error"]["message"].as_str().unwrap_or("")
        ),
        "waiting" => println!(
            "{name} retrying after {} (attempt {attempts})",
            s["last_error"]["code"].as_str().unwrap_or("an error")
        ),
        other => println!("{name} {other} (attempt {attempts})"),
    }
}

/// `aos workflow apply FILE`: YAML for `.yaml` / `.yml`, JSON otherwise.
pub async fn apply_workflow(client: &Client, file: &Path) -> anyhow::Result<Value> {
    let raw = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let media = match aos_core::workflow::Format::guess(&file.to_string_lossy()) {
        aos_core::workflow::Format::Yaml => "application/yaml",
        aos_core::workflow::Format::Json => "application/json",
    };
    let (created, body) = client.send_text("/v1/workflows", raw, media).await?;
    let verb = if created { "applied as version" } else { "unchanged at version" };
    println!("workflow {} {verb} {}", body["name"].as_str().unwrap_or("?"), body["version"]);
    Ok(body)
}

/// An execution's input: the JSON or YAML `file` (or `{}`), with `--set FIELD=VALUE` applied.
pub fn execution_input(file: Option<&Path>, sets: &[String]) -> anyhow::Result<Value> {
    let mut input = file.map(read_input).transpose()?.unwrap_or_else(|| json!({}));
    set_fields(&mut input, sets)?;
    Ok(input)
}

/// Reads a JSON or YAML input file (an execution's input).
pub fn read_input(file: &Path) -> anyhow::Result<Value> {
    let raw = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    match aos_core::workflow::Format::guess(&file.to_string_lossy()) {
        aos_core::workflow::Format::Yaml => {
            serde_yaml_ng::from_str(&raw).with_context(|| format!("{} is not valid YAML", file.display()))
        }
        aos_core::workflow::Format::Json => {
            serde_json::from_str(&raw).with_context(|| format!("{} is not valid JSON", file.display()))
        }
    }
}

/// `aos workflow start NAME`: starts an execution, optionally following it.
pub async fn start_workflow(
    client: &Client,
    name: &str,
    body: &Value,
    idem: Option<&str>,
    follow: bool,
) -> anyhow::Result<bool> {
    let exe = client.call(reqwest::Method::POST, &format!("/v1/workflows/{name}/executions"), Some(body), idem).await?;
    let id = exe["id"].as_str().unwrap_or_default().to_owned();
    println!(
        "execution {id} of {name} v{} started ({} nodes)",
        exe["version"],
        exe["nodes"].as_array().map_or(0, Vec::len)
    );
    if !follow {
        println!("{}", serde_json::to_string_pretty(&exe)?);
        return Ok(true);
    }
    watch_execution(client, &id).await
}

fn describe_node(n: &Value) -> String {
    let id = n["id"].as_str().unwrap_or("?");
    let kind = n["type"].as_str().unwrap_or("?");
    let status = n["status"].as_str().unwrap_or("?");
    let took = n["duration_ms"].as_u64().map(|d| format!(" in {d} ms")).unwrap_or_default();
    let items = match n["items"].as_object() {
        Some(i) => format!(" [{}/{} elements, {} failed]", i["completed"], i["total"], i["failed"]),
        None => String::new(),
    };
    match status {
        "failed" => format!(
            "{id} ({kind}) FAILED{took}{items}: {} {}",
            n["error"]["code"].as_str().unwrap_or(""),
            n["error"]["message"].as_str().unwrap_or("")
        ),
        "completed" if kind == "choice" => format!("{id} (choice) took branch {}", n["output"]["branch"]),
        "completed" if kind == "approval" => format!(
            "{id} (approval) {} by {}",
            n["output"]["decision"].as_str().unwrap_or("?"),
            n["output"]["decided_by"].as_str().unwrap_or("nobody (timed out)")
        ),
        _ => format!("{id} ({kind}) {status}{took}{items}"),
    }
}

/// Follows an execution through its event stream (`GET /v1/executions/{id}/events`),
/// printing each node as it changes and each compensation, then the output or the error;
/// reconnects after the last event id when a stream ends before the execution. Returns
/// whether it succeeded.
pub async fn watch_execution(client: &Client, id: &str) -> anyhow::Result<bool> {
    let exe_id = aos_core::ExecutionId::parse(id).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut events = std::pin::pin!(client.api.follow_execution(&exe_id));
    while let Some(event) = events.next().await {
        match event.map_err(explain)?.data {
            aos_client::ExecutionEvent::Node(node) => {
                let n = serde_json::to_value(&node)?;
                println!("  {}", describe_node(&n));
                if n["type"] == "approval" && n["status"] == "waiting" {
                    if let Some(a) = n["approval_id"].as_str() {
                        println!(
                            "    waiting for a decision: aos approvals approve {a}   (or: aos approvals reject {a})"
                        );
                    }
                }
            }
            aos_client::ExecutionEvent::Compensation(c) => {
                let c = serde_json::to_value(&c)?;
                println!(
                    "  compensated {}: {}",
                    c["node"].as_str().unwrap_or("?"),
                    c["status"].as_str().unwrap_or("?")
                );
            }
            aos_client::ExecutionEvent::Execution(e) => {
                let n = serde_json::to_value(&e)?;
                let status = n["status"].as_str().unwrap_or("");
                println!("execution {id} {status}");
                if status == "succeeded" {
                    println!("output:\n{}", serde_json::to_string_pretty(&n["output"])?);
                } else {
                    println!("failed node: {}", n["failed_node"].as_str().unwrap_or("-"));
                    println!("error:\n{}", serde_json::to_string_pretty(&n["error"])?);
                }
                return Ok(status == "succeeded");
            }
        }
    }
    bail!("the event stream of execution {id} ended before the execution")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_fields_makes_paths_and_reads_json_or_text() {
        let mut input = json!({"symbol": "AOS", "order": {"sku": "A"}});
        let sets = [
            "base_url=http://127.0.0.1:9000",
            "order.qty=3",
            "order.sku=B",
            "deep.a.b=true",
            "raw={\"x\":1}",
            "empty=",
        ];
        set_fields(&mut input, &sets.map(str::to_owned)).expect("sets");
        assert_eq!(
            input,
            json!({"symbol": "AOS", "base_url": "http://127.0.0.1:9000", "order": {"sku": "B", "qty": 3},
                   "deep": {"a": {"b": true}}, "raw": {"x": 1}, "empty": ""})
        );
        for bad in ["base_url", "=x", "a..b=1", "symbol.x=1"] {
            let mut input = json!({"symbol": "AOS"});
            let err = set_fields(&mut input, &[bad.to_owned()]).expect_err(bad).to_string();
            assert!(err.contains(bad), "{err}");
            assert_eq!(input, json!({"symbol": "AOS"}), "a refused --set changes nothing");
        }
    }
}
