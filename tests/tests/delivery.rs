//! Duplicate delivery and worker death between a skill's effect and its checkpoint,
//! driven directly through the step worker on the embedded adapters. A "crash" here
//! abandons the step after the effect and drops every handle, then reopens the data
//! directory as a new process would (the real-process version is cli/tests/crash.rs).

use aos_core::{ErrorCode, StructuredOutcome, TenantId};
use aos_embedded::{Durability, Embedded, STEP_MAX_RECEIVE_COUNT};
use aos_runtime::ports::{Queue, RunStore};
use aos_runtime::runs::{RunService, SubmitRun};
use aos_runtime::skills::{JsonTransformSkill, KvStoreSkill};
use aos_runtime::worker::{Handled, HookAction, StepWorker, WorkerConfig};
use aos_runtime::{IdempotencyClass, KvStore, Skill, SkillContext, SkillDescriptor, SkillRegistry};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Appends to a shared log on every execution: the stand-in for a side effect.
struct Effect {
    name: &'static str,
    class: IdempotencyClass,
    log: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Skill for Effect {
    fn descriptor(&self) -> SkillDescriptor {
        SkillDescriptor {
            name: self.name.to_owned(),
            version: "1.0.0".into(),
            description: "test effect".into(),
            input_schema: json!({"type": "object"}),
            output_schema: json!({"type": "object"}),
            idempotency: self.class,
            timeout_ms: 5_000,
        }
    }

    async fn execute(&self, ctx: &SkillContext, _input: Value) -> StructuredOutcome {
        self.log.lock().expect("log").push(format!("{}#{}", self.name, ctx.step_index));
        StructuredOutcome::success(json!({"done": true}))
    }
}

/// A skill with a bug: it panics.
struct Panics;

#[async_trait]
impl Skill for Panics {
    fn descriptor(&self) -> SkillDescriptor {
        SkillDescriptor {
            name: "panics".into(),
            version: "1.0.0".into(),
            description: "always panics".into(),
            input_schema: json!({"type": "object"}),
            output_schema: json!({"type": "object"}),
            idempotency: IdempotencyClass::Pure,
            timeout_ms: 5_000,
        }
    }

    async fn execute(&self, _ctx: &SkillContext, _input: Value) -> StructuredOutcome {
        panic!("a bug in a skill")
    }
}

struct Env {
    embedded: Arc<Embedded>,
    runs: RunService,
    worker: StepWorker,
}

fn config() -> WorkerConfig {
    WorkerConfig {
        visibility: Duration::from_millis(300),
        heartbeat: Duration::from_millis(100),
        poll_wait: Duration::from_millis(50),
        ..WorkerConfig::default()
    }
}

async fn open(dir: &Path, log: &Arc<Mutex<Vec<String>>>) -> Env {
    let embedded = Arc::new(Embedded::open(dir, Durability::Full).await.expect("open"));
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(KvStoreSkill)).expect("kv");
    reg.register(Arc::new(JsonTransformSkill)).expect("jt");
    reg.register(Arc::new(Panics)).expect("panics");
    for (name, class) in
        [("effect_idempotent", IdempotencyClass::Idempotent), ("effect_once", IdempotencyClass::NonIdempotent)]
    {
        reg.register(Arc::new(Effect { name, class, log: Arc::clone(log) })).expect("effect");
    }
    let reg = Arc::new(reg);
    let runs = RunService::new(embedded.runs.clone(), embedded.idempotency.clone(), Arc::clone(&reg));
    let worker = StepWorker::new(embedded.runs.clone(), embedded.queue.clone(), embedded.kv.clone(), reg, config());
    Env { embedded, runs, worker }
}

fn tenant() -> TenantId {
    TenantId::parse("ten_t").expect("id")
}

async fn submit(env: &Env, plan: Value) -> aos_core::RunId {
    let req: SubmitRun = serde_json::from_value(json!({"plan": plan})).expect("body");
    env.runs.submit(&tenant(), req, None).await.expect("submitted").run.id
}

async fn drain(env: &Env) {
    for _ in 0..200 {
        let got =
            env.embedded.queue.receive(1, config().visibility, Duration::from_millis(100)).await.expect("receive");
        if got.is_empty() && env.embedded.queue.depth().expect("depth") == 0 {
            return;
        }
        for m in got {
            env.worker.handle(&m).await;
        }
    }
    panic!("queue did not drain");
}

#[tokio::test]
async fn duplicate_delivery_does_not_run_the_skill_twice() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Arc::default();
    let env = open(dir.path(), &log).await;
    let id = submit(&env, json!([{"skill": "effect_once"}, {"skill": "effect_idempotent"}])).await;
    let first = env.embedded.queue.receive(1, Duration::from_secs(5), Duration::ZERO).await.expect("receive").remove(0);
    env.embedded.queue.send(&first.body, Duration::ZERO).await.expect("duplicate");
    let dup = env.embedded.queue.receive(1, Duration::from_secs(5), Duration::ZERO).await.expect("receive").remove(0);
    // Both copies handled at once by two workers, then the rest of the run.
    let (a, b) = tokio::join!(env.worker.handle(&first), env.worker.handle(&dup));
    assert!(
        matches!((&a, &b), (Handled::Done, Handled::Busy | Handled::Done) | (Handled::Busy, Handled::Done)),
        "{a:?} {b:?}"
    );
    drain(&env).await;
    let run = env.embedded.runs.run(&tenant(), &id).await.expect("read").expect("run");
    assert_eq!(run.status, aos_core::RunStatus::Succeeded);
    assert_eq!(*log.lock().expect("log"), ["effect_once#0", "effect_idempotent#1"], "each skill ran once");
    // A late redelivery of a finished step is acknowledged without running anything.
    env.embedded.queue.send(&first.body, Duration::ZERO).await.expect("late duplicate");
    drain(&env).await;
    assert_eq!(log.lock().expect("log").len(), 2);
}

/// `worker`, abandoning step `index` after its effect, as if it died there.
fn dies_after_effect_of(worker: &StepWorker, index: u32) -> StepWorker {
    worker.clone().with_after_effect_hook(Arc::new(move |m| {
        if m.step_index == index {
            HookAction::Abandon
        } else {
            HookAction::Continue
        }
    }))
}

/// Submits `plan` and hands its first message, received for `lease`, to a worker that
/// carries the run on from step to step and dies after the effect of step `index`.
async fn dies_in_a_chain(env: &Env, plan: Value, index: u32, lease: Duration) -> aos_core::RunId {
    let id = submit(env, plan).await;
    let dying = dies_after_effect_of(&env.worker, index);
    let m = env.embedded.queue.receive(1, lease, Duration::ZERO).await.expect("receive").remove(0);
    assert_eq!(dying.handle(&m).await, Handled::Abandoned);
    id
}

async fn crash_after_effect_of_step_0(dir: &Path, log: &Arc<Mutex<Vec<String>>>, plan: Value) -> aos_core::RunId {
    let env = open(dir, log).await;
    let id = submit(&env, plan).await;
    let dying = dies_after_effect_of(&env.worker, 0);
    let m = env.embedded.queue.receive(1, config().visibility, Duration::ZERO).await.expect("receive").remove(0);
    assert_eq!(dying.handle(&m).await, Handled::Abandoned);
    drop(dying);
    drop(env);
    id
}

/// A worker carries a run on from step to step with the one message it received, whose
/// row the hand-offs leave as it was delivered. Killed in the third step, after its
/// effect: the message, delivered again when its lease runs out, names the run's first
/// step, and resumes the run where the worker died (a claim that ran out with the lease).
#[tokio::test]
async fn a_worker_killed_in_a_chain_of_steps_is_resumed_where_it_died_by_its_first_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Arc::default();
    let env = open(dir.path(), &log).await;
    let plan = json!([
        {"skill": "effect_idempotent"}, {"skill": "effect_idempotent"}, {"skill": "effect_once"}, {"skill": "effect_idempotent"}
    ]);
    let lease = Duration::from_secs(2);
    let id = dies_in_a_chain(&env, plan, 2, lease).await;
    assert_eq!(*log.lock().expect("log"), ["effect_idempotent#0", "effect_idempotent#1", "effect_once#2"]);
    let run = env.embedded.runs.run(&tenant(), &id).await.expect("read").expect("run");
    assert_eq!(run.next_step, 2, "two steps committed by the worker that died");
    assert!(env.embedded.queue.receive(1, lease, Duration::ZERO).await.expect("receive").is_empty(), "still leased");
    let again = env.embedded.queue.receive(1, lease, Duration::from_secs(5)).await.expect("receive");
    assert_eq!(again.len(), 1, "delivered again when its lease ran out");
    let body: Value = serde_json::from_str(&again[0].body).expect("json");
    assert_eq!((body["step_index"].as_u64(), again[0].receive_count), (Some(0), 2));
    assert_eq!(env.worker.handle(&again[0]).await, Handled::Done);
    drain(&env).await;
    let run = env.embedded.runs.run(&tenant(), &id).await.expect("read").expect("run");
    assert_eq!(run.status, aos_core::RunStatus::Failed);
    assert_eq!(run.error.as_ref().map(|e| e.code), Some(ErrorCode::EffectUncertain), "step 2 is not run twice");
    assert_eq!(log.lock().expect("log").len(), 3, "no step ran again");
    let cps = env.embedded.runs.checkpoints(&tenant(), &id).await.expect("cps");
    assert_eq!(
        cps.iter().map(|c| (c.step_index, c.outcome.ok)).collect::<Vec<_>>(),
        [(0, true), (1, true), (2, false)]
    );
    aos_core::checkpoint::verify_chain(&run.genesis_hash, &cps).expect("chain intact");
}

/// A step handed back to its worker with a skill safe to run twice gets no claim row from
/// the commit before it: its own commit writes the row. Killed after its effect, it is
/// run again from the message delivered again, and that attempt counts as its second.
#[tokio::test]
async fn a_worker_killed_in_a_handed_back_step_leaves_no_claim_and_the_step_runs_again() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Arc::default();
    let env = open(dir.path(), &log).await;
    let plan = json!([{"skill": "effect_idempotent"}, {"skill": "effect_idempotent"}, {"skill": "effect_idempotent"}]);
    let lease = Duration::from_secs(2);
    let id = dies_in_a_chain(&env, plan, 1, lease).await;
    let rows: Vec<(u32, String)> = env
        .embedded
        .db
        .read(|c| {
            let mut st = c.prepare("SELECT step_index, status FROM steps WHERE run_id = ?1 ORDER BY step_index")?;
            let rows = st.query_map([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .expect("steps");
    assert_eq!(rows, [(0, "done".to_owned())], "no claim was written for step 1");
    // The step in flight shows running from what the store keeps in memory.
    let progress = env.embedded.runs.step_progress(&tenant(), &id).await.expect("progress");
    assert_eq!(progress.iter().map(|p| (p.step_index, p.attempts)).collect::<Vec<_>>(), [(1, 1)]);
    // The message comes back when its lease runs out, and the run goes on from step 1.
    let again = env.embedded.queue.receive(1, lease, Duration::from_secs(5)).await.expect("receive");
    assert_eq!(again.len(), 1, "delivered again when its lease ran out");
    assert_eq!(env.worker.handle(&again[0]).await, Handled::Done);
    drain(&env).await;
    let run = env.embedded.runs.run(&tenant(), &id).await.expect("read").expect("run");
    assert_eq!(run.status, aos_core::RunStatus::Succeeded);
    assert_eq!(
        *log.lock().expect("log"),
        ["effect_idempotent#0", "effect_idempotent#1", "effect_idempotent#1", "effect_idempotent#2"],
        "step 1 ran again, and no other step did"
    );
    let cps = env.embedded.runs.checkpoints(&tenant(), &id).await.expect("cps");
    assert_eq!(
        cps.iter().map(|c| (c.step_index, c.attempts)).collect::<Vec<_>>(),
        [(0, 1), (1, 2), (2, 1)],
        "the attempt that died counts"
    );
    aos_core::checkpoint::verify_chain(&run.genesis_hash, &cps).expect("chain intact");
}

/// A worker stalled in a handed-back step (no claim written) past its message's lease
/// loses the step to the worker the message goes to next: that one's claim and commit
/// stand, and the stalled worker's commit writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handed_back_step_without_a_claim_loses_it_to_the_next_delivery() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Arc::default();
    let env = open(dir.path(), &log).await;
    let plan = json!([{"skill": "effect_idempotent"}, {"skill": "effect_idempotent"}]);
    let id = submit(&env, plan).await;
    let (stalled_tx, stalled_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let stalling = env.worker.clone().with_after_effect_hook(Arc::new(move |m| {
        if m.step_index == 1 {
            let _ = stalled_tx.send(());
            let _ = go_rx.lock().expect("go").recv_timeout(Duration::from_secs(30));
        }
        HookAction::Continue
    }));
    let lease = Duration::from_millis(500);
    let m = env.embedded.queue.receive(1, lease, Duration::ZERO).await.expect("receive").remove(0);
    let slow = tokio::spawn(async move { stalling.handle(&m).await });
    tokio::task::spawn_blocking(move || stalled_rx.recv_timeout(Duration::from_secs(30)))
        .await
        .expect("join")
        .expect("the first worker reached step 1");
    let again = env.embedded.queue.receive(1, lease, Duration::from_secs(5)).await.expect("receive");
    assert_eq!(again.len(), 1, "delivered again when its lease ran out");
    assert_eq!(env.worker.handle(&again[0]).await, Handled::Done);
    let run = env.embedded.runs.run(&tenant(), &id).await.expect("read").expect("run");
    assert_eq!(run.status, aos_core::RunStatus::Succeeded);
    let before = env.embedded.runs.checkpoints(&tenant(), &id).await.expect("cps");
    go_tx.send(()).expect("go");
    slow.await.expect("the stalled worker ends");
    let after = env.embedded.runs.checkpoints(&tenant(), &id).await.expect("cps");
    assert_eq!(
        after.iter().map(|c| (c.step_index, c.hash.clone())).collect::<Vec<_>>(),
        before.iter().map(|c| (c.step_index, c.hash.clone())).collect::<Vec<_>>(),
        "the stalled worker's commit wrote nothing"
    );
    assert_eq!(after.len(), 2);
    aos_core::checkpoint::verify_chain(&run.genesis_hash, &after).expect("chain intact");
    assert_eq!(
        *log.lock().expect("log"),
        ["effect_idempotent#0", "effect_idempotent#1", "effect_idempotent#1"],
        "both workers ran step 1 (it is safe to run twice); one commit stands"
    );
}

#[tokio::test]
async fn a_worker_killed_after_an_idempotent_effect_reruns_it_without_a_second_effect() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Arc::default();
    let plan = json!([
        {"skill": "kv_store", "input": {"op": "put", "key": "balance", "value": 100}},
        {"skill": "kv_store", "input": {"op": "get", "key": "balance"}}
    ]);
    let id = crash_after_effect_of_step_0(dir.path(), &log, plan).await;
    let env = open(dir.path(), &log).await;
    assert_eq!(
        env.embedded.kv.get(&tenant(), "balance").await.expect("kv"),
        Some(json!(100)),
        "the effect happened before the crash"
    );
    drain(&env).await;
    let run = env.embedded.runs.run(&tenant(), &id).await.expect("read").expect("run");
    assert_eq!(run.status, aos_core::RunStatus::Succeeded);
    assert_eq!(run.output, Some(json!({"key": "balance", "found": true, "value": 100})));
    let cps = env.embedded.runs.checkpoints(&tenant(), &id).await.expect("cps");
    // The crashed attempt's claim was deferred to its commit (the first delivery of a step
    // safe to run twice) and died with its worker: the attempt that committed is the first
    // the store counted. The effect is there once all the same.
    assert_eq!(cps[0].attempts, 1, "the re-run after the crash is the first counted attempt");
    aos_core::checkpoint::verify_chain(&run.genesis_hash, &cps).expect("chain intact");
}

#[tokio::test]
async fn a_worker_killed_after_a_non_idempotent_effect_is_never_run_twice() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Arc::default();
    let id =
        crash_after_effect_of_step_0(dir.path(), &log, json!([{"skill": "effect_once"}, {"skill": "effect_once"}]))
            .await;
    let env = open(dir.path(), &log).await;
    drain(&env).await;
    let run = env.embedded.runs.run(&tenant(), &id).await.expect("read").expect("run");
    assert_eq!(run.status, aos_core::RunStatus::Failed);
    assert_eq!(run.error.as_ref().map(|e| e.code), Some(ErrorCode::EffectUncertain));
    assert_eq!(*log.lock().expect("log"), ["effect_once#0"], "at most once: not re-run, and no later step ran");
    let cps = env.embedded.runs.checkpoints(&tenant(), &id).await.expect("cps");
    assert_eq!(cps.len(), 1);
    assert!(!cps[0].outcome.ok);
}

#[tokio::test]
async fn a_malformed_step_message_is_dead_lettered_without_blocking_others() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Arc::default();
    let env = open(dir.path(), &log).await;
    env.embedded.queue.send("{not a step", Duration::ZERO).await.expect("send");
    let id = submit(&env, json!([{"skill": "effect_idempotent"}])).await;
    for _ in 0..(STEP_MAX_RECEIVE_COUNT * 3) {
        for m in env.embedded.queue.receive(5, Duration::ZERO, Duration::ZERO).await.expect("receive") {
            env.worker.handle(&m).await;
        }
    }
    let run = env.embedded.runs.run(&tenant(), &id).await.expect("read").expect("run");
    assert_eq!(run.status, aos_core::RunStatus::Succeeded, "the good message was not blocked");
    let dead = env.embedded.queue.dead_letters().expect("dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "{not a step");
    assert_eq!(dead[0].receive_count, STEP_MAX_RECEIVE_COUNT);
}

#[tokio::test]
async fn a_panicking_skill_fails_its_step_and_the_worker_carries_on() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Arc::default();
    let env = open(dir.path(), &log).await;
    let bad = submit(&env, json!([{"skill": "panics"}, {"skill": "effect_idempotent"}])).await;
    let good = submit(&env, json!([{"skill": "effect_idempotent"}])).await;
    drain(&env).await;
    let bad = env.embedded.runs.run(&tenant(), &bad).await.expect("read").expect("run");
    assert_eq!(bad.status, aos_core::RunStatus::Failed);
    assert_eq!(bad.error.as_ref().map(|e| e.code), Some(ErrorCode::Internal));
    let good = env.embedded.runs.run(&tenant(), &good).await.expect("read").expect("run");
    assert_eq!(good.status, aos_core::RunStatus::Succeeded, "the same worker went on");
    assert_eq!(*log.lock().expect("log"), ["effect_idempotent#0"], "the step after the panic never ran");
}
