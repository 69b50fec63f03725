//! The policy gate in the step pipeline, on the embedded backend and on DynamoDB + SQS +
//! Step Functions (the emulator): every kind of step — a plan step, a planner-decided
//! step, a step of an agent's child run, a workflow node (on the embedded executor and on
//! Step Functions) — is judged by its tenant's policies before it runs. A denied step
//! never runs and fails with `ERR_POLICY_VIOLATION` naming the policy; an allowed one runs;
//! both record the decision and the policy version in their checkpoint, covered by the
//! chain hash. A tenant without policies is not judged (its chain hashes as before), and
//! one tenant's policies never judge another's steps. A step that needs an approval parks
//! without holding a worker until a decider at the level asked approves (it runs) or
//! rejects (it fails), or the request escalates and expires at its timeouts.

use aos_core::checkpoint::{verify_chain, GateDecision};
use aos_core::{Checkpoint, ErrorCode, RunStatus, StructuredOutcome, TenantId};
use aos_runtime::policies::{ApplyPolicies, PolicyService, StepKind};
use aos_runtime::ports::{ApprovalRecord, ApprovalStatus, RunRecord};
use aos_runtime::runs::{RunService, SubmitRun};
use aos_runtime::skills::{IdempotencyClass, Skill, SkillContext, SkillDescriptor};
use aos_runtime::worker::{StepWorker, WorkerConfig};
use aos_runtime::workflows::FlowError;
use aos_runtime::workflows::{StartExecution, WorkflowService};
use aos_runtime::SkillRegistry;
use aos_tests::backends::Ports;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records the tag of every call: what ran.
struct Touch(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Skill for Touch {
    fn descriptor(&self) -> SkillDescriptor {
        SkillDescriptor {
            name: "touch".into(),
            version: "1.0.0".into(),
            description: "records its tag".into(),
            input_schema: json!({"type": "object", "required": ["tag"]}),
            output_schema: json!({"type": "object"}),
            idempotency: IdempotencyClass::Idempotent,
            timeout_ms: 5_000,
        }
    }

    async fn execute(&self, _ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let tag = input["tag"].as_str().unwrap_or_default().to_owned();
        self.0.lock().expect("log").push(tag.clone());
        StructuredOutcome::success(json!({"tag": tag}))
    }
}

/// One policy per step kind, refusing `touch` of the tag `deny-<kind>` only in steps of
/// that kind (so the kind the gate names is checked too), and one asking for approval.
fn policies() -> String {
    let mut text = String::new();
    for kind in StepKind::ALL {
        let k = kind.as_str();
        text.push_str(&format!(
            "@id(\"deny-{k}\") @category(\"SAFETY\") @reason(\"no deny-{k} in a {k}\")\n\
             forbid (principal, action, resource == AOS::Skill::\"touch\")\n\
             when {{ context.kind == \"{k}\" && context.input_text like \"*deny-{k}*\" }};\n"
        ));
    }
    text.push_str(
        "@id(\"not-in-gated\") @category(\"SAFETY\")\n\
         forbid (principal, action, resource) when { principal.workflow == \"gated\" && context.input_text like \"*wf-named*\" };\n",
    );
    text.push_str(
        "@id(\"ask-first\") @category(\"OPERATIONAL\") @approval(\"3\")\n\
         forbid (principal, action, resource) when { context.input_text like \"*ask-first*\" };\n",
    );
    text
}

fn tenant() -> TenantId {
    TenantId::parse("ten_gate").expect("tenant")
}

struct Gate {
    ports: Ports,
    runs: RunService,
    workflows: WorkflowService,
    policies: PolicyService,
    worker: StepWorker,
    log: Arc<Mutex<Vec<String>>>,
}

async fn gate_on(ports: Ports, step_functions: Option<&str>) -> Gate {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(Touch(Arc::clone(&log)))).expect("touch");
    aos_runtime::agent::declare(&mut reg).expect("agent steps");
    let skills = Arc::new(reg);
    let runs = RunService::new(Arc::clone(&ports.runs), Arc::clone(&ports.idempotency), Arc::clone(&skills));
    // Read on every step: each change of the test is seen by the next step.
    let policies = PolicyService::new(Arc::clone(&ports.policies)).with_cache_ttl(Duration::ZERO);
    let config = WorkerConfig {
        visibility: Duration::from_secs(5),
        poll_wait: Duration::from_millis(50),
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(100),
        ..WorkerConfig::default()
    };
    let worker = StepWorker::new(
        Arc::clone(&ports.runs),
        Arc::clone(&ports.queue),
        Arc::clone(&ports.kv),
        Arc::clone(&skills),
        config,
    )
    .with_policies(policies.clone())
    .with_approvals(Arc::clone(&ports.workflows));
    let (workflows, worker) = match step_functions {
        Some(endpoint) => {
            let on = aos_tests::backends::step_functions_at(&ports, endpoint, "gate", Arc::clone(&skills), false).await;
            let tasks = on.tasks(&ports);
            (on.service, worker.with_sfn_tasks(tasks))
        }
        None => {
            let w = WorkflowService::new(
                Arc::clone(&ports.workflows),
                Arc::clone(&ports.runs),
                Arc::clone(&ports.idempotency),
                skills,
            );
            (w.clone(), worker.with_workflows(w))
        }
    };
    Gate { ports, runs, workflows, policies, worker, log }
}

impl Gate {
    fn ran(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    async fn apply(&self, tenant: &TenantId, text: &str) -> u32 {
        let req =
            ApplyPolicies { text: text.to_owned(), default_deny: false, allow_deny_all: false, base_version: None };
        self.policies
            .apply(tenant, &req, &aos_core::audit::Actor::key("key_test", "admin"), 1)
            .await
            .expect("policies apply")
            .version
    }

    /// Runs `body` (a `POST /v1/runs` body) for `tenant` to its end.
    async fn run(&self, tenant: &TenantId, body: Value) -> (RunRecord, Vec<Checkpoint>) {
        let req: SubmitRun = serde_json::from_value(body).expect("a run request");
        let id = self.runs.submit(tenant, req, None).await.expect("submitted").run.id;
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(self.worker.clone().run_loop(rx));
        let deadline = Instant::now() + Duration::from_secs(60);
        let run = loop {
            let run = self.runs.get(tenant, &id).await.expect("run");
            if run.status.is_terminal() {
                break run;
            }
            assert!(Instant::now() < deadline, "the run did not end: {run:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let _ = stop.send(true);
        let _ = task.await;
        let (_, checkpoints, _) = self.runs.steps(tenant, &id).await.expect("steps");
        assert_eq!(verify_chain(&run.genesis_hash, &checkpoints), Ok(()), "the chain verifies, gates included");
        (run, checkpoints)
    }

    /// Applies and starts a one-node workflow touching `tag`; its ending.
    async fn workflow(&self, tag: &str) -> aos_core::workflow::ExecState {
        let yaml = format!("name: gated\nnodes:\n  - id: n\n    skill: touch\n    input: {{tag: {tag}}}\n");
        let spec = aos_core::workflow::parse(&yaml, aos_core::workflow::Format::Yaml).expect("spec");
        self.workflows.apply(&tenant(), spec).await.expect("applied");
        let req = StartExecution {
            input: json!({}),
            version: None,
            base_seed: Some(1),
            budget_cents: None,
            notify_url: None,
        };
        let id = self.workflows.start(&tenant(), "gated", req, None).await.expect("started").value.id;
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(self.worker.clone().run_loop(rx));
        let deadline = Instant::now() + Duration::from_secs(60);
        let state = loop {
            let e = self.workflows.execution(&tenant(), &id).await.expect("execution");
            if e.state.status.is_terminal() {
                break e.state;
            }
            assert!(Instant::now() < deadline, "the execution did not end: {:?}", e.state.status);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let _ = stop.send(true);
        let _ = task.await;
        state
    }
}

/// Policies asking for approvals: level 3 for a day; level 2 for a second, then level 4
/// for another; level 2 for a second, then expired.
const ASKING: &str = r#"
@id("ask-first") @category("OPERATIONAL") @approval("3") @reason("ask-first needs a level-3 approval")
forbid (principal, action, resource) when { context.input_text like "*ask-first*" };
@id("ask-quick") @category("OPERATIONAL") @approval("2") @timeout("1") @escalate("4")
forbid (principal, action, resource) when { context.input_text like "*ask-quick*" };
@id("ask-once") @category("OPERATIONAL") @approval("2") @timeout("1")
forbid (principal, action, resource) when { context.input_text like "*ask-once*" };
@id("held-by-kind") @category("OPERATIONAL") @approval("3")
forbid (principal, action, resource == AOS::Skill::"touch")
when { (context.kind == "planner_step" || context.kind == "child_run" || context.kind == "workflow_node") && context.input_text like "*held*" };
@id("level-1") @category("CUSTOM") @approval("1") forbid (principal, action, resource) when { context.input_text like "*lvl-1*" };
@id("level-2") @category("CUSTOM") @approval("2") forbid (principal, action, resource) when { context.input_text like "*lvl-2*" };
@id("level-3") @category("CUSTOM") @approval("3") forbid (principal, action, resource) when { context.input_text like "*lvl-3*" };
@id("level-4") @category("CUSTOM") @approval("4") forbid (principal, action, resource) when { context.input_text like "*lvl-4*" };
@id("level-5") @category("CUSTOM") @approval("5") forbid (principal, action, resource) when { context.input_text like "*lvl-5*" };
"#;

impl Gate {
    /// Submits `body` for the test tenant (a worker must be running to see it through).
    async fn submit(&self, body: Value) -> aos_core::RunId {
        let req: SubmitRun = serde_json::from_value(body).expect("a run request");
        self.runs.submit(&tenant(), req, None).await.expect("submitted").run.id
    }

    /// Waits for the run to end; its record and checkpoints.
    async fn ended(&self, id: &aos_core::RunId) -> (RunRecord, Vec<Checkpoint>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let run = self.runs.get(&tenant(), id).await.expect("run");
            if run.status.is_terminal() {
                let (_, checkpoints, _) = self.runs.steps(&tenant(), id).await.expect("steps");
                assert_eq!(verify_chain(&run.genesis_hash, &checkpoints), Ok(()), "the chain verifies");
                return (run, checkpoints);
            }
            assert!(Instant::now() < deadline, "the run did not end: {run:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The approval of `run`'s step as `GET /v1/approvals` lists it, once it is `status`.
    async fn approval_of(&self, run: &aos_core::RunId, status: ApprovalStatus) -> ApprovalRecord {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let limit = aos_core::page::PageLimit::new(Some(100)).expect("limit");
            let page = self.workflows.approvals(&tenant(), None, None, limit).await.expect("approvals");
            let found = page.items.into_iter().find(|a| a.step.as_ref().is_some_and(|s| &s.run_id == run));
            if let Some(a) = found.filter(|a| a.status == status) {
                return a;
            }
            assert!(Instant::now() < deadline, "no {status:?} approval for {run}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn decide(&self, a: &ApprovalRecord, approved: bool, level: u8) -> Result<ApprovalRecord, FlowError> {
        let decision = aos_core::workflow::Decision {
            approved,
            decided_by: format!("key_level{level}"),
            comment: Some(format!("{} at {level}", if approved { "yes" } else { "no" })),
        };
        self.workflows.decide(&tenant(), &a.id, decision, level, "admin").await
    }
}

async fn a_step_that_needs_an_approval_parks_until_one_is_decided(g: &Gate) {
    g.apply(&tenant(), ASKING).await;
    // One worker loop: a parked step must not hold it.
    let (stop, rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(g.worker.clone().run_loop(rx));

    // The step waits behind an approval at the level its policy asks; the step before it
    // ran, the step itself did not, and other runs go by meanwhile.
    let id = g.submit(plan(&["before-1", "ask-first-1", "after-1"])).await;
    let a = g.approval_of(&id, ApprovalStatus::Pending).await;
    let step = a.step.clone().expect("a step's approval");
    assert_eq!((a.required_level, step.step_index, step.skill.as_str()), (3, 1, "touch"), "{a:?}");
    assert_eq!(step.policies, vec!["ask-first".to_owned()]);
    assert!(a.prompt.contains("ask-first needs a level-3 approval"), "{}", a.prompt);
    assert_eq!(a.history.len(), 1, "{:?}", a.history);
    let meanwhile = g.submit(plan(&["meanwhile-1"])).await;
    assert_eq!(g.ended(&meanwhile).await.0.status, RunStatus::Succeeded, "the parked step holds no worker");
    assert_eq!(g.runs.get(&tenant(), &id).await.expect("run").status, RunStatus::Running);
    assert!(g.ran().contains(&"before-1".to_owned()) && !g.ran().contains(&"ask-first-1".to_owned()));

    // A decider below the level is refused and nothing changes; one at it approves, and
    // the step runs, its checkpoint naming the approval.
    let low = g.decide(&a, true, 2).await;
    assert!(matches!(low, Err(FlowError::Forbidden(_))), "{low:?}");
    assert_eq!(g.approval_of(&id, ApprovalStatus::Pending).await.history.len(), 1);
    let decided = g.decide(&a, true, 3).await.expect("approved");
    assert_eq!(decided.status, ApprovalStatus::Approved);
    let (run, cps) = g.ended(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let gate = cps[1].gate.clone().expect("a gate");
    assert_eq!((gate.decision, gate.approval), (GateDecision::Approved, Some(a.id.to_string())));
    assert_eq!(cps[1].attempts, 1, "parking used up no attempt");
    assert!(g.ran().contains(&"ask-first-1".to_owned()) && g.ran().contains(&"after-1".to_owned()));
    let shown = g.approval_of(&id, ApprovalStatus::Approved).await;
    let moves: Vec<_> = shown.history.iter().map(|t| (t.from, t.to, t.actor.clone(), t.level)).collect();
    assert_eq!(
        moves,
        vec![
            (None, ApprovalStatus::Pending, None, Some(3)),
            (Some(ApprovalStatus::Pending), ApprovalStatus::Approved, Some("key_level3".to_owned()), Some(3)),
        ]
    );
    // The same decision again is answered as the first; another is refused.
    assert_eq!(g.decide(&a, true, 3).await.expect("same").status, ApprovalStatus::Approved);
    let again = g.decide(&a, false, 5).await;
    assert!(matches!(again, Err(FlowError::Conflict(ErrorCode::ApprovalNotPending, _))), "{again:?}");

    // Rejected: the step fails and never runs.
    let id = g.submit(plan(&["ask-first-2"])).await;
    let a = g.approval_of(&id, ApprovalStatus::Pending).await;
    g.decide(&a, false, 5).await.expect("rejected");
    let (run, cps) = g.ended(&id).await;
    assert_eq!(code_of(&run), Some(ErrorCode::ApprovalRejected), "{run:?}");
    assert!(run.error.as_ref().is_some_and(|e| !e.retryable && e.message.contains("key_level5")), "{run:?}");
    assert_eq!(cps[0].gate.as_ref().map(|g| g.decision), Some(GateDecision::Rejected));
    assert!(!g.ran().contains(&"ask-first-2".to_owned()));

    // Undecided for its timeout: escalated to level 4, where a level-3 decider is refused.
    let id = g.submit(plan(&["ask-quick-1"])).await;
    let a = g.approval_of(&id, ApprovalStatus::Pending).await;
    assert_eq!(a.required_level, 2);
    let a = g.approval_of(&id, ApprovalStatus::Escalated).await;
    assert_eq!(a.required_level, 4, "{a:?}");
    let low = g.decide(&a, true, 3).await;
    assert!(matches!(low, Err(FlowError::Forbidden(_))), "{low:?}");
    g.decide(&a, true, 4).await.expect("approved at the escalated level");
    let (run, _) = g.ended(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let shown = g.approval_of(&id, ApprovalStatus::Approved).await;
    let path: Vec<ApprovalStatus> = shown.history.iter().map(|t| t.to).collect();
    assert_eq!(path, [ApprovalStatus::Pending, ApprovalStatus::Escalated, ApprovalStatus::Approved]);

    // Undecided with nowhere to escalate: expired, and the step fails.
    let id = g.submit(plan(&["ask-once-1"])).await;
    let (run, cps) = g.ended(&id).await;
    assert_eq!(code_of(&run), Some(ErrorCode::ApprovalTimedOut), "{run:?}");
    assert_eq!(cps[0].gate.as_ref().map(|g| g.decision), Some(GateDecision::Expired));
    let a = g.approval_of(&id, ApprovalStatus::Expired).await;
    let late = g.decide(&a, true, 5).await;
    assert!(matches!(late, Err(FlowError::Conflict(ErrorCode::ApprovalNotPending, _))), "{late:?}");
    assert!(!g.ran().contains(&"ask-once-1".to_owned()));

    // Levels 1-5 against deciders of every level: only a decider at the level asked or
    // above decides, and nothing changes otherwise.
    for required in 1..=5u8 {
        let id = g.submit(plan(&[&format!("lvl-{required}")])).await;
        let a = g.approval_of(&id, ApprovalStatus::Pending).await;
        assert_eq!(a.required_level, required);
        for level in 1..required {
            let low = g.decide(&a, true, level).await;
            assert!(matches!(low, Err(FlowError::Forbidden(_))), "level {level} decided a level-{required} approval");
        }
        assert_eq!(g.approval_of(&id, ApprovalStatus::Pending).await.history.len(), 1, "nothing changed");
        g.decide(&a, true, required).await.expect("decided at its level");
        assert_eq!(g.ended(&id).await.0.status, RunStatus::Succeeded);
    }

    // A step a planner decided and a step of an agent's child run wait the same way.
    let goal = json!({"goal": "touch", "agent": {"planner": {"type": "static", "steps": [
        {"id": "t", "skill": "touch", "input": {"tag": "held-planner"}}]}}});
    let id = g.submit(goal).await;
    let a = g.approval_of(&id, ApprovalStatus::Pending).await;
    assert_eq!(a.step.as_ref().map(|s| s.step_index), Some(1), "the planner's own step is not held: {a:?}");
    assert!(!g.ran().contains(&"held-planner".to_owned()));
    g.decide(&a, true, 3).await.expect("approved");
    assert_eq!(g.ended(&id).await.0.status, RunStatus::Succeeded);
    assert!(g.ran().contains(&"held-planner".to_owned()));
    let child = json!({"plan": [{"skill": "touch", "input": {"tag": "held-child"}}]});
    let id = g.submit(json!({"plan": [{"id": "ask", "skill": "agent_invoke", "input": child}]})).await;
    let a = loop {
        let limit = aos_core::page::PageLimit::new(Some(100)).expect("limit");
        let page = g.workflows.approvals(&tenant(), Some(ApprovalStatus::Pending), None, limit).await.expect("list");
        if let Some(a) = page.items.into_iter().find(|a| a.step.as_ref().is_some_and(|s| s.run_id != id)) {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    g.decide(&a, true, 3).await.expect("approved");
    assert_eq!(g.ended(&id).await.0.status, RunStatus::Succeeded, "the caller goes on once its child's step ran");
    assert!(g.ran().contains(&"held-child".to_owned()));

    // A workflow node (on the embedded executor, or a Step Functions task).
    let yaml = "name: held\nnodes:\n  - id: n\n    skill: touch\n    input: {tag: held-node}\n";
    let spec = aos_core::workflow::parse(yaml, aos_core::workflow::Format::Yaml).expect("spec");
    g.workflows.apply(&tenant(), spec).await.expect("applied");
    let req =
        StartExecution { input: json!({}), version: None, base_seed: Some(1), budget_cents: None, notify_url: None };
    let execution = g.workflows.start(&tenant(), "held", req, None).await.expect("started").value.id;
    let a = loop {
        let limit = aos_core::page::PageLimit::new(Some(100)).expect("limit");
        let page = g.workflows.approvals(&tenant(), Some(ApprovalStatus::Pending), None, limit).await.expect("list");
        if let Some(a) = page.items.into_iter().find(|a| a.step.is_some() && a.execution.as_ref() == Some(&execution)) {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!g.ran().contains(&"held-node".to_owned()));
    g.decide(&a, true, 3).await.expect("approved");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let e = g.workflows.execution(&tenant(), &execution).await.expect("execution");
        if e.state.status.is_terminal() {
            assert_eq!(e.state.status.as_str(), "succeeded", "{:?}", e.state);
            break;
        }
        assert!(Instant::now() < deadline, "the execution did not end: {:?}", e.state.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(g.ran().contains(&"held-node".to_owned()));

    // The run is cancelled while it waits: a decision is refused and the request closes.
    let id = g.submit(plan(&["ask-first-3"])).await;
    let a = g.approval_of(&id, ApprovalStatus::Pending).await;
    g.runs.cancel(&tenant(), &id, &aos_core::audit::Actor::key("key_test", "admin")).await.expect("cancelled");
    let late = g.decide(&a, true, 5).await;
    assert!(matches!(late, Err(FlowError::Conflict(ErrorCode::ApprovalNotPending, _))), "{late:?}");
    g.approval_of(&id, ApprovalStatus::Cancelled).await;
    assert!(!g.ran().contains(&"ask-first-3".to_owned()));

    let _ = stop.send(true);
    let _ = worker.await;
    g.apply(&tenant(), "").await;
}

fn code_of(run: &RunRecord) -> Option<ErrorCode> {
    run.error.as_ref().map(|e| e.code)
}

fn plan(tags: &[&str]) -> Value {
    json!({"plan": tags.iter().map(|t| json!({"skill": "touch", "input": {"tag": t}})).collect::<Vec<_>>()})
}

async fn every_kind_of_step_is_judged_by_the_tenants_policies(g: &Gate) {
    // No policies yet: nothing is judged and the chain is as it always was.
    let (run, cps) = g.run(&tenant(), plan(&["free"])).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!(cps.iter().all(|c| c.gate.is_none()), "no gate without policies: {cps:?}");
    let version = g.apply(&tenant(), &policies()).await;
    assert_eq!(version, 1);

    // Plan steps: allowed ones run and record the allow; the denied one never runs and
    // fails the run naming its policy; nothing after it runs.
    let (run, cps) = g.run(&tenant(), plan(&["a", "deny-plan_step", "c"])).await;
    assert_eq!((run.status, code_of(&run)), (RunStatus::Failed, Some(ErrorCode::PolicyViolation)), "{run:?}");
    let error = run.error.as_ref().expect("error");
    assert!(error.message.contains("deny-plan_step"), "names the policy: {}", error.message);
    assert!(!error.retryable, "a policy's refusal is not retried");
    assert_eq!(cps.len(), 2);
    let gate0 = cps[0].gate.as_ref().expect("a gate");
    assert_eq!((gate0.decision, gate0.policy_version), (GateDecision::Allow, 1));
    let gate1 = cps[1].gate.as_ref().expect("a gate");
    assert_eq!((gate1.decision, gate1.policies.clone()), (GateDecision::Deny, vec!["deny-plan_step".to_owned()]));
    assert_eq!(cps[1].attempts, 1, "refused once, not retried");
    assert!(!g.ran().contains(&"deny-plan_step".to_owned()) && !g.ran().contains(&"c".to_owned()), "{:?}", g.ran());

    // The policy names its kind: the same tag is allowed in a plan step.
    let (run, _) = g.run(&tenant(), plan(&["deny-child_run", "deny-planner_step", "deny-workflow_node"])).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");

    // A step of an agent's child run: refused there, and the failure reaches the caller.
    let child = json!({"plan": [{"skill": "touch", "input": {"tag": "deny-child_run-2"}}]});
    let body = json!({"plan": [{"id": "ask", "skill": "agent_invoke", "input": child}]});
    let (run, _) = g.run(&tenant(), body).await;
    assert_eq!(code_of(&run), Some(ErrorCode::AgentChildFailed), "{run:?}");
    let shown = serde_json::to_string(&run.error).expect("json");
    assert!(shown.contains("ERR_POLICY_VIOLATION") && shown.contains("deny-child_run"), "{shown}");
    assert!(!g.ran().contains(&"deny-child_run-2".to_owned()));

    // A step a planner decided (a static planner: the decisions are in the request).
    let goal = json!({"goal": "touch", "agent": {"planner": {"type": "static", "steps": [
        {"id": "t", "skill": "touch", "input": {"tag": "deny-planner_step-2"}}]}}});
    let (run, cps) = g.run(&tenant(), goal).await;
    assert_eq!(code_of(&run), Some(ErrorCode::PolicyViolation), "{run:?}");
    assert!(cps.iter().any(|c| c.gate.as_ref().is_some_and(|g| g.decision == GateDecision::Deny)));
    assert!(!g.ran().contains(&"deny-planner_step-2".to_owned()));

    // Another tenant's steps are judged by its own (absent) policies.
    let other = TenantId::parse("ten_gate_other").expect("tenant");
    let (run, cps) = g.run(&other, plan(&["deny-plan_step"])).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert!(cps[0].gate.is_none());

    // A workflow node (on the embedded executor, or a Step Functions task).
    let allowed = g.workflow("deny-plan_step-in-a-node").await;
    assert_eq!(allowed.status.as_str(), "succeeded", "{allowed:?}");
    let refused = g.workflow("deny-workflow_node-2").await;
    assert_eq!(refused.status.as_str(), "failed", "{refused:?}");
    let node = &refused.nodes["n"];
    assert_eq!(node.error.as_ref().map(|e| e.code), Some(ErrorCode::PolicyViolation), "{node:?}");
    assert!(!g.ran().contains(&"deny-workflow_node-2".to_owned()));
    // Policies see the node's workflow by name.
    let named = g.workflow("wf-named").await;
    let node = &named.nodes["n"];
    assert!(node.error.as_ref().is_some_and(|e| e.message.contains("not-in-gated")), "{node:?}");
    let (run, _) = g.run(&tenant(), plan(&["wf-named-outside"])).await;
    assert_eq!(run.status, RunStatus::Succeeded, "outside the workflow the tag runs: {run:?}");

    // A new version judges the next step: without the plan-step policy, the tag runs.
    let version = g.apply(&tenant(), "").await;
    let (run, cps) = g.run(&tenant(), plan(&["deny-plan_step"])).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(cps[0].gate.as_ref().map(|g| (g.decision, g.policy_version)), Some((GateDecision::Allow, version)));
}

#[tokio::test]
async fn every_kind_of_step_is_judged_before_it_runs_on_the_embedded_backend() {
    let g = gate_on(aos_tests::backends::embedded(5).await, None).await;
    every_kind_of_step_is_judged_by_the_tenants_policies(&g).await;
    assert!(g.ports.dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_step_that_needs_an_approval_waits_for_it_on_the_embedded_backend() {
    let g = gate_on(aos_tests::backends::embedded(5).await, None).await;
    a_step_that_needs_an_approval_parks_until_one_is_decided(&g).await;
    assert!(g.ports.dead_letters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn a_step_that_needs_an_approval_waits_for_it_on_aws() {
    let endpoint = aos_tests::backends::emulator_endpoint();
    aos_tests::backends::enable_step_functions(&endpoint).await;
    let g = gate_on(aos_tests::backends::aws(5).await, Some(&endpoint)).await;
    a_step_that_needs_an_approval_parks_until_one_is_decided(&g).await;
    assert!(g.ports.dead_letters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn every_kind_of_step_is_judged_before_it_runs_on_aws() {
    let endpoint = aos_tests::backends::emulator_endpoint();
    aos_tests::backends::enable_step_functions(&endpoint).await;
    let g = gate_on(aos_tests::backends::aws(5).await, Some(&endpoint)).await;
    every_kind_of_step_is_judged_by_the_tenants_policies(&g).await;
    assert!(g.ports.dead_letters().await.is_empty());
}
