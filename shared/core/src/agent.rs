//! Agents: a run given a goal instead of a plan. Its plan starts with one planner step
//! (`agent_plan`); each planner step decides the next steps (appended to the plan,
//! followed by another planner step) or finishes the run with an output. The decision is
//! the planner step's checkpointed output, so a trace replays it and the replay planner
//! can re-run a recorded agent's decisions.

use crate::ids::RunId;
use crate::plan::PlanStep;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The planner step's skill name.
pub const PLAN_SKILL: &str = "agent_plan";
/// Starts child runs and waits for all of them.
pub const SPAWN_SKILL: &str = "agent_spawn";
/// Starts one child run and waits for its result.
pub const INVOKE_SKILL: &str = "agent_invoke";

/// Whether `skill` is one the step worker runs itself (it needs the run store).
pub fn is_agent_skill(skill: &str) -> bool {
    matches!(skill, PLAN_SKILL | SPAWN_SKILL | INVOKE_SKILL)
}

/// The fields of a child run request that belong to the child: its plan and agent
/// settings hold references the child resolves against its own input and steps.
const CHILD_FIELDS: [&str; 2] = ["plan", "agent"];

fn take_child_fields(obj: &mut Value) -> Value {
    take_fields(obj, &CHILD_FIELDS)
}

fn take_fields(obj: &mut Value, fields: &[&str]) -> Value {
    let mut held = serde_json::Map::new();
    if let Value::Object(o) = obj {
        for &f in fields {
            if let Some(v) = o.remove(f) {
                held.insert(f.to_owned(), v);
            }
        }
    }
    Value::Object(held)
}

/// Takes out of an agent step's input what belongs to its child runs (each child's
/// `plan` and `agent`; a planner step's `planner`), so the calling run resolves and checks references in the rest
/// only (`goal`, `input`: how a caller passes its data down). Give the result to
/// [`restore_child_parts`] to put them back. Other skills' inputs are left whole.
pub fn hold_child_parts(skill: &str, input: &mut Value) -> Value {
    match skill {
        // A planner step's static steps are the agent's own, resolved when they run.
        PLAN_SKILL => take_fields(input, &["planner"]),
        INVOKE_SKILL => take_child_fields(input),
        SPAWN_SKILL => match input.get_mut("tasks") {
            Some(Value::Array(tasks)) => Value::Array(tasks.iter_mut().map(take_child_fields).collect()),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// Puts back what [`hold_child_parts`] took.
pub fn restore_child_parts(skill: &str, input: &mut Value, held: Value) {
    let put = |obj: &mut Value, held: Value| {
        if let (Value::Object(o), Value::Object(h)) = (obj, held) {
            o.extend(h);
        }
    };
    match (skill, held) {
        (INVOKE_SKILL | PLAN_SKILL, held) => put(input, held),
        (SPAWN_SKILL, Value::Array(held)) => {
            if let Some(Value::Array(tasks)) = input.get_mut("tasks") {
                for (task, h) in tasks.iter_mut().zip(held) {
                    put(task, h);
                }
            }
        }
        _ => {}
    }
}

/// The part of a step's input the calling run resolves (all of it, except the child
/// parts of an agent step).
pub fn caller_scope<'a>(skill: &str, input: &'a Value) -> std::borrow::Cow<'a, Value> {
    if is_agent_skill(skill) {
        let mut own = input.clone();
        hold_child_parts(skill, &mut own);
        std::borrow::Cow::Owned(own)
    } else {
        std::borrow::Cow::Borrowed(input)
    }
}

/// Longest goal, in characters.
pub const MAX_GOAL_CHARS: usize = 8000;
/// Most skill steps an agent may take.
pub const MAX_AGENT_STEPS: u32 = 100;
/// Most LLM calls an agent's planner may make.
pub const MAX_LLM_CALLS: u32 = 50;

/// Which planner decides an agent's steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PlannerSpec {
    /// A model: the goal and the allowed skills' schemas in, the next steps out.
    Llm {
        /// Provider name (`anthropic`, `openai`, `local`, `bedrock`, or a configured one);
        /// filled in from the deployment's default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        /// Model id; filled in from the deployment's default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// Sampling temperature (default 0: decisions are reproducible and cached).
        #[serde(default)]
        temperature: f64,
        /// Most tokens per decision (default 2048).
        #[serde(default = "default_max_tokens")]
        max_tokens: u32,
    },
    /// Fixed steps, decided up front: the first planner step runs them, the second
    /// finishes with the last one's output. (A run submitted with a `plan` is this
    /// planner's decision, taken at submission.)
    Static {
        /// The steps.
        steps: Vec<PlanStep>,
    },
    /// The decisions of a recorded agent run, in order, without calling a model.
    Replay {
        /// The recorded run (same tenant).
        #[schema(value_type = String)]
        run_id: RunId,
    },
}

fn default_max_tokens() -> u32 {
    2048
}

impl Default for PlannerSpec {
    fn default() -> Self {
        Self::Llm { provider: None, model: None, temperature: 0.0, max_tokens: default_max_tokens() }
    }
}

/// An agent's settings, the input of its planner steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// What the agent should achieve.
    pub goal: String,
    /// Who decides.
    #[serde(default)]
    pub planner: PlannerSpec,
    /// Most skill steps (planner steps not counted), 1..=100; default 20.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// Most LLM calls of the planner (repairs included), 1..=50; default 10.
    #[serde(default = "default_max_llm_calls")]
    pub max_llm_calls: u32,
    /// The skills the planner may use; empty means every registered skill.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
}

fn default_max_steps() -> u32 {
    20
}

fn default_max_llm_calls() -> u32 {
    10
}

/// The options of a goal-driven run besides its goal (`"agent"` in `POST /v1/runs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentOptions {
    /// Who decides (default: the deployment's LLM planner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planner: Option<PlannerSpec>,
    /// Most skill steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u32>,
    /// Most LLM calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_llm_calls: Option<u32>,
    /// Allowed skills.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
}

impl AgentSpec {
    /// The spec of `goal` with `options`; checks the ranges (the message says what to fix).
    pub fn new(goal: String, options: AgentOptions) -> Result<Self, String> {
        let spec = Self {
            goal,
            planner: options.planner.unwrap_or_default(),
            max_steps: options.max_steps.unwrap_or_else(default_max_steps),
            max_llm_calls: options.max_llm_calls.unwrap_or_else(default_max_llm_calls),
            skills: options.skills,
        };
        spec.check()?;
        Ok(spec)
    }

    /// Checks the ranges.
    pub fn check(&self) -> Result<(), String> {
        let chars = self.goal.chars().count();
        if self.goal.trim().is_empty() || chars > MAX_GOAL_CHARS {
            return Err(format!("goal must be 1..={MAX_GOAL_CHARS} characters, got {chars}"));
        }
        if self.max_steps == 0 || self.max_steps > MAX_AGENT_STEPS {
            return Err(format!("agent.max_steps must be 1..={MAX_AGENT_STEPS}"));
        }
        if self.max_llm_calls == 0 || self.max_llm_calls > MAX_LLM_CALLS {
            return Err(format!("agent.max_llm_calls must be 1..={MAX_LLM_CALLS}"));
        }
        if let PlannerSpec::Llm { temperature, max_tokens, .. } = &self.planner {
            if !(0.0..=2.0).contains(temperature) {
                return Err("agent.planner.temperature must be 0..=2".to_owned());
            }
            if *max_tokens == 0 || *max_tokens > 64_000 {
                return Err("agent.planner.max_tokens must be 1..=64000".to_owned());
            }
        }
        if self.skills.iter().any(|s| s == PLAN_SKILL) {
            return Err(format!("agent.skills cannot list {PLAN_SKILL}: it is the planner itself"));
        }
        Ok(())
    }

    /// The planner step number `round` (from 1) of an agent with this spec.
    pub fn planner_step(&self, round: u32) -> PlanStep {
        PlanStep {
            id: Some(format!("plan-{round}")),
            skill: PLAN_SKILL.to_owned(),
            input: serde_json::to_value(self).expect("agent specs serialize"),
            // A planner step owns its repairs; a provider failure is retried by the loop.
            max_attempts: Some(3),
            timeout_ms: None,
            backoff_ms: None,
        }
    }
}

/// What a planner decided: run these steps and ask again, or finish with an output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Run the steps (validated against the plan so far), then plan again.
    Continue {
        /// The next steps.
        steps: Vec<PlanStep>,
    },
    /// The goal is reached (or cannot be): the run succeeds with this output.
    Finish {
        /// The run's output.
        output: Value,
    },
}

impl Decision {
    /// The decision recorded in a planner step's output (`{"decision": ..., ...}`).
    pub fn from_output(output: &Value) -> Option<Self> {
        let mut v = serde_json::Map::new();
        v.insert("decision".to_owned(), output.get("decision")?.clone());
        for field in ["steps", "output"] {
            if let Some(x) = output.get(field) {
                v.insert(field.to_owned(), x.clone());
            }
        }
        serde_json::from_value(Value::Object(v)).ok()
    }
}

/// Where a child run reports (an `agent_spawn` / `agent_invoke` step of another run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallerLink {
    /// The calling run.
    pub run_id: RunId,
    /// Its waiting step.
    pub step_index: u32,
    /// How deep the child is (a top-level run's children are at depth 1).
    pub depth: u32,
    /// The caller's name for this child, echoed in the result.
    pub correlation_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn specs_take_defaults_and_refuse_bad_ranges() {
        let spec = AgentSpec::new("find the price".into(), AgentOptions::default()).expect("valid");
        assert_eq!((spec.max_steps, spec.max_llm_calls), (20, 10));
        assert!(matches!(spec.planner, PlannerSpec::Llm { temperature, .. } if temperature == 0.0));
        let too_many = AgentOptions { max_steps: Some(101), ..AgentOptions::default() };
        assert!(AgentSpec::new("x".into(), too_many).unwrap_err().contains("max_steps"));
        assert!(AgentSpec::new("  ".into(), AgentOptions::default()).unwrap_err().contains("goal"));
        let planner_itself = AgentOptions { skills: vec![PLAN_SKILL.into()], ..AgentOptions::default() };
        assert!(AgentSpec::new("x".into(), planner_itself).is_err());
        let step = spec.planner_step(2);
        assert_eq!((step.id.as_deref(), step.skill.as_str()), (Some("plan-2"), PLAN_SKILL));
        let back: AgentSpec = serde_json::from_value(step.input).expect("round trip");
        assert_eq!(back, spec);
    }

    #[test]
    fn decisions_read_back_from_planner_outputs() {
        let out = json!({"decision": "finish", "output": {"price": 3}, "thought": "done", "llm_calls": 1});
        assert_eq!(Decision::from_output(&out), Some(Decision::Finish { output: json!({"price": 3}) }));
        let out = json!({"decision": "continue", "steps": [{"id": "a", "skill": "http_call", "input": {}}]});
        let Some(Decision::Continue { steps }) = Decision::from_output(&out) else { panic!("continue") };
        assert_eq!(steps[0].skill, "http_call");
        assert_eq!(Decision::from_output(&json!({"text": "hi"})), None);
    }
}
