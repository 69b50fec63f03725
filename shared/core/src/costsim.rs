//! CostSim: the cost, latency and risk of a plan before it runs, and whether it should
//! run at all.
//!
//! Each step has a [`Profile`] (cost in cents, latency, probability of failure and its
//! kind). A step repeated `iterations` times (1 to 100) costs and lasts that many times
//! as much, and fails with probability `1 − (1 − p)^iterations`; the plan fails with
//! probability `1 − Π(1 − step risk)`. The verdict is checked in order: budget
//! (`budget_insufficient`), permissions (`permission_denied`), risk above the threshold
//! (`risk_too_high`), else `feasible`; an empty plan is `invalid_plan`.

use serde::{Deserialize, Serialize};

/// The risk above which a plan is not feasible.
pub const RISK_THRESHOLD: f64 = 0.5;

/// Most repetitions of one step.
pub const MAX_ITERATIONS: u32 = 100;

/// Where a step's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The seed's V1 table.
    Seed,
    /// AOS's price table (what the step will be charged; model calls at their
    /// `max_tokens` and the model's token prices).
    PriceTable,
    /// Runs of the same skill this tenant recorded.
    Recorded,
}

/// What one execution of a skill costs, lasts and risks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Cost in cents.
    pub cost_cents: f64,
    /// Latency in milliseconds.
    pub latency_ms: f64,
    /// Probability that one execution fails.
    pub risk: f64,
    /// How it fails (`timeout`, `rate_limit`, …).
    pub risk_type: String,
    /// Where the figures come from.
    pub source: Source,
}

/// The seed's V1 figures for `skill` (AOS's skill names and the seed's; `kv_store` as
/// the seed's `kv_set`); an unknown skill is 10 c / 1 000 ms / 0.20.
pub fn seed_profile(skill: &str) -> Profile {
    let (cost, latency, risk, kind) = match skill {
        "http_call" => (0.0, 500.0, 0.10, "timeout"),
        "llm_invoke" => (5.0, 2000.0, 0.05, "rate_limit"),
        "json_transform" => (0.0, 10.0, 0.01, "invalid_input"),
        "fs_read" => (0.0, 50.0, 0.05, "not_found"),
        "fs_write" => (0.0, 100.0, 0.05, "io_error"),
        "shell_lite" => (0.0, 200.0, 0.10, "exit_code"),
        "kv_get" => (0.0, 5.0, 0.02, "unavailable"),
        "kv_set" | "kv_store" => (0.0, 10.0, 0.02, "unavailable"),
        "webhook_send" => (0.0, 300.0, 0.10, "timeout"),
        "email_send" => (1.0, 500.0, 0.05, "delivery"),
        _ => (10.0, 1000.0, 0.20, "unknown"),
    };
    Profile { cost_cents: cost, latency_ms: latency, risk, risk_type: kind.to_owned(), source: Source::Seed }
}

/// Whether `skill` is in the seed's V1 table.
pub fn is_known(skill: &str) -> bool {
    seed_profile(skill).risk_type != "unknown"
}

/// One step to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimStep {
    /// The skill.
    pub skill: String,
    /// How many times it runs (1 to [`MAX_ITERATIONS`]).
    pub iterations: u32,
    /// Characters of its prompt (a model call costs at least a cent per 1 000).
    pub prompt_chars: usize,
    /// Its figures for one execution.
    pub profile: Profile,
}

/// One step's estimate.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StepEstimate {
    /// Position in the plan.
    pub step_index: u32,
    /// The skill.
    pub skill: String,
    /// Repetitions.
    pub iterations: u32,
    /// Cost of one execution.
    pub base_cost_cents: f64,
    /// Cost of all of them.
    pub cost_cents: f64,
    /// Latency of one execution.
    pub base_latency_ms: f64,
    /// Latency of all of them.
    pub latency_ms: f64,
    /// Probability that the step fails.
    pub risk: f64,
    /// Where the figures come from.
    pub source: Source,
}

/// A risk worth naming (a step whose single execution fails more often than 5 %).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Risk {
    /// Position in the plan.
    pub step_index: u32,
    /// The skill.
    pub skill: String,
    /// How it fails.
    pub risk_type: String,
    /// Probability that the step fails.
    pub probability: f64,
}

/// A cheaper way to the same end.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Alternative {
    /// What to change.
    pub description: String,
    /// What it would save.
    pub savings_cents: f64,
}

/// Figures about the plan as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SimMetadata {
    /// Steps in the plan.
    pub plan_steps: usize,
    /// Probability that some step fails.
    pub cumulative_risk: f64,
    /// Cost ÷ budget (0 without a budget).
    pub budget_utilization: f64,
}

/// The answer of a simulation.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Simulation {
    /// Whether the plan should run.
    pub feasible: bool,
    /// `feasible`, `budget_insufficient`, `permission_denied`, `risk_too_high` or
    /// `invalid_plan`.
    #[schema(value_type = String)]
    pub status: &'static str,
    /// Total cost.
    pub estimated_cost_cents: f64,
    /// Total latency (steps run one after another).
    pub estimated_duration_ms: f64,
    /// Budget − cost, when there is a budget.
    pub budget_remaining_cents: Option<f64>,
    /// Whether the cost fits the budget (true without one).
    pub budget_sufficient: bool,
    /// Steps a policy would not allow, with why.
    pub permission_gaps: Vec<String>,
    /// Risks worth naming.
    pub risks: Vec<Risk>,
    /// Per step.
    pub step_estimates: Vec<StepEstimate>,
    /// Cheaper ways.
    pub alternatives: Vec<Alternative>,
    /// Anything the caller should know (unknown skills, a budget nearly used up).
    pub warnings: Vec<String>,
    /// Figures about the whole plan.
    pub metadata: SimMetadata,
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn estimate(index: usize, step: &SimStep) -> StepEstimate {
    let n = step.iterations.clamp(1, MAX_ITERATIONS);
    let p = &step.profile;
    let mut base = p.cost_cents;
    if step.skill == "llm_invoke" {
        #[allow(clippy::cast_precision_loss)]
        let floor = (step.prompt_chars / 1000) as f64;
        base = base.max(floor);
    }
    let risk = 1.0 - (1.0 - p.risk.clamp(0.0, 1.0)).powi(i32::try_from(n).unwrap_or(100));
    StepEstimate {
        step_index: u32::try_from(index).unwrap_or(u32::MAX),
        skill: step.skill.clone(),
        iterations: n,
        base_cost_cents: round(base),
        cost_cents: round(base * f64::from(n)),
        base_latency_ms: round(p.latency_ms),
        latency_ms: round(p.latency_ms * f64::from(n)),
        risk: round(risk),
        source: p.source,
    }
}

/// Simulates `steps` against `budget_cents` (if any), given the policy's
/// `permission_gaps` (empty when every step would be allowed).
pub fn simulate(steps: &[SimStep], budget_cents: Option<f64>, permission_gaps: Vec<String>) -> Simulation {
    let estimates: Vec<StepEstimate> = steps.iter().enumerate().map(|(i, s)| estimate(i, s)).collect();
    let cost: f64 = round(estimates.iter().map(|e| e.cost_cents).sum());
    let duration: f64 = round(estimates.iter().map(|e| e.latency_ms).sum());
    let cumulative = round(1.0 - estimates.iter().map(|e| 1.0 - e.risk).product::<f64>());
    let risks = steps
        .iter()
        .zip(&estimates)
        .filter(|(s, _)| s.profile.risk > 0.05)
        .map(|(s, e)| Risk {
            step_index: e.step_index,
            skill: e.skill.clone(),
            risk_type: s.profile.risk_type.clone(),
            probability: e.risk,
        })
        .collect();
    let budget_sufficient = budget_cents.is_none_or(|b| cost <= b);
    let utilization = budget_cents.map_or(0.0, |b| if b > 0.0 { round(cost / b) } else { f64::INFINITY });
    let status = if steps.is_empty() {
        "invalid_plan"
    } else if !budget_sufficient {
        "budget_insufficient"
    } else if !permission_gaps.is_empty() {
        "permission_denied"
    } else if cumulative > RISK_THRESHOLD {
        "risk_too_high"
    } else {
        "feasible"
    };
    Simulation {
        feasible: status == "feasible",
        status,
        estimated_cost_cents: cost,
        estimated_duration_ms: duration,
        budget_remaining_cents: budget_cents.map(|b| round(b - cost)),
        budget_sufficient,
        permission_gaps,
        risks,
        alternatives: alternatives(&estimates),
        warnings: warnings(steps, utilization),
        step_estimates: estimates,
        metadata: SimMetadata { plan_steps: steps.len(), cumulative_risk: cumulative, budget_utilization: utilization },
    }
}

fn alternatives(estimates: &[StepEstimate]) -> Vec<Alternative> {
    let llm: Vec<&StepEstimate> = estimates.iter().filter(|e| e.skill == "llm_invoke").collect();
    let calls: u32 = llm.iter().map(|e| e.iterations).sum();
    if calls < 2 {
        return Vec::new();
    }
    // Halving the model calls (batching prompts, or a cached answer for repeats) saves
    // half of what they cost.
    let saving = round(llm.iter().map(|e| e.cost_cents).sum::<f64>() / 2.0);
    vec![Alternative {
        description: format!("Reduce LLM calls: {calls} planned; batch prompts or reuse cached answers"),
        savings_cents: saving,
    }]
}

fn warnings(steps: &[SimStep], utilization: f64) -> Vec<String> {
    let mut out: Vec<String> = steps
        .iter()
        .filter(|s| s.profile.source == Source::Seed && !is_known(&s.skill))
        .map(|s| format!("unknown skill {:?}: estimated at the unknown-skill rate", s.skill))
        .collect();
    if utilization > 0.8 && utilization <= 1.0 {
        out.push(format!("the plan uses {:.0} % of its budget", utilization * 100.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(skill: &str, iterations: u32) -> SimStep {
        SimStep { skill: skill.into(), iterations, prompt_chars: 0, profile: seed_profile(skill) }
    }

    #[test]
    fn ten_llm_calls_cost_fifty_cents_and_twenty_seconds() {
        let sim = simulate(&[step("llm_invoke", 10)], None, Vec::new());
        assert_eq!((sim.estimated_cost_cents, sim.estimated_duration_ms), (50.0, 20_000.0));
        assert_eq!(sim.step_estimates[0].base_cost_cents, 5.0);
        assert_eq!(sim.status, "feasible");
        assert!(sim.risks.is_empty(), "a 5 % risk is not above 5 %");
        assert_eq!(sim.alternatives[0].savings_cents, 25.0);
    }

    #[test]
    fn ten_llm_calls_and_ten_emails_cost_sixty_cents() {
        let sim = simulate(&[step("llm_invoke", 10), step("email_send", 10)], Some(100.0), Vec::new());
        assert_eq!(sim.estimated_cost_cents, 60.0);
        assert_eq!(sim.budget_remaining_cents, Some(40.0));
    }

    #[test]
    fn a_plan_over_its_budget_is_infeasible_before_anything_else_is_checked() {
        let plan: Vec<SimStep> = (0..25).map(|_| step("unknown_skill", 1)).collect();
        let sim = simulate(&plan, Some(100.0), vec!["step 0: denied".into()]);
        assert_eq!(sim.estimated_cost_cents, 250.0);
        assert_eq!((sim.feasible, sim.status, sim.budget_sufficient), (false, "budget_insufficient", false));
        assert_eq!(sim.metadata.budget_utilization, 2.5);
    }

    #[test]
    fn the_verdict_goes_budget_then_permission_then_risk() {
        let sim = simulate(&[step("http_call", 1)], Some(100.0), vec!["step 0: denied".into()]);
        assert_eq!(sim.status, "permission_denied");
        let risky = simulate(&[step("http_call", 7)], None, Vec::new());
        assert_eq!(risky.risks[0].probability, 0.522, "1 - 0.9^7");
        assert_eq!(risky.status, "risk_too_high");
        assert_eq!(simulate(&[], None, Vec::new()).status, "invalid_plan");
    }

    #[test]
    fn a_long_prompt_costs_at_least_a_cent_per_thousand_characters() {
        let mut long = step("llm_invoke", 2);
        long.prompt_chars = 12_345;
        let sim = simulate(&[long], None, Vec::new());
        assert_eq!(sim.step_estimates[0].base_cost_cents, 12.0);
        assert_eq!(sim.estimated_cost_cents, 24.0);
    }

    #[test]
    fn cumulative_risk_compounds_every_step() {
        let sim = simulate(&[step("http_call", 1), step("webhook_send", 1)], None, Vec::new());
        assert_eq!(sim.metadata.cumulative_risk, 0.19);
        assert_eq!(sim.risks.len(), 2);
    }
}
