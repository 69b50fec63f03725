//! A run's plan: an ordered list of skill calls whose inputs may reference the run input
//! and earlier steps' outputs.

use crate::template::{references, Reference};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

/// Most steps a plan may have.
pub const MAX_STEPS: usize = 200;
/// Most attempts a step may ask for.
pub const MAX_ATTEMPTS: u32 = 10;
/// Longest step timeout, in milliseconds (15 minutes, the Lambda ceiling).
pub const MAX_TIMEOUT_MS: u64 = 900_000;

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanStep {
    /// Step id, unique in the plan; defaults to `s<index>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name of a registered skill.
    pub skill: String,
    /// The skill's input (an empty object when absent); strings may hold `${...}`
    /// references.
    #[serde(default = "empty_object")]
    pub input: Value,
    /// Attempts before the step (and the run) fails; default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Per-attempt timeout in milliseconds; defaults to the skill's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// First retry delay in milliseconds (doubling, with jitter); defaults to the
    /// worker's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<u64>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl PlanStep {
    /// Attempts allowed for this step.
    pub fn attempts_allowed(&self) -> u32 {
        self.max_attempts.unwrap_or(3)
    }
}

/// An invalid plan; the message names the step and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// A validated plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Plan {
    steps: Vec<PlanStep>,
}

fn check_step(step: &PlanStep, at: &str) -> Result<(), PlanError> {
    let id = step.id.as_deref().unwrap_or("");
    let well_formed =
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !well_formed {
        return Err(PlanError(format!("{at}: step id must be 1-64 of a-z, A-Z, 0-9, '_', '-'")));
    }
    if let Some(a) = step.max_attempts {
        if a == 0 || a > MAX_ATTEMPTS {
            return Err(PlanError(format!("{at}: max_attempts must be 1..={MAX_ATTEMPTS}")));
        }
    }
    if let Some(t) = step.timeout_ms {
        if t == 0 || t > MAX_TIMEOUT_MS {
            return Err(PlanError(format!("{at}: timeout_ms must be 1..={MAX_TIMEOUT_MS}")));
        }
    }
    if let Some(b) = step.backoff_ms {
        if b == 0 || b > 3_600_000 {
            return Err(PlanError(format!("{at}: backoff_ms must be 1..=3600000")));
        }
    }
    Ok(())
}

impl Plan {
    /// Validates `steps`: 1..=200 steps, ids unique and well formed, attempts and
    /// timeouts in range, and every `${steps.X...}` reference naming an earlier step.
    /// Skill names are checked by the registry, not here.
    pub fn new(steps: Vec<PlanStep>) -> Result<Self, PlanError> {
        if steps.is_empty() || steps.len() > MAX_STEPS {
            return Err(PlanError(format!("plan must have 1..={MAX_STEPS} steps, got {}", steps.len())));
        }
        let mut plan = Self { steps: Vec::with_capacity(steps.len()) };
        plan.append(steps, "plan")?;
        Ok(plan)
    }

    /// This plan followed by `more` (steps an agent's planner decided), validated like a
    /// whole plan: ids unique across both, references only to earlier steps. Missing
    /// ids become `s<position>`. The error names the new step at fault as `where[i]`.
    pub fn extended(&self, more: Vec<PlanStep>, origin: &str) -> Result<Self, PlanError> {
        let more = self.checked(more, origin)?;
        let mut plan = self.clone();
        plan.steps.extend(more);
        Ok(plan)
    }

    /// Whether [`Self::extended`] would accept `more` (the same error if not), without
    /// building the longer plan.
    pub fn check_extension(&self, more: Vec<PlanStep>, origin: &str) -> Result<(), PlanError> {
        self.checked(more, origin).map(|_| ())
    }

    fn append(&mut self, more: Vec<PlanStep>, origin: &str) -> Result<(), PlanError> {
        let more = self.checked(more, origin)?;
        self.steps.extend(more);
        Ok(())
    }

    /// `more` checked to follow this plan, missing ids given (see [`Self::extended`]).
    fn checked(&self, more: Vec<PlanStep>, origin: &str) -> Result<Vec<PlanStep>, PlanError> {
        if more.is_empty() {
            return Err(PlanError(format!("{origin}: no steps")));
        }
        if self.steps.len() + more.len() > MAX_STEPS {
            return Err(PlanError(format!(
                "{}: a run has at most {MAX_STEPS} steps; {} are used",
                origin,
                self.steps.len()
            )));
        }
        let earlier: HashSet<&str> = self.steps.iter().filter_map(|s| s.id.as_deref()).collect();
        let mut added: HashSet<String> = HashSet::with_capacity(more.len());
        let mut out = Vec::with_capacity(more.len());
        for (i, mut step) in more.into_iter().enumerate() {
            let position = self.steps.len() + i;
            let id = step.id.get_or_insert_with(|| format!("s{position}")).clone();
            let at = format!("{}[{i}] ({id})", origin);
            check_step(&step, &at)?;
            let own = crate::agent::caller_scope(&step.skill, &step.input);
            let refs = references(&own).map_err(|e| PlanError(format!("{at}: {e}")))?;
            for r in refs {
                if matches!(r, Reference::Item(_) | Reference::Index) {
                    return Err(PlanError(format!("{at}: ${{item}} and ${{index}} exist only in workflow map nodes")));
                }
                if let Reference::StepOutput(target, _) = r {
                    if !earlier.contains(target.as_str()) && !added.contains(&target) {
                        return Err(PlanError(format!(
                            "{at}: input references step {target:?}, which is not an earlier step"
                        )));
                    }
                }
            }
            if earlier.contains(id.as_str()) || !added.insert(id.clone()) {
                return Err(PlanError(format!("{at}: duplicate step id {id:?}")));
            }
            out.push(step);
        }
        Ok(out)
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[PlanStep] {
        &self.steps
    }

    /// Step `index`, if any.
    pub fn step(&self, index: u32) -> Option<&PlanStep> {
        self.steps.get(usize::try_from(index).ok()?)
    }

    /// Number of steps.
    pub fn len(&self) -> u32 {
        u32::try_from(self.steps.len()).unwrap_or(u32::MAX)
    }

    /// Always false for a validated plan; present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The id of step `index` (ids are filled in by validation).
    pub fn step_id(&self, index: u32) -> &str {
        self.step(index).and_then(|s| s.id.as_deref()).unwrap_or("")
    }

    /// The plan as JSON (with ids filled in), e.g. for hashing.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(&self.steps).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn steps(v: Value) -> Vec<PlanStep> {
        serde_json::from_value(v).expect("steps parse")
    }

    #[test]
    fn a_valid_plan_gets_default_ids() {
        let plan = Plan::new(steps(json!([
            {"skill": "a", "input": {}},
            {"id": "b", "skill": "b", "input": {"x": "${steps.s0.output.v}"}}
        ])))
        .expect("valid");
        assert_eq!(plan.step_id(0), "s0");
        assert_eq!(plan.step_id(1), "b");
    }

    #[test]
    fn invalid_plans_name_the_step_at_fault() {
        let forward = Plan::new(steps(json!([
            {"id": "a", "skill": "x", "input": "${steps.b.output}"},
            {"id": "b", "skill": "x"}
        ])))
        .expect_err("forward reference");
        assert!(forward.0.contains("plan[0] (a)") && forward.0.contains("\"b\""), "{forward}");
        let dup =
            Plan::new(steps(json!([{"id": "a", "skill": "x"}, {"id": "a", "skill": "x"}]))).expect_err("duplicate");
        assert!(dup.0.contains("duplicate"));
        assert!(Plan::new(vec![]).is_err());
        assert!(Plan::new(steps(json!([{"skill": "x", "max_attempts": 0}]))).is_err());
        assert!(serde_json::from_value::<Vec<PlanStep>>(json!([{"skill": "x", "bogus": 1}])).is_err());
    }
}
