//! What the tests of the real `aos dev` process share: spawning it on a backend, and a
//! small API client. All traffic stays on 127.0.0.1.
#![allow(dead_code, unreachable_pub)]

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Where `aos dev` keeps its state: the embedded store in the data directory, or a
/// table and queue on the AWS emulator (the same ones across restarts).
#[derive(Clone)]
pub enum Backend {
    Embedded,
    Aws { endpoint: String, name: String },
}

impl Backend {
    pub fn aws() -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
            panic!("this test needs the AWS emulator: AWS_ENDPOINT_URL is not set; run ./scripts/test.sh")
        });
        assert!(endpoint.starts_with("http://127.0.0.1:"), "AWS_ENDPOINT_URL must be a loopback emulator in tests");
        Self::Aws { endpoint, name: format!("aos-crash-{}", uuid::Uuid::new_v4().simple()) }
    }

    /// The AWS backend with workflows: the emulator's Step Functions runs state machines
    /// (see [`enable_moto_step_functions`]).
    pub fn aws_with_workflows() -> Self {
        let backend = Self::aws();
        if let Self::Aws { endpoint, .. } = &backend {
            enable_moto_step_functions(endpoint);
        }
        backend
    }
}

impl Backend {
    /// Stores a deployment secret where the operator keeps it: in Secrets Manager on
    /// AWS; nothing to do on the embedded backend (its deployment secrets come from the
    /// environment `aos dev` starts with).
    pub async fn store_deployment_secret(&self, id: &str, value: &str) {
        if let Self::Aws { .. } = self {
            aos_aws::put_deployment_secret(id, value).await.expect("create the deployment secret");
        }
    }

    /// Everything the store holds, as text to search: the database files of the data
    /// directory, or every item of the DynamoDB table (which must hold some).
    pub async fn stored_rows(&self, data_dir: &Path) -> String {
        match self {
            Self::Embedded => ["aos.db", "aos.db-wal"]
                .iter()
                .map(|f| String::from_utf8_lossy(&std::fs::read(data_dir.join(f)).unwrap_or_default()).into_owned())
                .collect(),
            Self::Aws { name, .. } => {
                let items = aos_aws::table_items_text(name).await.expect("scan");
                assert!(items.len() > 5, "the table holds the runs");
                items.concat()
            }
        }
    }
}

pub fn spawn_aos(dir: &Path, port: u16, allow: &str, abort_after: Option<u32>) -> Child {
    spawn_on(&Backend::Embedded, dir, port, allow, abort_after)
}

pub fn spawn_on(backend: &Backend, dir: &Path, port: u16, allow: &str, abort_after: Option<u32>) -> Child {
    spawn_with(backend, dir, port, allow, abort_after, &[])
}

/// `aos dev` on `backend`, logging to `<dir>/aos.log`, with `envs` set last (so they can
/// override `AOS_LOG`).
pub fn spawn_with(
    backend: &Backend,
    dir: &Path,
    port: u16,
    allow: &str,
    abort_after: Option<u32>,
    envs: &[(&str, &str)],
) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("aos.log")).expect("log file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aos"));
    if let Backend::Aws { endpoint, name } = backend {
        cmd.args(["dev", "--backend", "aws", "--create-resources"])
            .env("AOS_TABLE", name)
            .env("AOS_STEP_QUEUE_URL", format!("{endpoint}/123456789012/{name}"))
            .env("AOS_WORKFLOW_ROLE_ARN", "arn:aws:iam::123456789012:role/aos-workflows")
            .env("AOS_WORKFLOW_PREFIX", format!("{name}-"));
    } else {
        cmd.arg("dev");
    }
    cmd.args(["--port", &port.to_string(), "--data-dir"])
        .arg(dir.join("data"))
        .args(["--allow-hosts", allow, "--workers", "2", "--visibility-timeout-ms", "1000"])
        .env_remove("AOS_TEST_ABORT_AFTER_EFFECT")
        .env("AOS_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log));
    if let Some(i) = abort_after {
        cmd.env("AOS_TEST_ABORT_AFTER_EFFECT", i.to_string());
    }
    cmd.envs(envs.iter().copied());
    cmd.spawn().expect("aos starts")
}

pub struct Api {
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn connect(dir: &Path, port: u16) -> Self {
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{base}/healthz")).send().await.is_err() {
            assert!(Instant::now() < deadline, "aos dev did not come up; see {}", dir.join("aos.log").display());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let key = std::fs::read_to_string(dir.join("data/dev-api-key")).expect("dev key file");
        Self { base, key, http }
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.key).send().await.expect("get");
        r.json().await.expect("json")
    }

    pub async fn submit(&self, body: &Value) -> String {
        let r = self
            .http
            .post(format!("{}/v1/runs", self.base))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .expect("post");
        let v: Value = r.json().await.expect("json");
        v["id"].as_str().unwrap_or_else(|| panic!("not accepted: {v}")).to_owned()
    }

    /// Waits until `done(run)` holds, or panics after `secs`.
    pub async fn wait_until(&self, id: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(r) = self.http.get(format!("{}/v1/runs/{id}", self.base)).bearer_auth(&self.key).send().await {
                if let Ok(v) = r.json::<Value>().await {
                    if done(&v) {
                        return v;
                    }
                }
            }
            assert!(Instant::now() < deadline, "run {id} did not reach the expected state in {secs} s");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
}

/// Turns on moto server's execution of state machines (its `/moto-api/config`): without
/// it the emulator accepts executions and never runs them. Set before any state machine
/// is created; harmless to set again.
pub fn enable_moto_step_functions(endpoint: &str) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let body = r#"{"stepfunctions": {"execute_state_machine": true}}"#;
    let mut s = std::net::TcpStream::connect(addr).expect("emulator reachable");
    write!(
        s,
        "POST /moto-api/config HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 20"), "{answer}");
}
