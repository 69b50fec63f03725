//! Budgets that stop a run, on both backends: a plan run with `budget_cents`, a run of
//! model calls whose replies cost tokens (a scripted model server on loopback), and a
//! metered tenant whose credits run out — each stops before the step that would not fit,
//! within one step of its cap and never over it, failing with `ERR_BUDGET_EXCEEDED` and
//! what was spent, the estimate and the limit. The ledger balances after every run, and
//! a suspended tenant's steps do not run.

use aos_core::audit::Actor;
use aos_core::credits::{GrantKind, GrantSpec, Millicredits};
use aos_core::page::PageLimit;
use aos_core::{Checkpoint, TenantId};
use aos_runtime::audit::{AuditFilter, AuditService};
use aos_runtime::credits::CreditService;
use aos_runtime::llm::{LlmConfig, ProviderConfig, ProviderKind};
use aos_runtime::net::AddressPolicy;
use aos_runtime::ports::RunRecord;
use aos_runtime::runs::{RunService, SubmitRun};
use aos_runtime::skills::{worker_registry, WorkerSkills};
use aos_runtime::worker::{StepWorker, WorkerConfig};
use aos_tests::backends::{self, Ports};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn tenant() -> TenantId {
    TenantId::parse("ten_budget").expect("tenant")
}

/// A model server speaking OpenAI's wire format that answers every call, as the model
/// asked for, with one token in and 1 000 out (gpt-4o: 250 c and 1 000 c per million),
/// and counts the calls.
async fn model_server() -> (SocketAddr, Arc<AtomicU32>) {
    model_saying("ok").await
}

/// The same server, answering `text` to every call.
async fn model_saying(text: &'static str) -> (SocketAddr, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let router = Router::new().route(
        "/v1/chat/completions",
        post(move |Json(asked): Json<Value>| {
            let seen = Arc::clone(&seen);
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                Json(json!({"id": "c1", "object": "chat.completion", "model": asked["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1000, "total_tokens": 1001}}))
            }
        }),
    );
    (aos_tests::serve(router).await, calls)
}

struct Rig {
    ports: Ports,
    runs: RunService,
    worker: StepWorker,
    credits: CreditService,
}

impl Rig {
    async fn new(ports: Ports, model: SocketAddr) -> Self {
        let mut llm = LlmConfig::default();
        llm.providers
            .insert("local".into(), ProviderConfig::at(ProviderKind::OpenAi, format!("http://{model}/v1"), None));
        // A model whose 1 000 output tokens cost 90 c (the model server's every reply).
        llm.prices.insert("pricey".into(), aos_runtime::llm::Price { input: 0.0, output: 90_000.0 });
        let policy = AddressPolicy::parse_allow_list(&model.to_string()).expect("allow");
        let skills =
            WorkerSkills { secrets: Arc::clone(&ports.secrets), llm: llm.clone(), bedrock: None, mailer: None };
        let registry = Arc::new(worker_registry(policy, skills).expect("registry"));
        let credits = CreditService::new(Arc::clone(&ports.credits)).with_llm(llm);
        let runs = RunService::new(Arc::clone(&ports.runs), Arc::clone(&ports.idempotency), Arc::clone(&registry))
            .with_credits(credits.clone());
        let config = WorkerConfig {
            poll_wait: Duration::from_millis(50),
            backoff_base: Duration::from_millis(50),
            backoff_cap: Duration::from_millis(200),
            ..WorkerConfig::default()
        };
        // Tenants without a plan of their own have none: only the tests that give the
        // rig's tenant a plan meet spend limits.
        let quotas = aos_runtime::limits::QuotaService::new(
            Arc::clone(&ports.tenants),
            Arc::clone(&ports.runs),
            aos_core::limits::PlanName::Unlimited,
        );
        let worker =
            StepWorker::new(Arc::clone(&ports.runs), Arc::clone(&ports.queue), Arc::clone(&ports.kv), registry, config)
                .with_credits(credits.clone())
                .with_quotas(quotas);
        Self { ports, runs, worker, credits }
    }

    /// Submits `body` and works the queue until the run ends.
    async fn run(&self, body: Value) -> (RunRecord, Vec<Checkpoint>) {
        let req: SubmitRun = serde_json::from_value(body).expect("a run request");
        let id = self.runs.submit(&tenant(), req, None).await.expect("submitted").run.id;
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(self.worker.clone().run_loop(rx));
        let deadline = Instant::now() + Duration::from_secs(60);
        let run = loop {
            let run = self.runs.get(&tenant(), &id).await.expect("run");
            if run.status.is_terminal() {
                break run;
            }
            assert!(Instant::now() < deadline, "the run did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let _ = stop.send(true);
        let _ = task.await;
        let (_, checkpoints, _) = self.runs.steps(&tenant(), &id).await.expect("steps");
        (run, checkpoints)
    }

    async fn grant(&self, id: &str, millicredits: u64) {
        let spec = GrantSpec {
            id: id.into(),
            kind: GrantKind::Paid,
            amount: Millicredits(millicredits),
            effective_ms: 0,
            expires_ms: None,
            priority: 0,
        };
        self.credits.grant(&tenant(), &spec, Actor::system(), aos_runtime::clock::now_ms()).await.expect("grant");
    }

    /// The ledger balances: every account sums to zero and nothing is left reserved.
    async fn balanced(&self) -> aos_core::credits::Book {
        let book = self.credits.balance(&tenant(), aos_runtime::clock::now_ms()).await.expect("book");
        assert_eq!(book.broken(), None, "the ledger's invariants hold: {book:?}");
        assert_eq!(book.reserved(), Millicredits::ZERO, "no reservation is left pending");
        book
    }
}

fn transform(n: u32) -> Value {
    json!({"skill": "json_transform", "input": {"expression": "n", "data": {"n": n}}})
}

fn refused(run: &RunRecord) -> Value {
    let error = run.error.as_ref().unwrap_or_else(|| panic!("the run failed with an error: {run:?}"));
    assert_eq!(error.code.as_str(), "ERR_BUDGET_EXCEEDED", "{error:?}");
    error.details.clone().expect("details")
}

async fn a_run_stops_at_its_budget(ports: Ports) {
    let (model, _) = model_server().await;
    let rig = Rig::new(ports, model).await;
    // Five steps of a skill priced at one credit, against a budget of three.
    let (run, cps) = rig.run(json!({"plan": (0..5).map(transform).collect::<Vec<_>>(), "budget_cents": 3})).await;
    assert_eq!((run.status.as_str(), run.spent_mc, run.budget_mc), ("failed", 3_000, Some(3_000)));
    assert_eq!(cps.len(), 4, "three steps ran; the fourth was refused before it ran");
    assert!(cps[..3].iter().all(|c| c.outcome.ok && c.charge.as_ref().map(|ch| ch.actual.0) == Some(1_000)));
    let details = refused(&run);
    assert_eq!(details, json!({"scope": "run", "spent_cents": 3.0, "estimate_cents": 1.0, "limit_cents": 3.0}));
    assert!(cps[3].charge.is_none(), "the refused step was charged nothing");
    // The run passed 80 % of its budget with its third step: on the audit record once.
    let audit = AuditService::new(Arc::clone(&rig.ports.audit));
    let filter = AuditFilter { action: Some("budget.warning".into()), ..AuditFilter::default() };
    let warned = audit.list(&tenant(), &filter, None, PageLimit::new(None).expect("limit")).await.expect("audit");
    assert_eq!(warned.items.len(), 1, "{:?}", warned.items);
    assert_eq!(warned.items[0].event.details["spent_cents"], 3.0);
    assert_eq!(warned.items[0].event.details["step"], 2);
    // A budget below the first step's estimate is refused at submission; nothing stored.
    let low: SubmitRun = serde_json::from_value(json!({"plan": [transform(0)], "budget_cents": 0})).expect("req");
    assert!(rig.runs.submit(&tenant(), low, None).await.is_err());
    let child = |c: &str| json!({"correlation_id": c, "plan": [transform(0)]});
    let spawn =
        json!({"plan": [{"skill": "agent_spawn", "input": {"tasks": [child("a"), child("b")]}}], "budget_cents": 5});
    let Err(err) = rig.runs.submit(&tenant(), serde_json::from_value(spawn).expect("req"), None).await else {
        panic!("a budget below the first step's estimate is refused");
    };
    assert!(err.to_string().contains("9 c"), "the message gives the estimate (5 + 2 per item): {err}");
    let listed = rig
        .runs
        .list(
            &tenant(),
            aos_runtime::runs::RunQuery { status: None, limit: PageLimit::new(None).expect("limit"), before: None },
        )
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1, "the refused submissions stored nothing");
}

async fn model_calls_stop_within_one_call_of_the_cap(ports: Ports) {
    let (model, calls) = model_server().await;
    let rig = Rig::new(ports, model).await;
    let call = json!({"skill": "llm_invoke", "input": {"provider": "local", "model": "gpt-4o", "max_tokens": 1000,
                      "messages": [{"role": "user", "content": "hi"}]}});
    let (run, cps) = rig.run(json!({"plan": vec![call; 10], "budget_cents": 10})).await;
    // A call is estimated at its price (1 c) plus one prompt token and 1 000 output
    // tokens: 2.001 c; the model reports just that. Four fit in 10 c; a fifth would not.
    assert_eq!(calls.load(Ordering::SeqCst), 4, "the fifth call was never made");
    assert_eq!(run.spent_mc, 8_004, "{run:?}");
    assert!(run.spent_mc <= 10_000 && 10_000 - run.spent_mc < 2_001, "within one call of the cap, never over it");
    assert_eq!(cps.len(), 5);
    let details = refused(&run);
    assert_eq!((details["spent_cents"].clone(), details["estimate_cents"].clone()), (json!(8.004), json!(2.001)));
    // The calls' tokens reached the tenant's month meter with their commits.
    let (meter, month) =
        aos_core::limits::QuotaName::TokensPerMonth.meter(aos_runtime::clock::now_ms()).expect("tokens meter");
    assert_eq!(rig.ports.tenants.meter(&tenant(), meter, &month).await.expect("meter"), 4 * 1_001);
}

async fn a_metered_tenant_stops_when_its_credits_run_out(ports: Ports) {
    let (model, _) = model_server().await;
    let rig = Rig::new(ports, model).await;
    rig.grant("trial", 2_500).await;
    let (run, cps) = rig.run(json!({"plan": (0..5).map(transform).collect::<Vec<_>>()})).await;
    assert_eq!(cps.len(), 3, "two steps fit 2.5 credits; the third was refused");
    let details = refused(&run);
    assert_eq!(details["scope"], "tenant");
    assert_eq!((details["available_cents"].clone(), details["estimate_cents"].clone()), (json!(0.5), json!(1.0)));
    let book = rig.balanced().await;
    assert_eq!(book.available(), Millicredits(500));
    let page = rig.credits.ledger(&tenant(), None, 100).await.expect("ledger");
    let kinds: Vec<&str> = page.transfers.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["grant", "reserve", "post", "reserve", "post"], "one reservation and one post per step run");

    // A suspended tenant's steps do not run.
    rig.credits.store().set_suspended(&tenant(), true, &[]).await.expect("suspend");
    let (run, cps) = rig.run(json!({"plan": [transform(1)]})).await;
    assert_eq!(cps.len(), 1);
    assert!(!cps[0].outcome.ok);
    assert_eq!(refused(&run)["suspended"], true);
}

/// A tree of agents keeps to its root's budget: the root's `agent_spawn` shares what is
/// left after its own price among its children (one asks for its own 2 c), a child shares
/// its part with its own children, each stops at its part, and what the tree spent comes
/// back to the root, whose next steps stop at its cap.
async fn an_agent_spawn_tree_keeps_to_its_root_s_budget(ports: Ports) {
    let (model, _) = model_server().await;
    let rig = Rig::new(ports, model).await;
    rig.grant("tree", 100_000).await;
    let steps = |n: u32| (0..n).map(transform).collect::<Vec<_>>();
    let grandchildren = json!({"tasks": [{"plan": steps(10)}, {"plan": steps(10)}]});
    let tasks = json!([
        {"correlation_id": "a", "plan": [{"skill": "agent_spawn", "input": grandchildren}]},
        {"correlation_id": "b", "plan": steps(30)},
        {"correlation_id": "c", "plan": steps(5), "budget_cents": 2},
    ]);
    let root = json!({"plan": [{"skill": "agent_spawn", "input": {"tasks": tasks}}, transform(1), transform(2)],
                      "budget_cents": 60});
    let (run, cps) = rig.run(root).await;
    // The root's spawn costs 5 + 2 × 3 = 11 c; 49 c are left: c asks 2, a and b get 23.5
    // each. a's spawn costs 9 c and leaves 14.5 c: 7.25 for each grandchild, which runs 7
    // of its 10 steps. b runs 23 of its 30, c 2 of its 5.
    let spawn = cps[0].outcome.output.as_ref().expect("the spawn's output");
    let spent: Vec<f64> = spawn["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| c["spent_cents"].as_f64().unwrap_or(-1.0))
        .collect();
    assert_eq!(spent, [23.0, 23.0, 2.0], "{spawn}");
    let inner = &spawn["children"][0];
    let budgets: Vec<Option<u64>> = {
        let mut b = Vec::new();
        for child in spawn["children"].as_array().expect("children") {
            let id = aos_core::RunId::parse(child["run_id"].as_str().expect("id")).expect("run id");
            b.push(rig.runs.get(&tenant(), &id).await.expect("child").budget_mc);
        }
        b
    };
    assert_eq!(budgets, [Some(23_500), Some(23_500), Some(2_000)], "{inner}");
    // Each run at the tree's leaves stopped at its part; a's own spawn ended well.
    let children = spawn["children"].as_array().expect("children");
    let leaves = children[0]["output"]["children"].as_array().expect("grandchildren").iter().chain(&children[1..]);
    for leaf in leaves {
        assert_eq!(leaf["error"]["code"], "ERR_BUDGET_EXCEEDED", "each leaf stopped at its part: {leaf}");
    }
    assert_eq!(children[0]["output"]["spent_cents"], 14.0, "{inner}");
    assert_eq!(cps[0].charge.as_ref().map(|c| c.actual), Some(Millicredits(11_000 + 48_000)));
    // The root has 1 c left: one more step, and the next is refused.
    assert_eq!(cps.len(), 3);
    assert_eq!((run.status.as_str(), run.spent_mc), ("failed", 60_000));
    assert_eq!(refused(&run)["scope"], "run");
    // Every step paid the ledger once: 60 c of the 100 c granted are spent.
    let book = rig.balanced().await;
    assert_eq!(book.available(), Millicredits(40_000));
}

/// An agent whose planner's decisions cost tokens stops within one call of its cap.
async fn an_agent_stops_within_one_call_of_its_cap(ports: Ports) {
    let (model, calls) = model_saying(
        r#"{"thought": "once more", "next": [{"skill": "json_transform", "input": {"expression": "n", "data": {"n": 1}}}]}"#,
    )
    .await;
    let rig = Rig::new(ports, model).await;
    let planner = json!({"type": "llm", "provider": "local", "model": "gpt-4o", "max_tokens": 1000});
    let (run, cps) = rig
        .run(json!({"goal": "Count to a large number.", "budget_cents": 12,
                    "agent": {"planner": planner, "max_steps": 50, "max_llm_calls": 50, "skills": ["json_transform"]}}))
        .await;
    let details = refused(&run);
    assert_eq!(details["scope"], "run", "{details}");
    let estimate = Millicredits::from_cents_f64(details["estimate_cents"].as_f64().expect("estimate"));
    assert!(run.spent_mc <= 12_000, "never over the cap: {run:?}");
    assert!(12_000 - run.spent_mc < estimate.0, "within one call of the cap: spent {} mc", run.spent_mc);
    let decided = cps.iter().filter(|c| c.skill == aos_core::agent::PLAN_SKILL && c.outcome.ok).count();
    assert_eq!(calls.load(Ordering::SeqCst) as usize, decided, "no model call was made past the cap");
    assert!(decided >= 3, "the agent took several decisions first: {decided}");
    // Each decision was charged its price and its call exactly: 1 c, and 1 000 output
    // tokens and one input token at gpt-4o's prices (1.00025 c, up to the next mc).
    let plan = cps.iter().find(|c| c.skill == aos_core::agent::PLAN_SKILL).expect("a decision");
    assert_eq!(plan.charge.as_ref().map(|c| c.actual), Some(Millicredits(2_001)));
    let total: u64 = cps.iter().filter_map(|c| c.charge.as_ref()).map(|c| c.actual.0).sum();
    assert_eq!(total, run.spent_mc, "the run's spend is what its steps were charged");
}

/// Each run's usage is written with its end (succeeded, failed at its budget, cancelled)
/// and rolled up by skill, model and day: steps, tokens in and out, cache hits and the
/// tokens they saved, and cost that adds up to what the runs were charged.
async fn usage_is_recorded_with_each_runs_end_and_rolled_up(ports: Ports) {
    use aos_core::usage::GroupBy;
    let (model, calls) = model_server().await;
    let rig = Rig::new(ports, model).await;
    let from = aos_runtime::clock::now_ms();
    // A deterministic call (temperature 0) twice: the second is answered from the cache.
    let call = json!({"skill": "llm_invoke", "input": {"provider": "local", "model": "gpt-4o", "max_tokens": 1000,
                      "temperature": 0.0, "messages": [{"role": "user", "content": "hi"}]}});
    let (a, _) = rig.run(json!({"plan": [call.clone(), call, transform(1), transform(2)]})).await;
    assert_eq!((a.status.as_str(), calls.load(Ordering::SeqCst)), ("succeeded", 1), "{a:?}");
    let (b, _) = rig.run(json!({"plan": [transform(1), transform(2), transform(3)], "budget_cents": 2})).await;
    refused(&b);
    let req: SubmitRun = serde_json::from_value(json!({"plan": [transform(1)]})).expect("run");
    let c = rig.runs.submit(&tenant(), req, None).await.expect("submitted").run.id;
    rig.runs.cancel(&tenant(), &c, &Actor::system()).await.expect("cancelled");
    let to = aos_runtime::clock::now_ms() + 1;

    let usage = aos_runtime::usage::UsageService::new(Arc::clone(&rig.ports.usage));
    let by_skill = usage.report(&tenant(), GroupBy::Skill, from, to).await.expect("report");
    assert_eq!(by_skill.runs, 3, "every run that ended has its record, the cancelled one too");
    let skills: Vec<(&str, u64, u64)> =
        by_skill.groups.iter().map(|g| (g.key.as_str(), g.runs, g.counters.steps)).collect();
    assert_eq!(skills, [("json_transform", 2, 5), ("llm_invoke", 1, 2)], "{by_skill:?}");
    let llm = &by_skill.groups[1].counters;
    assert_eq!((llm.tokens_in, llm.tokens_out), (1, 1_000), "only the call the model answered used tokens");
    assert_eq!((llm.cache_hits, llm.tokens_saved), (1, 1_001), "the cached answer saved the call's tokens");
    assert_eq!(by_skill.total.cost_mc, a.spent_mc + b.spent_mc, "cost adds up to what the runs were charged");
    assert!(by_skill.total.cost_mc > 0);

    let by_model = usage.report(&tenant(), GroupBy::Model, from, to).await.expect("report");
    let models: Vec<(&str, u64)> = by_model.groups.iter().map(|g| (g.key.as_str(), g.counters.tokens_out)).collect();
    assert_eq!(models, [("", 0), ("gpt-4o", 1_000)], "{by_model:?}");
    let by_day = usage.report(&tenant(), GroupBy::Day, from, to).await.expect("report");
    assert_eq!(by_day.groups.len(), 1 + usize::from(aos_core::usage::utc_day(from) != aos_core::usage::utc_day(to)));
    assert_eq!(by_day.groups.iter().map(|g| g.runs).sum::<u64>(), 3);
    // The records page in end order: two, then the third, then nothing after it.
    let store = &rig.ports.usage;
    let first = store.usage_records(&tenant(), from, to, None, 2).await.expect("page");
    let cursor = aos_runtime::ports::usage_cursor(first.last().expect("a record"));
    let second = store.usage_records(&tenant(), from, to, Some(&cursor), 2).await.expect("page");
    let paged: Vec<_> = first.iter().chain(&second).collect();
    let order: Vec<(u64, &str)> = paged.iter().map(|r| (r.ended_at_ms, r.run_id.as_str())).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in end order: {order:?}");
    let mut ids: Vec<&str> = order.iter().map(|(_, id)| *id).collect();
    ids.sort_unstable();
    let mut want = [a.id.as_str(), b.id.as_str(), c.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want, "each run once");
    let last = aos_runtime::ports::usage_cursor(second.last().expect("a record"));
    assert!(store.usage_records(&tenant(), from, to, Some(&last), 2).await.expect("page").is_empty());
    // Outside the span, and for another tenant, there is nothing.
    let before = usage.report(&tenant(), GroupBy::Day, 0, from).await.expect("report");
    assert_eq!((before.runs, before.groups.len()), (0, 0));
    let other = TenantId::parse("ten_other").expect("tenant");
    assert_eq!(usage.report(&other, GroupBy::Skill, from, to).await.expect("report").runs, 0);
    // The tokens quota counts only tokens a model was sent or generated.
    let (meter, month) = aos_core::limits::QuotaName::TokensPerMonth.meter(to).expect("tokens meter");
    assert_eq!(rig.ports.tenants.meter(&tenant(), meter, &month).await.expect("meter"), 1_001);
}

#[tokio::test]
async fn usage_is_recorded_with_each_runs_end_and_rolled_up_on_sqlite() {
    usage_is_recorded_with_each_runs_end_and_rolled_up(backends::embedded(5).await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn usage_is_recorded_with_each_runs_end_and_rolled_up_on_dynamodb() {
    usage_is_recorded_with_each_runs_end_and_rolled_up(backends::aws(5).await).await;
}

/// A tenant on the free plan is held to the seed's spend limits: a step estimated over
/// 100 c does not run, and its steps stop before the one that would take the UTC hour's
/// spend past 1 000 c (passing 80 % is on the audit record); what was spent shows in
/// its quotas.
async fn a_tenants_spend_limits_stop_its_steps(ports: Ports) {
    use aos_core::limits::{PlanName, QuotaName, SpendWindows};
    let (model, calls) = model_server().await;
    let rig = Rig::new(ports, model).await;
    let settings = aos_runtime::auth::TenantSettings { retention_days: None, plan: Some(PlanName::Free) };
    aos_runtime::auth::create_tenant_keeping(
        rig.ports.tenants.as_ref(),
        Some(tenant()),
        "free",
        aos_runtime::ports::Role::Admin,
        settings,
        &Actor::system(),
    )
    .await
    .expect("tenant");
    // The hour's window must not turn over while the test runs.
    while SpendWindows::at(aos_runtime::clock::now_ms() + 30_000) != SpendWindows::at(aos_runtime::clock::now_ms()) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let call = |max_tokens: u32| {
        json!({"skill": "llm_invoke", "input": {"provider": "local", "model": "pricey", "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": "hi"}]}})
    };
    let (big, _) = rig.run(json!({"plan": [call(2_000)]})).await;
    let details = refused(&big);
    assert_eq!(details["scope"], "tenant_request", "{details}");
    assert_eq!((details["estimate_cents"].clone(), details["limit_cents"].clone()), (json!(181.0), json!(100.0)));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the step never ran");

    // Each call is estimated at 91 c and costs that: ten fit in the hour's 1 000 c.
    let (run, cps) = rig.run(json!({"plan": vec![call(1_000); 12]})).await;
    assert_eq!(calls.load(Ordering::SeqCst), 10, "the eleventh call was never made");
    assert_eq!((run.spent_mc, cps.len()), (910_000, 11), "{run:?}");
    let details = refused(&run);
    assert_eq!(details["scope"], "tenant_hour", "{details}");
    assert_eq!(
        (details["spent_cents"].clone(), details["estimate_cents"].clone(), details["limit_cents"].clone()),
        (json!(910.0), json!(91.0), json!(1_000.0))
    );
    let audit = AuditService::new(Arc::clone(&rig.ports.audit));
    let filter = AuditFilter { action: Some("budget.warning".into()), ..AuditFilter::default() };
    let page = audit.list(&tenant(), &filter, None, PageLimit::new(Some(10)).expect("limit")).await.expect("audit");
    let warned: Vec<&Value> = page.items.iter().map(|e| &e.event.details).collect();
    assert_eq!(warned.len(), 1, "once, when the hour passed 80 %: {warned:?}");
    assert_eq!((warned[0]["scope"].clone(), warned[0]["spent_cents"].clone()), (json!("tenant_hour"), json!(819.0)));

    let quotas = aos_runtime::limits::QuotaService::new(
        Arc::clone(&rig.ports.tenants),
        Arc::clone(&rig.ports.runs),
        PlanName::Unlimited,
    );
    let (_, checks) = quotas.checks(&tenant(), aos_runtime::clock::now_ms()).await.expect("checks");
    let hour = checks.iter().find(|c| c.quota_name == QuotaName::SpendPerHour).expect("spend per hour");
    assert_eq!((hour.current, hour.limit), (910_000, Some(1_000_000)), "{hour:?}");
    let day = checks.iter().find(|c| c.quota_name == QuotaName::SpendPerDay).expect("spend per day");
    assert_eq!((day.current, day.limit), (910_000, Some(10_000_000)), "{day:?}");
}

#[tokio::test]
async fn a_tenants_spend_limits_stop_its_steps_on_sqlite() {
    a_tenants_spend_limits_stop_its_steps(backends::embedded(5).await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn a_tenants_spend_limits_stop_its_steps_on_dynamodb() {
    a_tenants_spend_limits_stop_its_steps(backends::aws(5).await).await;
}

#[tokio::test]
async fn an_agent_spawn_tree_keeps_to_its_root_s_budget_on_sqlite() {
    an_agent_spawn_tree_keeps_to_its_root_s_budget(backends::embedded(5).await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn an_agent_spawn_tree_keeps_to_its_root_s_budget_on_dynamodb() {
    an_agent_spawn_tree_keeps_to_its_root_s_budget(backends::aws(5).await).await;
}

#[tokio::test]
async fn an_agent_stops_within_one_call_of_its_cap_on_sqlite() {
    an_agent_stops_within_one_call_of_its_cap(backends::embedded(5).await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn an_agent_stops_within_one_call_of_its_cap_on_dynamodb() {
    an_agent_stops_within_one_call_of_its_cap(backends::aws(5).await).await;
}

#[tokio::test]
async fn a_run_stops_at_its_budget_on_sqlite() {
    a_run_stops_at_its_budget(backends::embedded(5).await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn a_run_stops_at_its_budget_on_dynamodb() {
    a_run_stops_at_its_budget(backends::aws(5).await).await;
}

#[tokio::test]
async fn model_calls_stop_within_one_call_of_the_cap_on_sqlite() {
    model_calls_stop_within_one_call_of_the_cap(backends::embedded(5).await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn model_calls_stop_within_one_call_of_the_cap_on_dynamodb() {
    model_calls_stop_within_one_call_of_the_cap(backends::aws(5).await).await;
}

#[tokio::test]
async fn a_metered_tenant_stops_when_its_credits_run_out_on_sqlite() {
    a_metered_tenant_stops_when_its_credits_run_out(backends::embedded(5).await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn a_metered_tenant_stops_when_its_credits_run_out_on_dynamodb() {
    a_metered_tenant_stops_when_its_credits_run_out(backends::aws(5).await).await;
}

/// `got` (`kind id` lines in ledger order) holds exactly `want`'s transfers, and each
/// resolution (`…/post`, `…/void`) comes after the reservation it resolves. Transfers of one
/// commit may list in either order: the ledger is in time order, and a reservation made
/// ahead is stamped when the worker made it, which can be a millisecond before the commit.
fn same_transfers(got: &[String], want: &[String]) {
    let (mut sorted_got, mut sorted_want) = (got.to_vec(), want.to_vec());
    sorted_got.sort();
    sorted_want.sort();
    assert_eq!(sorted_got, sorted_want, "the ledger: {got:?}");
    for (i, t) in got.iter().enumerate() {
        let Some((reserve, _)) = t.split_once(' ').and_then(|(_, id)| id.rsplit_once('/')) else { continue };
        let at = got.iter().position(|x| *x == format!("reserve {reserve}"));
        assert!(at.is_some_and(|a| a < i), "{t} follows its reservation: {got:?}");
    }
}

/// A metered run's steps reserve ahead: the first step's credits with its claim, each
/// next step's with the commit of the step before (attempt 0 in their ids: the step's
/// reservation, not an attempt's), so a step costs one ledger write. A step whose input,
/// once resolved, costs more than was reserved from its input as authored returns that
/// reservation and reserves anew; a step that ends before its budget stage returns the
/// one made for it with its commit.
async fn steps_reserve_ahead_with_the_commit_before(ports: Ports) {
    let (model, calls) = model_server().await;
    let rig = Rig::new(ports, model).await;
    rig.grant("paid", 1_000_000).await;
    let ids = |page: &aos_runtime::ports::TransferPage| -> Vec<String> {
        page.transfers.iter().skip(1).map(|t| format!("{} {}", t.kind.as_str(), t.id)).collect()
    };
    // Step 1's prompt is step 0's output: 40 000 characters (10 000 tokens at 250 c a
    // million: 2.5 c) where the authored `${…}` counted 7 tokens.
    let long = "x".repeat(40_000);
    let (run, cps) = rig
        .run(json!({"plan": [
            {"id": "long", "skill": "json_transform", "input": {"expression": "s", "data": {"s": long}}},
            {"skill": "llm_invoke", "input": {"provider": "local", "model": "gpt-4o", "max_tokens": 1000,
                "messages": [{"role": "user", "content": "${steps.long.output.result}"}]}},
            transform(2),
        ]}))
        .await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let r = run.id.to_string();
    let page = rig.credits.ledger(&tenant(), None, 100).await.expect("ledger");
    same_transfers(
        &ids(&page),
        &[
            format!("reserve {r}:0:0:reserve"),
            format!("post {r}:0:0:reserve/post"),
            format!("reserve {r}:1:0:reserve"),
            format!("void {r}:1:0:reserve/void"),
            format!("reserve {r}:1:1:reserve"),
            format!("post {r}:1:1:reserve/post"),
            format!("reserve {r}:2:0:reserve"),
            format!("post {r}:2:0:reserve/post"),
        ],
    );
    let estimate = cps[1].charge.as_ref().expect("charged").estimate;
    assert_eq!(estimate, Millicredits(4_500), "the resolved prompt was estimated: {estimate:?}");
    rig.balanced().await;

    // Step 1 ends before its budget stage (its input names nothing): the reservation made
    // ahead for it goes back with its commit.
    let (run, cps) = rig
        .run(json!({"plan": [transform(0), {"skill": "json_transform", "input": {"expression": "@", "data": "${input.missing}"}}]}))
        .await;
    assert_eq!((run.status.as_str(), cps.len()), ("failed", 2), "{:?}", run.error);
    let r = run.id.to_string();
    let page = rig.credits.ledger(&tenant(), None, 100).await.expect("ledger");
    let tail: Vec<String> = ids(&page).into_iter().skip(8).collect();
    same_transfers(
        &tail,
        &[
            format!("reserve {r}:0:0:reserve"),
            format!("post {r}:0:0:reserve/post"),
            format!("reserve {r}:1:0:reserve"),
            format!("void {r}:1:0:reserve/void"),
        ],
    );
    let book = rig.balanced().await;
    // 1 c, the model call's 2.00025 c (rounded up to a millicredit), 1 c; then 1 c.
    assert_eq!(book.available(), Millicredits(1_000_000 - 1_000 - 2_001 - 1_000 - 1_000), "{book:?}");
}

#[tokio::test]
async fn steps_reserve_ahead_with_the_commit_before_on_sqlite() {
    steps_reserve_ahead_with_the_commit_before(backends::embedded(5).await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn steps_reserve_ahead_with_the_commit_before_on_dynamodb() {
    steps_reserve_ahead_with_the_commit_before(backends::aws(5).await).await;
}

/// What a metered tenant's steps cost in DynamoDB calls: a 10-step run on one worker
/// writes once to claim its first step (its credits reserved in the same transaction)
/// and once per step (checkpoint, run, next claim, ledger settle and the next step's
/// reservation in one transaction), and reads the run once.
#[tokio::test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn a_metered_runs_steps_write_dynamodb_once_each() {
    let endpoint = aos_tests::backends::emulator_endpoint();
    let name = format!("aos-calls-{}", uuid::Uuid::new_v4().simple());
    let config = aos_aws::AwsConfig::scratch(&endpoint, &name);
    let counter = aos_aws::CallCounter::default();
    let aws = aos_aws::AwsAdapters::connect(config, aos_aws::Resources::Create, Some(counter.clone()))
        .await
        .expect("adapters");
    let registry = Arc::new(aos_runtime::skills::default_registry(AddressPolicy::default()).expect("registry"));
    let runs = RunService::new(aws.runs.clone(), aws.idempotency.clone(), Arc::clone(&registry));
    let credits = CreditService::new(aws.credits.clone());
    let grant = aos_tests::paid_grant("paid", 1_000);
    credits.grant(&tenant(), &grant, Actor::system(), aos_runtime::clock::now_ms()).await.expect("grant");
    let config = WorkerConfig { poll_wait: Duration::from_millis(50), ..WorkerConfig::default() };
    let worker = StepWorker::new(aws.runs.clone(), aws.queue.clone(), aws.kv.clone(), registry, config)
        .with_credits(credits.clone());
    let req: SubmitRun =
        serde_json::from_value(json!({"plan": (0..10).map(transform).collect::<Vec<_>>()})).expect("req");
    let id = runs.submit(&tenant(), req, None).await.expect("submitted").run.id;
    counter.reset();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run_loop(rx));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let calls = counter.snapshot();
        if calls.get("dynamodb.TransactWriteItems").copied().unwrap_or(0) >= 11 {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not finish: {calls:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
    let _ = task.await;
    let calls: std::collections::BTreeMap<String, u64> =
        counter.snapshot().into_iter().filter(|(op, _)| op.starts_with("dynamodb.")).collect();
    let run = runs.get(&tenant(), &id).await.expect("run");
    assert_eq!((run.status.as_str(), run.spent_mc), ("succeeded", 10_000), "{run:?}");
    let writes: u64 = calls
        .iter()
        .filter(|(op, _)| {
            ["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"]
                .iter()
                .any(|w| op.ends_with(w))
        })
        .map(|(_, n)| n)
        .sum();
    let reads: u64 = calls.values().sum::<u64>() - writes;
    // The run is read once (the first message); the tenant's book at most once (whether
    // it is metered is kept per worker: here the grant told the service already).
    assert_eq!(writes, 11, "{calls:?}");
    assert!(reads <= 2, "{calls:?}");
    let book = credits.balance(&tenant(), aos_runtime::clock::now_ms()).await.expect("book");
    assert_eq!(
        (book.broken(), book.reserved(), book.available()),
        (None, Millicredits::ZERO, Millicredits::from_credits(990))
    );
}
