//! The agent steps the step worker runs itself, because they need the run store:
//! `agent_plan` (a planner decides the next steps of a goal-driven run), `agent_invoke`
//! (one child run, its result returned to the step) and `agent_spawn` (several child
//! runs, all their results returned to the step).
//!
//! A step waiting for children does not hold a worker: it creates them (ids derived from
//! the step, so a repeat finds them instead of starting more), then is parked. Each
//! child's final commit enqueues the waiting step's message again; a deadline message
//! ends the wait when `timeout_s` passes (unfinished children are cancelled).

mod history;
pub mod planner;

pub use history::History;

use crate::clock::now_ms;
use crate::ports::{RunRecord, RunStore, StepMessage, StoreError};
use crate::runs::{prepare, RunError, SubmitRun};
use crate::skills::{IdempotencyClass, SkillContext, SkillDescriptor, SkillRegistry};
use aos_core::agent::{AgentSpec, CallerLink, Decision, PlannerSpec, INVOKE_SKILL, PLAN_SKILL, SPAWN_SKILL};
use aos_core::credits::Millicredits;
use aos_core::determinism::{content_hash, step_seed};
use aos_core::{Checkpoint, ErrorCode, Plan, PlanStep, RunId, RunStatus, StructuredOutcome};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The provider and model of LLM planners that name none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannerDefaults {
    /// Provider name.
    pub provider: String,
    /// Model id.
    pub model: String,
}

impl PlannerDefaults {
    /// `AOS_PLANNER_PROVIDER` (default `anthropic`) and `AOS_PLANNER_MODEL` (default
    /// `claude-sonnet-4-5`).
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned())
        };
        Self {
            provider: var("AOS_PLANNER_PROVIDER", "anthropic"),
            model: var("AOS_PLANNER_MODEL", "claude-sonnet-4-5"),
        }
    }

    /// Fills in what an LLM planner spec leaves out, so the run records exactly which
    /// model decides.
    pub fn fill(&self, spec: &mut PlannerSpec) {
        if let PlannerSpec::Llm { provider, model, .. } = spec {
            provider.get_or_insert_with(|| self.provider.clone());
            model.get_or_insert_with(|| self.model.clone());
        }
    }
}

/// How far agents may fan out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLimits {
    /// Deepest child (a top-level run's children are at depth 1); default 3.
    pub max_depth: u32,
    /// Most children one step starts; default 10.
    pub max_fan_out: u32,
    /// Most children one run starts over all its steps; default 50.
    pub max_children_per_run: u32,
}

impl Default for AgentLimits {
    fn default() -> Self {
        Self { max_depth: 3, max_fan_out: 10, max_children_per_run: 50 }
    }
}

/// Longest wait for children, in seconds (an SQS delay's ceiling, so one deadline
/// message covers it).
pub const MAX_WAIT_S: u64 = 900;
const DEFAULT_WAIT_S: u64 = 300;

/// What an agent step came to.
#[derive(Debug)]
pub enum AgentStep {
    /// The step ended with this outcome.
    Done(StructuredOutcome),
    /// Children are running: park the step; look again after `recheck` at the latest.
    Waiting(Duration),
}

impl From<StructuredOutcome> for AgentStep {
    fn from(o: StructuredOutcome) -> Self {
        Self::Done(o)
    }
}

/// Runs agent steps for a worker.
pub struct AgentSteps<'a> {
    /// Runs and checkpoints.
    pub store: &'a Arc<dyn RunStore>,
    /// The worker's memory of agent runs' checkpoints.
    pub history: &'a History,
    /// The worker's skills.
    pub skills: &'a Arc<SkillRegistry>,
    /// Fan-out limits.
    pub limits: &'a AgentLimits,
    /// Planner defaults for child goals.
    pub defaults: &'a PlannerDefaults,
    /// The tenants' policies: a planner is offered only skills they could allow.
    pub policies: Option<&'a crate::policies::PolicyService>,
    /// What the step's children may spend together, millicredits: what is left of the
    /// run's budget after the step's own price (`None`: the run has no budget).
    pub envelope: Option<u64>,
}

fn internal(e: &StoreError) -> StructuredOutcome {
    StructuredOutcome::failure(ErrorCode::Internal, format!("run store: {e}"))
}

impl AgentSteps<'_> {
    /// Runs the agent step `skill` of `run` at `index` with its resolved `input`.
    pub async fn run(&self, skill: &str, run: &RunRecord, index: u32, ctx: &SkillContext, input: Value) -> AgentStep {
        let started = std::time::Instant::now();
        let step = match skill {
            PLAN_SKILL => self.plan(run, index, ctx, input).await.into(),
            INVOKE_SKILL | SPAWN_SKILL => self.children(skill, run, index, ctx, input).await,
            other => {
                StructuredOutcome::failure(ErrorCode::SkillNotFound, format!("{other} is not an agent step")).into()
            }
        };
        match step {
            AgentStep::Done(mut o) => {
                o.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                AgentStep::Done(o)
            }
            waiting => waiting,
        }
    }

    async fn plan(&self, run: &RunRecord, index: u32, ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let spec: AgentSpec = match serde_json::from_value(input) {
            Ok(s) => s,
            Err(e) => return StructuredOutcome::failure(ErrorCode::ValidationFailed, format!("agent settings: {e}")),
        };
        let history = match self.history.read(self.store.as_ref(), &run.tenant, &run.id).await {
            Ok(h) => h,
            Err(e) => return internal(&e),
        };
        let upto = usize::try_from(index).unwrap_or(usize::MAX);
        let round = count_planner_steps(&run.plan.steps()[..=upto.min(run.plan.steps().len() - 1)]);
        let ask = planner::PlanAsk { spec: &spec, run, history: &history, round, ctx };
        let refused = match self.policies {
            None => std::collections::BTreeSet::new(),
            Some(policies) => match policies.compiled(&run.tenant).await {
                Ok(current) => self
                    .skills
                    .each_descriptor()
                    .filter(|d| current.policies.never_allows(&d.name))
                    .map(|d| d.name.clone())
                    .collect(),
                Err(e) => return internal(&e),
            },
        };
        let planner = planner::planner_for(&spec.planner, self.skills, self.store, refused);
        let planned = match planner.plan(&ask).await {
            Ok(p) => p,
            Err(failure) => return failure,
        };
        let mut planned = planned;
        // Whatever the planner, the steps it decides must fit the agent and the plan, and
        // its answer's references must name what the run did.
        if let Decision::Finish { output } = &mut planned.decision {
            match ask.resolve_finish(output) {
                Ok(resolved) => *output = resolved,
                Err(e) => {
                    return StructuredOutcome::failure(ErrorCode::UnresolvedReference, e).with_cost(planned.cost_cents)
                }
            }
        }
        if let Decision::Continue { steps } = &planned.decision {
            let left = ask.steps_left();
            if steps.len() > usize::try_from(left).unwrap_or(usize::MAX) {
                return StructuredOutcome::failure(
                    ErrorCode::AgentStepLimit,
                    format!(
                        "the {} planner decided {} more steps; the agent has {left} of its {} left",
                        planner.name(),
                        steps.len(),
                        spec.max_steps
                    ),
                )
                .with_cost(planned.cost_cents);
            }
            if let Err(aos_core::PlanError(e)) =
                run.plan.check_extension(with_planner(&run.plan, &spec, steps.clone()), "decision")
            {
                return StructuredOutcome::failure(ErrorCode::InvalidPlan, e).with_cost(planned.cost_cents);
            }
        }
        planned.into_outcome(planner.name())
    }

    async fn children(&self, skill: &str, run: &RunRecord, index: u32, ctx: &SkillContext, input: Value) -> AgentStep {
        let (tasks, wait) = match child_tasks(skill, input) {
            Ok(t) => t,
            Err(m) => return StructuredOutcome::failure(ErrorCode::ValidationFailed, m).into(),
        };
        let depth = run.caller.as_ref().map_or(0, |c| c.depth) + 1;
        if depth > self.limits.max_depth {
            return StructuredOutcome::failure(
                ErrorCode::AgentDepthExceeded,
                format!(
                    "{skill} in run {} would start runs at depth {depth}; this deployment allows {} levels",
                    run.id, self.limits.max_depth
                ),
            )
            .into();
        }
        if tasks.len() > usize::try_from(self.limits.max_fan_out).unwrap_or(usize::MAX) {
            return StructuredOutcome::failure(
                ErrorCode::AgentFanOutExceeded,
                format!("{skill} asks for {} child runs; one step may start {}", tasks.len(), self.limits.max_fan_out),
            )
            .into();
        }
        let ids: Vec<RunId> = (0..tasks.len()).map(|i| child_id(&run.id, index, i)).collect();
        let mut children = Vec::with_capacity(ids.len());
        for id in &ids {
            match self.store.run(&run.tenant, id).await {
                Ok(found) => children.push(found),
                Err(e) => return internal(&e).into(),
            }
        }
        if children.iter().any(Option::is_none) {
            if children.iter().all(Option::is_none) {
                if let Err(o) = self.check_run_fan_out(run, tasks.len()).await {
                    return o.into();
                }
            }
            // Check every task before starting any, so a bad one starts nothing.
            let asked: Vec<Option<u64>> = tasks.iter().map(|(_, req)| req.budget_cents).collect();
            let budgets = match allot(self.envelope, &asked) {
                Ok(b) => b,
                Err(m) => {
                    return StructuredOutcome::failure(ErrorCode::BudgetExceeded, format!("{skill}: {m}"))
                        .with_retryable(false)
                        .into()
                }
            };
            let now = now_ms();
            let mut new_runs = Vec::new();
            for (i, (correlation, req)) in tasks.into_iter().enumerate() {
                let at = if skill == SPAWN_SKILL { format!("tasks[{i}]: ") } else { "child run: ".to_owned() };
                let (plan, input, seed) = match prepare(self.skills, self.defaults, req, &at) {
                    Ok(p) => p,
                    Err(RunError::Invalid(code, m)) => return StructuredOutcome::failure(code, m).into(),
                    Err(e) => return StructuredOutcome::failure(e.code(), e.to_string()).into(),
                };
                if children[i].is_some() {
                    continue;
                }
                let caller = CallerLink {
                    run_id: run.id.clone(),
                    step_index: index,
                    depth,
                    correlation_id: correlation.unwrap_or_else(|| format!("{}/{i}", ctx.step_id)),
                };
                let seed = seed.unwrap_or_else(|| step_seed(ctx.seed, u32::try_from(i).unwrap_or(u32::MAX)));
                let child = RunRecord::queued(run.tenant.clone(), ids[i].clone(), plan, input, seed, None, now)
                    .with_caller(caller)
                    .with_budget(budgets[i])
                    .with_notify_url(run.notify_url.clone());
                new_runs.push((i, child));
            }
            for (i, child) in new_runs {
                let first = StepMessage { tenant: child.tenant.clone(), run_id: child.id.clone(), step_index: 0 };
                match self.store.insert_run(&child, &first, None).await {
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return internal(&e).into(),
                }
                tracing::info!(run = %run.id, step = index, child = %child.id, depth, "child run started");
                children[i] = Some(child);
            }
        }
        let mut children: Vec<RunRecord> = children.into_iter().flatten().collect();
        if children.iter().all(|c| c.status.is_terminal()) {
            return results(skill, &children).into();
        }
        let started = children.iter().map(|c| c.created_at_ms).min().unwrap_or_else(now_ms);
        let deadline = started + wait.as_millis() as u64;
        let now = now_ms();
        if now < deadline {
            // A deadline message for every wait: at most one per wake-up, and whichever
            // comes first after the deadline ends the wait.
            return AgentStep::Waiting(Duration::from_millis(deadline - now + 50));
        }
        for child in children.iter_mut().filter(|c| !c.status.is_terminal()) {
            let event = aos_core::audit::AuditEvent::new(
                &run.tenant,
                aos_core::audit::Actor::system(),
                "run.cancel",
                format!("run:{}", child.id),
                "cancelled",
                now,
            )
            .because(vec![format!("its caller {} stopped waiting for it at its deadline", run.id)]);
            match self.store.cancel_run(&run.tenant, &child.id, now, &[event]).await {
                Ok(cancelled) => {
                    // Its own children (and theirs) stop too.
                    if let Err(e) = crate::runs::cancel_descendants(self.store.as_ref(), &run.tenant, child).await {
                        return internal(&e).into();
                    }
                    *child = cancelled;
                }
                // It finished meanwhile: read what it came to.
                Err(StoreError::Conflict(_)) => match self.store.run(&run.tenant, &child.id).await {
                    Ok(Some(c)) => *child = c,
                    Ok(None) => {}
                    Err(e) => return internal(&e).into(),
                },
                Err(e) => return internal(&e).into(),
            }
            tracing::info!(run = %run.id, step = index, child = %child.id, "child run cancelled at the step's deadline");
        }
        let mut out = results(skill, &children);
        if let Some(d) = out.output.as_mut() {
            d["timed_out_after_s"] = json!(wait.as_secs());
        }
        if let Some(e) = out.error.as_mut() {
            e.message = format!("{} (waited {} s)", e.message, wait.as_secs());
        }
        out.into()
    }

    /// Refuses a step whose children would take the run over its total.
    async fn check_run_fan_out(&self, run: &RunRecord, more: usize) -> Result<(), StructuredOutcome> {
        let history = self.history.read(self.store.as_ref(), &run.tenant, &run.id).await.map_err(|e| internal(&e))?;
        let earlier: usize = history.iter().map(children_of).sum();
        if earlier + more > usize::try_from(self.limits.max_children_per_run).unwrap_or(usize::MAX) {
            return Err(StructuredOutcome::failure(
                ErrorCode::AgentFanOutExceeded,
                format!(
                    "run {} started {earlier} child runs; {more} more would pass its limit of {}",
                    run.id, self.limits.max_children_per_run
                ),
            ));
        }
        Ok(())
    }
}

fn children_of(c: &Checkpoint) -> usize {
    match c.skill.as_str() {
        INVOKE_SKILL => 1,
        SPAWN_SKILL => c.outcome.output.as_ref().and_then(|o| o["children"].as_array()).map_or(0, Vec::len),
        _ => 0,
    }
}

fn count_planner_steps(steps: &[PlanStep]) -> u32 {
    u32::try_from(steps.iter().filter(|s| s.skill == PLAN_SKILL).count()).unwrap_or(u32::MAX)
}

/// The steps a decision adds to `plan`: those decided, then the next planner step.
fn with_planner(plan: &Plan, spec: &AgentSpec, mut steps: Vec<PlanStep>) -> Vec<PlanStep> {
    steps.push(spec.planner_step(count_planner_steps(plan.steps()) + 1));
    steps
}

/// The plan after a `continue` decision: its steps, then the next planner step.
fn extend(plan: &Plan, spec: &AgentSpec, steps: Vec<PlanStep>) -> Result<Plan, String> {
    plan.extended(with_planner(plan, spec, steps), "decision").map_err(|e| e.0)
}

/// What a planner step's decision does to its run.
#[derive(Debug)]
pub enum Applied {
    /// Not a planner step (or it failed): nothing.
    Nothing,
    /// The plan grew.
    Extended(Plan),
    /// The run ends with this output.
    Finished(Value),
}

/// Applies the decision in a planner step's outcome to the run's plan.
pub fn apply_decision(plan: &Plan, step: &PlanStep, outcome: &StructuredOutcome) -> Result<Applied, StructuredOutcome> {
    if step.skill != PLAN_SKILL || !outcome.ok {
        return Ok(Applied::Nothing);
    }
    let bad = |m: String| StructuredOutcome::failure(ErrorCode::InvalidPlan, m);
    let decision = outcome.output.as_ref().and_then(Decision::from_output);
    let spec: AgentSpec =
        serde_json::from_value(step.input.clone()).map_err(|e| bad(format!("agent settings: {e}")))?;
    match decision {
        Some(Decision::Finish { output }) => Ok(Applied::Finished(output)),
        Some(Decision::Continue { steps }) => extend(plan, &spec, steps).map(Applied::Extended).map_err(bad),
        None => Err(bad("the planner step recorded no decision".to_owned())),
    }
}

/// The children the run's current step started (or would start), if it is an
/// `agent_invoke` / `agent_spawn` step.
pub(crate) fn current_children(run: &RunRecord) -> Vec<RunId> {
    let Some(step) = run.plan.step(run.next_step) else { return Vec::new() };
    let n = match step.skill.as_str() {
        INVOKE_SKILL => 1,
        SPAWN_SKILL => step.input["tasks"].as_array().map_or(0, Vec::len),
        _ => 0,
    };
    (0..n).map(|i| child_id(&run.id, run.next_step, i)).collect()
}

/// Child ids derive from the calling step, so a repeated step finds its children.
fn child_id(parent: &RunId, index: u32, i: usize) -> RunId {
    let h = content_hash(&json!({"parent": parent, "step": index, "child": i}));
    RunId::from_suffix(&h.chars().filter(char::is_ascii_hexdigit).take(32).collect::<String>())
        .expect("hex suffixes are valid ids")
}

type Task = (Option<String>, SubmitRun);

/// What each child run may spend, millicredits: the `budget_cents` it asks for, and for
/// those that ask none an equal share of what the envelope has left. The shares never add
/// up to more than the envelope, so a tree of agents keeps to its root's budget; what a
/// child does not spend comes back to its caller when it ends (the caller's step is
/// charged what its children spent).
fn allot(envelope: Option<u64>, asked: &[Option<u64>]) -> Result<Vec<Option<u64>>, String> {
    let most = aos_core::credits::MAX_AMOUNT / aos_core::credits::MILLI;
    let mut explicit = 0u64;
    for (i, cents) in asked.iter().enumerate() {
        match cents {
            Some(c) if *c == 0 || *c > most => {
                return Err(format!(
                    "tasks[{i}]: budget_cents must be a whole number of cents from 1 to {most}, got {c}"
                ))
            }
            Some(c) => explicit += c * aos_core::credits::MILLI,
            None => {}
        }
    }
    let Some(envelope) = envelope else {
        return Ok(asked.iter().map(|c| c.map(|c| c * aos_core::credits::MILLI)).collect());
    };
    let left = Millicredits(envelope).cents();
    if explicit > envelope {
        return Err(format!(
            "the child runs ask for {} c and the run has {left} c of its budget left for them",
            Millicredits(explicit).cents()
        ));
    }
    let open = asked.iter().filter(|c| c.is_none()).count() as u64;
    let share = (envelope - explicit).checked_div(open).unwrap_or(0);
    if open > 0 && share == 0 {
        return Err(format!("the run has {left} c of its budget left, too little to share among {open} child runs"));
    }
    Ok(asked.iter().map(|c| Some(c.map_or(share, |c| c * aos_core::credits::MILLI))).collect())
}

/// The child runs an `agent_invoke` / `agent_spawn` input asks for, and how long to wait.
fn child_tasks(skill: &str, input: Value) -> Result<(Vec<Task>, Duration), String> {
    let Value::Object(mut obj) = input else { return Err("the input must be an object".to_owned()) };
    let wait = match obj.remove("timeout_s") {
        None => DEFAULT_WAIT_S,
        Some(v) => v
            .as_u64()
            .filter(|s| (1..=MAX_WAIT_S).contains(s))
            .ok_or_else(|| format!("timeout_s must be a whole number of seconds, 1..={MAX_WAIT_S}"))?,
    };
    let task = |at: &str, v: Value| -> Result<Task, String> {
        let Value::Object(mut o) = v else { return Err(format!("{at}must be an object")) };
        let correlation = match o.remove("correlation_id") {
            None => None,
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 200 => Some(s),
            Some(_) => return Err(format!("{at}correlation_id must be a string of 1..=200 characters")),
        };
        let req: SubmitRun = serde_json::from_value(Value::Object(o)).map_err(|e| format!("{at}{e}"))?;
        Ok((correlation, req))
    };
    let tasks = if skill == SPAWN_SKILL {
        let Some(Value::Array(items)) = obj.remove("tasks") else {
            return Err(
                "tasks must be a list of child runs ({goal | plan, input?, agent?, correlation_id?})".to_owned()
            );
        };
        if let Some(k) = obj.keys().next() {
            return Err(format!("unknown field {k:?}; agent_spawn takes tasks and timeout_s"));
        }
        if items.is_empty() {
            return Err("tasks must name at least one child run".to_owned());
        }
        items.into_iter().enumerate().map(|(i, v)| task(&format!("tasks[{i}]: "), v)).collect::<Result<_, _>>()?
    } else {
        vec![task("", Value::Object(obj))?]
    };
    Ok((tasks, Duration::from_secs(wait)))
}

fn child_view(c: &RunRecord) -> Value {
    json!({
        "run_id": c.id,
        "correlation_id": c.caller.as_ref().map(|l| l.correlation_id.clone()),
        "status": c.status,
        "output": c.output,
        "error": c.error,
        "spent_cents": Millicredits(c.spent_mc).cents(),
    })
}

/// The step's outcome once every child ended.
fn results(skill: &str, children: &[RunRecord]) -> StructuredOutcome {
    if skill == INVOKE_SKILL {
        let child = &children[0];
        if child.status == RunStatus::Succeeded {
            return StructuredOutcome::success(child_view(child));
        }
        let why =
            child.error.as_ref().map_or_else(|| child.status.to_string(), |e| format!("{}: {}", e.code, e.message));
        return StructuredOutcome::failure(
            ErrorCode::AgentChildFailed,
            format!("child run {} ended {}: {why}", child.id, child.status),
        )
        .with_details(child_view(child));
    }
    let succeeded = children.iter().filter(|c| c.status == RunStatus::Succeeded).count();
    let spent = Millicredits(children.iter().map(|c| c.spent_mc).sum());
    StructuredOutcome::success(json!({
        "children": children.iter().map(child_view).collect::<Vec<_>>(),
        "succeeded": succeeded,
        "failed": children.len() - succeeded,
        "spent_cents": spent.cents(),
    }))
}

fn child_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "goal": {"type": "string", "minLength": 1, "maxLength": aos_core::agent::MAX_GOAL_CHARS},
            "plan": {"type": "array", "minItems": 1, "maxItems": aos_core::plan::MAX_STEPS},
            "input": {},
            "agent": {"type": "object"},
            "base_seed": {"type": "integer", "minimum": 0},
            "budget_cents": {"type": "integer", "minimum": 1},
            "correlation_id": {"type": "string", "minLength": 1, "maxLength": 200}
        }
    })
}

/// Declares the agent steps in `registry` (workers built by hand, e.g. in tests; the
/// worker registry has them already).
pub fn declare(registry: &mut SkillRegistry) -> Result<(), crate::skills::RegistryError> {
    for d in descriptors() {
        registry.register(Arc::new(crate::skills::Declared(d)))?;
    }
    Ok(())
}

/// The declarations of the agent steps (the worker runs them; the registry lists and
/// validates them like any skill).
pub fn descriptors() -> Vec<SkillDescriptor> {
    let mut invoke = child_schema();
    invoke["properties"]["timeout_s"] = json!({"type": "integer", "minimum": 1, "maximum": MAX_WAIT_S});
    invoke["additionalProperties"] = json!(false);
    let mut task = child_schema();
    task["additionalProperties"] = json!(false);
    let child_out = json!({"type": "object", "required": ["run_id", "status"]});
    vec![
        SkillDescriptor {
            name: PLAN_SKILL.to_owned(),
            version: "1.0.0".to_owned(),
            description: "The planner of a goal-driven run: decides the next steps or finishes (added by AOS; submit a goal to use it).".to_owned(),
            input_schema: json!({
                "type": "object",
                "required": ["goal"],
                "properties": {
                    "goal": {"type": "string"}, "planner": {"type": "object"},
                    "max_steps": {"type": "integer"}, "max_llm_calls": {"type": "integer"},
                    "skills": {"type": "array", "items": {"type": "string"}}
                }
            }),
            output_schema: json!({"type": "object", "required": ["decision"]}),
            idempotency: IdempotencyClass::Idempotent,
            timeout_ms: 400_000,
        },
        SkillDescriptor {
            name: INVOKE_SKILL.to_owned(),
            version: "1.0.0".to_owned(),
            description: "Starts one child run (a goal for an agent, or a plan) and returns its output to this step; fails if the child fails or is not done within timeout_s.".to_owned(),
            input_schema: invoke,
            output_schema: child_out,
            idempotency: IdempotencyClass::Idempotent,
            timeout_ms: 30_000,
        },
        SkillDescriptor {
            name: SPAWN_SKILL.to_owned(),
            version: "1.0.0".to_owned(),
            description: "Starts several child runs at once and returns every child's status and output to this step when all have ended.".to_owned(),
            input_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["tasks"],
                "properties": {
                    "tasks": {"type": "array", "minItems": 1, "maxItems": 50, "items": task},
                    "timeout_s": {"type": "integer", "minimum": 1, "maximum": MAX_WAIT_S}
                }
            }),
            output_schema: json!({"type": "object", "required": ["children", "succeeded", "failed"]}),
            idempotency: IdempotencyClass::Idempotent,
            timeout_ms: 30_000,
        },
    ]
}
