//! Helpers shared by the integration tests: an in-process local stack on a temporary
//! data directory, a small API client, and loopback servers the tests control.

pub mod backends;
pub mod faults;

use aos_cli::stack::{LocalStack, StackConfig};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The commit that ends `run`'s first step with `output` under the step's `claim`, as a
/// worker holding the claim writes it (with the run's `run_ended` message, for a workflow
/// run): tests of the store's fencing and of commits carrying an execution's write.
pub fn ending_commit(
    run: &aos_runtime::ports::RunRecord,
    skill: &str,
    claim: &str,
    output: Value,
    now_ms: u64,
) -> aos_runtime::ports::StepCommit {
    let outcome = aos_core::StructuredOutcome::success(output);
    aos_runtime::ports::StepCommit {
        execution: None,
        tenant: run.tenant.clone(),
        run_id: run.id.clone(),
        checkpoint: aos_core::Checkpoint {
            step_index: 0,
            step_id: "s0".into(),
            skill: skill.into(),
            seed: 1,
            attempts: 1,
            outcome_hash: outcome.content_hash(),
            outcome: outcome.clone(),
            prev_hash: run.last_hash.clone(),
            hash: format!("hash-by-{claim}"),
            created_at_ms: now_ms,
            gate: None,
            charge: None,
        },
        run_status: aos_core::RunStatus::Succeeded,
        run_output: outcome.output,
        run_error: None,
        next: None,
        plan: None,
        notify: aos_runtime::worker::notify_parent(run),
        ack: None,
        lease_next: None,
        claim: claim.to_owned(),
        next_claim: format!("{claim}-next"),
        defer_next: false,
        deferred: false,
        now_ms,
        audit: Vec::new(),
        charge: None,
        tokens: 0,
        usage: aos_core::usage::RunUsage::default(),
        usage_record: None,
    }
}

/// A local stack on a temporary directory, plus its API key.
pub struct TestStack {
    /// The running stack.
    pub stack: LocalStack,
    /// Keeps the data directory alive.
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// A JSON response: status and body.
pub struct Resp {
    /// HTTP status.
    pub status: StatusCode,
    /// Parsed body (`Null` if empty or not JSON).
    pub body: Value,
}

impl Resp {
    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestStack {
    /// Starts a stack with 2 workers, short visibility and back-off, and `allow` added to
    /// the http_call allow-list.
    pub async fn start(allow: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = StackConfig::new(dir.path());
        cfg.port = 0;
        cfg.workers = 2;
        cfg.allow_hosts = allow.to_owned();
        cfg.worker.visibility = Duration::from_millis(1500);
        cfg.worker.heartbeat = Duration::from_millis(400);
        cfg.worker.poll_wait = Duration::from_millis(200);
        cfg.worker.backoff_base = Duration::from_millis(50);
        cfg.worker.backoff_cap = Duration::from_millis(400);
        Self::with_config(cfg, dir).await
    }

    /// Starts a stack with an explicit configuration on `dir`.
    pub async fn with_config(cfg: StackConfig, dir: tempfile::TempDir) -> Self {
        let stack = LocalStack::start(cfg).await.expect("stack starts");
        Self { stack, dir, http: reqwest::Client::new() }
    }

    /// The dev tenant's key.
    pub fn key(&self) -> String {
        self.stack.dev_api_key.clone()
    }

    /// The operator's key.
    pub fn operator_key(&self) -> String {
        self.stack.operator_api_key.clone()
    }

    /// Sends a request with `key` (if any), JSON `body` (if any) and extra headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.stack.url()));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request reaches the stack");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Resp { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    /// GET with the dev key.
    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, Some(&self.key()), None, &[]).await
    }

    /// Submits a run with the dev key; panics unless it is accepted.
    pub async fn submit(&self, body: &Value) -> String {
        let r = self.call(Method::POST, "/v1/runs", Some(&self.key()), Some(body), &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "submit refused: {}", r.body);
        r.body["id"].as_str().expect("run id").to_owned()
    }

    /// Polls the run until it is finished (or 30 s pass) and returns it.
    pub async fn wait(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.get(&format!("/v1/runs/{id}")).await;
            let status = r.body["status"].as_str().unwrap_or("");
            if matches!(status, "succeeded" | "failed" | "cancelled") {
                return r.body;
            }
            assert!(Instant::now() < deadline, "run {id} did not finish: {}", r.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stores the workflow `yaml` with the dev key; panics unless it is stored.
    pub async fn apply_workflow(&self, yaml: &str) {
        let applied = reqwest::Client::new()
            .post(format!("{}/v1/workflows", self.stack.url()))
            .bearer_auth(self.key())
            .header("content-type", "application/yaml")
            .body(yaml.to_owned())
            .send()
            .await
            .expect("request reaches the stack");
        assert_eq!(applied.status(), StatusCode::CREATED, "{}", applied.text().await.unwrap_or_default());
    }

    /// The run's steps view.
    pub async fn steps(&self, id: &str) -> Value {
        self.get(&format!("/v1/runs/{id}/steps")).await.body
    }

    /// Stops the stack and hands back its data directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.stack.stop().await;
        self.dir
    }
}

/// Serves `router` on a free loopback port until the test ends.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// One worker over a fresh embedded store with a given skill registry: runs one-step
/// plans to their end (skill tests that want the real pipeline: retries, Retry-After,
/// breakers, checkpoints).
pub struct StepRig {
    /// The store.
    pub embedded: std::sync::Arc<aos_embedded::Embedded>,
    /// Run use cases.
    pub runs: aos_runtime::runs::RunService,
    worker: aos_runtime::worker::StepWorker,
    workers: usize,
    policies: aos_runtime::policies::PolicyService,
    _dir: tempfile::TempDir,
}

/// The tenant of [`StepRig`] runs.
pub fn rig_tenant() -> aos_core::TenantId {
    aos_core::TenantId::parse("ten_rig").expect("tenant")
}

impl StepRig {
    /// A rig whose worker retries quickly (50 ms back-off, 200 ms cap).
    pub async fn new(registry: std::sync::Arc<aos_runtime::SkillRegistry>) -> Self {
        let config = aos_runtime::worker::WorkerConfig {
            poll_wait: Duration::from_millis(50),
            backoff_base: Duration::from_millis(50),
            backoff_cap: Duration::from_millis(200),
            ..aos_runtime::worker::WorkerConfig::default()
        };
        Self::with_workers(registry, config, 1).await
    }

    /// A rig of `workers` workers with `config` (its planner defaults also serve the
    /// run service).
    pub async fn with_workers(
        registry: std::sync::Arc<aos_runtime::SkillRegistry>,
        config: aos_runtime::worker::WorkerConfig,
        workers: usize,
    ) -> Self {
        use std::sync::Arc;
        let dir = tempfile::tempdir().expect("tmp");
        let embedded =
            Arc::new(aos_embedded::Embedded::open(dir.path(), aos_embedded::Durability::Full).await.expect("open"));
        let runs = aos_runtime::runs::RunService::new(
            embedded.runs.clone(),
            embedded.idempotency.clone(),
            Arc::clone(&registry),
        )
        .with_planner_defaults(config.planner.clone());
        let worker = aos_runtime::worker::StepWorker::new(
            embedded.runs.clone(),
            embedded.queue.clone(),
            embedded.kv.clone(),
            registry,
            config,
        )
        .with_secrets(embedded.tenant_secrets.clone());
        // Read on every step: a test's change of policies judges the next step.
        let policies =
            aos_runtime::policies::PolicyService::new(embedded.policies.clone()).with_cache_ttl(Duration::ZERO);
        let worker = worker.with_policies(policies.clone()).with_approvals(embedded.workflows.clone());
        Self { embedded, runs, worker, workers, policies, _dir: dir }
    }

    /// Applies `text` as the rig tenant's next policy version.
    pub async fn apply_policies(&self, text: &str) {
        let req = aos_runtime::policies::ApplyPolicies {
            text: text.to_owned(),
            default_deny: false,
            allow_deny_all: false,
            base_version: None,
        };
        self.policies
            .apply(&rig_tenant(), &req, &aos_core::audit::Actor::key("key_rig", "admin"), 0)
            .await
            .expect("policies apply");
    }

    /// A worker of this rig (to run by hand).
    pub fn worker(&self) -> aos_runtime::worker::StepWorker {
        self.worker.clone()
    }

    /// Submits `body` (a `POST /v1/runs` body) and runs the workers until the run ends
    /// (or 30 s pass); returns the run and its checkpoints.
    pub async fn submit(&self, body: Value) -> (aos_runtime::ports::RunRecord, Vec<aos_core::Checkpoint>) {
        self.submit_as(&rig_tenant(), body).await
    }

    /// Like [`StepRig::submit`], for `tenant`.
    pub async fn submit_as(
        &self,
        tenant: &aos_core::TenantId,
        body: Value,
    ) -> (aos_runtime::ports::RunRecord, Vec<aos_core::Checkpoint>) {
        let tenant = tenant.clone();
        let req: aos_runtime::runs::SubmitRun = serde_json::from_value(body).expect("a run request");
        let id = self.runs.submit(&tenant, req, None).await.expect("submitted").run.id;
        let (stop, rx) = tokio::sync::watch::channel(false);
        let tasks: Vec<_> = (0..self.workers).map(|_| tokio::spawn(self.worker.clone().run_loop(rx.clone()))).collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        let run = loop {
            let run = self.runs.get(&tenant, &id).await.expect("run");
            if run.status.is_terminal() {
                break run;
            }
            assert!(Instant::now() < deadline, "the run did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let _ = stop.send(true);
        for t in tasks {
            let _ = t.await;
        }
        let (_, checkpoints, _) = self.runs.steps(&tenant, &id).await.expect("steps");
        (run, checkpoints)
    }

    /// Runs a one-step plan (`step` is a plan step: `{"skill", "input", ...}`) to its end;
    /// returns the run and its checkpoints.
    pub async fn run(&self, step: Value) -> (aos_runtime::ports::RunRecord, Vec<aos_core::Checkpoint>) {
        self.submit(serde_json::json!({"plan": [step]})).await
    }
}

/// Verifies a webhook with the independent Standard Webhooks implementation (the
/// `standardwebhooks` package, in the Python `AOS_PYTHON` names): `headers` holds
/// `webhook-id`, `webhook-timestamp` and `webhook-signature`. The checker's output; it
/// succeeds and prints `verified` only for a valid signature.
pub fn standard_webhook_check(secret: &str, headers: &Value, body: &[u8]) -> std::process::Output {
    use std::io::Write;
    let python = backends::required_env("AOS_PYTHON", "Python with standardwebhooks");
    let script = "import sys, json\nfrom standardwebhooks import Webhook\nWebhook(sys.argv[1]).verify(sys.stdin.buffer.read(), json.loads(sys.argv[2]))\nprint('verified')";
    let mut child = std::process::Command::new(&python)
        .args(["-c", script, secret, &headers.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().expect("stdin").write_all(body).expect("write");
    child.wait_with_output().expect("exit")
}

/// A paid grant `id` of `credits`, spendable at once and never expiring.
pub fn paid_grant(id: &str, credits: u64) -> aos_core::credits::GrantSpec {
    aos_core::credits::GrantSpec {
        id: id.into(),
        kind: aos_core::credits::GrantKind::Paid,
        amount: aos_core::credits::Millicredits::from_credits(credits),
        effective_ms: 0,
        expires_ms: None,
        priority: 0,
    }
}

/// Time since a start, by whichever of the monotonic and the wall clock says more went by:
/// rate-limit buckets refill on the wall clock (shared by every instance), which can step
/// apart from the test's monotonic one, so a bound on what they let through uses the larger.
#[derive(Debug, Clone, Copy)]
pub struct BothClocks(std::time::Instant, std::time::SystemTime);

impl BothClocks {
    /// Starts now.
    pub fn start() -> Self {
        Self(std::time::Instant::now(), std::time::SystemTime::now())
    }

    /// The larger of the two clocks' elapsed times.
    pub fn elapsed(&self) -> std::time::Duration {
        self.0.elapsed().max(self.1.elapsed().unwrap_or_default())
    }
}
