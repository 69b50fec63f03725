//! The stages that start a step: `load` (the run, and whether the message is due),
//! `claim` (the step's claim, durable for non-idempotent skills) and `prepare` (what
//! the skill is given, or why the step must not run again).

use super::{millis, notify_parent, Claimed, Handled, StepWorker};
use crate::clock::now_ms;
use crate::ports::{BeginOutcome, BeginStep, Received, RunRecord, StepMessage, StoreError};
use crate::skills::{IdempotencyClass, SkillContext};
use aos_core::determinism::step_seed;
use aos_core::{ErrorCode, StructuredOutcome};
use std::sync::Arc;
use std::time::Duration;

impl StepWorker {
    /// Stage `load`: the run. Acknowledges messages of unknown or finished runs and of
    /// steps that are not due. A redelivered message whose step is already done means
    /// the worker that carried the run on from it (a chain of steps, or a commit whose
    /// next message was lost) died: the run resumes at its next step. Claims make sure
    /// that resuming never runs a step twice.
    pub(super) async fn load(
        &self,
        msg: StepMessage,
        received: &Received,
    ) -> Result<Option<(StepMessage, RunRecord)>, StoreError> {
        let run = match &received.run {
            Some(run) if run.id == msg.run_id && run.tenant == msg.tenant => Some(RunRecord::clone(run)),
            _ => self.store.run(&msg.tenant, &msg.run_id).await?,
        };
        let Some(run) = run else {
            tracing::warn!(run = %msg.run_id, "step message for an unknown run dropped");
            self.queue.delete(&received.receipt).await?;
            return Ok(None);
        };
        if msg.step_index > run.next_step {
            // Not due: only the commit of the step before creates this step's message.
            tracing::warn!(run = %run.id, step = msg.step_index, next = run.next_step, "step message ahead of the run dropped");
            self.queue.delete(&received.receipt).await?;
            return Ok(None);
        }
        if run.status.is_terminal() {
            // The worker that ended the run may have died before telling whoever waits
            // for it (adapters that send the wake-up after the commit), or before a
            // cancelled agent's whole tree was cancelled: do both again (both are
            // idempotent), then drop the message.
            if let Some(sfn) = &self.sfn {
                sfn.answer(&run).await?;
            }
            if let Some(body) = notify_parent(&run) {
                self.queue.send(&body, Duration::ZERO).await?;
            }
            if run.status == aos_core::RunStatus::Cancelled {
                crate::runs::cancel_descendants(self.store.as_ref(), &run.tenant, &run).await?;
            }
            self.queue.delete(&received.receipt).await?;
            return Ok(None);
        }
        if msg.step_index < run.next_step && received.receive_count <= 1 {
            self.queue.delete(&received.receipt).await?;
            return Ok(None);
        }
        let msg = StepMessage { step_index: run.next_step, ..msg };
        Ok(Some((msg, run)))
    }

    /// Stage `claim`: take the step's claim (durably for non-idempotent skills).
    /// `resumed`: the message named an earlier step (see [`BeginStep::resumed`]).
    pub(super) async fn claim(
        &self,
        msg: StepMessage,
        run: RunRecord,
        received: &Received,
        resumed: bool,
    ) -> Result<Result<Claimed, Handled>, StoreError> {
        let step = run.plan.step(msg.step_index).cloned();
        let Some(step) = step else {
            tracing::warn!(run = %run.id, step = msg.step_index, "step index beyond the plan dropped");
            self.queue.delete(&received.receipt).await?;
            return Ok(Err(Handled::Done));
        };
        let class = self.skills.descriptor(&step.skill).map(|d| d.idempotency);
        let now = now_ms();
        let claim = crate::clock::unique_suffix();
        // The first claim of a run's first step reserves its credits in the same write.
        let reserve = if msg.step_index == 0 && run.status == aos_core::RunStatus::Queued {
            self.ahead(&run, &run.plan, 0, run.spent_mc, now).await
        } else {
            None
        };
        // A queued run's first step on its first delivery, safe to run twice, with
        // nothing to reserve: its claim may be taken with its commit (see BeginStep).
        let deferrable = msg.step_index == 0
            && run.status == aos_core::RunStatus::Queued
            && received.receive_count <= 1
            && reserve.is_none()
            && class.is_some_and(|c| c != IdempotencyClass::NonIdempotent);
        let begin = BeginStep {
            reserve,
            tenant: msg.tenant.clone(),
            run_id: msg.run_id.clone(),
            step_index: msg.step_index,
            claim: claim.clone(),
            // A lease, not a deadline: heartbeats extend it while the skill runs, so a
            // dead worker's step is taken over one visibility timeout after it died.
            claim_until_ms: now + millis(self.config.visibility),
            durable: class == Some(IdempotencyClass::NonIdempotent),
            deferrable,
            resumed,
            now_ms: now,
        };
        Ok(match self.store.begin_step(&begin).await? {
            BeginOutcome::Claimed { attempt, taken_over, reserved } => {
                self.changed(&msg);
                let mut run = run;
                if reserved.is_some() {
                    run.ahead = reserved;
                }
                Ok(Claimed::new(msg, run, attempt, taken_over, claim))
            }
            BeginOutcome::AlreadyDone => {
                self.queue.delete(&received.receipt).await?;
                Err(Handled::Done)
            }
            BeginOutcome::Busy { until_ms } => {
                let wait = Duration::from_millis(until_ms.saturating_sub(now)).max(Duration::from_secs(1));
                self.queue.change_visibility(&received.receipt, wait).await?;
                Err(Handled::Busy)
            }
        })
    }

    pub(super) fn step_timeout(&self, run: &RunRecord, index: u32) -> Duration {
        self.plan_step_timeout(&run.plan, index)
    }

    /// The timeout of step `index` of `plan`.
    pub(super) fn plan_step_timeout(&self, plan: &aos_core::Plan, index: u32) -> Duration {
        let step = plan.step(index);
        let default = step.and_then(|s| self.skills.descriptor(&s.skill)).map_or(30_000, |d| d.timeout_ms);
        let declared = Duration::from_millis(step.and_then(|s| s.timeout_ms).unwrap_or(default));
        self.config.max_step.map_or(declared, |max| declared.min(max))
    }

    /// Stage `prepare`: refuse interrupted non-idempotent steps and exhausted attempts,
    /// resolve input references, build the skill context.
    pub(super) fn prepare(&self, c: &Claimed) -> Result<(SkillContext, serde_json::Value), StructuredOutcome> {
        let step = c.run.plan.step(c.msg.step_index).expect("claimed steps exist in the plan");
        let class = self.skills.descriptor(&step.skill).map(|d| d.idempotency);
        if c.taken_over && class == Some(IdempotencyClass::NonIdempotent) {
            return Err(StructuredOutcome::failure(
                ErrorCode::EffectUncertain,
                format!("attempt {} of non-idempotent skill {} was interrupted after it may have had its effect; AOS does not run it twice", c.attempt - 1, step.skill),
            ));
        }
        if c.attempt > step.attempts_allowed() {
            return Err(StructuredOutcome::failure(
                ErrorCode::AttemptsExhausted,
                format!(
                    "step was started {} times without finishing (max_attempts {})",
                    c.attempt - 1,
                    step.attempts_allowed()
                ),
            ));
        }
        Ok((
            SkillContext {
                tenant: c.msg.tenant.clone(),
                run_id: c.msg.run_id.clone(),
                step_index: c.msg.step_index,
                step_id: c.run.plan.step_id(c.msg.step_index).to_owned(),
                attempt: c.attempt,
                seed: step_seed(c.run.base_seed, c.msg.step_index),
                idempotency_key: format!("aos-{}-{}", c.msg.run_id, c.msg.step_index),
                timeout: self.step_timeout(&c.run, c.msg.step_index),
                kv: Arc::clone(&self.kv),
                secrets: Arc::clone(&self.secrets),
            },
            step.input.clone(),
        ))
    }
}
