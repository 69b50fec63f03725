//! The step loop on both backends: the same `RunService` and `StepWorker` over the
//! embedded adapters and over DynamoDB + SQS on moto server, with the same outcomes.

use aos_core::checkpoint::verify_chain;
use aos_core::{ErrorCode, RunId, RunStatus, StructuredOutcome, TenantId};
use aos_runtime::runs::RunQuery;
use aos_runtime::runs::{RunService, SubmitRun};
use aos_runtime::skills::{JsonTransformSkill, KvStoreSkill};
use aos_runtime::worker::{StepWorker, WorkerConfig};
use aos_runtime::{IdempotencyClass, Skill, SkillContext, SkillDescriptor, SkillRegistry};
use aos_tests::backends::Ports;
use aos_tests::contract;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records each execution; fails retryably the first `fail_first` times.
struct Probe {
    calls: Arc<Mutex<Vec<u32>>>,
    fail_first: usize,
}

#[async_trait]
impl Skill for Probe {
    fn descriptor(&self) -> SkillDescriptor {
        SkillDescriptor {
            name: "probe".into(),
            version: "1.0.0".into(),
            description: "records calls".into(),
            input_schema: json!({"type": "object"}),
            output_schema: json!({"type": "object"}),
            idempotency: IdempotencyClass::Idempotent,
            timeout_ms: 5_000,
        }
    }

    async fn execute(&self, ctx: &SkillContext, _input: Value) -> StructuredOutcome {
        let mut calls = self.calls.lock().expect("calls");
        calls.push(ctx.step_index);
        if calls.len() <= self.fail_first {
            return StructuredOutcome::failure(ErrorCode::Http503, "flaky");
        }
        StructuredOutcome::success(json!({"call": calls.len()}))
    }
}

struct Loop {
    ports: Ports,
    service: RunService,
    worker: StepWorker,
    calls: Arc<Mutex<Vec<u32>>>,
}

fn tenant() -> TenantId {
    TenantId::parse("ten_t").expect("id")
}

fn setup(ports: Ports, fail_first: usize) -> Loop {
    let calls: Arc<Mutex<Vec<u32>>> = Arc::default();
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(KvStoreSkill)).expect("kv");
    reg.register(Arc::new(JsonTransformSkill)).expect("jt");
    reg.register(Arc::new(Probe { calls: Arc::clone(&calls), fail_first })).expect("probe");
    aos_runtime::agent::declare(&mut reg).expect("agent steps");
    let reg = Arc::new(reg);
    let service = RunService::new(Arc::clone(&ports.runs), Arc::clone(&ports.idempotency), Arc::clone(&reg));
    let config = WorkerConfig {
        visibility: Duration::from_secs(5),
        heartbeat: Duration::from_secs(1),
        poll_wait: Duration::from_secs(1),
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(100),
        ..WorkerConfig::default()
    };
    let worker = StepWorker::new(Arc::clone(&ports.runs), Arc::clone(&ports.queue), Arc::clone(&ports.kv), reg, config);
    Loop { ports, service, worker, calls }
}

impl Loop {
    async fn submit(&self, plan: Value) -> RunId {
        let req: SubmitRun = serde_json::from_value(json!({"plan": plan, "base_seed": 5})).expect("body");
        self.service.submit(&tenant(), req, None).await.expect("submitted").run.id
    }

    /// Works the queue until the run is finished (at most 30 s).
    async fn finish(&self, id: &RunId) -> aos_runtime::ports::RunRecord {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let run = self.service.get(&tenant(), id).await.expect("run");
            if run.status.is_terminal() {
                return run;
            }
            assert!(Instant::now() < deadline, "run did not finish: {run:?}");
            for m in self.ports.queue.receive(1, Duration::from_secs(5), Duration::from_secs(1)).await.expect("receive")
            {
                self.worker.handle(&m).await;
            }
        }
    }
}

contract!(a_run_executes_every_step_and_chains_its_checkpoints, 5, |p: Ports| async move {
    let l = setup(p, 0);
    let id = l
        .submit(json!([
            {"id": "put", "skill": "kv_store", "input": {"op": "put", "key": "k", "value": {"n": 3}}},
            {"id": "pick", "skill": "json_transform", "input": {"expression": "value.n", "data": "${steps.put.output}"}},
            {"id": "probe", "skill": "probe"}
        ]))
        .await;
    let run = l.finish(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert_eq!(run.output, Some(json!({"call": 1})));
    let cps = l.ports.runs.checkpoints(&tenant(), &id).await.expect("checkpoints");
    assert_eq!(cps.len(), 3);
    assert_eq!(cps[1].outcome.output, Some(json!({"result": 3})), "the reference resolved");
    verify_chain(&run.genesis_hash, &cps).expect("chain");
    assert_eq!(run.last_hash, cps[2].hash);
    // A reader holding the first checkpoints reads only the rest.
    for from in 0..=4 {
        let rest = l.ports.runs.checkpoints_from(&tenant(), &id, from).await.expect("checkpoints from");
        assert_eq!(rest, cps[cps.len().min(from as usize)..], "from step {from}");
    }
    assert!(l.ports.runs.step_progress(&tenant(), &id).await.expect("progress").is_empty());
    let listed = l
        .service
        .list(&tenant(), RunQuery { status: Some(RunStatus::Succeeded), ..RunQuery::default() })
        .await
        .expect("list")
        .items;
    assert_eq!(listed.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![id]);
});

contract!(an_agent_child_run_grows_its_plan_and_wakes_its_waiting_caller, 5, |p: Ports| async move {
    let l = setup(p, 0);
    // The child is an agent whose (static) planner decides two steps, then finishes; the
    // references in its steps are the child's own (resolved by the child, not the caller).
    let child = json!({"goal": "store and read n", "input": {"n": 7}, "agent": {"planner": {"type": "static", "steps": [
        {"id": "put", "skill": "kv_store", "input": {"op": "put", "key": "n", "value": "${input.n}"}},
        {"id": "get", "skill": "kv_store", "input": {"op": "get", "key": "${steps.put.output.key}"}}
    ]}}});
    let id = l
        .submit(json!([
            {"id": "ask", "skill": "agent_invoke", "input": child},
            {"id": "use", "skill": "json_transform", "input": {"expression": "output.value", "data": "${steps.ask.output}"}}
        ]))
        .await;
    let run = l.finish(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert_eq!(run.output, Some(json!({"result": 7})));
    let cps = l.ports.runs.checkpoints(&tenant(), &id).await.expect("checkpoints");
    assert_eq!(cps[0].attempts, 1, "waiting gave the attempt back");
    let child_id =
        RunId::parse(cps[0].outcome.output.as_ref().expect("output")["run_id"].as_str().expect("id")).expect("id");
    let child = l.ports.runs.run(&tenant(), &child_id).await.expect("read").expect("child");
    assert_eq!(child.caller.as_ref().map(|c| (c.run_id.clone(), c.step_index, c.depth)), Some((id, 0, 1)));
    let steps: Vec<&str> = child.plan.steps().iter().map(|s| s.id.as_deref().unwrap_or("")).collect();
    assert_eq!(steps, ["plan-1", "put", "get", "plan-2"], "the stored plan grew with the decision");
    let child_cps = l.ports.runs.checkpoints(&tenant(), &child_id).await.expect("checkpoints");
    verify_chain(&child.genesis_hash, &child_cps).expect("the child's chain verifies");
});

contract!(a_duplicated_step_message_runs_the_skill_once, 5, |p: Ports| async move {
    let l = setup(p, 0);
    let id = l.submit(json!([{"skill": "probe"}, {"skill": "probe"}])).await;
    let first =
        l.ports.queue.receive(1, Duration::from_secs(5), Duration::from_secs(1)).await.expect("receive").remove(0);
    l.ports.queue.send(&first.body, Duration::ZERO).await.expect("duplicate");
    l.worker.handle(&first).await;
    let run = l.finish(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    // Let the duplicate arrive and be dropped.
    for _ in 0..3 {
        for m in l.ports.queue.receive(5, Duration::from_secs(5), Duration::from_secs(1)).await.expect("receive") {
            l.worker.handle(&m).await;
        }
    }
    assert_eq!(*l.calls.lock().expect("calls"), [0, 1], "each step ran once");
});

contract!(a_retryable_failure_is_retried_with_the_attempt_recorded, 5, |p: Ports| async move {
    let l = setup(p, 1);
    let id = l.submit(json!([{"skill": "probe"}])).await;
    let run = l.finish(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let cps = l.ports.runs.checkpoints(&tenant(), &id).await.expect("checkpoints");
    assert_eq!(cps[0].attempts, 2);
    assert_eq!(*l.calls.lock().expect("calls"), [0, 0]);
});

contract!(a_cancelled_run_executes_nothing_more, 5, |p: Ports| async move {
    let l = setup(p, 0);
    let id = l.submit(json!([{"skill": "probe"}, {"skill": "probe"}])).await;
    let cancelled =
        l.service.cancel(&tenant(), &id, &aos_core::audit::Actor::key("key_test", "admin")).await.expect("cancel");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(cancelled.error.map(|e| e.code), Some(ErrorCode::RunCancelled));
    let run = l.finish(&id).await;
    assert_eq!(run.status, RunStatus::Cancelled);
    for m in l.ports.queue.receive(5, Duration::from_secs(5), Duration::from_secs(1)).await.expect("receive") {
        l.worker.handle(&m).await;
    }
    assert!(l.calls.lock().expect("calls").is_empty());
    assert!(
        l.service.cancel(&tenant(), &id, &aos_core::audit::Actor::key("key_test", "admin")).await.is_err(),
        "a finished run cannot be cancelled again"
    );
});

contract!(a_worker_dying_mid_chain_is_resumed_from_the_redelivered_message, 5, |p: Ports| async move {
    let l = setup(p, 0);
    let short = WorkerConfig {
        visibility: Duration::from_secs(2),
        heartbeat: Duration::from_secs(1),
        poll_wait: Duration::from_secs(1),
        ..WorkerConfig::default()
    };
    let worker = StepWorker::new(
        Arc::clone(&l.ports.runs),
        Arc::clone(&l.ports.queue),
        Arc::clone(&l.ports.kv),
        Arc::new({
            let mut reg = SkillRegistry::new();
            reg.register(Arc::new(Probe { calls: Arc::clone(&l.calls), fail_first: 0 })).expect("probe");
            reg
        }),
        short,
    );
    let id = l.submit(json!([{"skill": "probe"}, {"skill": "probe"}, {"skill": "probe"}])).await;
    let dying = worker.clone().with_after_effect_hook(Arc::new(|m| {
        if m.step_index == 1 {
            aos_runtime::worker::HookAction::Abandon
        } else {
            aos_runtime::worker::HookAction::Continue
        }
    }));
    let first =
        l.ports.queue.receive(1, Duration::from_secs(2), Duration::from_secs(1)).await.expect("receive").remove(0);
    assert_eq!(
        dying.handle(&first).await,
        aos_runtime::worker::Handled::Abandoned,
        "died in step 1, chained from step 0"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let run = loop {
        let run = l.service.get(&tenant(), &id).await.expect("run");
        if run.status.is_terminal() {
            break run;
        }
        assert!(Instant::now() < deadline, "the run was not resumed: {run:?}");
        for m in l.ports.queue.receive(1, Duration::from_secs(2), Duration::from_secs(1)).await.expect("receive") {
            worker.handle(&m).await;
        }
    };
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let cps = l.ports.runs.checkpoints(&tenant(), &id).await.expect("checkpoints");
    assert_eq!(cps.iter().map(|c| c.attempts).collect::<Vec<_>>(), [1, 2, 1], "step 1 was taken over once");
    verify_chain(&run.genesis_hash, &cps).expect("chain");
    assert_eq!(*l.calls.lock().expect("calls"), [0, 1, 1, 2], "the idempotent step ran again, nothing else did");
});

contract!(retention_deletes_finished_runs_with_their_checkpoints_and_never_a_running_one, 5, |p: Ports| async move {
    use aos_runtime::ports::Role;
    use aos_runtime::retention::Reaper;
    let l = setup(p, 1_000);
    let day = 86_400_000;
    let keeps_a_day = tenant();
    aos_runtime::auth::create_tenant_keeping(
        l.ports.tenants.as_ref(),
        Some(keeps_a_day.clone()),
        "t",
        Role::Admin,
        aos_runtime::auth::TenantSettings { retention_days: Some(1), plan: None },
        &aos_core::audit::Actor::system(),
    )
    .await
    .expect("tenant");
    let default = TenantId::parse("ten_default").expect("id");
    aos_runtime::auth::create_tenant(l.ports.tenants.as_ref(), Some(default.clone()), "d", Role::Admin)
        .await
        .expect("tenant");
    let done = l
        .submit(json!([
            {"id": "put", "skill": "kv_store", "input": {"op": "put", "key": "k", "value": 1}},
            {"id": "get", "skill": "kv_store", "input": {"op": "get", "key": "k"}}
        ]))
        .await;
    assert_eq!(l.finish(&done).await.status, RunStatus::Succeeded);
    let cancelled = l.submit(json!([{"skill": "kv_store", "input": {"op": "get", "key": "k"}}])).await;
    l.service
        .cancel(&keeps_a_day, &cancelled, &aos_core::audit::Actor::key("key_test", "admin"))
        .await
        .expect("cancel");
    let req: SubmitRun =
        serde_json::from_value(json!({"plan": [{"skill": "kv_store", "input": {"op": "get", "key": "k"}}]}))
            .expect("body");
    let other = l.service.submit(&default, req, None).await.expect("submitted").run.id;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !l.service.get(&default, &other).await.expect("run").status.is_terminal() {
        assert!(Instant::now() < deadline, "the default tenant's run did not finish");
        for m in l.ports.queue.receive(1, Duration::from_secs(5), Duration::from_secs(1)).await.expect("receive") {
            l.worker.handle(&m).await;
        }
    }
    // A run still running (its step failed and waits for its retry) however old it gets.
    let running = l.submit(json!([{"skill": "probe"}])).await;
    while l.calls.lock().expect("calls").is_empty() {
        for m in l.ports.queue.receive(1, Duration::from_secs(5), Duration::from_secs(1)).await.expect("receive") {
            l.worker.handle(&m).await;
        }
    }
    assert_eq!(l.service.get(&keeps_a_day, &running).await.expect("run").status, RunStatus::Running);

    let reaper = Reaper::new(Arc::clone(&l.ports.tenants), Arc::clone(&l.ports.runs));
    let now = aos_runtime::clock::now_ms();
    assert_eq!(reaper.reap(now + day / 2).await.expect("reap").runs, 0, "within the day, everything stays");
    assert_eq!(reaper.reap(now + 2 * day).await.expect("reap").runs, 2, "the finished runs of the one-day tenant");
    for id in [&done, &cancelled] {
        assert!(l.ports.runs.run(&keeps_a_day, id).await.expect("read").is_none(), "{id} is gone");
        assert!(l.ports.runs.checkpoints(&keeps_a_day, id).await.expect("read").is_empty(), "its checkpoints too");
        assert!(l.service.get(&keeps_a_day, id).await.is_err(), "the API answers 404");
    }
    assert_eq!(l.ports.runs.run(&keeps_a_day, &running).await.expect("read").expect("kept").status, RunStatus::Running);
    assert!(
        matches!(l.ports.runs.delete_run(&keeps_a_day, &running).await, Err(aos_runtime::StoreError::Conflict(_))),
        "a store refuses to delete a run that has not ended"
    );
    assert!(l.ports.runs.run(&default, &other).await.expect("read").is_some(), "the default keeps 30 days");
    assert_eq!(reaper.reap(now + 31 * day).await.expect("reap").runs, 1, "then it goes too");
    assert!(l.ports.runs.run(&default, &other).await.expect("read").is_none());
    assert!(l.ports.runs.run(&keeps_a_day, &running).await.expect("read").is_some(), "still running, still there");
    // The setting can change, and back to the default.
    let set = l.ports.tenants.set_retention(&keeps_a_day, Some(90), &[]).await.expect("set").expect("tenant");
    assert_eq!(set.retention_days, Some(90));
    let set = l.ports.tenants.set_retention(&keeps_a_day, None, &[]).await.expect("set").expect("tenant");
    assert_eq!(set.retention_days, None);
    assert!(l
        .ports
        .tenants
        .set_retention(&TenantId::parse("ten_nobody").expect("id"), Some(5), &[])
        .await
        .expect("set")
        .is_none());
});

/// Outputs `{"text": <n bytes>, "n": n}` for an input `{"bytes": n}`.
struct Big;

#[async_trait]
impl Skill for Big {
    fn descriptor(&self) -> SkillDescriptor {
        SkillDescriptor {
            name: "big".into(),
            version: "1.0.0".into(),
            description: "a large output".into(),
            input_schema: json!({"type": "object"}),
            output_schema: json!({"type": "object"}),
            idempotency: IdempotencyClass::Pure,
            timeout_ms: 30_000,
        }
    }

    async fn execute(&self, _ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let n = usize::try_from(input["bytes"].as_u64().unwrap_or(0)).unwrap_or(0);
        StructuredOutcome::success(big_output(n))
    }
}

fn big_output(n: usize) -> Value {
    let text: String = (0..n).map(|i| char::from(b'a' + u8::try_from(i % 26).expect("small"))).collect();
    json!({"text": text, "n": n})
}

contract!(a_2_mib_step_output_is_kept_read_back_and_checkpointed_like_any_other, 5, |p: Ports| async move {
    let mut l = setup(p, 0);
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(JsonTransformSkill)).expect("jt");
    reg.register(Arc::new(Big)).expect("big");
    let reg = Arc::new(reg);
    l.service = RunService::new(Arc::clone(&l.ports.runs), Arc::clone(&l.ports.idempotency), Arc::clone(&reg));
    l.worker = StepWorker::new(
        Arc::clone(&l.ports.runs),
        Arc::clone(&l.ports.queue),
        Arc::clone(&l.ports.kv),
        reg,
        WorkerConfig { poll_wait: Duration::from_secs(1), ..WorkerConfig::default() },
    );
    let two_mib = 2 * 1024 * 1024;
    let id = l
        .submit(json!([
            {"id": "a", "skill": "big", "input": {"bytes": two_mib}},
            {"id": "count", "skill": "json_transform", "input": {"expression": "length(text)", "data": "${steps.a.output}"}},
            {"id": "b", "skill": "big", "input": {"bytes": two_mib + 1}}
        ]))
        .await;
    let run = l.finish(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(big_output(two_mib + 1)), "the run's output, whole");
    let cps = l.ports.runs.checkpoints(&tenant(), &id).await.expect("checkpoints");
    assert_eq!(cps.len(), 3);
    verify_chain(&run.genesis_hash, &cps).expect("chain");
    assert_eq!(cps[0].outcome.output, Some(big_output(two_mib)));
    assert_eq!(cps[1].outcome.output, Some(json!({"result": two_mib})), "a later step read it back");
    // The same outcome hashes on every backend: what was produced, not where it is kept.
    assert_eq!(cps[0].outcome_hash, StructuredOutcome::success(big_output(two_mib)).content_hash());
    assert_eq!(cps[2].outcome_hash, StructuredOutcome::success(big_output(two_mib + 1)).content_hash());
    let listed = l.service.list(&tenant(), RunQuery::default()).await.expect("list").items;
    assert_eq!(listed[0].output, run.output, "listing shows it too");
    if !l.ports.aws_names.0.is_empty() {
        // On DynamoDB every item stays under its 400 KB limit: the large values went to S3.
        let conf = aos_aws::sdk_config().await;
        let items =
            aws_sdk_dynamodb::Client::new(&conf).scan().table_name(&l.ports.aws_names.0).send().await.expect("scan");
        let items = items.items.unwrap_or_default();
        let refs = items
            .iter()
            .filter(|i| matches!(i.get("checkpoint"), Some(aws_sdk_dynamodb::types::AttributeValue::M(_))))
            .count();
        assert_eq!(refs, 2, "the two large checkpoints are references");
        assert!(items.iter().all(|i| format!("{i:?}").len() < 400_000), "no item near the limit");
    }

    // Over the cap, the step fails once with a clear code instead of meeting a store limit.
    let over = l.submit(json!([{"skill": "big", "input": {"bytes": aos_runtime::worker::MAX_VALUE_BYTES}}])).await;
    let run = l.finish(&over).await;
    let err = run.error.expect("failed");
    assert_eq!(err.code, ErrorCode::ValueTooLarge, "{}", err.message);
    let cps = l.ports.runs.checkpoints(&tenant(), &over).await.expect("checkpoints");
    assert_eq!(cps[0].attempts, 1, "not retried");
});
