//! `aos bench-agent`: what the agent machinery costs over plain steps, measured in one
//! run so the figures compare as ratios. A model is simulated by a loopback server that
//! answers at once, so the figures are AOS's own overhead, not a provider's latency.
//!
//! - a plain run of N no-op steps (the baseline);
//! - an agent whose static planner decides the same N steps in one decision;
//! - an agent whose LLM planner decides one step per decision, N decisions, on a worker
//!   that has made one model call before (its HTTP client, connection and the skill's
//!   input schema are ready; that first call's cost is printed on its own); a decision's
//!   overhead is its time over a plain step's, less the model's bare HTTP round trip;
//! - one `agent_spawn` of K one-step children against K independent one-step runs.

use crate::bench::{run_batch, Noop};
use aos_core::TenantId;
use aos_embedded::{Durability, Embedded};
use aos_runtime::agent::{AgentLimits, PlannerDefaults};
use aos_runtime::llm::{LlmConfig, ProviderConfig, ProviderKind};
use aos_runtime::net::AddressPolicy;
use aos_runtime::runs::{RunService, SubmitRun};
use aos_runtime::skills::LlmInvokeSkill;
use aos_runtime::worker::{StepWorker, WorkerConfig};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Benchmark sizes.
#[derive(Debug, Clone)]
pub struct AgentBenchOptions {
    /// Scratch directory.
    pub dir: PathBuf,
    /// Skill steps of the serial measurements (at most 100, an agent's limit).
    pub steps: usize,
    /// Children of the spawn measurement.
    pub children: usize,
    /// Workers of the spawn measurement.
    pub workers: usize,
}

/// A model that answers `{"next": [noop]}` until it has been asked `decisions` times,
/// then finishes.
async fn model(decisions: usize) -> anyhow::Result<std::net::SocketAddr> {
    let asked = Arc::new(AtomicUsize::new(0));
    let answer = move |axum::Json(_): axum::Json<Value>| {
        let asked = Arc::clone(&asked);
        async move {
            let n = asked.fetch_add(1, Ordering::SeqCst);
            let text = if n < decisions {
                json!({"next": [{"skill": "noop", "input": {}}]}).to_string()
            } else {
                json!({"finish": {"decisions": n}}).to_string()
            };
            axum::Json(json!({
                "model": "bench", "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5}
            }))
        }
    };
    let router = axum::Router::new().route("/v1/chat/completions", axum::routing::post(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}

/// The median of 50 bare HTTP round trips to the simulated model, in µs (after 5 that
/// open the connection): what a model call costs before AOS adds anything.
async fn model_round_trip(addr: std::net::SocketAddr) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let body = json!({"model": "bench", "messages": [{"role": "user", "content": "x"}]});
    let mut times = Vec::with_capacity(50);
    for i in 0..55 {
        let t = Instant::now();
        let r = client.post(format!("http://{addr}/v1/chat/completions")).json(&body).send().await?;
        r.error_for_status()?.bytes().await?;
        if i >= 5 {
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

struct AgentEngine {
    embedded: Arc<Embedded>,
    runs: RunService,
    worker: StepWorker,
}

async fn agent_engine(dir: &Path, model: std::net::SocketAddr, fan_out: usize) -> anyhow::Result<AgentEngine> {
    let embedded = Arc::new(Embedded::open(dir, Durability::Full).await?);
    let policy = AddressPolicy::parse_allow_list(&model.to_string()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut registry = aos_runtime::skills::default_registry(policy.clone())?;
    registry.register(Arc::new(Noop))?;
    let mut llm = LlmConfig::default();
    llm.providers.insert("bench".into(), ProviderConfig::at(ProviderKind::OpenAi, format!("http://{model}/v1"), None));
    let secrets = Arc::new(aos_embedded::LocalSecrets::new(None));
    registry.register(Arc::new(LlmInvokeSkill::new(llm, secrets, Arc::new(policy))))?;
    aos_runtime::agent::declare(&mut registry)?;
    let registry = Arc::new(registry);
    let limit = u32::try_from(fan_out).unwrap_or(u32::MAX);
    let config = WorkerConfig {
        poll_wait: Duration::from_millis(20),
        agents: AgentLimits { max_fan_out: limit, max_children_per_run: limit, ..AgentLimits::default() },
        planner: PlannerDefaults { provider: "bench".into(), model: "bench".into() },
        ..WorkerConfig::default()
    };
    let mut runs = RunService::new(embedded.runs.clone(), embedded.idempotency.clone(), Arc::clone(&registry))
        .with_planner_defaults(config.planner.clone());
    let mut worker =
        StepWorker::new(embedded.runs.clone(), embedded.queue.clone(), embedded.kv.clone(), registry, config);
    // Awaited as `run_batch`, the baseline, awaits its runs.
    crate::bench::signal_ends(&mut runs, &mut worker);
    Ok(AgentEngine { embedded, runs, worker })
}

/// Runs `body` to its end with `workers` workers; the elapsed time and the number of
/// checkpoints of the run.
async fn time_run(eng: &AgentEngine, body: Value, workers: usize) -> anyhow::Result<(Duration, usize)> {
    let tenant = TenantId::parse("ten_bench")?;
    let req: SubmitRun = serde_json::from_value(body)?;
    let running = crate::bench::Workers::start(&eng.worker, workers);
    let t = Instant::now();
    let id = eng.runs.submit(&tenant, req, None).await.map_err(|e| anyhow::anyhow!("{e}"))?.run.id;
    let run = crate::bench::wait_for_end(&eng.runs, &tenant, &id).await?;
    let elapsed = t.elapsed();
    running.stop().await;
    anyhow::ensure!(run.status.as_str() == "succeeded", "the benchmark run ended {}: {:?}", run.status, run.error);
    let (_, cps, _) = eng.runs.steps(&tenant, &id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((elapsed, cps.len()))
}

fn fresh(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let d = dir.join(name);
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// Prints the agent figures.
pub async fn run(opts: &AgentBenchOptions) -> anyhow::Result<()> {
    let n = opts.steps.clamp(1, 100);
    let k = opts.children.clamp(1, 200);
    println!("aos bench-agent: {n} steps, {k} children, {} workers; durable; model answers at once", opts.workers);
    let per = |d: Duration, count: usize| d.as_secs_f64() * 1e6 / count as f64;

    let addr = model(usize::MAX).await?;
    let eng = agent_engine(&fresh(&opts.dir, "plain")?, addr, k).await?;
    let plan: Vec<Value> = (0..n).map(|_| json!({"skill": "noop"})).collect();
    let (plain, _) = time_run(&eng, json!({"plan": plan, "base_seed": 1}), 1).await?;
    eng.embedded.db.close();
    let base = per(plain, n);
    println!("plain run, {n} no-op steps:                      {base:>9.0} µs/step");

    let eng = agent_engine(&fresh(&opts.dir, "static")?, addr, k).await?;
    let steps: Vec<Value> = (0..n).map(|_| json!({"skill": "noop"})).collect();
    let body = json!({"goal": "bench", "agent": {"max_steps": n, "planner": {"type": "static", "steps": steps}}});
    let (stat, cps) = time_run(&eng, body, 1).await?;
    eng.embedded.db.close();
    let s = per(stat, n);
    println!(
        "agent, static planner, 1 decision of {n} steps:  {s:>9.0} µs/skill step = {:.2}x ({cps} checkpoints)",
        s / base
    );

    anyhow::ensure!(n <= 49, "--steps above 49 exceeds the planner's 50 model calls; use --steps 49 or fewer");
    // The first model call a worker makes (answered `next`, like the decisions after it).
    let addr = model(n + 1).await?;
    let eng = agent_engine(&fresh(&opts.dir, "llm")?, addr, k).await?;
    let call = json!({"skill": "llm_invoke", "input": {"provider": "bench", "model": "bench",
                      "messages": [{"role": "user", "content": "warm up"}]}});
    let (first, _) = time_run(&eng, json!({"plan": [call]}), 1).await?;
    let body = json!({"goal": "bench", "agent": {"max_steps": n, "max_llm_calls": n + 1, "skills": ["noop"]}});
    let (llm, cps) = time_run(&eng, body, 1).await?;
    eng.embedded.db.close();
    let l = per(llm, n);
    println!(
        "agent, LLM planner, {n} decisions of 1 step:      {l:>9.0} µs/(decision + step) = {:.2}x ({cps} checkpoints)",
        l / base
    );
    let round_trip = model_round_trip(addr).await?;
    let decision = l - base;
    println!(
        "a decision over a plain step: {decision:.0} µs; the model's bare HTTP round trip {round_trip:.0} µs; \
         the planner's overhead on top of its model call: {:.0} µs (the worker's first model call, a run of its own: {:.1} ms)",
        decision - round_trip,
        first.as_secs_f64() * 1e3
    );

    let addr = model(usize::MAX).await?;
    let eng = agent_engine(&fresh(&opts.dir, "spawn")?, addr, k).await?;
    let tasks: Vec<Value> = (0..k).map(|_| json!({"plan": [{"skill": "noop"}]})).collect();
    let (spawn, _) =
        time_run(&eng, json!({"plan": [{"skill": "agent_spawn", "input": {"tasks": tasks}}]}), opts.workers).await?;
    eng.embedded.db.close();
    let batch = run_batch(&fresh(&opts.dir, "batch")?, k, 1, opts.workers).await?;
    println!(
        "agent_spawn of {k} one-step children:            {:>9.1} ms; {k} independent runs {:.1} ms = {:.2}x",
        spawn.as_secs_f64() * 1e3,
        batch.as_secs_f64() * 1e3,
        spawn.as_secs_f64() / batch.as_secs_f64()
    );
    Ok(())
}
