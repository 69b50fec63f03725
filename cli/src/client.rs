//! API client commands: submit and watch runs, read them, create tenants and keys.

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Where and as whom the client talks to AOS.
pub struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
    /// For event streams: no limit on the whole response, only on each wait for data
    /// (the server sends a keep-alive every 15 s).
    stream: reqwest::Client,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8787`) with `key`.
    pub fn new(base: &str, key: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let stream = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), key: key.trim().to_owned(), http, stream })
    }

    /// Sends a request and returns the JSON body, or fails with the API's error code and
    /// message.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        idem: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = idem {
            req = req.header("Idempotency-Key", k);
        }
        Ok(self.send(req).await?.1)
    }

    /// Sends a request; the JSON body, or the API's error code, node and message.
    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach AOS at {} (is `aos dev` running? set AOS_URL)", self.base))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let code = body["error"]["code"].as_str().unwrap_or("?");
            let msg = body["error"]["message"].as_str().unwrap_or("");
            let node = body["error"]["node"].as_str().map(|n| format!(" (node {n})")).unwrap_or_default();
            bail!("{status} {code}{node}: {msg}");
        }
        Ok((status, body))
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
    let run = client.call(reqwest::Method::GET, &format!("/v1/runs/{id}"), None, None).await?;
    let mut total = run["steps_total"].as_u64().unwrap_or(0);
    let mut last: Option<String> = None;
    loop {
        let mut events = client.events(&format!("/v1/runs/{id}/events"), last.as_deref()).await?;
        while let Some(event) = events.next().await? {
            if let Some(eid) = event.id {
                last = Some(eid);
            }
            match event.name.as_str() {
                "step" => {
                    total = total.max(event.data["step_index"].as_u64().unwrap_or(0) + 1);
                    print_step(&event.data, total);
                }
                "run" => return finish(client, id, &event.data).await,
                _ => {}
            }
        }
        // The stream ended before the run (a gateway's cap): follow on from the last id.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

/// One Server-Sent Event: its name, id (if any) and JSON data.
struct SseEvent {
    name: String,
    id: Option<String>,
    data: Value,
}

/// Reads Server-Sent Events from a streaming response, one at a time.
struct SseReader {
    resp: reqwest::Response,
    buffer: String,
}

impl Client {
    /// Opens the event stream at `path`, after `last` (the last event id seen) if given.
    async fn events(&self, path: &str, last: Option<&str>) -> anyhow::Result<SseReader> {
        let mut req = self.stream.get(format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(l) = last {
            req = req.header("Last-Event-ID", l);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach AOS at {} (is `aos dev` running? set AOS_URL)", self.base))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            bail!(
                "{status} {}: {}",
                body["error"]["code"].as_str().unwrap_or("?"),
                body["error"]["message"].as_str().unwrap_or("")
            );
        }
        Ok(SseReader { resp, buffer: String::new() })
    }
}

impl SseReader {
    /// The next event, or `None` when the stream ended.
    async fn next(&mut self) -> anyhow::Result<Option<SseEvent>> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (String::new(), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if name.is_empty() {
                    continue; // a keep-alive comment
                }
                return Ok(Some(SseEvent { name, id, data: serde_json::from_str(&data).unwrap_or(Value::Null) }));
            }
            match self.resp.chunk().await.context("the event stream broke off")? {
                Some(chunk) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                None => return Ok(None),
            }
        }
    }
}

impl Client {
    /// Sends a raw body with a content type (workflow specs in YAML or JSON).
    pub async fn send_text(&self, path: &str, body: String, content_type: &str) -> anyhow::Result<(bool, Value)> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        let (status, body) = self.send(req).await?;
        Ok((status == reqwest::StatusCode::CREATED, body))
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
    let mut last: Option<String> = None;
    loop {
        let mut events = client.events(&format!("/v1/executions/{id}/events"), last.as_deref()).await?;
        while let Some(event) = events.next().await? {
            if let Some(eid) = event.id {
                last = Some(eid);
            }
            let n = &event.data;
            match event.name.as_str() {
                "node" => {
                    println!("  {}", describe_node(n));
                    if n["type"] == "approval" && n["status"] == "waiting" {
                        if let Some(a) = n["approval_id"].as_str() {
                            println!("    waiting for a decision: aos approvals approve {a}   (or: aos approvals reject {a})");
                        }
                    }
                }
                "compensation" => {
                    println!(
                        "  compensated {}: {}",
                        n["node"].as_str().unwrap_or("?"),
                        n["status"].as_str().unwrap_or("?")
                    );
                }
                "execution" => {
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
                _ => {}
            }
        }
        // The stream ended before the execution (a gateway's cap): follow on from the last id.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
