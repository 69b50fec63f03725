//! Planners behind one trait: a static plan, a model (the LLM planner), and the recorded
//! decisions of an earlier run (the replay planner).
//!
//! The LLM planner shows the model the goal, the allowed skills with their JSON Schemas
//! (a stable system prompt, cached by the provider where it can) and what the run did so
//! far; the reply must be one JSON object naming the next steps or the final answer. A
//! reply that is not JSON, names an unknown skill or breaks a skill's schema never
//! reaches a skill: the model is shown the error and asked again, at most twice, then the
//! step fails with `ERR_PLANNER_INVALID_PLAN`. Model calls go through `llm_invoke`, so
//! they share its keys, costs and response cache. Prompts and replies are never logged.

use crate::llm::Usage;
use crate::ports::{RunRecord, RunStore};
use crate::skills::{SkillContext, SkillRegistry};
use aos_core::agent::{AgentSpec, Decision, PlannerSpec, PLAN_SKILL};
use aos_core::credits::Millicredits;
use aos_core::template::references;
use aos_core::{Checkpoint, ErrorCode, PlanStep, RunId, StructuredOutcome};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::sync::Arc;

/// Repairs the LLM planner asks for before it gives up on a decision.
pub const MAX_REPAIRS: u32 = 2;
/// Characters of a step's output shown to the model.
const OUTPUT_PREVIEW: usize = 2000;

/// What a planner is asked: the agent, the run so far, and which decision this is.
pub struct PlanAsk<'a> {
    /// The agent's settings.
    pub spec: &'a AgentSpec,
    /// The run (its plan holds every step decided so far).
    pub run: &'a RunRecord,
    /// The run's checkpoints so far (skill steps and earlier planner steps).
    pub history: &'a [Checkpoint],
    /// This decision's number, from 1.
    pub round: u32,
    /// The planner step's context (tenant, key-value store, seed).
    pub ctx: &'a SkillContext,
}

impl PlanAsk<'_> {
    /// Skill steps the run has taken.
    pub fn steps_used(&self) -> u32 {
        count(self.history.iter().filter(|c| c.skill != PLAN_SKILL))
    }

    /// Skill steps it may still take.
    pub fn steps_left(&self) -> u32 {
        self.spec.max_steps.saturating_sub(self.steps_used())
    }

    /// A finish output with its `${steps...}` / `${input...}` references resolved against
    /// what the run did, so an agent can answer with its steps' results.
    pub fn resolve_finish(&self, output: &Value) -> Result<Value, String> {
        let outputs: std::collections::BTreeMap<String, Value> = self
            .history
            .iter()
            .filter(|c| c.outcome.ok)
            .filter_map(|c| Some((c.step_id.clone(), c.outcome.output.clone()?)))
            .collect();
        aos_core::template::resolve(output, &aos_core::template::Scope::new(&self.run.input, &outputs))
            .map_err(|e| format!("\"finish\": {e}"))
    }

    /// Model calls earlier decisions made.
    pub fn llm_calls_used(&self) -> u32 {
        self.history
            .iter()
            .filter(|c| c.skill == PLAN_SKILL)
            .filter_map(|c| c.outcome.output.as_ref()?["llm_calls"].as_u64())
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .sum()
    }
}

fn count<T>(it: impl Iterator<Item = T>) -> u32 {
    u32::try_from(it.count()).unwrap_or(u32::MAX)
}

/// A decision and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// What to do next.
    pub decision: Decision,
    /// The planner's one-line reason, if it gave one.
    pub thought: Option<String>,
    /// Model calls made (repairs included).
    pub llm_calls: u32,
    /// Replies that had to be repaired.
    pub repairs: u32,
    /// Tokens used.
    pub usage: Usage,
    /// Tokens served from AOS's response cache instead of the model.
    pub tokens_saved: u64,
    /// Cents charged.
    pub cost_cents: u64,
    /// What the model calls cost exactly (before each call rounds up to whole cents).
    pub cost_cents_exact: f64,
    /// Where the decision came from (the model, or the recorded run).
    pub source: Value,
}

impl Planned {
    /// A decision that cost nothing.
    pub fn free(decision: Decision, source: Value) -> Self {
        Self {
            decision,
            thought: None,
            llm_calls: 0,
            repairs: 0,
            usage: Usage::default(),
            tokens_saved: 0,
            cost_cents: 0,
            cost_cents_exact: 0.0,
            source,
        }
    }

    /// The planner step's outcome: the decision (`decision`, `steps` or `output`) plus
    /// its accounting, charged at its cost.
    pub fn into_outcome(self, planner: &str) -> StructuredOutcome {
        let mut out = serde_json::to_value(&self.decision).expect("decisions serialize");
        out["planner"] = json!(planner);
        out["thought"] = json!(self.thought);
        out["llm_calls"] = json!(self.llm_calls);
        out["repairs"] = json!(self.repairs);
        out["usage"] = json!(self.usage);
        out["tokens_saved"] = json!(self.tokens_saved);
        if self.llm_calls > 0 {
            out["cost_cents_exact"] = json!(self.cost_cents_exact);
        }
        out["source"] = self.source;
        StructuredOutcome::success(out).with_cost(self.cost_cents)
    }
}

/// Decides an agent's next steps.
#[async_trait]
pub trait Planner: Send + Sync {
    /// The planner's name, recorded with each decision.
    fn name(&self) -> &'static str;
    /// The next decision; a failure is the planner step's outcome (its code says why).
    async fn plan(&self, ask: &PlanAsk<'_>) -> Result<Planned, StructuredOutcome>;
}

/// The planner an agent's spec names.
/// `refused`: skills the tenant's policies never allow, which a model is not offered.
pub fn planner_for(
    spec: &PlannerSpec,
    skills: &Arc<SkillRegistry>,
    store: &Arc<dyn RunStore>,
    refused: std::collections::BTreeSet<String>,
) -> Box<dyn Planner> {
    match spec {
        PlannerSpec::Static { steps } => Box::new(StaticPlanner { steps: steps.clone() }),
        PlannerSpec::Replay { run_id } => Box::new(ReplayPlanner { source: run_id.clone(), store: Arc::clone(store) }),
        PlannerSpec::Llm { .. } => Box::new(LlmPlanner { skills: Arc::clone(skills), refused }),
    }
}

/// Steps fixed up front: run them all, then finish with the last one's output.
pub struct StaticPlanner {
    /// The steps.
    pub steps: Vec<PlanStep>,
}

#[async_trait]
impl Planner for StaticPlanner {
    fn name(&self) -> &'static str {
        "static"
    }

    async fn plan(&self, ask: &PlanAsk<'_>) -> Result<Planned, StructuredOutcome> {
        let decision = if ask.round == 1 {
            Decision::Continue { steps: self.steps.clone() }
        } else {
            let last = ask.history.iter().rev().find(|c| c.skill != PLAN_SKILL);
            Decision::Finish { output: last.and_then(|c| c.outcome.output.clone()).unwrap_or(Value::Null) }
        };
        Ok(Planned::free(decision, json!({"static": true})))
    }
}

/// The decisions of a recorded run, in order: its n-th planner step's decision is this
/// run's n-th, whatever its skill steps returned.
pub struct ReplayPlanner {
    /// The recorded run.
    pub source: RunId,
    /// Where it is.
    pub store: Arc<dyn RunStore>,
}

#[async_trait]
impl Planner for ReplayPlanner {
    fn name(&self) -> &'static str {
        "replay"
    }

    async fn plan(&self, ask: &PlanAsk<'_>) -> Result<Planned, StructuredOutcome> {
        let recorded = self.store.checkpoints(&ask.ctx.tenant, &self.source).await.map_err(|e| {
            StructuredOutcome::failure(ErrorCode::Internal, format!("could not read the recorded run: {e}"))
        })?;
        let decisions: Vec<Decision> = recorded
            .iter()
            .filter(|c| c.skill == PLAN_SKILL && c.outcome.ok)
            .filter_map(|c| Decision::from_output(c.outcome.output.as_ref()?))
            .collect();
        let n = usize::try_from(ask.round).unwrap_or(usize::MAX);
        let Some(decision) = decisions.get(n - 1) else {
            return Err(StructuredOutcome::failure(
                ErrorCode::ReplayExhausted,
                format!(
                    "run {} recorded {} planner decisions; this run asks for decision {}",
                    self.source,
                    decisions.len(),
                    ask.round
                ),
            ));
        };
        Ok(Planned::free(decision.clone(), json!({"replayed_from": self.source, "decision": ask.round})))
    }
}

/// A model decides, through `llm_invoke`.
pub struct LlmPlanner {
    /// The worker's skills: `llm_invoke`, and the schemas shown to the model.
    pub skills: Arc<SkillRegistry>,
    /// Skills the tenant's policies never allow: not shown to the model.
    pub refused: std::collections::BTreeSet<String>,
}

/// What the model answered, read.
enum Reply {
    Next(Vec<PlanStep>, Option<String>),
    Finish(Value, Option<String>),
}

#[async_trait]
impl Planner for LlmPlanner {
    fn name(&self) -> &'static str {
        "llm"
    }

    async fn plan(&self, ask: &PlanAsk<'_>) -> Result<Planned, StructuredOutcome> {
        let deadline = std::time::Instant::now() + ask.ctx.timeout;
        let PlannerSpec::Llm { provider, model, temperature, max_tokens } = &ask.spec.planner else {
            return Err(StructuredOutcome::failure(ErrorCode::Internal, "not an LLM planner spec"));
        };
        if self.skills.descriptor("llm_invoke").is_none() {
            return Err(StructuredOutcome::failure(
                ErrorCode::SkillDisabled,
                "the LLM planner needs llm_invoke, which this worker does not have",
            ));
        }
        let system = self.system_prompt(ask.spec);
        let mut messages = vec![json!({"role": "user", "content": situation(ask)})];
        let mut planned = Planned::free(Decision::Finish { output: Value::Null }, Value::Null);
        // Earlier attempts of this decision failed on a provider error (throttling, an
        // outage) after one call each: they count against the budget too.
        planned.llm_calls = ask.ctx.attempt.saturating_sub(1);
        let budget = ask.spec.max_llm_calls.saturating_sub(ask.llm_calls_used());
        let mut last_error = String::new();
        for attempt in 0..=MAX_REPAIRS {
            if planned.llm_calls >= budget {
                let spent = planned.cost_cents;
                return Err(StructuredOutcome::failure(
                    ErrorCode::AgentLlmBudget,
                    format!(
                        "the planner used its {} model calls{}",
                        ask.spec.max_llm_calls,
                        if attempt > 0 { format!(" (last reply unusable: {last_error})") } else { String::new() }
                    ),
                )
                .with_cost(spent));
            }
            let input = json!({
                "provider": provider.as_deref().unwrap_or_default(),
                "model": model.as_deref().unwrap_or_default(),
                "system": system,
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "prompt_cache": true,
            });
            // Every call (repairs too) comes out of the planner step's one budget.
            let mut ctx = ask.ctx.clone();
            let per_call = std::time::Duration::from_millis(
                self.skills.descriptor("llm_invoke").map_or(120_000, |d| d.timeout_ms),
            );
            ctx.timeout = per_call.min(deadline.saturating_duration_since(std::time::Instant::now()));
            let outcome = self.skills.execute("llm_invoke", &ctx, input).await;
            planned.llm_calls += 1;
            planned.cost_cents += outcome.cost_cents;
            if !outcome.ok {
                // A provider failure (throttling, outage, missing key): the step loop retries
                // it or fails the run with the provider's code.
                let cost = planned.cost_cents;
                return Err(outcome.with_cost(cost));
            }
            let out = outcome.output.unwrap_or_default();
            planned.cost_cents_exact += out["cost_cents_exact"].as_f64().unwrap_or(0.0);
            if let Ok(u) = serde_json::from_value::<Usage>(out["usage"].clone()) {
                add_usage(&mut planned.usage, &u);
            }
            planned.tokens_saved += out["cache"]["tokens_saved"].as_u64().unwrap_or(0);
            planned.source = json!({"provider": provider, "model": out["model"]});
            let text = out["text"].as_str().unwrap_or_default().to_owned();
            match self.read_reply(&text, ask) {
                Ok(Reply::Next(steps, thought)) => {
                    planned.decision = Decision::Continue { steps };
                    planned.thought = thought;
                    return Ok(planned);
                }
                Ok(Reply::Finish(output, thought)) => {
                    planned.decision = Decision::Finish { output };
                    planned.thought = thought;
                    return Ok(planned);
                }
                Err(e) => {
                    tracing::info!(run = %ask.run.id, round = ask.round, attempt, "planner reply unusable; asking for a repair");
                    last_error = e;
                    if attempt < MAX_REPAIRS {
                        planned.repairs += 1;
                        messages.push(json!({"role": "assistant", "content": text}));
                        messages.push(json!({"role": "user", "content": format!(
                            "That reply cannot be used: {last_error}\nAnswer again with only the JSON object, in the format described."
                        )}));
                    }
                }
            }
        }
        let code = if ask.steps_left() == 0 { ErrorCode::AgentStepLimit } else { ErrorCode::PlannerInvalidPlan };
        Err(StructuredOutcome::failure(
            code,
            format!(
                "the planner's model gave no usable decision in {} replies; last problem: {last_error}",
                MAX_REPAIRS + 1
            ),
        )
        .with_details(json!({"last_error": last_error, "llm_calls": planned.llm_calls, "repairs": planned.repairs}))
        .with_cost(planned.cost_cents))
    }
}

fn add_usage(total: &mut Usage, u: &Usage) {
    total.input_tokens += u.input_tokens;
    total.output_tokens += u.output_tokens;
    total.cache_read_tokens += u.cache_read_tokens;
    total.cache_write_tokens += u.cache_write_tokens;
}

impl LlmPlanner {
    /// The skills the agent may use: its list, or every registered skill but the agent
    /// steps (starting child agents multiplies spending, so an agent does it only when
    /// its skills name `agent_invoke` or `agent_spawn`).
    fn allowed(&self, spec: &AgentSpec) -> Vec<&crate::skills::SkillDescriptor> {
        self.skills
            .each_descriptor()
            .filter(|d| d.name != PLAN_SKILL && !self.refused.contains(&d.name))
            .filter(|d| {
                if spec.skills.is_empty() {
                    !aos_core::agent::is_agent_skill(&d.name)
                } else {
                    spec.skills.contains(&d.name)
                }
            })
            .collect()
    }

    /// The stable prefix of every decision's prompt: the format and the skills. It
    /// depends on the agent's settings only, so the provider caches it across decisions.
    fn system_prompt(&self, spec: &AgentSpec) -> String {
        let mut p = String::from(
            "You are the planner of an AOS agent. You reach the user's goal by choosing skill calls; AOS runs \
             them in order and shows you their results, then asks you again.\n\
             Answer with exactly one JSON object and nothing else, in one of two forms:\n\
             {\"thought\": \"<one sentence>\", \"next\": [{\"id\": \"<optional step id>\", \"skill\": \"<skill name>\", \"input\": {...}}]}\n\
             to run one or more steps next, or\n\
             {\"thought\": \"<one sentence>\", \"finish\": <the final answer, any JSON value>}\n\
             when the goal is reached (or cannot be reached: say why in the answer).\n\
             A step's input must match the skill's input schema. Inside input strings, \"${steps.<id>.output.<field>}\" \
             is replaced by an earlier step's output field and \"${input.<field>}\" by the run input's field. \
             Step ids are 1-64 of a-z, A-Z, 0-9, '_' and '-', unique in the run, and must not start with \"plan-\".\n\nSkills:\n",
        );
        for d in self.allowed(spec) {
            let _ = writeln!(p, "- {} ({}): input schema {}", d.name, d.description, d.input_schema);
        }
        p
    }

    /// Reads a reply and checks every step it names; `Err` says what to fix.
    fn read_reply(&self, text: &str, ask: &PlanAsk<'_>) -> Result<Reply, String> {
        let value = extract_json(text)?;
        let Value::Object(mut obj) = value else {
            return Err("the reply must be a JSON object".to_owned());
        };
        let thought = obj.remove("thought").and_then(|t| t.as_str().map(str::to_owned));
        if let Some(k) = obj.keys().find(|k| *k != "next" && *k != "finish") {
            return Err(format!("unexpected field {k:?}; use \"thought\" with \"next\" or \"finish\""));
        }
        match (obj.remove("next"), obj.remove("finish")) {
            (Some(_), Some(_)) | (None, None) => Err("give exactly one of \"next\" and \"finish\"".to_owned()),
            (None, Some(output)) => Ok(Reply::Finish(ask.resolve_finish(&output)?, thought)),
            (Some(next), None) => {
                let steps: Vec<PlanStep> =
                    serde_json::from_value(next).map_err(|e| format!("\"next\" is not a list of steps: {e}"))?;
                self.check_steps(&steps, ask)?;
                Ok(Reply::Next(steps, thought))
            }
        }
    }

    fn check_steps(&self, steps: &[PlanStep], ask: &PlanAsk<'_>) -> Result<(), String> {
        let left = ask.steps_left();
        if left == 0 {
            return Err(format!("the agent has used all its {} steps: answer with \"finish\" now", ask.spec.max_steps));
        }
        if steps.is_empty() || steps.len() > usize::try_from(left).unwrap_or(usize::MAX) {
            return Err(format!("\"next\" must hold 1 to {left} steps (the agent's remaining steps)"));
        }
        let allowed = self.allowed(ask.spec);
        for (i, step) in steps.iter().enumerate() {
            let at = format!("next[{i}]");
            if step.id.as_deref().is_some_and(|id| id.starts_with("plan-")) {
                return Err(format!("{at}: step ids starting with \"plan-\" are reserved"));
            }
            if !allowed.iter().any(|d| d.name == step.skill) {
                let names: Vec<&str> = allowed.iter().map(|d| d.name.as_str()).collect();
                return Err(format!("{at}: unknown skill {:?}; use one of: {}", step.skill, names.join(", ")));
            }
            // Inputs with references are checked when the step runs, once they resolve.
            let own = aos_core::agent::caller_scope(&step.skill, &step.input);
            let is_static = references(&own).map_err(|e| format!("{at}: {e}"))?.is_empty();
            if is_static {
                self.skills
                    .validate_input(&step.skill, &step.input)
                    .map_err(|e| format!("{at}: input does not match the schema of {}: {e}", step.skill))?;
            }
        }
        ask.run.plan.check_extension(steps.to_vec(), "next").map_err(|e| e.0)
    }
}

/// The JSON object in a model's reply (alone, or in a fenced block, or amid prose).
fn extract_json(text: &str) -> Result<Value, String> {
    let t = text.trim();
    if let Ok(v) = serde_json::from_str(t) {
        return Ok(v);
    }
    let (Some(start), Some(end)) = (t.find('{'), t.rfind('}')) else {
        return Err("the reply holds no JSON object".to_owned());
    };
    if end < start {
        return Err("the reply holds no JSON object".to_owned());
    }
    serde_json::from_str(&t[start..=end]).map_err(|e| format!("the reply is not valid JSON: {e}"))
}

/// This decision's prompt: the goal, the input, the steps so far and the budget.
fn situation(ask: &PlanAsk<'_>) -> String {
    let mut s = format!("Goal: {}\n\nRun input: {}\n\n", ask.spec.goal, ask.run.input);
    let done: Vec<&Checkpoint> = ask.history.iter().filter(|c| c.skill != PLAN_SKILL).collect();
    if done.is_empty() {
        s.push_str("No steps have run yet.\n");
    } else {
        s.push_str("Steps so far:\n");
        for c in done {
            let input = ask.run.plan.step(c.step_index).map_or(Value::Null, |p| p.input.clone());
            let output = c.outcome.output.as_ref().map_or_else(String::new, Value::to_string);
            let shown: String = output.chars().take(OUTPUT_PREVIEW).collect();
            let cut = if output.chars().count() > OUTPUT_PREVIEW { " …(truncated)" } else { "" };
            let _ = writeln!(s, "- {} {} input {} -> output {shown}{cut}", c.step_id, c.skill, input);
        }
    }
    let _ = write!(s, "\nYou may run at most {} more steps. This is decision {}.", ask.steps_left(), ask.round);
    if let Some(budget) = ask.run.budget_mc {
        let (spent, budget) = (Millicredits(ask.run.spent_mc), Millicredits(budget));
        let _ = write!(
            s,
            " The run has spent {} of its budget of {} cents: {} cents are left; a step that would cost more does not run.",
            spent.cents(),
            budget.cents(),
            budget.saturating_sub(spent).cents()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_alone_fenced_or_amid_prose() {
        assert_eq!(extract_json(r#"{"finish": 1}"#).unwrap(), json!({"finish": 1}));
        assert_eq!(extract_json("```json\n{\"finish\": 2}\n```").unwrap(), json!({"finish": 2}));
        assert_eq!(extract_json("Sure! {\"finish\": 3} Hope that helps.").unwrap(), json!({"finish": 3}));
        assert!(extract_json("no json here").unwrap_err().contains("no JSON"));
        assert!(extract_json("{\"next\": [}").unwrap_err().contains("not valid JSON"));
    }
}
