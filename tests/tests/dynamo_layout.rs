//! How runs lie in the DynamoDB table, pinned: every run is a partition of its own (its
//! run item, its spec and its steps), nothing of it sits in the tenant's partition, and the status
//! index is written when a run's status changes, not at every step. The capacity model
//! in the README rests on this layout.

use aos_core::{RunId, RunStatus, StructuredOutcome, TenantId};
use aos_runtime::runs::{RunQuery, RunService, SubmitRun};
use aos_runtime::worker::{StepWorker, WorkerConfig};
use aos_runtime::{IdempotencyClass, Skill, SkillContext, SkillDescriptor, SkillRegistry};
use aos_tests::backends::{self, Ports};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

type Item = HashMap<String, AttributeValue>;

/// Says which step it is in, then waits to be let go.
struct Hold {
    arrived: mpsc::UnboundedSender<u32>,
    release: Arc<Semaphore>,
}

#[async_trait]
impl Skill for Hold {
    fn descriptor(&self) -> SkillDescriptor {
        SkillDescriptor {
            name: "hold".into(),
            version: "1.0.0".into(),
            description: "waits to be let go".into(),
            input_schema: json!({"type": "object"}),
            output_schema: json!({"type": "object"}),
            idempotency: IdempotencyClass::Pure,
            timeout_ms: 20_000,
        }
    }

    async fn execute(&self, ctx: &SkillContext, _input: Value) -> StructuredOutcome {
        self.arrived.send(ctx.step_index).expect("the test listens");
        self.release.acquire().await.expect("open").forget();
        StructuredOutcome::success(json!({"step": ctx.step_index}))
    }
}

fn tenant() -> TenantId {
    TenantId::parse("ten_layout").expect("id")
}

struct Rig {
    ports: Ports,
    service: RunService,
    worker: StepWorker,
    raw: aws_sdk_dynamodb::Client,
    table: String,
    arrived: mpsc::UnboundedReceiver<u32>,
    release: Arc<Semaphore>,
}

async fn rig() -> Rig {
    let ports = backends::aws(5).await;
    let (tx, arrived) = mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(Hold { arrived: tx, release: Arc::clone(&release) })).expect("hold");
    let reg = Arc::new(reg);
    let service = RunService::new(Arc::clone(&ports.runs), Arc::clone(&ports.idempotency), Arc::clone(&reg));
    let config = WorkerConfig {
        visibility: Duration::from_secs(20),
        heartbeat: Duration::from_secs(1),
        poll_wait: Duration::from_secs(1),
        ..WorkerConfig::default()
    };
    let worker = StepWorker::new(Arc::clone(&ports.runs), Arc::clone(&ports.queue), Arc::clone(&ports.kv), reg, config);
    let raw = aws_sdk_dynamodb::Client::new(&backends::sdk_config_at(&backends::emulator_endpoint()).await);
    let table = ports.aws_names.0.clone();
    Rig { ports, service, worker, raw, table, arrived, release }
}

impl Rig {
    async fn submit(&self, steps: usize) -> RunId {
        let plan: Vec<Value> = (0..steps).map(|i| json!({"id": format!("s{i}"), "skill": "hold"})).collect();
        let req: SubmitRun = serde_json::from_value(json!({"plan": plan, "base_seed": 1})).expect("body");
        self.service.submit(&tenant(), req, None).await.expect("submitted").run.id
    }

    /// Works the queue in the background until `id` ends.
    fn work(&self, id: &RunId) -> tokio::task::JoinHandle<()> {
        let (queue, worker, runs, id) =
            (Arc::clone(&self.ports.queue), self.worker.clone(), Arc::clone(&self.ports.runs), id.clone());
        tokio::spawn(async move {
            for _ in 0..120 {
                let run = runs.run(&tenant(), &id).await.expect("read").expect("run");
                if run.status.is_terminal() {
                    return;
                }
                for m in queue.receive(1, Duration::from_secs(20), Duration::from_secs(1)).await.expect("receive") {
                    worker.handle(&m).await;
                }
            }
            panic!("run {id} did not end");
        })
    }

    async fn arrive(&mut self) -> u32 {
        tokio::time::timeout(Duration::from_secs(30), self.arrived.recv()).await.expect("a step began").expect("open")
    }

    /// Every item of the table whose partition key names run `id`.
    async fn items_of(&self, id: &RunId) -> Vec<Item> {
        let out = self
            .raw
            .scan()
            .table_name(&self.table)
            .filter_expression("contains(pk, :id)")
            .expression_attribute_values(":id", AttributeValue::S(id.to_string()))
            .send()
            .await
            .expect("scan");
        out.items.unwrap_or_default()
    }

    async fn step_item(&self, id: &RunId, index: u32) -> Option<Item> {
        let out = self
            .raw
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("TENANT#{}#RUN#{id}", tenant())))
            .key("sk", AttributeValue::S(format!("STEP#{index:06}")))
            .consistent_read(true)
            .send()
            .await
            .expect("get");
        out.item
    }

    async fn run_item(&self, id: &RunId) -> Item {
        let out = self
            .raw
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("TENANT#{}#RUN#{id}", tenant())))
            .key("sk", AttributeValue::S("RUN".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get");
        out.item.expect("the run item is at TENANT#<t>#RUN#<id> / RUN")
    }
}

fn text<'a>(item: &'a Item, name: &str) -> &'a str {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v,
        other => panic!("{name} is not a string: {other:?} in {item:?}"),
    }
}

fn number(item: &Item, name: &str) -> u64 {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().expect("number"),
        other => panic!("{name} is not a number: {other:?} in {item:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn a_run_is_a_partition_of_its_own_and_its_steps_leave_the_status_index_alone() {
    let mut r = rig().await;
    let id = r.submit(3).await;
    let partition = format!("TENANT#{}#RUN#{id}", tenant());
    let queued = r.run_item(&id).await;
    assert_eq!(text(&queued, "gsi3pk"), format!("TENANT#{}#STATUS#queued", tenant()));
    assert_eq!(text(&queued, "gsi3sk"), id.as_str(), "the status index sorts by run id");
    let work = r.work(&id);

    // Step 0 runs on its message's first delivery, and its skill is safe to run twice:
    // its claim is deferred, nothing is written before it runs.
    assert_eq!(r.arrive().await, 0);
    assert_eq!(text(&r.run_item(&id).await, "status"), "queued");
    assert!(r.step_item(&id, 0).await.is_none(), "a deferred claim writes nothing");
    // Its first heartbeat (every second here) takes the claim and starts the run.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let claim = r.step_item(&id, 0).await.expect("the heartbeat took the claim");
    assert_eq!(text(&claim, "claim_status"), "running");
    assert_eq!(number(&claim, "attempts"), 1);
    let started = r.run_item(&id).await;
    assert_eq!(text(&started, "gsi3pk"), format!("TENANT#{}#STATUS#running", tenant()));
    // Step 1 runs: step 0 committed and the run is running.
    r.release.add_permits(1);
    assert_eq!(r.arrive().await, 1);
    let at_step_1 = r.run_item(&id).await;
    assert_eq!(text(&at_step_1, "gsi3pk"), format!("TENANT#{}#STATUS#running", tenant()));
    assert_eq!(number(&at_step_1, "next_step"), 1);
    // Step 2 runs: step 1's commit kept the run running and left the index's attributes
    // as they were, so the index was not written.
    r.release.add_permits(1);
    assert_eq!(r.arrive().await, 2);
    let at_step_2 = r.run_item(&id).await;
    assert_eq!(number(&at_step_2, "next_step"), 2);
    for attr in ["gsi3pk", "gsi3sk", "since_ms"] {
        assert_eq!(at_step_2.get(attr), at_step_1.get(attr), "{attr} changed with a step that kept the status");
    }
    assert_ne!(at_step_2.get("last_hash"), at_step_1.get("last_hash"), "the step did commit");
    r.release.add_permits(1);
    work.await.expect("worked");

    // The run item and its steps share one partition; nothing else carries the run's id.
    let mut keys: Vec<(String, String)> =
        r.items_of(&id).await.iter().map(|i| (text(i, "pk").to_owned(), text(i, "sk").to_owned())).collect();
    keys.sort();
    let want: Vec<(String, String)> = ["RUN", "RUN#SPEC", "STEP#000000", "STEP#000001", "STEP#000002"]
        .into_iter()
        .map(|sk| (partition.clone(), sk.to_owned()))
        .collect();
    assert_eq!(keys, want);
    let done = r.run_item(&id).await;
    assert!(!done.contains_key("spec"), "the spec is an item of its own: a step does not rewrite it");
    assert_eq!(text(&done, "gsi3pk"), format!("TENANT#{}#STATUS#succeeded", tenant()));
    assert!(number(&done, "since_ms") >= number(&at_step_2, "since_ms"));
    assert!(text(&done, "gsi2pk").ends_with("#ENDED"), "a finished run is in the ends index");
    assert!(!done.contains_key("gsi1pk"), "runs stay out of the listing index (it projects every attribute)");

    // The tenant's own partition holds nothing of its runs.
    let out = r
        .raw
        .query()
        .table_name(&r.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("TENANT#{}", tenant())))
        .send()
        .await
        .expect("query");
    let tenant_sks: Vec<String> = out.items.unwrap_or_default().iter().map(|i| text(i, "sk").to_owned()).collect();
    assert!(tenant_sks.iter().all(|sk| !sk.starts_with("RUN")), "{tenant_sks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn listings_and_sweeps_read_runs_through_the_status_index() {
    let mut r = rig().await;
    let done = r.submit(1).await;
    let work = r.work(&done);
    assert_eq!(r.arrive().await, 0);
    r.release.add_permits(1);
    work.await.expect("worked");
    let cancelled = r.submit(1).await;
    let before_cancel = aos_runtime::clock::now_ms();
    r.ports.runs.cancel_run(&tenant(), &cancelled, before_cancel, &[]).await.expect("cancel");
    let queued = r.submit(1).await;

    let ids = |runs: Vec<aos_runtime::ports::RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let list = |q: RunQuery| {
        let service = &r.service;
        async move { ids(service.list(&tenant(), q).await.expect("list").items) }
    };
    // Every status, newest first, merged from the index's partitions.
    assert_eq!(list(RunQuery::default()).await, vec![queued.clone(), cancelled.clone(), done.clone()]);
    let page =
        list(RunQuery { limit: aos_core::page::PageLimit::new(Some(2)).expect("limit"), ..RunQuery::default() }).await;
    assert_eq!(page, vec![queued.clone(), cancelled.clone()]);
    let rest = list(RunQuery { before: Some(cancelled.clone()), ..RunQuery::default() }).await;
    assert_eq!(rest, vec![done.clone()], "the cursor pages on");
    assert_eq!(list(RunQuery { status: Some(RunStatus::Queued), ..RunQuery::default() }).await, vec![queued.clone()]);
    assert_eq!(list(RunQuery { status: Some(RunStatus::Succeeded), ..RunQuery::default() }).await, vec![done.clone()]);

    // The sweeps: queued runs by when they were submitted, cancelled ones by their cancel.
    let now = aos_runtime::clock::now_ms();
    assert_eq!(ids(r.ports.runs.queued_before(&tenant(), now + 1, 10).await.expect("queued")), vec![queued.clone()]);
    let queued_at = r.ports.runs.run(&tenant(), &queued).await.expect("read").expect("run").created_at_ms;
    assert!(r.ports.runs.queued_before(&tenant(), queued_at, 10).await.expect("queued").is_empty());
    let cancels = r.ports.runs.cancelled_between(&tenant(), before_cancel, now + 1, 10).await.expect("cancelled");
    assert_eq!(ids(cancels), vec![cancelled.clone()]);
    assert!(r.ports.runs.cancelled_between(&tenant(), 0, before_cancel, 10).await.expect("cancelled").is_empty());
    assert_eq!(r.ports.runs.live_runs(&tenant(), 10).await.expect("live"), 1, "the queued run alone is live");
}
