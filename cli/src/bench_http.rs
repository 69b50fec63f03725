//! `aos bench-http`: end-to-end figures over HTTP on one box. It starts `aos dev` (this
//! binary, its own process, on a fresh data directory and a free loopback port) and
//! measures a run of three pure steps submitted and awaited with `POST /v1/runs?wait=`
//! against the same run submitted and then polled with `GET /v1/runs/{id}`: serial
//! latency (p50 / p99) and completed runs per second with concurrent clients.

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Sizes of `aos bench-http`.
#[derive(Debug, Clone)]
pub struct HttpBenchOptions {
    /// Scratch directory (its `http` folder is the server's data directory).
    pub dir: PathBuf,
    /// Serial calls per way of waiting.
    pub calls: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Seconds of the concurrent measurement per way of waiting.
    pub seconds: u64,
    /// The polling client's interval, in milliseconds.
    pub poll_ms: u64,
    /// Step workers of the server.
    pub workers: usize,
}

/// The run measured: three pure steps.
fn plan() -> Value {
    json!({"plan": [
        {"skill": "json_transform", "input": {"expression": "n", "data": {"n": 1}}},
        {"skill": "json_transform", "input": {"expression": "n", "data": {"n": 2}}},
        {"skill": "json_transform", "input": {"expression": "n", "data": {"n": 3}}}
    ]})
}

/// How a client learns that its run finished.
#[derive(Clone, Copy)]
enum Way {
    /// `POST /v1/runs?wait=30s`.
    Wait,
    /// `POST /v1/runs`, then `GET /v1/runs/{id}` every interval.
    Poll(Duration),
}

/// Where the server answers, and the dev key.
#[derive(Clone)]
struct Target {
    base: String,
    key: String,
}

struct Server {
    child: Child,
    target: Target,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(opts: &HttpBenchOptions) -> anyhow::Result<Server> {
    let data = opts.dir.join("http");
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let key = format!("aos_k_bench{}", aos_runtime::clock::unique_suffix());
    let child = Command::new(std::env::current_exe()?)
        .args(["dev", "--port", &port.to_string(), "--workers", &opts.workers.to_string()])
        .arg("--data-dir")
        .arg(&data)
        .env("AOS_DEV_API_KEY", &key)
        .env("AOS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start aos dev")?;
    let server = Server { child, target: Target { base: format!("http://127.0.0.1:{port}"), key } };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.get(format!("{}/healthz", server.target.base)).send().await.is_err() {
        if Instant::now() > deadline {
            bail!("aos dev did not answer /healthz within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(server)
}

/// One run, submitted and awaited `way`; its latency.
async fn one(http: &reqwest::Client, s: &Target, way: Way) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let path = match way {
        Way::Wait => "/v1/runs?wait=30s",
        Way::Poll(_) => "/v1/runs",
    };
    let mut run: Value =
        http.post(format!("{}{path}", s.base)).bearer_auth(&s.key).json(&plan()).send().await?.json().await?;
    if let Way::Poll(every) = way {
        let id = run["id"].as_str().context("no run id")?.to_owned();
        while !matches!(run["status"].as_str(), Some("succeeded" | "failed" | "cancelled")) {
            tokio::time::sleep(every).await;
            run = http.get(format!("{}/v1/runs/{id}", s.base)).bearer_auth(&s.key).send().await?.json().await?;
        }
    }
    if run["status"] != "succeeded" {
        bail!("a run ended {run}");
    }
    Ok(started.elapsed())
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}

/// Completed runs per second with `clients` clients for `seconds`.
async fn rate(s: &Target, way: Way, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let http = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, target) = (http.clone(), s.clone());
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < until {
                    one(&http, &target, way).await?;
                    done += 1;
                }
                anyhow::Ok(done)
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await??;
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// Runs the benchmark and prints its figures.
pub async fn run(opts: &HttpBenchOptions) -> anyhow::Result<()> {
    let server = start(opts).await?;
    let target = &server.target;
    let poll = Way::Poll(Duration::from_millis(opts.poll_ms));
    println!(
        "AOS end to end over HTTP (aos dev, {} workers, loopback): a run of 3 pure steps, submitted and awaited",
        opts.workers
    );
    let http = reqwest::Client::new();
    // Warm up the connection pool and the server's caches.
    for _ in 0..20 {
        one(&http, target, Way::Wait).await?;
    }
    let mut serial = Vec::new();
    for (label, way) in [("POST /v1/runs?wait=30s", Way::Wait), ("POST, then GET every poll", poll)] {
        let mut lat = Vec::with_capacity(opts.calls);
        for _ in 0..opts.calls {
            lat.push(one(&http, target, way).await?);
        }
        let (p50, p99) = percentiles(lat);
        println!("serial, {} calls, {label:<28} p50 {p50:.2} ms  p99 {p99:.2} ms", opts.calls);
        serial.push(p50);
    }
    println!("  polling every {} ms: the waited run answers {:.1}x sooner (p50)", opts.poll_ms, serial[1] / serial[0]);
    let mut rates = Vec::new();
    for (label, way) in [("POST /v1/runs?wait=30s", Way::Wait), ("POST, then GET every poll", poll)] {
        let r = rate(target, way, opts.clients, opts.seconds).await?;
        println!("{} concurrent clients for {} s, {label:<28} {r:.0} completed runs/s", opts.clients, opts.seconds);
        rates.push(r);
    }
    println!("  waited / polled throughput: {:.2}x", rates[0] / rates[1]);
    drop(server);
    std::fs::remove_dir_all(opts.dir.join("http")).ok();
    Ok(())
}
