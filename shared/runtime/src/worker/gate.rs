//! Stage `gate`: the tenant's policies judge the step — its skill, its resolved input,
//! its kind, its outbound target, its run — after its input is resolved and before it
//! runs. Every step of every kind comes through here: plan steps, workflow nodes and
//! compensations (their runs), planner-decided steps and the steps of agents' child runs.
//!
//! Allow: the step runs. Deny: it fails with `ERR_POLICY_VIOLATION` (not retried) naming
//! the policy. Either way, when the tenant has policies, the decision and the policy
//! version go into the step's checkpoint (covered by its chain hash).

use super::{Claimed, StepWorker};
use crate::clock::now_ms;
use crate::policies::{step_facts, Decision, StepKind, StepSubject, DEFAULT_PLAN};
use aos_core::checkpoint::{GateDecision, GateRecord};
use aos_core::{ErrorCode, StructuredOutcome};
use serde_json::{json, Value};

/// What the gate lets happen.
pub(super) enum Gated {
    /// The step runs; the record is what its checkpoint keeps (`None`: no policies).
    Pass(Option<GateRecord>),
    /// The step ends with this outcome without running (and the record, when the
    /// policies decided).
    Stop(StructuredOutcome, Option<GateRecord>),
}

/// The kind of the run's step `index`, as policies see it.
fn kind_of(run: &crate::ports::RunRecord, index: u32) -> StepKind {
    if let Some(parent) = &run.parent {
        return if parent.slot.compensation { StepKind::Compensation } else { StepKind::WorkflowNode };
    }
    let planned = run.plan.step(0).is_some_and(|s| s.skill == aos_core::agent::PLAN_SKILL);
    if planned && index > 0 {
        StepKind::PlannerStep
    } else if run.caller.is_some() {
        StepKind::ChildRun
    } else {
        StepKind::PlanStep
    }
}

impl StepWorker {
    /// Stage `gate` (see the module). A tenant's policies that cannot be read stop the
    /// step for now (a retryable failure): a gate that cannot decide never lets a step by.
    pub(super) async fn gate(&self, c: &Claimed, skill: &str, input: &Value) -> Gated {
        let Some(policies) = &self.policies else { return Gated::Pass(None) };
        let current = match policies.compiled(&c.msg.tenant).await {
            Ok(current) => current,
            Err(e) => {
                let failure = StructuredOutcome::failure(
                    ErrorCode::Internal,
                    format!("the tenant's policies could not be read, so the step did not run: {e}"),
                );
                return Gated::Stop(failure, None);
            }
        };
        if current.version == 0 {
            return Gated::Pass(None);
        }
        let run_id = c.run.id.to_string();
        let subject = StepSubject {
            tenant: &c.msg.tenant,
            run_id: &run_id,
            skill,
            input,
            kind: kind_of(&c.run, c.msg.step_index),
            depth: c.run.caller.as_ref().map_or(0, |l| l.depth),
            agent: c.run.plan.step(0).is_some_and(|s| s.skill == aos_core::agent::PLAN_SKILL),
            workflow: "",
            spent_cents: 0,
            estimated_cents: 0,
            plan: DEFAULT_PLAN,
            now_ms: now_ms(),
        };
        // An unregistered skill is not judged here: running it fails as unknown.
        let Some(facts) = step_facts(&self.skills, &subject) else { return Gated::Pass(None) };
        let judged = current.policies.evaluate(&facts);
        let named: Vec<String> = judged.violations.iter().map(|v| v.policy.clone()).collect();
        let record = |decision| GateRecord {
            decision,
            policy_version: current.version,
            policies: named.clone(),
            approval: None,
        };
        match judged.decision {
            Decision::Allow => Gated::Pass(Some(record(GateDecision::Allow))),
            Decision::Deny | Decision::RequiresApproval => {
                let deciding =
                    judged.violations.iter().find(|v| v.effect == judged.decision).or(judged.violations.first());
                let said = match deciding {
                    Some(v) => format!("policy {} refused {skill}: {}", v.policy, v.message),
                    None => format!("{skill} refused: {}", judged.reasons.join("; ")),
                };
                let message = match (judged.decision, judged.approval_level_required) {
                    // Approvals of steps outside workflows are the next slice of the gate:
                    // until then a step that needs one is refused, never let by.
                    (Decision::RequiresApproval, Some(level)) => format!(
                        "{said} (it needs an approval at level {level}; steps outside workflow approval nodes cannot wait for one yet)"
                    ),
                    _ => said,
                };
                let failure = StructuredOutcome::failure(ErrorCode::PolicyViolation, message).with_details(json!({
                    "policy_version": current.version,
                    "decision": judged.decision,
                    "violations": judged.violations,
                    "reasons": judged.reasons,
                    "approval_level_required": judged.approval_level_required,
                }));
                Gated::Stop(failure, Some(record(GateDecision::Deny)))
            }
        }
    }
}
