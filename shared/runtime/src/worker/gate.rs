//! Stage `gate`: the tenant's policies judge the step — its skill, its resolved input,
//! its kind, its outbound target, its run — after its input is resolved and before it
//! runs. Every step of every kind comes through here: plan steps, workflow nodes and
//! compensations (their runs), planner-decided steps and the steps of agents' child runs.
//!
//! Allow: the step runs. Deny: it fails with `ERR_POLICY_VIOLATION` (not retried) naming
//! the policy. Require approval: the step parks without holding a worker (as an agent
//! step waiting for its children does) behind an approval at the level its policies ask;
//! a decision wakes it (approved: it runs; rejected: it fails with
//! `ERR_APPROVAL_REJECTED`), and its recheck at the approval's timeout escalates the
//! request (when a policy says `@escalate`) or expires it (`ERR_APPROVAL_TIMED_OUT`).
//! The approval's id comes from the run and the step, so a redelivered or re-woken step
//! finds the same request. Whenever the tenant has policies, the decision and the policy
//! version go into the step's checkpoint (covered by its chain hash).

use super::{Claimed, StepWorker};
use crate::clock::now_ms;
use crate::policies::{step_facts, Decision, StepKind, StepSubject, DEFAULT_PLAN};
use crate::ports::{ApprovalRecord, ApprovalStatus, ApprovalStep, StoreError, WorkflowStore};
use aos_core::checkpoint::{GateDecision, GateRecord};
use aos_core::determinism::content_hash;
use aos_core::{ApprovalId, ErrorCode, RunId, StructuredOutcome};
use aos_governance::Evaluation;
use serde_json::{json, Value};
use std::time::Duration;

/// What the gate lets happen.
pub(super) enum Gated {
    /// The step runs; the record is what its checkpoint keeps (`None`: no policies).
    Pass(Option<GateRecord>),
    /// The step ends with this outcome without running (and the record, when the
    /// policies decided).
    Stop(StructuredOutcome, Option<GateRecord>),
    /// The step waits for a person: it parks and is looked at again after this long at
    /// the latest.
    Wait(Duration),
}

/// The id of the approval that holds back step `index` of `run`: the same for every
/// delivery and attempt of the step.
pub fn step_approval_id(run: &RunId, index: u32) -> ApprovalId {
    ApprovalId::from_suffix(&content_hash(&json!(["step", run, index]))[..32]).expect("hex suffixes are valid ids")
}

/// An open approval whose time is up, moved on: escalated to its policies' higher level
/// for another period (once), or expired.
pub fn timed_out(approval: ApprovalRecord, now: u64) -> ApprovalRecord {
    let step = approval.step.clone();
    match step.as_ref().and_then(|s| s.escalate_to.map(|level| (level, s.timeout_ms))) {
        Some((level, period)) if approval.status == ApprovalStatus::Pending => {
            let from = approval.required_level;
            let reason = format!("nobody at level {from} decided in time; escalated to level {level}");
            let mut next = approval.moved(ApprovalStatus::Escalated, None, Some(level), reason, now);
            next.required_level = level;
            next.expires_at_ms = now.saturating_add(period);
            next
        }
        _ => {
            let reason = format!("nobody at level {} decided in time", approval.required_level);
            approval.moved(ApprovalStatus::Expired, None, None, reason, now)
        }
    }
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
        if let Some(stop) = self.flagged_off(c, skill).await {
            return stop;
        }
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
            workflow: c.run.parent.as_ref().map_or("", |p| p.workflow.as_str()),
            spent_cents: i64::try_from(c.run.spent_mc / aos_core::credits::MILLI).unwrap_or(i64::MAX),
            estimated_cents: self.credits.as_ref().map_or(0, |credits| {
                i64::try_from(credits.estimate(skill, input).0.div_ceil(aos_core::credits::MILLI)).unwrap_or(i64::MAX)
            }),
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
            Decision::RequiresApproval => match &self.approvals {
                Some(store) => {
                    let asked = Asked { skill, evaluation: &judged, version: current.version, policies: named.clone() };
                    self.wait_for_approval(c, store.as_ref(), &asked).await
                }
                // Without an approval store a step that needs one is refused, never let by.
                None => refuse(
                    skill,
                    &judged,
                    current.version,
                    "this worker keeps no approvals",
                    record(GateDecision::Deny),
                ),
            },
            Decision::Deny => refuse(skill, &judged, current.version, "", record(GateDecision::Deny)),
        }
    }

    /// A feature flag that switches the step's skill off stops it (`ERR_SKILL_DISABLED`,
    /// not retried); flags that cannot be read stop it for now (retried), never let it by.
    async fn flagged_off(&self, c: &Claimed, skill: &str) -> Option<Gated> {
        let flags = self.flags.as_ref()?;
        let kind = kind_of(&c.run, c.msg.step_index);
        let attributes = std::collections::BTreeMap::from([
            ("skill".to_owned(), skill.to_owned()),
            ("kind".to_owned(), kind.as_str().to_owned()),
            ("run_id".to_owned(), c.run.id.to_string()),
            ("depth".to_owned(), c.run.caller.as_ref().map_or(0, |l| l.depth).to_string()),
        ]);
        match flags.disabling(&c.msg.tenant, skill, c.run.id.as_str(), &attributes).await {
            Ok(None) => None,
            Ok(Some((key, answer))) => {
                let failure = StructuredOutcome::failure(
                    ErrorCode::SkillDisabled,
                    format!("{skill} is switched off for this run by feature flag {key} ({})", answer.reason),
                )
                .with_details(json!({"flag": key, "environment": flags.environment(), "answer": answer}));
                Some(Gated::Stop(failure, None))
            }
            Err(e) => Some(Gated::Stop(
                StructuredOutcome::failure(
                    ErrorCode::Internal,
                    format!("the tenant's feature flags could not be read, so the step did not run: {e}"),
                ),
                None,
            )),
        }
    }

    /// The step's approval: asked for when there is none yet; the step waits while it is
    /// open and runs, fails or waits again (escalated) by what became of it.
    async fn wait_for_approval(&self, c: &Claimed, store: &dyn WorkflowStore, asked: &Asked<'_>) -> Gated {
        let id = step_approval_id(&c.run.id, c.msg.step_index);
        let unreadable = |e: StoreError| {
            let failure = StructuredOutcome::failure(
                ErrorCode::Internal,
                format!("the step's approval {id} could not be read or written, so the step did not run: {e}"),
            );
            Gated::Stop(failure, None)
        };
        // A change racing this one (a decision, another delivery) is read back and
        // judged again; three rounds settle any such race.
        for _ in 0..3 {
            let now = now_ms();
            let found = match store.approval(&c.msg.tenant, &id).await {
                Ok(found) => found,
                Err(e) => return unreadable(e),
            };
            let Some(approval) = found else {
                let request = asked.request(c, &id, now);
                let wait = Duration::from_millis(request.expires_at_ms - now);
                let audit = request.audit(aos_core::audit::Actor::system(), "approval.request");
                match store.put_approval(&request, None, None, &[audit]).await {
                    Ok(()) => {
                        tracing::info!(run = %c.msg.run_id, step = c.msg.step_index, approval = %id, level = request.required_level, "step waits for an approval");
                        crate::notify::approval_changed(self.store.as_ref(), &request, now).await;
                        return Gated::Wait(wait);
                    }
                    Err(StoreError::Conflict(_)) => continue,
                    Err(e) => return unreadable(e),
                }
            };
            // Whatever became of it is sent to its webhooks (again, harmlessly, when a
            // crash came between the change and its notice).
            crate::notify::approval_changed(self.store.as_ref(), &approval, now).await;
            let record = |decision| GateRecord {
                decision,
                policy_version: asked.version,
                policies: asked.policies.clone(),
                approval: Some(id.to_string()),
            };
            let ended = |code: ErrorCode, message: String, decision| {
                let failure = StructuredOutcome::failure(code, message).with_details(json!({
                    "approval_id": id,
                    "status": approval.status,
                    "decided_by": approval.decided_by,
                    "comment": approval.comment,
                    "policy_version": asked.version,
                }));
                Gated::Stop(failure, Some(record(decision)))
            };
            match approval.status {
                status if status.is_open() && now < approval.expires_at_ms => {
                    return Gated::Wait(Duration::from_millis(approval.expires_at_ms - now));
                }
                status if status.is_open() => {
                    let next = timed_out(approval.clone(), now);
                    let action =
                        if next.status == ApprovalStatus::Escalated { "approval.escalate" } else { "approval.expire" };
                    let audit = next.audit(aos_core::audit::Actor::system(), action);
                    match store.put_approval(&next, Some(status), None, &[audit]).await {
                        Ok(()) | Err(StoreError::Conflict(_)) => continue,
                        Err(e) => return unreadable(e),
                    }
                }
                ApprovalStatus::Approved => {
                    let level = asked.evaluation.approval_level_required.unwrap_or(1);
                    if approval.required_level < level {
                        let message = format!(
                            "approval {id} was given at level {}, but the tenant's policies (version {}) now ask for level {level}",
                            approval.required_level, asked.version
                        );
                        return ended(ErrorCode::PolicyViolation, message, GateDecision::Deny);
                    }
                    return Gated::Pass(Some(record(GateDecision::Approved)));
                }
                ApprovalStatus::Rejected => {
                    let by = approval.decided_by.as_deref().unwrap_or("a decider");
                    let message = format!("{by} rejected approval {id} of {}", asked.skill);
                    return ended(ErrorCode::ApprovalRejected, message, GateDecision::Rejected);
                }
                ApprovalStatus::Expired => {
                    let message = format!("nobody decided approval {id} of {} in time", asked.skill);
                    return ended(ErrorCode::ApprovalTimedOut, message, GateDecision::Expired);
                }
                _ => {
                    let message = format!("approval {id} of {} was cancelled", asked.skill);
                    return ended(ErrorCode::RunCancelled, message, GateDecision::Rejected);
                }
            }
        }
        unreadable(StoreError::Conflict("the approval kept changing while it was read".to_owned()))
    }
}

/// What the policies asked of a step that needs an approval.
struct Asked<'a> {
    skill: &'a str,
    evaluation: &'a Evaluation,
    version: u32,
    policies: Vec<String>,
}

impl Asked<'_> {
    /// The approval request for the step.
    fn request(&self, c: &Claimed, id: &ApprovalId, now: u64) -> ApprovalRecord {
        let e = self.evaluation;
        let level = e.approval_level_required.unwrap_or(1);
        let timeout_s = e.approval_timeout_s.unwrap_or(aos_governance::DEFAULT_APPROVAL_TIMEOUT_S);
        let timeout_ms = timeout_s.saturating_mul(1000);
        let asking: Vec<&str> = e
            .violations
            .iter()
            .filter(|v| v.effect == Decision::RequiresApproval)
            .map(|v| v.message.as_str())
            .collect();
        let prompt = format!("run {} wants to call {}: {}", c.run.id, self.skill, asking.join("; "));
        ApprovalRecord {
            execution: c.run.parent.as_ref().map(|p| p.execution.clone()),
            step: Some(ApprovalStep {
                run_id: c.run.id.clone(),
                step_index: c.msg.step_index,
                skill: self.skill.to_owned(),
                policies: self.policies.clone(),
                policy_version: self.version,
                timeout_ms,
                escalate_to: e.escalate_to,
                // Approvals of notification runs notify nobody (no loop of notices).
                notify: if crate::notify::is_notification(&c.run) { Vec::new() } else { e.notify.clone() },
            }),
            ..ApprovalRecord::pending(
                c.msg.tenant.clone(),
                id.clone(),
                prompt,
                level,
                now.saturating_add(timeout_ms),
                now,
                format!("asked by {}", self.policies.join(", ")),
            )
        }
    }
}

/// The refusal of a step its policies deny (or that needs an approval it cannot wait
/// for: `why`).
fn refuse(skill: &str, judged: &Evaluation, version: u32, why: &str, record: GateRecord) -> Gated {
    let deciding = judged.violations.iter().find(|v| v.effect == judged.decision).or(judged.violations.first());
    let said = match deciding {
        Some(v) => format!("policy {} refused {skill}: {}", v.policy, v.message),
        None => format!("{skill} refused: {}", judged.reasons.join("; ")),
    };
    let message = match judged.approval_level_required {
        Some(level) if !why.is_empty() => format!("{said} (it needs an approval at level {level}, but {why})"),
        _ => said,
    };
    let failure = StructuredOutcome::failure(ErrorCode::PolicyViolation, message).with_details(json!({
        "policy_version": version,
        "decision": judged.decision,
        "violations": judged.violations,
        "reasons": judged.reasons,
        "approval_level_required": judged.approval_level_required,
    }));
    Gated::Stop(failure, Some(record))
}
