//! `aos bench-aws`: DynamoDB calls per step of runs executed by the step worker on the
//! AWS adapters (moto, LocalStack or AWS), counted at the SDK.

use crate::bench::{bench_grant, noop_plan, Noop};
use anyhow::Context;
use aos_core::TenantId;
use aos_runtime::net::AddressPolicy;
use aos_runtime::ports::RunStore;
use aos_runtime::runs::RunService;
use aos_runtime::worker::{StepWorker, WorkerConfig};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sizes of `aos bench-aws`.
#[derive(Debug, Clone)]
pub struct AwsBenchOptions {
    /// Runs to execute.
    pub runs: usize,
    /// No-op steps per run.
    pub steps: usize,
    /// Bytes of output per step.
    pub output_bytes: usize,
    /// Meter the tenant: every step reserves credits and its commit settles them.
    pub credits: bool,
    /// Hold the tenant to this plan's spend limits.
    pub plan: Option<aos_core::limits::PlanName>,
}

/// Counts DynamoDB calls per step of runs executed by the step worker on the AWS
/// adapters (against `AWS_ENDPOINT_URL`: moto, LocalStack or AWS), on a fresh table and
/// queue.
pub async fn aws_calls(opts: &AwsBenchOptions) -> anyhow::Result<()> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "AWS".to_owned());
    let name = format!("aos-bench-{}", aos_runtime::clock::unique_suffix());
    let config = aos_aws::AwsConfig::scratch(&endpoint, &name);
    let counter = aos_aws::CallCounter::default();
    let aws = aos_aws::AwsAdapters::connect(config.clone(), aos_aws::Resources::Create, Some(counter.clone())).await?;
    // A second, uncounted connection watches for the runs to finish.
    let config = aws.config.clone();
    let watcher = aos_aws::AwsAdapters::connect(config, aos_aws::Resources::Trust, None).await?;
    let mut registry = aos_runtime::skills::default_registry(AddressPolicy::default())?;
    registry.register(Arc::new(Noop))?;
    let registry = Arc::new(registry);
    let runs = RunService::new(aws.runs.clone(), aws.idempotency.clone(), Arc::clone(&registry));
    let config = WorkerConfig {
        visibility: Duration::from_secs(30),
        poll_wait: Duration::from_secs(1),
        ..WorkerConfig::default()
    };
    let mut worker = StepWorker::new(aws.runs.clone(), aws.queue.clone(), aws.kv.clone(), registry, config);
    let tenant = TenantId::parse("ten_bench")?;
    if opts.credits {
        let credits = aos_runtime::credits::CreditService::new(aws.credits.clone());
        credits
            .grant(&tenant, &bench_grant(1_000_000), aos_core::audit::Actor::system(), aos_runtime::clock::now_ms())
            .await?;
        worker = worker.with_credits(credits);
    }
    if let Some(plan) = opts.plan {
        let runs: Arc<dyn aos_runtime::ports::RunStore> = aws.runs.clone();
        worker = worker.with_quotas(aos_runtime::limits::QuotaService::new(aws.tenants.clone(), runs, plan));
    }
    counter.reset();
    let mut ids = Vec::new();
    for _ in 0..opts.runs {
        let mut plan = noop_plan(opts.steps)?;
        if opts.output_bytes > 0 {
            plan = serde_json::from_value(json!({"base_seed": 1, "plan": (0..opts.steps)
                .map(|_| json!({"skill": "noop", "input": {"bytes": opts.output_bytes}})).collect::<Vec<_>>()}))?;
        }
        ids.push(runs.submit(&tenant, plan, None).await?.run.id);
    }
    let submit: u64 = counter.snapshot().values().sum();
    counter.reset();
    let started = Instant::now();
    let running = crate::bench::Workers::start(&worker, 4);
    for id in &ids {
        loop {
            let run = watcher.runs.run(&tenant, id).await?.context("run vanished")?;
            if run.status.is_terminal() {
                anyhow::ensure!(run.status == aos_core::RunStatus::Succeeded, "run {id} ended {}", run.status);
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "runs did not finish in 10 minutes");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    running.stop().await;
    let calls = counter.snapshot();
    let steps = (opts.runs * opts.steps) as f64;
    println!(
        "AOS DynamoDB and S3 calls per step on {endpoint}: {} runs x {} no-op steps of {} output bytes, 4 workers{}",
        opts.runs,
        opts.steps,
        opts.output_bytes,
        if opts.credits { ", metered tenant (ledger on)" } else { "" }
    );
    if let Some(plan) = opts.plan {
        println!(
            "the tenant is held to the {} plan's spend limits (its steps take from its spend windows)",
            plan.as_str()
        );
    }
    println!("submission: {:.1} calls per run", submit as f64 / opts.runs as f64);
    let is_write = |op: &str| {
        ["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"].iter().any(|w| op.ends_with(w))
    };
    let (mut writes, mut reads, mut s3) = (0u64, 0u64, 0u64);
    for (op, n) in &calls {
        println!("  {op:<30} {n:>7} calls  {:>6.2} per step", *n as f64 / steps);
        if op.starts_with("s3.") {
            s3 += n;
        } else if is_write(op) {
            writes += n;
        } else {
            reads += n;
        }
    }
    let (w, r) = (writes as f64 / steps, reads as f64 / steps);
    println!(
        "S3 calls per step {:.2} (values over {} bytes of JSON go to S3)",
        s3 as f64 / steps,
        aos_aws::INLINE_MAX_BYTES
    );
    println!(
        "writes per step {w:.2}, reads per step {r:.2}; target <= 1 write + 0.1 reads: {}",
        if w <= 1.0 && r <= 0.1 { "met" } else { "MISSED" }
    );
    Ok(())
}
