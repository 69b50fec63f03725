//! `aos bench-workflow`: what a workflow node costs against a bare run step (a chain),
//! and a map's fan-out against independent runs.

use crate::bench::{engine, median_range, run_batch, Engine, Noop};
use aos_core::TenantId;
use aos_embedded::Durability;
use aos_runtime::net::AddressPolicy;
use aos_runtime::worker::StepWorker;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sizes of `aos bench-workflow`.
#[derive(Debug, Clone)]
pub struct WorkflowBenchOptions {
    /// Scratch directory.
    pub dir: PathBuf,
    /// Nodes of the chain (and steps of the bare run it is compared with).
    pub chain: usize,
    /// Elements of the fan-out map.
    pub fanout: usize,
    /// Alternating rounds of the chain against a bare run and of the map against
    /// independent runs (each figure is the median ratio of its rounds).
    pub rounds: usize,
    /// Its max_concurrency.
    pub concurrency: u32,
    /// Workers for the fan-out.
    pub workers: usize,
    /// Also count instructions per node and per run step under callgrind.
    pub instructions: bool,
}

/// What `aos bench-probe` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeShape {
    /// Runs of 10 no-op steps (`aos bench --instructions`).
    Runs,
    /// One run of no-op steps.
    Run,
    /// A workflow chain of no-op nodes.
    Chain,
    /// One-step runs, all submitted first: what a run's submission and end cost.
    Short,
}

/// A chain of `n` no-op nodes, each after the one before.
fn chain_spec(n: usize) -> String {
    let mut chain = String::from("name: chain\nnodes:\n");
    for i in 0..n {
        let dep = if i == 0 { String::new() } else { format!(", depends_on: [n{}]", i - 1) };
        chain += &format!("  - {{id: n{i}, skill: noop{dep}}}\n");
    }
    chain
}

/// `aos bench-probe --shape run|chain`: one run of `steps` no-op steps, or a chain of
/// `steps` no-op nodes, durable, handled by one worker in the foreground until the queue
/// is empty (no polling, so the work done does not depend on timing): what
/// `aos bench-workflow --instructions` counts under callgrind.
pub async fn probe(dir: &Path, steps: usize, shape: ProbeShape) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let fe = flow_engine(dir, false).await?;
    let tenant = TenantId::parse("ten_bench")?;
    let done = match shape {
        ProbeShape::Chain => {
            let spec = aos_core::workflow::parse(&chain_spec(steps), aos_core::workflow::Format::Yaml)?;
            fe.flows.apply(&tenant, spec).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let req = aos_runtime::workflows::StartExecution { base_seed: Some(1), ..Default::default() };
            let id = fe.flows.start(&tenant, "chain", req, None).await.map_err(|e| anyhow::anyhow!("{e}"))?.value.id;
            drain(&fe).await?;
            fe.flows.execution(&tenant, &id).await.map_err(|e| anyhow::anyhow!("{e}"))?.state.status.as_str().to_owned()
        }
        ProbeShape::Short => {
            let mut ids = Vec::with_capacity(steps);
            for _ in 0..steps {
                ids.push(fe.eng.runs.submit(&tenant, crate::bench::noop_plan(1)?, None).await?.run.id);
            }
            drain(&fe).await?;
            let mut ended = String::from("succeeded");
            for id in &ids {
                let status = fe.eng.runs.get(&tenant, id).await?.status;
                if status != aos_core::RunStatus::Succeeded {
                    ended = status.to_string();
                }
            }
            ended
        }
        _ => {
            let id = fe.eng.runs.submit(&tenant, crate::bench::noop_plan(steps)?, None).await?.run.id;
            drain(&fe).await?;
            fe.eng.runs.get(&tenant, &id).await?.status.to_string()
        }
    };
    anyhow::ensure!(done == "succeeded", "the probe ended {done}");
    fe.eng.embedded.db.close();
    Ok(())
}

/// Hands every message to the engine's worker until the queue is empty.
async fn drain(fe: &FlowEngine) -> anyhow::Result<()> {
    use aos_runtime::ports::Queue;
    loop {
        let got = fe.eng.embedded.queue.receive(1, Duration::from_secs(30), Duration::ZERO).await?;
        if got.is_empty() {
            return Ok(());
        }
        for m in got {
            fe.worker.handle(&m).await;
        }
    }
}

struct FlowEngine {
    eng: Engine,
    flows: aos_runtime::workflows::WorkflowService,
    worker: StepWorker,
}

/// The engine with workflows; with `signalled`, executions' ends are signalled to the
/// callers waiting for them (as `aos dev` wires it).
async fn flow_engine(dir: &Path, signalled: bool) -> anyhow::Result<FlowEngine> {
    let mut eng = engine(dir, Durability::Full).await?;
    let changes = signalled.then(|| crate::bench::signal_ends(&mut eng.runs, &mut eng.worker));
    let mut registry = aos_runtime::skills::default_registry(AddressPolicy::default())?;
    registry.register(Arc::new(Noop))?;
    let registry = Arc::new(registry);
    let flows = aos_runtime::workflows::WorkflowService::new(
        eng.embedded.workflows.clone(),
        eng.embedded.runs.clone(),
        eng.embedded.idempotency.clone(),
        registry,
    );
    let flows = match changes {
        Some(changes) => flows.with_changes(changes),
        None => flows,
    };
    let worker = eng.worker.clone().with_workflows(flows.clone());
    Ok(FlowEngine { eng, flows, worker })
}

/// Runs `spec` to the end with `workers` workers; returns the elapsed time.
async fn run_workflow(dir: &Path, spec: &str, input: Value, workers: usize) -> anyhow::Result<Duration> {
    let fe = flow_engine(dir, true).await?;
    let tenant = TenantId::parse("ten_bench")?;
    let spec = aos_core::workflow::parse(spec, aos_core::workflow::Format::Yaml)?;
    let name = spec.name.clone();
    fe.flows.apply(&tenant, spec).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let running = crate::bench::Workers::start(&fe.worker, workers);
    let t = Instant::now();
    let req = aos_runtime::workflows::StartExecution {
        input,
        version: None,
        base_seed: Some(1),
        budget_cents: None,
        notify_url: None,
    };
    let id = fe.flows.start(&tenant, &name, req, None).await.map_err(|e| anyhow::anyhow!("{e}"))?.value.id;
    let mut waiter = fe.flows.waiter(&tenant, &id, tokio::time::Instant::now() + Duration::from_secs(600));
    loop {
        let armed = waiter.arm();
        let e = fe.flows.execution(&tenant, &id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if e.state.status.is_terminal() {
            anyhow::ensure!(
                e.state.status.as_str() == "succeeded",
                "the benchmark workflow ended {:?}",
                e.state.status
            );
            break;
        }
        anyhow::ensure!(!waiter.expired(), "the benchmark workflow did not end within 600 s");
        waiter.wait(armed).await;
    }
    let elapsed = t.elapsed();
    running.stop().await;
    fe.eng.embedded.db.close();
    Ok(elapsed)
}

/// `rounds` rounds of the measurements `a` and `b`, each in a fresh store, `b` first in
/// every other round (the one that follows a store's close shares the disk with its last
/// writes): their times, round by round. One round lasts a tenth of a second or less and
/// moves by half between two runs of the command, so a figure is the median of rounds.
async fn alternating(
    rounds: usize,
    mut a: impl AsyncFnMut() -> anyhow::Result<Duration>,
    mut b: impl AsyncFnMut() -> anyhow::Result<Duration>,
) -> anyhow::Result<Vec<(Duration, Duration)>> {
    let mut out = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (ta, tb) = if round % 2 == 0 {
            let ta = a().await?;
            (ta, b().await?)
        } else {
            let tb = b().await?;
            (a().await?, tb)
        };
        out.push((ta, tb));
    }
    Ok(out)
}

/// `aos bench-workflow`: the embedded executor's cost per node over a bare run step
/// (same no-op skill, one worker, durable), and nodes/s of a map fan-out against the
/// same number of independent one-step runs.
pub async fn workflows(opts: &WorkflowBenchOptions) -> anyhow::Result<()> {
    let fresh = |name: &str| -> anyhow::Result<PathBuf> {
        let d = opts.dir.join(name);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
        Ok(d)
    };
    let n = opts.chain;
    println!("AOS workflow benchmark (embedded, durable; data in {})", opts.dir.display());
    let rounds = opts.rounds.max(1);
    let (mut steps, mut nodes, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let timed = alternating(
        rounds,
        async || run_batch(&fresh("bare")?, 1, n, 1).await,
        async || run_workflow(&fresh("chain")?, &chain_spec(n), json!({}), 1).await,
    )
    .await?;
    for (bare, flow) in timed {
        let (per_step, per_node) = (bare.as_secs_f64() * 1e6 / n as f64, flow.as_secs_f64() * 1e6 / n as f64);
        steps.push(per_step);
        nodes.push(per_node);
        ratios.push(per_node / per_step);
    }
    let (per_step, per_node) = (median_range(steps).0, median_range(nodes).0);
    let (ratio, lo, hi) = median_range(ratios);
    println!("bare run, {n} no-op steps, 1 worker:          {per_step:.0} us per step");
    println!(
        "workflow, chain of {n} no-op nodes, 1 worker:  {per_node:.0} us per node; node / step = {ratio:.2}x ({lo:.2}-{hi:.2}, median of {} alternating rounds)  target <= 1.3x: {}",
        rounds,
        if ratio <= 1.3 { "met" } else { "MISSED" }
    );
    let (m, c, w) = (opts.fanout, opts.concurrency, opts.workers);
    let fan = format!(
        "name: fan\nnodes:\n  - {{id: each, type: map, items: '${{input.xs}}', max_concurrency: {c}, skill: noop, input: {{i: '${{index}}'}}}}\n"
    );
    let xs: Vec<usize> = (0..m).collect();
    let (mut rates, mut base_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let timed = alternating(
        rounds,
        async || run_batch(&fresh("fan-bare")?, m, 1, w).await,
        async || run_workflow(&fresh("fan")?, &fan, json!({"xs": xs}), w).await,
    )
    .await?;
    for (runs_time, map_time) in timed {
        let (rate, base_rate) = (m as f64 / map_time.as_secs_f64(), m as f64 / runs_time.as_secs_f64());
        rates.push(rate);
        base_rates.push(base_rate);
        ratios.push(rate / base_rate);
    }
    let (rate, base_rate) = (median_range(rates).0, median_range(base_rates).0);
    let (ratio, lo, hi) = median_range(ratios);
    println!(
        "map fan-out, {m} elements, concurrency {c}, {w} workers, median of {} alternating rounds: {rate:.0} nodes/s; {m} one-step runs: {base_rate:.0} runs/s; map / runs = {ratio:.2}x ({lo:.2}-{hi:.2})  target >= 1x: {}",
        rounds,
        if ratio >= 1.0 { "met" } else { "MISSED" }
    );
    if opts.instructions {
        let mut per = Vec::new();
        for shape in ["run", "chain"] {
            let scratch = opts.dir.join(format!("callgrind-{shape}"));
            per.push(crate::bench::instructions_per_unit(&scratch, &["--shape", shape]));
        }
        match (&per[0], &per[1]) {
            (Ok(step), Ok(node)) => println!(
                "instructions (callgrind, 20 vs 120): {step:.0} per run step, {node:.0} per chain node = {:.2}x",
                node / step
            ),
            (Err(e), _) | (_, Err(e)) => println!("instructions per node: not measured: {e:#}"),
        }
    }
    std::fs::remove_dir_all(&opts.dir).ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn alternating_rounds_take_turns_going_first_and_pair_each_round_s_times() {
        let order = std::cell::RefCell::new(String::new());
        let times = alternating(
            3,
            async || {
                order.borrow_mut().push('a');
                Ok(Duration::from_millis(1))
            },
            async || {
                order.borrow_mut().push('b');
                Ok(Duration::from_millis(2))
            },
        )
        .await
        .expect("rounds");
        assert_eq!(order.into_inner(), "abbaab");
        assert_eq!(times, vec![(Duration::from_millis(1), Duration::from_millis(2)); 3]);
    }

    #[tokio::test]
    async fn the_probes_run_a_chain_and_a_run_to_their_end_from_the_queue_alone() {
        let dir = tempfile::tempdir().expect("tmp");
        for shape in [ProbeShape::Chain, ProbeShape::Run, ProbeShape::Short] {
            probe(&dir.path().join(format!("{shape:?}")), 5, shape).await.expect("the probe succeeds");
        }
    }
}
