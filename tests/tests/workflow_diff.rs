//! Differential tests: every workflow of a catalogue runs on the embedded executor and,
//! compiled to ASL, on moto server's Step Functions (execution turned on) with the AWS
//! step worker answering the task tokens. Both must end in the same status with the
//! same node outputs, the same skill calls and the same compensations in the same order.

use aos_aws::{create_queue, create_table, DynamoKv, DynamoRunStore, DynamoWorkflows, SqsQueue, StepFunctions};
use aos_core::page::PageLimit;
use aos_core::workflow::asl::{compile, start_document, AslOptions};
use aos_core::workflow::{final_output, parse, Decision, Format, Workflow};
use aos_core::{ErrorCode, ExecutionId, StructuredOutcome, TenantId};
use aos_embedded::{Durability, Embedded};
use aos_runtime::ports::{ApprovalStatus, StateMachines, WorkflowStore};
use aos_runtime::sfn::{decide, SfnTasks};
use aos_runtime::skills::{IdempotencyClass, Skill, SkillContext, SkillDescriptor};
use aos_runtime::worker::{StepWorker, WorkerConfig};
use aos_runtime::workflows::{StartExecution, WorkflowService};
use aos_runtime::{KvStore, Queue, RunStore, SkillRegistry};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Every call of the test skills: (run key, tag).
type Log = Arc<Mutex<Vec<(String, String)>>>;

/// `test_step`: logs its call; fails with ERR_HTTP_400 when `fail_at` is its tag, with
/// ERR_HTTP_503 for the first `flaky` calls of its tag; else echoes `tag` and `value`.
struct StepSkill(Log);

#[async_trait]
impl Skill for StepSkill {
    fn descriptor(&self) -> SkillDescriptor {
        SkillDescriptor {
            name: "test_step".into(),
            version: "1.0.0".into(),
            description: "differential-test step".into(),
            input_schema: json!({"type": "object", "required": ["run", "tag"]}),
            output_schema: json!({"type": "object"}),
            idempotency: IdempotencyClass::Idempotent,
            timeout_ms: 5000,
        }
    }

    async fn execute(&self, _ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let run = input["run"].as_str().unwrap_or_default().to_owned();
        let tag = input["tag"].as_str().unwrap_or_default().to_owned();
        let calls = {
            let mut log = self.0.lock().expect("log");
            log.push((run.clone(), tag.clone()));
            log.iter().filter(|(r, t)| *r == run && *t == tag).count() as u64
        };
        if input["fail_at"].as_str() == Some(tag.as_str()) {
            return StructuredOutcome::failure(ErrorCode::Http400, format!("{tag} failed on purpose"));
        }
        if input["flaky"].as_u64().is_some_and(|n| calls <= n) {
            return StructuredOutcome::failure(ErrorCode::Http503, format!("{tag} is flaky"));
        }
        if let Some(pad) = input["pad"].as_u64() {
            // A large output, made here (a large input would not fit a start document).
            let value = "x".repeat(usize::try_from(pad).unwrap_or(0));
            return StructuredOutcome::success(json!({"tag": tag, "value": value}));
        }
        StructuredOutcome::success(json!({"tag": tag, "value": input.get("value").cloned().unwrap_or(Value::Null)}))
    }
}

fn registry(log: &Log) -> Arc<SkillRegistry> {
    let mut r = SkillRegistry::new();
    r.register(Arc::new(StepSkill(Arc::clone(log)))).expect("register");
    Arc::new(r)
}

/// One catalogue entry.
struct Case {
    name: &'static str,
    spec: String,
    input: Value,
    /// Approve, reject, or (None) let approvals time out.
    decision: Option<bool>,
}

/// What an execution came to, in backend-neutral terms.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: String,
    /// Node statuses and outputs (succeeded executions only: a failed Step Functions
    /// execution reports no document).
    nodes: BTreeMap<String, (String, Option<Value>)>,
    output: Option<Value>,
    /// Tags of skill calls, sorted (retries included).
    calls: Vec<String>,
    /// Compensation calls in the order they ran.
    compensations: Vec<String>,
}

fn calls_of(log: &Log, run: &str) -> (Vec<String>, Vec<String>) {
    let log = log.lock().expect("log");
    let mine: Vec<&String> = log.iter().filter(|(r, _)| r == run).map(|(_, t)| t).collect();
    let mut calls: Vec<String> = mine.iter().filter(|t| !t.starts_with("undo:")).map(|t| (*t).clone()).collect();
    calls.sort();
    let comps = mine.iter().filter(|t| t.starts_with("undo:")).map(|t| (*t).clone()).collect();
    (calls, comps)
}

fn step(tag: &str, extra: &str) -> String {
    format!("skill: test_step\n    input: {{run: '${{input.run}}', tag: {tag}, fail_at: '${{input.fail_at}}'{extra}}}")
}

fn undo(tag: &str) -> String {
    format!("compensate: {{skill: test_step, input: {{run: '${{input.run}}', tag: 'undo:{tag}'}}}}")
}

fn saga() -> String {
    let mut s = String::from("name: saga\nnodes:\n");
    s += &format!("  - id: reserve\n    {}\n    {}\n", step("reserve", ", value: 1"), undo("reserve"));
    s += &format!(
        "  - id: charge\n    depends_on: [reserve]\n    {}\n    {}\n",
        step("charge", ", value: '${steps.reserve.output.value}'"),
        undo("charge")
    );
    s += &format!("  - id: audit\n    {}\n    {}\n", step("audit", ""), undo("audit"));
    s += &format!(
        "  - id: ship\n    depends_on: [charge]\n    retry: {{max_attempts: 1}}\n    {}\n    {}\n",
        step("ship", ""),
        undo("ship")
    );
    s += &format!("  - id: notify\n    depends_on: [ship, audit]\n    {}\n", step("notify", ""));
    s
}

fn catalogue() -> Vec<Case> {
    let none = json!({});
    let mut cases = vec![
        Case {
            name: "linear",
            spec: format!(
                "name: linear\nnodes:\n  - id: a\n    {}\n  - id: b\n    depends_on: [a]\n    {}\n  - id: c\n    depends_on: [b]\n    {}\noutput: {{last: '${{steps.c.output.value}}'}}\n",
                step("a", ", value: '${input.seed}'"),
                step("b", ", value: 'b-${steps.a.output.value}'"),
                step("c", ", value: '${steps.b.output}'")
            ),
            input: json!({"seed": 7}),
            decision: None,
        },
        Case {
            name: "diamond",
            spec: format!(
                "name: diamond\nnodes:\n  - id: top\n    {}\n  - id: left\n    depends_on: [top]\n    {}\n  - id: right\n    depends_on: [top]\n    {}\n  - id: bottom\n    depends_on: [left, right]\n    {}\n",
                step("top", ", value: 1"),
                step("left", ", value: '${steps.top.output.value}'"),
                step("right", ", value: 2"),
                step("bottom", ", value: ['${steps.left.output.value}', '${steps.right.output.value}']")
            ),
            input: none.clone(),
            decision: None,
        },
        Case {
            name: "fan-out-fan-in",
            spec: {
                let mut s = format!("name: fan\nnodes:\n  - id: root\n    {}\n", step("root", ""));
                for i in 0..5 {
                    s += &format!("  - id: w{i}\n    depends_on: [root]\n    {}\n", step(&format!("w{i}"), &format!(", value: {i}")));
                }
                s += &format!(
                    "  - id: join\n    depends_on: [w0, w1, w2, w3, w4]\n    {}\n",
                    step("join", ", value: '${steps.w0.output.value}${steps.w4.output.value}'")
                );
                s
            },
            input: none.clone(),
            decision: None,
        },
        Case {
            name: "map",
            spec: "name: map\nnodes:\n  - id: each\n    type: map\n    items: '${input.xs}'\n    max_concurrency: 3\n    skill: test_step\n    input: {run: '${input.run}', tag: 'each-${index}', value: '${item}'}\n".to_owned(),
            input: json!({"xs": ["a", "b", "c", "d", "e"]}),
            decision: None,
        },
        Case {
            name: "map-element-fails",
            spec: format!(
                "name: mapfail\nnodes:\n  - id: prep\n    {}\n    {}\n  - id: each\n    type: map\n    depends_on: [prep]\n    items: '${{input.xs}}'\n    retry: {{max_attempts: 1}}\n    skill: test_step\n    input: {{run: '${{input.run}}', tag: 'each-${{item}}', fail_at: '${{input.fail_at}}'}}\n",
                step("prep", ""),
                undo("prep")
            ),
            input: json!({"xs": ["a", "b", "c"], "fail_at": "each-b"}),
            decision: None,
        },
        Case {
            name: "retry-then-succeed",
            spec: format!(
                "name: retry\nnodes:\n  - id: flaky\n    retry: {{max_attempts: 3, backoff_s: 1}}\n    {}\n",
                step("flaky", ", flaky: 1")
            ),
            input: none.clone(),
            decision: None,
        },
        Case {
            name: "wait",
            spec: format!(
                "name: wait\nnodes:\n  - id: pause\n    type: wait\n    seconds: 1\n  - id: after\n    depends_on: [pause]\n    {}\n",
                step("after", "")
            ),
            input: none,
            decision: None,
        },
    ];
    let choice = format!(
        "name: choice\nnodes:\n  - id: check\n    {}\n  - id: route\n    type: choice\n    depends_on: [check]\n    choices:\n      - {{name: big, when: {{var: '${{steps.check.output.value}}', op: gte, value: 100}}, next: [review]}}\n    default: [auto]\n  - id: review\n    {}\n  - id: auto\n    {}\n  - id: done\n    depends_on: [review, auto]\n    join: any\n    {}\n",
        step("check", ", value: '${input.total}'"),
        step("review", ""),
        step("auto", ""),
        step("done", "")
    );
    cases.push(Case { name: "choice-big", spec: choice.clone(), input: json!({"total": 150}), decision: None });
    cases.push(Case { name: "choice-default", spec: choice, input: json!({"total": 5}), decision: None });
    for at in ["reserve", "charge", "audit", "ship", "notify"] {
        cases.push(Case {
            name: Box::leak(format!("fail-at-{at}").into_boxed_str()),
            spec: saga(),
            input: json!({"fail_at": at}),
            decision: None,
        });
    }
    // An approval that is decided waits up to 60 s for the decision (a loaded machine
    // can take seconds to show it pending); one left to time out waits 2 s.
    let approval = |timeout_s: u32| {
        format!(
            "name: approval\nnodes:\n  - id: prepare\n    {}\n    {}\n  - id: ok\n    type: approval\n    depends_on: [prepare]\n    prompt: 'Refund ${{input.amount}}?'\n    timeout_s: {timeout_s}\n    on_timeout: [escalate]\n  - id: pay\n    depends_on: [ok]\n    {}\n  - id: escalate\n    {}\n",
            step("prepare", ""),
            undo("prepare"),
            step("pay", ""),
            step("escalate", "")
        )
    };
    for (name, decision, timeout_s) in
        [("approval-approved", Some(true), 60), ("approval-rejected", Some(false), 60), ("approval-timed-out", None, 2)]
    {
        cases.push(Case { name, spec: approval(timeout_s), input: json!({"amount": 40}), decision });
    }
    cases
}

fn with_run(input: &Value, run: &str) -> Value {
    let mut v = input.clone();
    v["run"] = json!(run);
    if v.get("fail_at").is_none() {
        v["fail_at"] = json!("");
    }
    v
}

const TENANT: &str = "ten_diff";
const SEED: u64 = 424_242;

fn config() -> WorkerConfig {
    WorkerConfig {
        visibility: Duration::from_secs(10),
        heartbeat: Duration::from_secs(2),
        poll_wait: Duration::from_millis(200),
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_secs(2),
        ..WorkerConfig::default()
    }
}

fn answer() -> impl Fn(bool) -> Decision {
    |approved| Decision { approved, decided_by: "key_tester".into(), comment: Some("checked".into()) }
}

async fn run_embedded(case: &Case, wf: &Workflow, log: &Log) -> Outcome {
    let dir = tempfile::tempdir().expect("tmp");
    let e = Embedded::open(dir.path(), Durability::Full).await.expect("open");
    let skills = registry(log);
    let svc = WorkflowService::new(e.workflows.clone(), e.runs.clone(), e.idempotency.clone(), Arc::clone(&skills));
    let (stop, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let w = StepWorker::new(e.runs.clone(), e.queue.clone(), e.kv.clone(), Arc::clone(&skills), config())
            .with_workflows(svc.clone());
        tasks.push(tokio::spawn(w.run_loop(rx.clone())));
    }
    let tenant = TenantId::parse(TENANT).expect("tenant");
    svc.apply(&tenant, wf.spec().clone()).await.expect("apply");
    let run = format!("emb-{}", case.name);
    let req = StartExecution {
        input: with_run(&case.input, &run),
        version: None,
        base_seed: Some(SEED),
        budget_cents: None,
        notify_url: None,
    };
    let id = svc.start(&tenant, &wf.spec().name, req, None).await.expect("start").value.id;
    let deadline = Instant::now() + Duration::from_secs(60);
    let exec = loop {
        let exec = svc.execution(&tenant, &id).await.expect("execution");
        if exec.state.status.is_terminal() {
            break exec;
        }
        if let Some(approved) = case.decision {
            let pending = svc
                .approvals(&tenant, Some(ApprovalStatus::Pending), None, PageLimit::new(Some(50)).expect("limit"))
                .await
                .expect("approvals")
                .items;
            if let Some(a) = pending.iter().find(|a| a.execution.as_ref() == Some(&id)) {
                svc.decide(&tenant, &a.id, answer()(approved), 5, "admin").await.expect("decide");
            }
        }
        assert!(Instant::now() < deadline, "{}: embedded execution did not finish: {:?}", case.name, exec.state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let succeeded = exec.state.status.as_str() == "succeeded";
    let nodes = if succeeded {
        exec.state
            .nodes
            .iter()
            .map(|(k, n)| {
                let status = serde_json::to_value(n.status).expect("status").as_str().unwrap_or("").to_owned();
                (k.clone(), (status, n.output.clone()))
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    let (calls, compensations) = calls_of(log, &run);
    Outcome { status: exec.state.status.as_str().to_owned(), nodes, output: exec.state.output, calls, compensations }
}

struct Aws {
    blobs: Arc<aos_aws::S3Blobs>,
    runs: Arc<DynamoRunStore>,
    queue: Arc<SqsQueue>,
    kv: Arc<DynamoKv>,
    workflows: Arc<DynamoWorkflows>,
    sfn: Arc<StepFunctions>,
    queue_url: String,
}

async fn aws_backend(endpoint: &str) -> Aws {
    aos_tests::backends::enable_step_functions(endpoint).await;
    let conf = aos_aws::sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let name = format!("aos-diff-{}", uuid::Uuid::new_v4().simple());
    create_table(&ddb, &name).await.expect("table");
    let urls = create_queue(&sqs, &name, 5, 30).await.expect("queue");
    let blobs = Arc::new(aos_aws::S3Blobs::new(aos_aws::S3Blobs::client(&conf), &name));
    blobs.create_bucket().await.expect("bucket");
    Aws {
        runs: Arc::new(
            DynamoRunStore::new(ddb.clone(), &name, SqsQueue::new(sqs.clone(), &urls.queue)).with_blobs(blobs.clone()),
        ),
        blobs,
        queue: Arc::new(SqsQueue::new(sqs, &urls.queue)),
        kv: Arc::new(DynamoKv::new(ddb.clone(), &name)),
        workflows: Arc::new(DynamoWorkflows::new(ddb, &name)),
        sfn: Arc::new(StepFunctions::new(aws_sdk_sfn::Client::new(&conf))),
        queue_url: urls.queue,
    }
}

async fn run_aws(case: &Case, wf: &Workflow, log: &Log, aws: &Aws) -> Outcome {
    let skills = registry(log);
    let sfn_tasks = SfnTasks::new(aws.runs.clone(), aws.queue.clone(), aws.sfn.clone(), aws.workflows.clone())
        .with_blobs(aws.blobs.clone());
    let (stop, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let runs: Arc<dyn RunStore> = aws.runs.clone();
        let queue: Arc<dyn Queue> = aws.queue.clone();
        let kv: Arc<dyn KvStore> = aws.kv.clone();
        let w = StepWorker::new(runs, queue, kv, Arc::clone(&skills), config()).with_sfn_tasks(sfn_tasks.clone());
        tasks.push(tokio::spawn(w.run_loop(rx.clone())));
    }
    let definition = compile(wf, &AslOptions { queue_url: aws.queue_url.clone() }).expect("compiles");
    let machine = format!("aos-{}-{}", case.name, &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let arn = aws
        .sfn
        .create_state_machine(&machine, &definition, "arn:aws:iam::123456789012:role/aos-workflows")
        .await
        .expect("state machine");
    let tenant = TenantId::parse(TENANT).expect("tenant");
    let id = ExecutionId::from_suffix(&uuid::Uuid::now_v7().simple().to_string()).expect("id");
    let run = format!("aws-{}", case.name);
    let input = with_run(&case.input, &run);
    let aos = json!({"tenant": TENANT, "execution": id, "workflow": wf.spec().name, "base_seed": SEED});
    let exec_arn = aws.sfn.start_execution(&arn, id.as_str(), &start_document(&input, &aos)).await.expect("start");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        let st = aws.sfn.describe_execution(&exec_arn).await.expect("describe");
        if st.status != "RUNNING" {
            break st;
        }
        if let Some(approved) = case.decision {
            let pending =
                aws.workflows.approvals(&tenant, Some(ApprovalStatus::Pending), None, 50).await.expect("approvals");
            if let Some(a) = pending.iter().find(|a| a.execution.as_ref() == Some(&id)) {
                decide(aws.workflows.as_ref(), aws.sfn.as_ref(), &tenant, &a.id, answer()(approved), 5, "admin")
                    .await
                    .expect("decide");
            }
        }
        assert!(Instant::now() < deadline, "{}: Step Functions execution did not finish", case.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let status_name = match status.status.as_str() {
        "SUCCEEDED" => "succeeded",
        "FAILED" => "failed",
        other => panic!("{}: unexpected Step Functions status {other} ({:?})", case.name, status.error),
    };
    let mut nodes = BTreeMap::new();
    let mut output = None;
    // Large outputs travelled as references: read them back, as the API does.
    let mut status = status;
    if let Some(doc) = status.output.as_mut() {
        aos_runtime::state_refs::hydrate(Some(aws.blobs.as_ref()), &tenant, doc).await.expect("references resolve");
    }
    if let Some(doc) = status.output.as_ref().filter(|_| status_name == "succeeded") {
        let mut outputs = BTreeMap::new();
        for (k, v) in doc["steps"].as_object().expect("steps") {
            let st = v["status"].as_str().unwrap_or("").to_owned();
            let out = v.get("output").cloned();
            if st == "completed" {
                outputs.insert(k.clone(), out.clone().unwrap_or(Value::Null));
            }
            nodes.insert(k.clone(), (st, out));
        }
        output = final_output(wf, &input, &outputs).ok();
    }
    let (calls, compensations) = calls_of(log, &run);
    Outcome { status: status_name.to_owned(), nodes, output, calls, compensations }
}

/// Runs are tagged `emb-<case>` and `aws-<case>`; outputs echo the run tag only through
/// `run`, which no node outputs, so outputs compare as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn every_catalogued_workflow_ends_the_same_on_the_embedded_executor_and_on_step_functions() {
    let log: Log = Arc::default();
    let cases = catalogue();
    assert!(cases.len() >= 12, "the catalogue covers at least 12 workflows");
    let aws = aws_backend(&aos_tests::backends::emulator_endpoint()).await;
    let catalog_skills = registry(&log);
    let mut seen = BTreeMap::new();
    for case in &cases {
        let spec = parse(&case.spec, Format::Yaml).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let wf = Workflow::new(spec, catalog_skills.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let started = Instant::now();
        let embedded = run_embedded(case, &wf, &log).await;
        let on_aws = run_aws(case, &wf, &log, &aws).await;
        assert_eq!(embedded, on_aws, "{}: the backends disagree", case.name);
        eprintln!("{}: {} on both backends ({} ms)", case.name, embedded.status, started.elapsed().as_millis());
        seen.insert(case.name, embedded);
    }
    // The catalogue exercises what it claims to.
    let status = |n: &str| seen[n].status.clone();
    let node = |n: &str, id: &str| seen[n].nodes.get(id).map(|(s, _)| s.clone()).unwrap_or_default();
    for ok in ["linear", "diamond", "fan-out-fan-in", "map", "retry-then-succeed", "wait", "choice-big"] {
        assert_eq!(status(ok), "succeeded", "{ok}: {:?}", seen[ok]);
    }
    assert_eq!(seen["linear"].output, Some(json!({"last": {"tag": "b", "value": "b-7"}})));
    assert_eq!(seen["retry-then-succeed"].calls, ["flaky", "flaky"]);
    assert_eq!(seen["map"].nodes["each"].1.as_ref().and_then(|o| o[4]["value"].as_str()), Some("e"));
    assert_eq!((node("choice-big", "review"), node("choice-big", "auto")), ("completed".into(), "skipped".into()));
    assert_eq!(
        (node("choice-default", "review"), node("choice-default", "auto")),
        ("skipped".into(), "completed".into())
    );
    assert_eq!(seen["fail-at-ship"].compensations, ["undo:audit", "undo:charge", "undo:reserve"]);
    assert_eq!(seen["fail-at-notify"].compensations, ["undo:ship", "undo:audit", "undo:charge", "undo:reserve"]);
    assert_eq!(seen["fail-at-reserve"].compensations, ["undo:audit"]);
    assert_eq!(seen["fail-at-reserve"].calls, ["audit", "reserve"], "dependents of a failure never run");
    assert_eq!(seen["map-element-fails"].compensations, ["undo:prep"]);
    assert_eq!(seen["map-element-fails"].calls, ["each-a", "each-b", "each-c", "prep"]);
    assert_eq!(status("approval-approved"), "succeeded");
    assert_eq!(status("approval-rejected"), "failed");
    assert_eq!(seen["approval-rejected"].compensations, ["undo:prepare"]);
    assert_eq!(
        (node("approval-timed-out", "pay"), node("approval-timed-out", "escalate")),
        ("skipped".into(), "completed".into())
    );
}

/// Node outputs adding up to 1 MiB: four nodes of 256 KiB and one that reads them all,
/// the same on both backends (on Step Functions the large outputs travel as references).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn node_outputs_adding_up_to_1_mib_end_the_same_on_both_backends() {
    let log: Log = Arc::default();
    let mut spec = String::from("name: wide\nnodes:\n");
    for n in ["a", "b", "c", "d"] {
        spec += &format!("  - id: {n}\n    {}\n", step(n, ", pad: 262144"));
    }
    spec += "  - id: all\n    depends_on: [a, b, c, d]\n    skill: test_step\n    input: {run: '${input.run}', tag: all, value: ['${steps.a.output.value}', '${steps.b.output.value}', '${steps.c.output.value}', '${steps.d.output.value}']}\n";
    spec += "output: {all: '${steps.all.output.value}', tag: '${steps.a.output.tag}'}\n";
    let case = Case { name: "wide", spec, input: json!({}), decision: None };
    let skills = registry(&log);
    let wf = Workflow::new(parse(&case.spec, Format::Yaml).expect("spec"), skills.as_ref()).expect("valid");
    let aws = aws_backend(&aos_tests::backends::emulator_endpoint()).await;
    let embedded = run_embedded(&case, &wf, &log).await;
    assert_eq!(embedded.status, "succeeded");
    let all = embedded.output.as_ref().and_then(|o| o["all"].as_array()).expect("the joined outputs");
    assert_eq!(all.iter().map(|v| v.as_str().map_or(0, str::len)).collect::<Vec<_>>(), [262_144; 4]);
    let on_aws = run_aws(&case, &wf, &log, &aws).await;
    assert!(embedded == on_aws, "the backends disagree: embedded {} / aws {}", embedded.status, on_aws.status);
}
