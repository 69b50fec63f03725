//! The step loop on DynamoDB + SQS under faults on the wire: every AWS call a run makes
//! (submission, claims, step commits, chained hand-backs, message sends and deletes),
//! each met in turn by each fault the services really answer with — a transaction
//! cancelled for a conflict or throttling, throttled calls that outlast the SDK's
//! retries, 5xx answers, an answer lost after the work was done. Whatever the fault,
//! the run ends as it does without one: succeeded, the same output and checkpoint chain,
//! every step's effect exactly once (the skill is non-idempotent: AOS never runs it
//! twice), no message left behind and nothing dead-lettered; for a metered tenant, each
//! step charged once and every hold returned. The same for a workflow on
//! Step Functions: its start (with an Idempotency-Key), each task's run and answer, and an
//! approval's decision, each call met by each fault: one execution, the same output,
//! each effect once.

use aos_core::audit::Actor;
use aos_core::checkpoint::verify_chain;
use aos_core::credits::Account;
use aos_core::{ErrorCode, RunStatus, StructuredOutcome, TenantId};
use aos_runtime::clock::now_ms;
use aos_runtime::credits::CreditService;
use aos_runtime::runs::{RunQuery, RunService, SubmitRun};
use aos_runtime::worker::{StepWorker, WorkerConfig};
use aos_runtime::{IdempotencyClass, Skill, SkillContext, SkillDescriptor, SkillRegistry};
use aos_tests::backends::{aws_pair, emulator_endpoint, step_functions_at, Ports};
use aos_tests::faults::{Call, Fault, FaultProxy};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A non-idempotent effect: records every execution by the step's `tag`.
struct Effect(Arc<Mutex<BTreeMap<String, u32>>>);

#[async_trait]
impl Skill for Effect {
    fn descriptor(&self) -> SkillDescriptor {
        SkillDescriptor {
            name: "effect".into(),
            version: "1.0.0".into(),
            description: "a non-idempotent effect".into(),
            input_schema: json!({"type": "object"}),
            output_schema: json!({"type": "object"}),
            idempotency: IdempotencyClass::NonIdempotent,
            timeout_ms: 5_000,
        }
    }

    async fn execute(&self, ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let tag = input["tag"].as_str().unwrap_or("untagged").to_owned();
        *self.0.lock().expect("effects").entry(tag).or_default() += 1;
        if let Some(pad) = input["pad"].as_u64() {
            let text = "p".repeat(usize::try_from(pad).unwrap_or(0));
            return StructuredOutcome::success(json!({"step": ctx.step_index, "text": text}));
        }
        StructuredOutcome::success(json!({"step": ctx.step_index, "n": input["n"]}))
    }
}

/// The same effect, from a skill that is safe to run twice (its target drops repeats by
/// the step's key): a run's first step of this skill defers its claim.
struct KeyedEffect(Effect);

#[async_trait]
impl Skill for KeyedEffect {
    fn descriptor(&self) -> SkillDescriptor {
        SkillDescriptor {
            name: "keyed_effect".into(),
            description: "an effect its target makes once per key".into(),
            idempotency: IdempotencyClass::Keyed,
            ..self.0.descriptor()
        }
    }

    async fn execute(&self, ctx: &SkillContext, input: Value) -> StructuredOutcome {
        self.0.execute(ctx, input).await
    }
}

fn tenant() -> TenantId {
    TenantId::parse("ten_faults").expect("id")
}

/// What a run ended as: status, output, checkpoint hashes, effects per step.
#[derive(Debug, Clone, PartialEq)]
struct Ending {
    status: RunStatus,
    output: Option<Value>,
    error: Option<ErrorCode>,
    chain: Vec<String>,
    effects: BTreeMap<String, u32>,
    runs_for_key: usize,
    left_in_queue: usize,
    dead_letters: usize,
    /// A metered run's money: what the run was charged, what the tenant's ledger posted
    /// as spent, and its available and reserved credits once every hold that was left
    /// has met its timeout.
    charged: Option<(u64, u64, u64, u64)>,
}

const PLAN: &str = r#"{"plan": [
    {"id": "a", "skill": "effect", "input": {"tag": "a", "n": 1}},
    {"id": "b", "skill": "effect", "input": {"tag": "b", "n": "${steps.a.output.n}"}},
    {"id": "c", "skill": "effect", "input": {"tag": "c", "n": 3}}
], "base_seed": 7}"#;

/// [`PLAN`] whose first step is safe to run twice: its claim is deferred to its commit.
const DEFERRED_PLAN: &str = r#"{"plan": [
    {"id": "a", "skill": "keyed_effect", "input": {"tag": "a", "n": 1}},
    {"id": "b", "skill": "effect", "input": {"tag": "b", "n": "${steps.a.output.n}"}},
    {"id": "c", "skill": "effect", "input": {"tag": "c", "n": 3}}
], "base_seed": 7}"#;

/// A run whose middle step is an agent step: it starts a child run, parks, and is woken
/// by the child's end (the wake-up edge), then the run goes on with the child's answer.
const AGENT_PLAN: &str = r#"{"plan": [
    {"id": "a", "skill": "effect", "input": {"tag": "a", "n": 1}},
    {"id": "ask", "skill": "agent_invoke", "input": {"timeout_s": 600, "plan": [
        {"id": "x", "skill": "effect", "input": {"tag": "x", "n": 2}},
        {"id": "y", "skill": "effect", "input": {"tag": "y", "n": 3}}
    ]}},
    {"id": "c", "skill": "effect", "input": {"tag": "c", "n": "${steps.ask.output.output.n}"}}
], "base_seed": 7}"#;

fn effects(tags: &[&str]) -> BTreeMap<String, u32> {
    tags.iter().map(|t| ((*t).to_owned(), 1)).collect()
}

/// Submits the plan (as a client would: again with the same Idempotency-Key when the
/// answer is an error), drives the worker until the queue is empty, and reports.
async fn scenario(proxy: &FaultProxy, emulator: &str, plan: &str) -> Ending {
    scenario_of(proxy, emulator, plan, false).await
}

/// [`scenario`], for a `metered` tenant when asked (granted 1 000 credits first, out of
/// the faults' way): its steps reserve and settle credits.
async fn scenario_of(proxy: &FaultProxy, emulator: &str, plan: &str, metered: bool) -> Ending {
    // `ports` meet the faults; `look` reads what happened straight from the emulator.
    let (ports, look) = aws_pair(&proxy.endpoint(), emulator, 5).await;
    let effects: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(Effect(Arc::clone(&effects)))).expect("register");
    reg.register(Arc::new(KeyedEffect(Effect(Arc::clone(&effects))))).expect("register");
    aos_runtime::agent::declare(&mut reg).expect("agent steps");
    let reg = Arc::new(reg);
    let service = RunService::new(Arc::clone(&ports.runs), Arc::clone(&ports.idempotency), Arc::clone(&reg));
    let config = WorkerConfig {
        visibility: Duration::from_secs(1),
        heartbeat: Duration::from_millis(500),
        poll_wait: Duration::from_secs(0),
        ..WorkerConfig::default()
    };
    let mut worker =
        StepWorker::new(Arc::clone(&ports.runs), Arc::clone(&ports.queue), Arc::clone(&ports.kv), reg, config);
    if metered {
        let grant = aos_tests::paid_grant("paid", 1_000);
        CreditService::new(Arc::clone(&look.credits))
            .grant(&tenant(), &grant, Actor::system(), now_ms())
            .await
            .expect("grant");
        worker = worker.with_credits(CreditService::new(Arc::clone(&ports.credits)));
    }
    let id = as_a_client("submit", || {
        let body: SubmitRun = serde_json::from_str(plan).expect("plan");
        let service = &service;
        async move { service.submit(&tenant(), body, Some("the-key")).await.map(|s| s.run.id) }
    })
    .await;
    drain(&worker, &ports, &look, &id, proxy).await;
    let run = look.runs.run(&tenant(), &id).await.expect("read").expect("run");
    let cps = look.runs.checkpoints(&tenant(), &id).await.expect("checkpoints");
    verify_chain(&run.genesis_hash, &cps).expect("the chain verifies");
    let observer =
        RunService::new(Arc::clone(&look.runs), Arc::clone(&look.idempotency), Arc::new(SkillRegistry::new()));
    let listed = observer.list(&tenant(), RunQuery::default()).await.expect("list").items;
    let left_in_queue = look.queue.receive(10, Duration::from_secs(1), Duration::ZERO).await.expect("receive").len();
    let effects = effects.lock().expect("effects").clone();
    let charged = if metered {
        // Every hold a fault left behind returns at its timeout (the sweep's work).
        let later = now_ms() + 3_600_000;
        look.credits.expire_due(&tenant(), later, 100).await.expect("expire");
        let book = look.credits.book(&tenant(), later).await.expect("book");
        assert_eq!(book.broken(), None, "the ledger's invariants hold: {book:?}");
        Some((run.spent_mc, book.balance(Account::Spent).credits_posted.0, book.available().0, book.reserved().0))
    } else {
        None
    };
    Ending {
        charged,
        status: run.status,
        output: run.output,
        error: run.error.map(|e| e.code),
        chain: cps.iter().map(|c| c.hash.clone()).collect(),
        effects,
        runs_for_key: listed.len(),
        left_in_queue,
        dead_letters: look.dead_letters().await.len(),
    }
}

/// What a client does with a request that carries an Idempotency-Key: sends it again
/// (up to 4 times, 200 ms apart) while the answer is an error.
async fn as_a_client<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut send: impl FnMut() -> F,
) -> T {
    for _ in 0..4 {
        match send().await {
            Ok(v) => return v,
            Err(e) => {
                eprintln!("{what} answered {e}; the client tries again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!("a {what} went through within 4 tries")
}

/// Drives `worker` on `ports`' queue until the run is terminal and no message comes back.
async fn drain(worker: &StepWorker, ports: &Ports, look: &Ports, id: &aos_core::RunId, proxy: &FaultProxy) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut idle = 0;
    while idle < 2 {
        assert!(Instant::now() < deadline, "the run did not settle: {:?}", proxy.faulted());
        let Ok(got) = ports.queue.receive(1, Duration::from_secs(1), Duration::from_secs(1)).await else { continue };
        if got.is_empty() {
            // An undeleted message comes back after its visibility: wait it out.
            let run = look.runs.run(&tenant(), id).await.expect("read");
            idle = if run.is_some_and(|r| r.status.is_terminal()) { idle + 1 } else { 0 };
            continue;
        }
        for m in got {
            worker.handle(&m).await;
            idle = 0;
        }
    }
}

/// The faults each kind of call can meet. `times` makes a fault outlast the SDK's own
/// three attempts where the SDK retries it.
fn faults_for(op: &str) -> Vec<(Fault, u32)> {
    let lost = (Fault::LoseAnswer, 1);
    let outage = (Fault::Error(500, "InternalServerError"), 3);
    match op {
        "dynamodb.TransactWriteItems" => vec![
            (Fault::Cancelled { item: 0, code: "TransactionConflict" }, 1),
            (Fault::Cancelled { item: 1, code: "ThrottlingError" }, 2),
            (Fault::Error(400, "ProvisionedThroughputExceededException"), 3),
            lost,
            outage,
        ],
        op if op.starts_with("dynamodb.") => {
            vec![(Fault::Error(400, "ThrottlingException"), 3), lost, outage]
        }
        op if op.starts_with("sqs.") => vec![(Fault::Error(500, "InternalError"), 3), lost],
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn every_fault_at_every_call_of_a_run_leaves_it_ending_as_without_faults() {
    fault_matrix(PLAN, false).await;
}

/// The same for a run whose first step's claim is deferred to its commit (it is safe to
/// run twice, and the run's first write is its commit): whatever the fault, the run ends
/// as without faults. Its first step may run again after a fault (it is keyed, its target
/// makes it once); the steps after it run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn every_fault_at_every_call_of_a_run_with_a_deferred_first_claim_leaves_it_ending_as_without_faults() {
    fault_matrix(DEFERRED_PLAN, false).await;
}

/// The same for a metered tenant, whose steps also reserve their credits (ahead, with
/// the claim or the commit before) and settle them in their commits: whatever the fault,
/// the run is charged once per step, the ledger posts that once, and every hold a fault
/// left behind returns at its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn every_fault_at_every_call_of_a_metered_run_charges_it_once() {
    fault_matrix(PLAN, true).await;
}

async fn fault_matrix(plan: &str, metered: bool) {
    // A keyed first step may run again; what counts is that it ran.
    let rerunnable = plan.contains("keyed_effect");
    let ending_of = |mut e: Ending| {
        if rerunnable {
            e.effects.entry("a".to_owned()).and_modify(|n| *n = (*n).min(1));
        }
        e
    };
    let endpoint = emulator_endpoint();
    let clean = FaultProxy::start(&endpoint).await;
    let baseline = scenario_of(&clean, &endpoint, plan, metered).await;
    if metered {
        assert_eq!(baseline.charged, Some((3_000, 3_000, 997_000, 0)), "{baseline:?}");
    }
    assert_eq!(baseline.status, RunStatus::Succeeded, "{baseline:?}");
    assert_eq!(baseline.effects, effects(&["a", "b", "c"]));
    // The call sites: each call of the fault-free run but receives (their number
    // depends on timing).
    let sites: Vec<Call> = clean.calls().into_iter().filter(|c| c.op != "sqs.ReceiveMessage").collect();
    eprintln!("call sites: {:?}", sites.iter().map(|c| format!("{} #{}", c.op, c.n)).collect::<Vec<_>>());
    let mut cases = 0;
    let mut wrong = Vec::new();
    for site in &sites {
        for (fault, times) in faults_for(&site.op) {
            let proxy = FaultProxy::start(&endpoint).await;
            proxy.inject(&site.op, site.n, times, fault.clone());
            eprintln!("case: {} #{} / {}", site.op, site.n, fault.name());
            let ending = ending_of(scenario_of(&proxy, &endpoint, plan, metered).await);
            cases += 1;
            let met = !proxy.faulted().is_empty();
            if !met || ending != baseline {
                wrong.push(format!("{} #{} / {}: met={met} {ending:?}", site.op, site.n, fault.name()));
            }
        }
    }
    eprintln!("fault matrix: {} call sites, {cases} cases, {} wrong", sites.len(), wrong.len());
    // The deferred first claim makes one call fewer (the run's first write is its commit).
    let least = if rerunnable { 35 } else { 40 };
    assert!(cases >= least, "the matrix covers the run's calls: {cases} cases over {sites:?}");
    assert!(wrong.is_empty(), "runs that ended otherwise than without faults:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn a_workflow_start_reported_failed_after_step_functions_started_it_starts_one_execution() {
    use aos_runtime::workflows::StartExecution;
    let emulator = emulator_endpoint();
    let proxy = FaultProxy::start(&emulator).await;
    let (ports, _look) = aws_pair(&proxy.endpoint(), &emulator, 5).await;
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(Effect(Arc::default()))).expect("register");
    let on_sfn = step_functions_at(&ports, &proxy.endpoint(), "faults", Arc::new(reg), false).await;
    let service = on_sfn.service;
    let spec = aos_core::workflow::parse(
        "name: once\nnodes:\n  - id: a\n    skill: effect\n    input: {n: 1}\n",
        aos_core::workflow::Format::Yaml,
    )
    .expect("spec");
    service.apply(&tenant(), spec).await.expect("applied");
    // Step Functions starts the execution, then every answer (the SDK's retries too) fails.
    proxy.inject("states.StartExecution", 1, 3, Fault::FailAfter(500, "ServiceUnavailable"));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let req = StartExecution {
            input: json!({"x": 1}),
            version: None,
            base_seed: None,
            budget_cents: None,
            notify_url: None,
        };
        match service.start(&tenant(), "once", req, Some("start-once")).await {
            Ok(created) => ids.push(created.value.id),
            Err(e) => eprintln!("start answered {e}; the client tries again with the same key"),
        }
    }
    assert!(!proxy.faulted().is_empty(), "the fault was met");
    assert!(ids.len() >= 2 && ids.windows(2).all(|w| w[0] == w[1]), "every retry names one execution: {ids:?}");
    let direct = aws_sdk_sfn::Client::new(&aos_tests::backends::sdk_config_at(&emulator).await);
    let arn = service.get(&tenant(), "once", None).await.expect("the workflow").state_machine_arn.expect("its machine");
    let executions = direct.list_executions().state_machine_arn(&arn).send().await.expect("executions").executions;
    assert_eq!(executions.len(), 1, "one execution, not one per try: {executions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn a_run_whose_first_message_never_went_out_is_started_by_the_sweep() {
    let emulator = emulator_endpoint();
    let proxy = FaultProxy::start(&emulator).await;
    let (ports, look) = aws_pair(&proxy.endpoint(), &emulator, 5).await;
    let effects: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(Effect(Arc::clone(&effects)))).expect("register");
    let reg = Arc::new(reg);
    let service = RunService::new(Arc::clone(&ports.runs), Arc::clone(&ports.idempotency), Arc::clone(&reg));
    look.tenants.create_tenant(&tenant_record(), &first_key(), &[]).await.expect("tenant");
    // What a crash between the two writes leaves: the run stored, its first message never
    // sent (SQS fails throughout), and the run not taken back either.
    proxy.inject("sqs.SendMessage", 1, 9, Fault::Error(500, "InternalError"));
    proxy.inject("dynamodb.TransactWriteItems", 2, 30, Fault::Error(500, "InternalServerError"));
    let body = || serde_json::from_str::<SubmitRun>(PLAN).expect("plan");
    let failed = service.submit(&tenant(), body(), Some("stranded")).await;
    assert!(failed.is_err(), "the client was told the submission failed");
    // The key points at the run, not at nothing: the client's retry gets it.
    let again = service.submit(&tenant(), body(), Some("stranded")).await.expect("the retry answers");
    assert!(!again.created, "the retry found the stored run");
    let id = again.run.id;
    assert_eq!(look.runs.run(&tenant(), &id).await.expect("read").expect("run").status, RunStatus::Queued);
    let worker = StepWorker::new(
        Arc::clone(&look.runs),
        Arc::clone(&look.queue),
        Arc::clone(&look.kv),
        reg,
        WorkerConfig::default(),
    );
    assert!(look.queue.receive(10, Duration::from_secs(1), Duration::ZERO).await.expect("receive").is_empty());
    let sweeper = aos_runtime::sweep::Sweeper::new(
        Arc::clone(&look.tenants),
        Arc::clone(&look.runs),
        Arc::clone(&look.queue),
        Duration::ZERO,
    );
    let sent = sweeper.resend_stranded(aos_runtime::clock::now_ms() + 1).await.expect("sweep");
    assert_eq!(sent, 1, "the sweep found the stranded run");
    drain(&worker, &look, &look, &id, &proxy).await;
    let run = look.runs.run(&tenant(), &id).await.expect("read").expect("run");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(*effects.lock().expect("effects"), self::effects(&["a", "b", "c"]));
    assert_eq!(sweeper.resend_stranded(aos_runtime::clock::now_ms() + 1).await.expect("sweep"), 0, "nothing is left");
}

fn tenant_record() -> aos_runtime::ports::TenantRecord {
    aos_runtime::ports::TenantRecord {
        id: tenant(),
        name: "faults".into(),
        created_at_ms: 1,
        retention_days: None,
        plan: None,
    }
}

fn first_key() -> aos_runtime::ports::ApiKeyRecord {
    aos_runtime::ports::ApiKeyRecord {
        id: aos_core::ApiKeyId::parse("key_faults").expect("id"),
        tenant: tenant(),
        role: aos_runtime::ports::Role::Admin,
        label: "first".into(),
        hash: "0".repeat(64),
        created_at_ms: 1,
        revoked_at_ms: None,
        scopes: None,
        approval_level: None,
        expires_at_ms: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn every_fault_at_every_call_of_an_agent_run_and_its_child_leaves_both_ending_as_without_faults() {
    let endpoint = emulator_endpoint();
    let clean = FaultProxy::start(&endpoint).await;
    let baseline = scenario(&clean, &endpoint, AGENT_PLAN).await;
    assert_eq!(baseline.status, RunStatus::Succeeded, "{baseline:?}");
    assert_eq!(baseline.effects, effects(&["a", "c", "x", "y"]));
    assert_eq!(baseline.runs_for_key, 2, "the run and its child");
    let sites: Vec<Call> = clean.calls().into_iter().filter(|c| c.op != "sqs.ReceiveMessage").collect();
    // The agent's chain names its child's id, which differs from run to run: compare
    // its length (the chain verifies in every case).
    let comparable = |e: &Ending| Ending { chain: vec![String::new(); e.chain.len()], ..e.clone() };
    let want = comparable(&baseline);
    let (mut cases, mut wrong) = (0, Vec::new());
    for site in &sites {
        // One fault that outlasts the SDK's retries and the lost answer, at every call.
        let faults = match site.op.as_str() {
            "dynamodb.TransactWriteItems" => {
                vec![(Fault::Cancelled { item: 0, code: "TransactionConflict" }, 1), (Fault::LoseAnswer, 1)]
            }
            op if op.starts_with("dynamodb.") => {
                vec![(Fault::Error(500, "InternalServerError"), 3), (Fault::LoseAnswer, 1)]
            }
            op if op.starts_with("sqs.") => vec![(Fault::Error(500, "InternalError"), 3), (Fault::LoseAnswer, 1)],
            _ => Vec::new(),
        };
        for (fault, times) in faults {
            let proxy = FaultProxy::start(&endpoint).await;
            proxy.inject(&site.op, site.n, times, fault.clone());
            let ending = scenario(&proxy, &endpoint, AGENT_PLAN).await;
            cases += 1;
            let met = !proxy.faulted().is_empty();
            if !met || comparable(&ending) != want {
                wrong.push(format!("{} #{} / {}: met={met} {ending:?}", site.op, site.n, fault.name()));
            }
        }
    }
    eprintln!("agent fault matrix: {} call sites, {cases} cases, {} wrong", sites.len(), wrong.len());
    assert!(wrong.is_empty(), "runs that ended otherwise than without faults:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn a_cancel_whose_wake_up_was_lost_is_woken_by_the_sweep() {
    let emulator = emulator_endpoint();
    let proxy = FaultProxy::start(&emulator).await;
    let (ports, look) = aws_pair(&proxy.endpoint(), &emulator, 5).await;
    look.tenants.create_tenant(&tenant_record(), &first_key(), &[]).await.expect("tenant");
    // A child run that an agent step of another run waits for.
    let caller = aos_core::RunId::parse("run_waitingcaller").expect("id");
    let plan = aos_core::Plan::new(vec![
        serde_json::from_value(json!({"skill": "effect", "input": {"tag": "x"}})).expect("step")
    ])
    .expect("plan");
    let child = aos_runtime::ports::RunRecord::queued(
        tenant(),
        aos_core::RunId::parse("run_cancelledchild").expect("id"),
        plan,
        json!({}),
        1,
        None,
        aos_runtime::clock::now_ms(),
    )
    .with_caller(aos_core::agent::CallerLink {
        run_id: caller.clone(),
        step_index: 1,
        depth: 1,
        correlation_id: "c".into(),
    });
    let first = aos_runtime::ports::StepMessage { tenant: tenant(), run_id: child.id.clone(), step_index: 0 };
    look.runs.insert_run(&child, &first, None).await.expect("stored");
    let _ = look.queue.receive(10, Duration::from_secs(30), Duration::ZERO).await.expect("receive");
    // The cancel commits; every send of its wake-up fails (as if the process died).
    proxy.inject("sqs.SendMessage", 1, 3, Fault::Error(500, "InternalError"));
    let cancelled =
        ports.runs.cancel_run(&tenant(), &child.id, aos_runtime::clock::now_ms(), &[]).await.expect("cancelled");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(
        look.queue.receive(10, Duration::from_secs(30), Duration::ZERO).await.expect("receive").is_empty(),
        "no wake-up went out"
    );
    let grace = Duration::from_secs(60);
    let sweeper = aos_runtime::sweep::Sweeper::new(
        Arc::clone(&look.tenants),
        Arc::clone(&look.runs),
        Arc::clone(&look.queue),
        grace,
    );
    let sent = sweeper.resend_stranded(cancelled.updated_at_ms + 61_000).await.expect("sweep");
    assert_eq!(sent, 1, "the sweep sent the lost wake-up");
    let got = look.queue.receive(10, Duration::from_secs(30), Duration::from_secs(1)).await.expect("receive");
    let wake: aos_runtime::ports::StepMessage = serde_json::from_str(&got[0].body).expect("a step message");
    assert_eq!((wake.run_id, wake.step_index), (caller, 1), "the caller's waiting step is woken");
}

/// A workflow on Step Functions (moto, executing state machines) whose task answers and
/// approval decision meet faults: the first task answer reaches Step Functions but its
/// answer is lost, the decision's answer fails outright past the SDK's retries. The
/// execution still ends succeeded with each node's effect once: the worker keeps a task's
/// message until its answer is sent, and a decider repeats the same decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn task_answers_and_an_approval_decision_that_meet_faults_still_finish_the_execution() {
    use aos_core::workflow::Decision;
    use aos_runtime::ports::{ApprovalStatus, WorkflowStore};
    use aos_runtime::workflows::StartExecution;
    let emulator = emulator_endpoint();
    aos_tests::backends::enable_step_functions(&emulator).await;
    let proxy = FaultProxy::start(&emulator).await;
    let (ports, _look) = aws_pair(&proxy.endpoint(), &emulator, 5).await;
    let effects: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(Effect(Arc::clone(&effects)))).expect("register");
    let reg = Arc::new(reg);
    let on_sfn = step_functions_at(&ports, &proxy.endpoint(), "answers", Arc::clone(&reg), false).await;
    let (service, records) = (&on_sfn.service, &on_sfn.records);
    let spec = "name: answers\nnodes:\n  - id: a\n    skill: effect\n    input: {tag: a}\n  - id: ok\n    type: approval\n    depends_on: [a]\n    prompt: go?\n    timeout_s: 60\n    level: 4\n  - id: b\n    skill: effect\n    depends_on: [ok]\n    input: {tag: b}\n";
    service
        .apply(&tenant(), aos_core::workflow::parse(spec, aos_core::workflow::Format::Yaml).expect("spec"))
        .await
        .expect("applied");
    let tasks = on_sfn.tasks(&ports);
    let config = WorkerConfig { poll_wait: Duration::from_millis(200), ..WorkerConfig::default() };
    let worker = StepWorker::new(Arc::clone(&ports.runs), Arc::clone(&ports.queue), Arc::clone(&ports.kv), reg, config)
        .with_sfn_tasks(tasks);
    let (stop, rx) = tokio::sync::watch::channel(false);
    let loops: Vec<_> = (0..2).map(|_| tokio::spawn(worker.clone().run_loop(rx.clone()))).collect();

    // Node a's answer reaches Step Functions; the worker never hears back.
    proxy.inject("states.SendTaskSuccess", 1, 1, Fault::LoseAnswer);
    let req =
        StartExecution { input: json!({}), version: None, base_seed: Some(3), budget_cents: None, notify_url: None };
    let id = service.start(&tenant(), "answers", req, None).await.expect("started").value.id;
    let deadline = Instant::now() + Duration::from_secs(60);
    let approval = loop {
        let pending = records.approvals(&tenant(), Some(ApprovalStatus::Pending), None, 10).await.expect("approvals");
        if let Some(a) = pending.into_iter().find(|a| a.execution.as_ref() == Some(&id)) {
            break a;
        }
        assert!(Instant::now() < deadline, "the approval never opened (node a's answer was lost for good?)");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The decision's answer fails on every try the SDK makes, for a while.
    // The node's level reached the approval through the task; a lower decider is refused.
    assert_eq!(approval.required_level, 4);
    let low = Decision { approved: true, decided_by: "key_low".into(), comment: None };
    let refused = service.decide(&tenant(), &approval.id, low, 3, "admin").await;
    assert!(matches!(refused, Err(aos_runtime::workflows::FlowError::Forbidden(_))), "{refused:?}");
    let next = proxy.count("states.SendTaskSuccess") + 1;
    // (Enough faults that the worker's own re-answers of node a cannot use them all up.)
    proxy.inject("states.SendTaskSuccess", next, 24, Fault::Error(500, "InternalServerError"));
    let decision = || Decision { approved: true, decided_by: "key_decider".into(), comment: None };
    let first = service.decide(&tenant(), &approval.id, decision(), 5, "admin").await;
    assert!(first.is_err(), "the failed answer is reported: {first:?}");
    // The decider tries again (the same decision) until it goes through.
    let again = loop {
        match service.decide(&tenant(), &approval.id, decision(), 5, "admin").await {
            Ok(a) => break a,
            Err(e) => assert!(Instant::now() < deadline, "the same decision never went through: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(again.status, ApprovalStatus::Approved);
    let other = service.decide(&tenant(), &approval.id, Decision { approved: false, ..decision() }, 5, "admin").await;
    assert!(other.is_err(), "another decision is refused");
    let execution = loop {
        let e = service.execution(&tenant(), &id).await.expect("execution");
        if e.state.status.is_terminal() {
            break e;
        }
        assert!(Instant::now() < deadline, "the execution did not finish: {:?}", e.state.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = stop.send(true);
    for l in loops {
        let _ = l.await;
    }
    assert_eq!(execution.state.status.as_str(), "succeeded");
    assert_eq!(
        *effects.lock().expect("effects"),
        BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 1)]),
        "each effect once"
    );
    assert!(proxy.faulted().len() >= 2, "both faults were met: {:?}", proxy.faulted());
}

/// Large node outputs through Step Functions and back out of the API: the execution's
/// view (through `WorkflowService::execution`) shows every node's output whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn large_node_outputs_come_back_whole_in_the_execution_view() {
    use aos_runtime::workflows::StartExecution;
    let emulator = emulator_endpoint();
    aos_tests::backends::enable_step_functions(&emulator).await;
    let ports = aos_tests::backends::aws_at(&emulator, 5).await;
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(Effect(Arc::default()))).expect("register");
    let reg = Arc::new(reg);
    let on_sfn = step_functions_at(&ports, &emulator, "large", Arc::clone(&reg), true).await;
    let (service, records, sfn) = (&on_sfn.service, &on_sfn.records, &on_sfn.sfn);
    let spec = "name: large\nnodes:\n  - id: a\n    skill: effect\n    input: {tag: a, pad: 300000}\n  - id: b\n    skill: effect\n    depends_on: [a]\n    input: {tag: b, pad: 300000, seen: '${steps.a.output.text}'}\noutput: {a: '${steps.a.output.text}', b_step: '${steps.b.output.step}'}\n";
    service
        .apply(&tenant(), aos_core::workflow::parse(spec, aos_core::workflow::Format::Yaml).expect("spec"))
        .await
        .expect("applied");
    let tasks = on_sfn.tasks(&ports);
    let config = WorkerConfig { poll_wait: Duration::from_millis(200), ..WorkerConfig::default() };
    let worker = StepWorker::new(Arc::clone(&ports.runs), Arc::clone(&ports.queue), Arc::clone(&ports.kv), reg, config)
        .with_sfn_tasks(tasks);
    let (stop, rx) = tokio::sync::watch::channel(false);
    let loops: Vec<_> = (0..2).map(|_| tokio::spawn(worker.clone().run_loop(rx.clone()))).collect();
    let req =
        StartExecution { input: json!({}), version: None, base_seed: Some(3), budget_cents: None, notify_url: None };
    let id = service.start(&tenant(), "large", req, None).await.expect("started").value.id;
    let deadline = Instant::now() + Duration::from_secs(60);
    let execution = loop {
        let e = service.execution(&tenant(), &id).await.expect("execution");
        if e.state.status.is_terminal() {
            break e;
        }
        assert!(Instant::now() < deadline, "the execution did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = stop.send(true);
    for l in loops {
        let _ = l.await;
    }
    assert_eq!(execution.state.status.as_str(), "succeeded");
    for n in ["a", "b"] {
        let out = execution.state.nodes[n].output.as_ref().expect("output");
        assert_eq!(out["text"].as_str().map(str::len), Some(300_000), "node {n}'s output, whole");
    }
    let output = execution.state.output.as_ref().expect("the workflow's output");
    assert_eq!((output["a"].as_str().map(str::len), output["b_step"].clone()), (Some(300_000), json!(0)));
    // Retention: the execution's record and progress go with its node runs, after day 30.
    ports.tenants.create_tenant(&tenant_record(), &first_key(), &[]).await.expect("tenant");
    let reaper = aos_runtime::retention::Reaper::new(Arc::clone(&ports.tenants), Arc::clone(&ports.runs))
        .with_step_functions(records.clone(), sfn.clone());
    let now = aos_runtime::clock::now_ms();
    let kept = reaper.reap(now + 29 * 86_400_000).await.expect("reap");
    assert_eq!((kept.runs, kept.sfn_executions), (0, 0));
    assert!(service.execution(&tenant(), &id).await.is_ok());
    let gone = reaper.reap(now + 31 * 86_400_000).await.expect("reap");
    assert_eq!((gone.runs, gone.sfn_executions), (2, 1), "the two node runs and the execution's record");
    assert!(service.execution(&tenant(), &id).await.is_err(), "the execution is gone");
    use aos_runtime::ports::SfnRecords;
    assert!(records.progress(&tenant(), &id).await.expect("progress").is_empty(), "its progress too");
}

/// What a workflow execution ended as, with everything that must not differ under faults.
#[derive(Debug, Clone, PartialEq)]
struct FlowEnding {
    status: String,
    output: Option<Value>,
    effects: BTreeMap<String, u32>,
    executions: usize,
    left_in_queue: usize,
    dead_letters: usize,
}

const FLOW: &str = "name: matrix\nnodes:\n  - id: a\n    skill: effect\n    input: {tag: a, n: 1}\n  - id: ok\n    type: approval\n    depends_on: [a]\n    prompt: go?\n    timeout_s: 600\n  - id: b\n    skill: effect\n    depends_on: [ok]\n    input: {tag: b, n: '${steps.a.output.n}'}\noutput: {n: '${steps.b.output.n}'}\n";

/// A workflow on Step Functions as a client and a worker drive it through `proxy`: it
/// is applied (straight to the emulator: applying is not a call site here), started with
/// an Idempotency-Key (again with the same key while the answer is an error), its tasks
/// answered by one worker handling one message at a time, its approval decided (again
/// with the same decision while the answer is an error); then what it ended as.
async fn flow_scenario(proxy: &FaultProxy, emulator: &str) -> FlowEnding {
    use aos_core::workflow::Decision;
    use aos_runtime::ports::ApprovalStatus;
    use aos_runtime::workflows::StartExecution;
    let (ports, look) = aws_pair(&proxy.endpoint(), emulator, 5).await;
    let effects: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(Effect(Arc::clone(&effects)))).expect("register");
    let reg = Arc::new(reg);
    let direct = step_functions_at(&look, emulator, "matrix", Arc::clone(&reg), false).await;
    let spec = aos_core::workflow::parse(FLOW, aos_core::workflow::Format::Yaml).expect("spec");
    let machine = direct.service.apply(&tenant(), spec).await.expect("applied").value.state_machine_arn;
    let live = step_functions_at(&ports, &proxy.endpoint(), "matrix", Arc::clone(&reg), false).await;
    let config = WorkerConfig {
        visibility: Duration::from_secs(1),
        heartbeat: Duration::from_millis(500),
        poll_wait: Duration::from_secs(0),
        ..WorkerConfig::default()
    };
    let worker = StepWorker::new(Arc::clone(&ports.runs), Arc::clone(&ports.queue), Arc::clone(&ports.kv), reg, config)
        .with_sfn_tasks(live.tasks(&ports));
    let id = as_a_client("start", || {
        let req = StartExecution {
            input: json!({}),
            version: None,
            base_seed: Some(5),
            budget_cents: None,
            notify_url: None,
        };
        let service = &live.service;
        async move { service.start(&tenant(), "matrix", req, Some("start-key")).await.map(|s| s.value.id) }
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut approval, mut decided, mut idle) = (None, false, 0);
    while idle < 2 {
        assert!(Instant::now() < deadline, "the execution did not settle: {:?}", proxy.faulted());
        if approval.is_none() {
            let pending = look.workflows.approvals(&tenant(), Some(ApprovalStatus::Pending), None, 10).await;
            approval =
                pending.expect("approvals").into_iter().find(|a| a.execution.as_ref() == Some(&id)).map(|a| a.id);
        }
        if let (Some(a), false) = (&approval, decided) {
            // The decider keeps the approval it was shown and tries again until answered.
            let decision = Decision { approved: true, decided_by: "key_decider".into(), comment: None };
            match live.service.decide(&tenant(), a, decision, 5, "admin").await {
                Ok(_) => decided = true,
                Err(e) => eprintln!("decide answered {e}; the decider tries again"),
            }
        }
        // Two empty long polls of a second each outlast the visibility (1 s), so a message
        // whose delete failed is back and handled before the scenario ends.
        let Ok(got) = ports.queue.receive(1, Duration::from_secs(1), Duration::from_secs(1)).await else {
            continue;
        };
        for m in &got {
            worker.handle(m).await;
            idle = 0;
        }
        if got.is_empty() {
            let e = direct.service.execution(&tenant(), &id).await.expect("execution");
            idle = if e.state.status.is_terminal() { idle + 1 } else { 0 };
        }
    }
    let e = direct.service.execution(&tenant(), &id).await.expect("execution");
    let sfn = aws_sdk_sfn::Client::new(&aos_tests::backends::sdk_config_at(emulator).await);
    let arn = machine.expect("a state machine");
    let executions = sfn.list_executions().state_machine_arn(arn).send().await.expect("executions").executions.len();
    let left_in_queue = look.queue.receive(10, Duration::from_secs(1), Duration::ZERO).await.expect("receive").len();
    let effects = effects.lock().expect("effects").clone();
    FlowEnding {
        status: e.state.status.as_str().to_owned(),
        output: e.state.output,
        effects,
        executions,
        left_in_queue,
        dead_letters: look.dead_letters().await.len(),
    }
}

/// The Step Functions call sites of the matrix: faults Step Functions really answers
/// with, each outlasting the SDK's own retries where it retries them.
fn sfn_faults_for(op: &str) -> Vec<(Fault, u32)> {
    match op {
        op if op.starts_with("states.") => vec![
            (Fault::Error(400, "ThrottlingException"), 3),
            (Fault::Error(500, "InternalServerError"), 3),
            (Fault::LoseAnswer, 1),
        ],
        op => faults_for(op),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn every_fault_at_every_call_of_a_workflow_on_step_functions_leaves_it_ending_as_without_faults() {
    let endpoint = emulator_endpoint();
    aos_tests::backends::enable_step_functions(&endpoint).await;
    let clean = FaultProxy::start(&endpoint).await;
    let baseline = flow_scenario(&clean, &endpoint).await;
    assert_eq!(baseline.status, "succeeded", "{baseline:?}");
    assert_eq!((baseline.effects.clone(), baseline.output.clone()), (effects(&["a", "b"]), Some(json!({"n": 1}))));
    assert_eq!(baseline.executions, 1);
    // The call sites: the start, each task's handling and answer, the decision — every
    // call of the fault-free scenario but receives (their number depends on timing).
    let sites: Vec<Call> = clean.calls().into_iter().filter(|c| c.op != "sqs.ReceiveMessage").collect();
    eprintln!("call sites: {:?}", sites.iter().map(|c| format!("{} #{}", c.op, c.n)).collect::<Vec<_>>());
    let mut cases = 0;
    let mut wrong = Vec::new();
    for site in &sites {
        for (fault, times) in sfn_faults_for(&site.op) {
            let proxy = FaultProxy::start(&endpoint).await;
            proxy.inject(&site.op, site.n, times, fault.clone());
            eprintln!("case: {} #{} / {}", site.op, site.n, fault.name());
            let ending = flow_scenario(&proxy, &endpoint).await;
            cases += 1;
            let met = !proxy.faulted().is_empty();
            if !met || ending != baseline {
                wrong.push(format!("{} #{} / {}: met={met} {ending:?}", site.op, site.n, fault.name()));
            }
        }
    }
    eprintln!("workflow fault matrix: {} call sites, {cases} cases, {} wrong", sites.len(), wrong.len());
    assert!(cases >= 30, "the matrix covers the workflow's calls: {cases} cases over {sites:?}");
    assert!(wrong.is_empty(), "executions that ended otherwise than without faults:\n{}", wrong.join("\n"));
}
