//! `aos bench`: durability and throughput figures of the embedded engine, measured in
//! one run so they can be compared as ratios: the fsync floor of the data directory,
//! the store's raw durable commit, the durable per-step latency with a no-op skill,
//! the per-step overhead with durability off, and steps/s with many concurrent runs.

use anyhow::Context;
use aos_core::{StructuredOutcome, TenantId};
use aos_embedded::{Durability, Embedded};
use aos_runtime::net::AddressPolicy;
use aos_runtime::ports::{KvStore, Queue};
use aos_runtime::runs::{RunService, SubmitRun};
use aos_runtime::worker::{StepWorker, WorkerConfig};
use aos_runtime::{IdempotencyClass, Skill, SkillContext, SkillDescriptor};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Benchmark sizes.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Where to put the scratch data (a fresh subdirectory per measurement).
    pub dir: PathBuf,
    /// Samples for the fsync and raw commit measurements.
    pub samples: usize,
    /// Steps in the serial step-latency measurements.
    pub serial_steps: usize,
    /// Concurrent runs in the throughput measurement.
    pub concurrent_runs: usize,
    /// Steps per concurrent run.
    pub steps_per_run: usize,
    /// Rounds of the concurrent measurement (each in a fresh store); the median is the
    /// figure, the range is printed beside it.
    pub rounds: usize,
    /// Also count instructions per step under `valgrind --tool=callgrind` (this binary,
    /// re-run as `aos bench-probe`).
    pub instructions: bool,
}

pub(crate) struct Noop;

#[async_trait]
impl Skill for Noop {
    fn descriptor(&self) -> SkillDescriptor {
        SkillDescriptor {
            name: "noop".into(),
            version: "1.0.0".into(),
            description: "does nothing (benchmarks)".into(),
            input_schema: json!({"type": "object"}),
            output_schema: json!({"type": "object"}),
            idempotency: IdempotencyClass::Pure,
            timeout_ms: 5_000,
        }
    }

    async fn execute(&self, _ctx: &SkillContext, input: Value) -> StructuredOutcome {
        match input["bytes"].as_u64() {
            Some(n) => StructuredOutcome::success(json!({"pad": "x".repeat(usize::try_from(n).unwrap_or(0))})),
            None => StructuredOutcome::success(json!({})),
        }
    }
}

/// p50 and p99 of a sample, in microseconds.
pub(crate) fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}

fn fsync_floor(dir: &Path, samples: usize) -> anyhow::Result<Vec<Duration>> {
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("fsync.bin"))?;
    let record = [7u8; 128];
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        f.write_all(&record)?;
        f.sync_data()?;
        out.push(t.elapsed());
    }
    Ok(out)
}

async fn raw_commit(dir: &Path, durability: Durability, samples: usize) -> anyhow::Result<Vec<Duration>> {
    let e = Embedded::open(dir, durability).await?;
    let tenant = TenantId::parse("ten_bench")?;
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let t = Instant::now();
        e.kv.put(&tenant, &format!("k{i}"), &json!(i)).await?;
        out.push(t.elapsed());
    }
    e.db.close();
    Ok(out)
}

/// The same durable one-record commit on redb, the other embedded engine considered,
/// so the choice of SQLite rests on a measurement made on the same disk in the same run.
fn redb_commit(dir: &Path, samples: usize) -> anyhow::Result<Vec<Duration>> {
    const TABLE: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("kv");
    std::fs::create_dir_all(dir)?;
    let db = redb::Database::create(dir.join("bench.redb"))?;
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let t = Instant::now();
        let tx = db.begin_write()?;
        {
            let mut table = tx.open_table(TABLE)?;
            table.insert(format!("k{i}").as_str(), b"{\"value\": 1}".as_slice())?;
        }
        tx.commit()?;
        out.push(t.elapsed());
    }
    Ok(out)
}

pub(crate) struct Engine {
    pub(crate) embedded: Arc<Embedded>,
    pub(crate) runs: RunService,
    pub(crate) worker: StepWorker,
}

pub(crate) async fn engine(dir: &Path, durability: Durability) -> anyhow::Result<Engine> {
    let embedded = Arc::new(Embedded::open(dir, durability).await?);
    let mut registry = aos_runtime::skills::default_registry(AddressPolicy::default())?;
    registry.register(Arc::new(Noop))?;
    let registry = Arc::new(registry);
    let runs = RunService::new(embedded.runs.clone(), embedded.idempotency.clone(), Arc::clone(&registry));
    let config = WorkerConfig { poll_wait: Duration::from_millis(20), ..WorkerConfig::default() };
    let worker = StepWorker::new(embedded.runs.clone(), embedded.queue.clone(), embedded.kv.clone(), registry, config);
    Ok(Engine { embedded, runs, worker })
}

/// Has `worker` signal its runs' ends to the callers `runs` lets wait for them (as
/// `aos dev` wires it), so a benchmark waits for a run's end instead of reading it again
/// and again (a reader every millisecond takes CPU from the workers it measures). The
/// signals, for a workflow service to share.
pub(crate) fn signal_ends(runs: &mut RunService, worker: &mut StepWorker) -> Arc<aos_runtime::changes::Changes> {
    let changes = Arc::new(aos_runtime::changes::Changes::default());
    *runs = runs.clone().with_changes(Arc::clone(&changes));
    *worker = worker.clone().with_changes(Arc::clone(&changes));
    changes
}

/// Waits for the run's end (signalled: see [`signal_ends`]), at most ten minutes.
pub(crate) async fn wait_for_end(
    runs: &RunService,
    tenant: &TenantId,
    id: &aos_core::RunId,
) -> anyhow::Result<aos_runtime::ports::RunRecord> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        // Each wait lasts at most the service's cap; the loop waits again until the end.
        let run = runs.wait(tenant, id, Duration::from_secs(600)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if run.status.is_terminal() {
            return Ok(run);
        }
        anyhow::ensure!(Instant::now() < deadline, "run {id} did not end within 600 s");
    }
}

pub(crate) fn noop_plan(steps: usize) -> anyhow::Result<SubmitRun> {
    let plan: Vec<Value> = (0..steps).map(|_| json!({"skill": "noop"})).collect();
    Ok(serde_json::from_value(json!({"plan": plan, "base_seed": 1}))?)
}

/// A plan of no-op steps each given `{"n": …}`: from `first` on, one more each step
/// (every step a new input), or `first` for all (`same`).
fn numbered_plan(steps: usize, first: usize, same: bool) -> anyhow::Result<SubmitRun> {
    let plan: Vec<Value> =
        (0..steps).map(|i| json!({"skill": "noop", "input": {"n": if same { first } else { first + i }}})).collect();
    Ok(serde_json::from_value(json!({"plan": plan, "base_seed": 1}))?)
}

/// Per-step latency of one worker executing runs step after step: the time between
/// the ends of two consecutive skill executions of a run, which covers one commit
/// (checkpoint, next step claimed) and one claim-prepare-execute.
/// Every step is given a new input (`{"n": …}`), or with `same` the same one.
/// With `policies`, the tenant has that many policies (none of which refuses a no-op
/// step) and the worker's gate judges every step, as a warm worker does: its policies
/// from its cache. A step with a new input has the policies that read the input
/// evaluated; a step whose facts are a step's judged before, none (their answers kept).
async fn serial_steps(
    dir: &Path,
    durability: Durability,
    steps: usize,
    policies: Option<usize>,
    same: bool,
    metered: bool,
) -> anyhow::Result<Vec<Duration>> {
    let eng = engine(dir, durability).await?;
    let marks: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let seen = Arc::clone(&marks);
    let mut worker = eng.worker.clone().with_after_effect_hook(Arc::new(move |_| {
        seen.lock().expect("marks").push(Instant::now());
        aos_runtime::worker::HookAction::Continue
    }));
    let tenant = TenantId::parse("ten_bench")?;
    if let Some(n) = policies {
        let service = aos_runtime::policies::PolicyService::new(eng.embedded.policies.clone());
        let req = aos_runtime::policies::ApplyPolicies {
            text: bench_policies(n),
            default_deny: false,
            allow_deny_all: false,
            base_version: None,
        };
        service
            .apply(&tenant, &req, &aos_core::audit::Actor::key("key_bench", "admin"), 0)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        worker = worker.with_policies(service);
    }
    if metered {
        // A metered tenant: every step reserves its credits before it runs, and its
        // commit settles them.
        let credits = aos_runtime::credits::CreditService::new(eng.embedded.credits.clone());
        credits
            .grant(&tenant, &bench_grant(100_000_000), aos_core::audit::Actor::system(), aos_runtime::clock::now_ms())
            .await?;
        worker = worker.with_credits(credits);
    }
    let mut out = Vec::with_capacity(steps);
    // Runs of 10 steps, so that per-step work does not grow with one huge plan.
    while out.len() < steps {
        eng.runs.submit(&tenant, numbered_plan(10, out.len(), same)?, None).await?;
        marks.lock().expect("marks").clear();
        let msgs = eng.embedded.queue.receive(1, Duration::from_secs(30), Duration::from_secs(1)).await?;
        worker.handle(msgs.first().context("the first step was not enqueued")?).await;
        let m = marks.lock().expect("marks").clone();
        anyhow::ensure!(m.len() == 10, "a run executed {} of 10 steps in one chain", m.len());
        out.extend(m.windows(2).map(|w| w[1] - w[0]));
    }
    eng.embedded.db.close();
    Ok(out)
}

/// `n` policies of every category and shape (conditions on the input, the target, the
/// spend, the time), none of which applies to a no-op step.
fn bench_policies(n: usize) -> String {
    const CATEGORIES: [&str; 5] = ["SAFETY", "PRIVACY", "OPERATIONAL", "ROUTING", "CUSTOM"];
    (0..n)
        .map(|i| {
            let when = match i % 4 {
                0 => format!("context.input_text like \"*marker-{i}*\""),
                1 => format!("context.host == \"h{i}.example.com\" && context.port == 443"),
                2 => format!("context.estimated_cents > {}", 10_000 + i),
                _ => format!("context.kind == \"child_run\" && context.hour_utc == {}", i % 24),
            };
            let approval = if i % 3 == 0 { "@approval(\"2\") " } else { "" };
            format!(
                "@id(\"p{i}\") @category(\"{}\") {approval}forbid (principal, action, resource) when {{ {when} }};\n",
                CATEGORIES[i % 5]
            )
        })
        .collect()
}

/// A paid grant of `credits` for the bench tenant, spendable at once.
pub(crate) fn bench_grant(credits: u64) -> aos_core::credits::GrantSpec {
    aos_core::credits::GrantSpec {
        id: "bench".into(),
        kind: aos_core::credits::GrantKind::Paid,
        amount: aos_core::credits::Millicredits::from_credits(credits),
        effective_ms: 0,
        expires_ms: None,
        priority: 0,
    }
}

/// Ledger operations per second: `tasks` tasks each reserving and settling
/// `per_task / 2` times on one tenant's ledger (every operation a durable write).
async fn ledger_rate(dir: &Path, tasks: usize, per_task: usize) -> anyhow::Result<f64> {
    use aos_runtime::ports::CreditStore;
    let embedded = Arc::new(Embedded::open(dir, Durability::Full).await?);
    let tenant = TenantId::parse("ten_bench")?;
    let store: Arc<dyn CreditStore> = embedded.credits.clone();
    let now = aos_runtime::clock::now_ms();
    store.grant(&tenant, &bench_grant(1_000_000), &[], now).await?;
    let started = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (store, tenant) = (Arc::clone(&store), tenant.clone());
        handles.push(tokio::spawn(async move {
            for i in 0..per_task / 2 {
                let cause =
                    aos_core::credits::Cause { run: format!("run_bench{task}"), step: u32::try_from(i)?, attempt: 1 };
                let amount = aos_core::credits::Millicredits(1_000);
                let r = store.reserve(&tenant, &cause, amount, now + 600_000, now).await?;
                store.settle(&tenant, &r.id, amount, now).await?;
            }
            anyhow::Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let elapsed = started.elapsed();
    let book = store.book(&tenant, now).await?;
    anyhow::ensure!(book.broken().is_none() && book.reserved().0 == 0, "the ledger does not balance: {book:?}");
    embedded.db.close();
    Ok((tasks * (per_task / 2) * 2) as f64 / elapsed.as_secs_f64())
}

/// The median of `v` (the upper one of an even count), its minimum and its maximum.
pub(crate) fn median_range(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    match (v.first(), v.get(v.len() / 2), v.last()) {
        (Some(lo), Some(mid), Some(hi)) => (*mid, *lo, *hi),
        _ => (f64::NAN, f64::NAN, f64::NAN),
    }
}

/// Steps per second of `runs` runs of `steps` no-op steps on `workers` workers, and the
/// CPU time the whole process spent per step meanwhile (all threads, user and system), µs.
///
/// The runs are submitted all at once, as that many clients would, so that they are all
/// in progress from the start: submitted one after another, each submission awaited,
/// the first runs were well on their way before the last was in, and much of a round
/// measured fewer runs at a time than it names. The plans are built before the clock
/// starts: they are the clients' work, not the engine's.
async fn throughput(dir: &Path, runs: usize, steps: usize, workers: usize) -> anyhow::Result<(f64, f64)> {
    let eng = engine(dir, Durability::Full).await?;
    let tenant = TenantId::parse("ten_bench")?;
    let plans = (0..runs).map(|_| noop_plan(steps)).collect::<anyhow::Result<Vec<_>>>()?;
    let running = Workers::start(&eng.worker, workers);
    let t = Instant::now();
    let cpu = cpu_time::ProcessTime::now();
    let submits = plans.into_iter().map(|p| eng.runs.submit(&tenant, p, None));
    for submitted in futures_util::future::join_all(submits).await {
        submitted?;
    }
    loop {
        if eng.embedded.queue.depth()? == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = t.elapsed();
    let cpu = cpu.elapsed();
    running.stop().await;
    let done = eng
        .runs
        .list(
            &tenant,
            aos_runtime::runs::RunQuery {
                status: Some(aos_core::RunStatus::Succeeded),
                limit: aos_core::page::PageLimit::new(Some(100)).map_err(anyhow::Error::msg)?,
                before: None,
            },
        )
        .await?
        .items;
    anyhow::ensure!(done.len() == runs.min(100), "only {} of {runs} runs succeeded", done.len());
    eng.embedded.db.close();
    let total = (runs * steps) as f64;
    Ok((total / elapsed.as_secs_f64(), cpu.as_secs_f64() * 1e6 / total))
}

/// Runs every measurement and prints the figures, ratios and targets.
pub async fn run(opts: &BenchOptions) -> anyhow::Result<()> {
    let fresh = |name: &str| -> anyhow::Result<PathBuf> {
        let d = opts.dir.join(name);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
        Ok(d)
    };
    println!("AOS embedded engine benchmark (data in {})", opts.dir.display());
    let (fs50, fs99) = percentiles(fsync_floor(&fresh("fsync")?, opts.samples)?);
    println!("fsync floor (append 128 B + fdatasync): p50 {fs50:.0} us  p99 {fs99:.0} us");
    let (rc50, rc99) = percentiles(raw_commit(&fresh("raw")?, Durability::Full, opts.samples).await?);
    println!(
        "store raw durable commit (one kv put):  p50 {rc50:.0} us  p99 {rc99:.0} us  ({:.2}x fsync p50)",
        rc50 / fs50
    );
    let (rd50, rd99) = percentiles(redb_commit(&fresh("redb")?, opts.samples)?);
    println!(
        "redb raw durable commit (comparison):   p50 {rd50:.0} us  p99 {rd99:.0} us  ({:.2}x fsync p50)",
        rd50 / fs50
    );
    let (ro50, _) = percentiles(raw_commit(&fresh("raw-off")?, Durability::Off, opts.samples).await?);
    println!("store raw commit, durability off:       p50 {ro50:.1} us");
    let (d50, d99) =
        percentiles(serial_steps(&fresh("durable")?, Durability::Full, opts.serial_steps, None, false, false).await?);
    let target = 1.3 * fs50 + 30.0;
    println!(
        "durable step, serial, no-op skill:      p50 {d50:.0} us  p99 {d99:.0} us  target p50 <= 1.3 x fsync p50 + 30 us = {target:.0} us: {}",
        if d50 <= target { "met" } else { "MISSED" }
    );
    for (label, same) in [("each step a new input", false), ("repeated steps, same facts", true)] {
        let (g50, g99) = percentiles(
            serial_steps(&fresh("gated")?, Durability::Full, opts.serial_steps, Some(50), same, false).await?,
        );
        println!(
            "durable step, policy gate on (50), {label}: p50 {g50:.0} us  p99 {g99:.0} us  ({:.2}x gate off)  target <= 1.1x: {}",
            g50 / d50,
            if g50 <= 1.1 * d50 { "met" } else { "MISSED" }
        );
    }
    // Ledger off and on in alternating rounds, so that both see the same disk and cache,
    // each going first in half of them (the one that follows a store's close shares the
    // disk with that store's last writes).
    let (mut off, mut on) = (Vec::new(), Vec::new());
    let round = opts.serial_steps.div_ceil(4).max(10);
    for i in 0..4 {
        for metered in if i % 2 == 0 { [false, true] } else { [true, false] } {
            let dir = fresh(if metered { "ledger" } else { "ledger-off" })?;
            let times = serial_steps(&dir, Durability::Full, round, None, false, metered).await?;
            if metered {
                on.extend(times);
            } else {
                off.extend(times);
            }
        }
    }
    let mean = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len().max(1) as f64 * 1e6;
    let (b_mean, l_mean) = (mean(&off), mean(&on));
    let ((b50, _), (l50, l99)) = (percentiles(off), percentiles(on));
    println!(
        "durable step, ledger on (metered tenant: its settle and the next step's reservation in the commit): p50 {l50:.0} us  p99 {l99:.0} us  mean {l_mean:.0} us  ({:.2}x ledger off, p50 {b50:.0} us; mean {:.2}x; in alternating rounds)  target <= 1.15x: {}",
        l50 / b50,
        l_mean / b_mean,
        if l50 <= 1.15 * b50 { "met" } else { "MISSED" }
    );
    let ops = ledger_rate(&fresh("ledger-ops")?, 16, 2_000).await?;
    println!("ledger operations, 16 tasks on one tenant (reserve, then settle; each synced): {ops:.0} ops/s");
    let (o50, o99) =
        percentiles(serial_steps(&fresh("off")?, Durability::Off, opts.serial_steps, None, false, false).await?);
    println!(
        "step overhead, durability off:          p50 {o50:.1} us  p99 {o99:.1} us  target p50 <= 25 us: {}",
        if o50 <= 25.0 { "met" } else { "MISSED" }
    );
    let (ol50, ol99) =
        percentiles(serial_steps(&fresh("off-ledger")?, Durability::Off, opts.serial_steps, None, false, true).await?);
    println!(
        "step overhead, durability off, ledger on: p50 {ol50:.1} us  p99 {ol99:.1} us  (+{:.1} us for the ledger)",
        ol50 - o50
    );
    for (label, same) in [("each step a new input", false), ("repeated steps, same facts", true)] {
        let (og50, og99) = percentiles(
            serial_steps(&fresh("off-gated")?, Durability::Off, opts.serial_steps, Some(50), same, false).await?,
        );
        println!(
            "step overhead, durability off, gate on (50 policies), {label}: p50 {og50:.1} us  p99 {og99:.1} us  (+{:.1} us for the gate)",
            og50 - o50
        );
    }
    let (serial_rate, serial_cpu) = throughput(&fresh("serial")?, 4, opts.steps_per_run, 1).await?;
    println!("serial throughput (4 runs, 1 worker):   {serial_rate:.0} steps/s  {serial_cpu:.1} core-us/step");
    let conc = opts.concurrent_runs;
    let (mut rates, mut cpus) = (Vec::new(), Vec::new());
    for _ in 0..opts.rounds.max(1) {
        let (rate, cpu) = throughput(&fresh("concurrent")?, conc, opts.steps_per_run, conc).await?;
        rates.push(rate);
        cpus.push(cpu);
    }
    let ((rate, rate_lo, rate_hi), (cpu, cpu_lo, cpu_hi)) = (median_range(rates), median_range(cpus));
    let ratio = rate / serial_rate;
    println!(
        "{conc} concurrent runs ({conc} workers), median of {} rounds: {rate:.0} steps/s ({rate_lo:.0}-{rate_hi:.0}) = {ratio:.1}x serial  {cpu:.1} core-us/step ({cpu_lo:.1}-{cpu_hi:.1}, whole process)  target <= 30 core-us/step: {}",
        opts.rounds.max(1),
        if cpu <= 30.0 { "met" } else { "MISSED" }
    );
    if opts.instructions {
        for (durability, metered) in [(Durability::Off, false), (Durability::Full, false), (Durability::Full, true)] {
            let label = match (durability, metered) {
                (Durability::Off, _) => "off",
                (_, false) => "full",
                (_, true) => "full, ledger on",
            };
            let scratch = opts.dir.join(format!("callgrind-{}", label.replace(", ", "-").replace(' ', "-")));
            match instructions_per_step(&scratch, durability, metered) {
                Ok(i) => println!(
                    "instructions per step, durability {label} (callgrind, {PROBE_SMALL} vs {PROBE_LARGE} steps): {i:.0}"
                ),
                Err(e) => println!("instructions per step, durability {label}: not measured: {e:#}"),
            }
        }
        // What a run costs beyond its steps: its submission, first delivery and end.
        match instructions_per_unit(&opts.dir.join("callgrind-short"), &["--shape", "short"]) {
            Ok(i) => println!(
                "instructions per one-step run, durable (callgrind, {PROBE_SMALL} vs {PROBE_LARGE} runs; submitted, received, ended): {i:.0}"
            ),
            Err(e) => println!("instructions per one-step run: not measured: {e:#}"),
        }
    }
    std::fs::remove_dir_all(&opts.dir).ok();
    Ok(())
}

/// Step counts of the two callgrind probes: their difference is what a step costs, the
/// engine's start and the first run's set-up cancel out.
const PROBE_SMALL: usize = 20;
const PROBE_LARGE: usize = 120;

/// What one serial no-op step of a 10-step run costs in instructions (its share of the
/// run's submission included): this binary run twice under
/// `valgrind --tool=callgrind` as `aos bench-probe` (`PROBE_SMALL` and `PROBE_LARGE`
/// steps), the difference of their totals over the difference of their steps. Instruction
/// counts do not move with the machine's noise, so they are the figure to watch between
/// changes.
fn instructions_per_step(dir: &Path, durability: Durability, metered: bool) -> anyhow::Result<f64> {
    let durable = if durability == Durability::Off { "false" } else { "true" };
    let mut extra = vec!["--durable", durable];
    if metered {
        extra.push("--metered");
    }
    instructions_per_unit(dir, &extra)
}

/// `aos bench-probe` with `extra` arguments run under `valgrind --tool=callgrind` for
/// `PROBE_SMALL` and `PROBE_LARGE` units (steps or nodes): the difference of their
/// instruction totals over the difference of their units.
pub(crate) fn instructions_per_unit(dir: &Path, extra: &[&str]) -> anyhow::Result<f64> {
    let exe = std::env::current_exe()?;
    let mut totals = Vec::new();
    for steps in [PROBE_SMALL, PROBE_LARGE] {
        let out_file = dir.join(format!("callgrind.{steps}.out"));
        std::fs::create_dir_all(dir)?;
        let status = std::process::Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out_file.display()))
            .arg(&exe)
            .args(["bench-probe", "--steps", &steps.to_string(), "--dir"])
            .arg(dir.join(format!("data-{steps}")))
            .args(extra)
            .env("AOS_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .context("valgrind did not start (install valgrind: apt install valgrind)")?;
        anyhow::ensure!(status.success(), "the probe under valgrind failed: {status}");
        let text = std::fs::read_to_string(&out_file)?;
        totals.push(callgrind_total(&text).context("no total in the callgrind output")?);
    }
    Ok((totals[1] - totals[0]) as f64 / (PROBE_LARGE - PROBE_SMALL) as f64)
}

/// The instruction total of a callgrind output (its `totals:` line, or `summary:`).
fn callgrind_total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// `aos bench-probe`: `steps` serial no-op steps (runs of 10) on a fresh store, nothing
/// else (`metered`: a metered tenant, each step reserving and settling credits); what
/// `aos bench --instructions` counts under callgrind.
pub async fn probe(dir: &Path, steps: usize, durable: bool, metered: bool) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let durability = if durable { Durability::Full } else { Durability::Off };
    // `serial_steps` measures the 9 gaps of each 10-step run: asking for 9 per 10 steps
    // runs exactly `steps / 10` runs.
    serial_steps(dir, durability, steps / 10 * 9, None, false, metered).await?;
    Ok(())
}

/// Step workers running in the background of a measurement.
pub(crate) struct Workers {
    stop: tokio::sync::watch::Sender<bool>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    /// `n` copies of `worker`, each in its own task.
    pub(crate) fn start(worker: &aos_runtime::worker::StepWorker, n: usize) -> Self {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let handles = (0..n).map(|_| tokio::spawn(worker.clone().run_loop(rx.clone()))).collect();
        Self { stop, handles }
    }

    /// Tells them to stop and waits until they have.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// Time for `runs` runs of `steps` no-op steps with `workers` workers, durable.
pub(crate) async fn run_batch(dir: &Path, runs: usize, steps: usize, workers: usize) -> anyhow::Result<Duration> {
    let mut eng = engine(dir, Durability::Full).await?;
    signal_ends(&mut eng.runs, &mut eng.worker);
    let tenant = TenantId::parse("ten_bench")?;
    let running = Workers::start(&eng.worker, workers);
    let t = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..runs {
        ids.push(eng.runs.submit(&tenant, noop_plan(steps)?, None).await?.run.id);
    }
    for id in &ids {
        wait_for_end(&eng.runs, &tenant, id).await?;
    }
    let elapsed = t.elapsed();
    running.stop().await;
    eng.embedded.db.close();
    Ok(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callgrind_total_is_read_from_its_totals_or_summary_line() {
        let out = "version: 1\ncmd: aos bench-probe\nevents: Ir\nfn=main\n3 10\ntotals: 123456789\n";
        assert_eq!(callgrind_total(out), Some(123_456_789));
        assert_eq!(callgrind_total("events: Ir\nsummary: 42\n"), Some(42));
        assert_eq!(callgrind_total("events: Ir\n"), None);
    }

    /// The concurrent measurement submits its runs together and counts a round only once
    /// every one of them succeeded (`throughput` checks that before it returns).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_concurrent_measurement_runs_every_run_it_submits_to_its_end() {
        let dir = tempfile::tempdir().expect("tmp");
        let (rate, cpu) = throughput(dir.path(), 12, 3, 12).await.expect("every run succeeds");
        assert!(rate > 0.0 && cpu > 0.0, "{rate} steps/s, {cpu} core-us a step");
    }

    #[test]
    fn a_figure_of_several_rounds_is_their_median_with_their_range() {
        assert_eq!(median_range(vec![52.0, 38.5, 41.0]), (41.0, 38.5, 52.0));
        assert_eq!(median_range(vec![7.0]), (7.0, 7.0, 7.0));
        assert!(median_range(Vec::new()).0.is_nan());
    }
}
