//! The stages that end a step: `suspend` (it waits for child runs), `decide` (retry or
//! end) and `commit` (the one atomic write of its checkpoint, the run's new state and
//! the next message).

use super::budget::{made_for, warning, Budgeted};
use super::{encode, Claimed, StepWorker};
use crate::agent::{apply_decision, Applied};
use crate::changes::Change;
use crate::clock::now_ms;
use crate::ports::{CommitCharge, Received, RunRecord, StepCommit, StepMessage, StepRetry, StepSuspend, StoreError};
use crate::skills::IdempotencyClass;
use crate::workflows::WorkflowMessage;
use aos_core::checkpoint::{ChainLink, GateDecision, GateRecord};
use aos_core::credits::Millicredits;
use aos_core::determinism::backoff;
use aos_core::{Checkpoint, RunStatus, StructuredOutcome};
use std::time::Duration;

/// The largest value (a step's output, an agent's plan) a run keeps, as JSON bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

/// The failure of a step whose output or grown plan is over [`MAX_VALUE_BYTES`].
fn oversize(outcome: &StructuredOutcome, applied: &Applied) -> Option<StructuredOutcome> {
    let len = |v: &serde_json::Value| serde_json::to_vec(v).map_or(0, |b| b.len());
    let (what, size) = match applied {
        Applied::Extended(plan) => ("the agent's plan", serde_json::to_vec(plan).map_or(0, |b| b.len())),
        Applied::Finished(output) => ("the agent's output", len(output)),
        Applied::Nothing => ("the step's output", outcome.output.as_ref().map_or(0, len)),
    };
    (size > MAX_VALUE_BYTES).then(|| {
        StructuredOutcome::failure(
            aos_core::ErrorCode::ValueTooLarge,
            format!("{what} is {size} bytes of JSON; a run keeps values of at most {MAX_VALUE_BYTES} bytes"),
        )
        .with_details(serde_json::json!({"bytes": size, "limit": MAX_VALUE_BYTES}))
    })
}

/// How a step ended before its commit: its outcome, its seed, what the gate decided and
/// what the budget stage reserved.
pub(super) struct Ended {
    pub(super) outcome: StructuredOutcome,
    pub(super) seed: u64,
    pub(super) gate: Option<GateRecord>,
    pub(super) budgeted: Option<Budgeted>,
}

impl StepWorker {
    /// Stage `suspend`: a step waiting for child runs or for an approval gives its claim
    /// back (its attempt is not used up) and its message is acknowledged; a child's end,
    /// a decision or the recheck message brings it back.
    pub(super) async fn suspend(&self, c: &Claimed, received: &Received, recheck: Duration) -> Result<(), StoreError> {
        tracing::info!(run = %c.msg.run_id, step = c.msg.step_index, recheck_ms = recheck.as_millis() as u64, "step parks");
        let suspend = StepSuspend {
            tenant: c.msg.tenant.clone(),
            run_id: c.msg.run_id.clone(),
            step_index: c.msg.step_index,
            recheck: Some(recheck),
            ack: Some(received.receipt.clone()),
            claim: c.claim.clone(),
            now_ms: now_ms(),
        };
        self.store.suspend_step(&suspend).await?;
        self.changed(&c.msg);
        Ok(())
    }

    /// Stage `decide`: success ends the step; a retryable failure with attempts left is
    /// retried after a deterministic back-off (or the upstream's Retry-After); anything
    /// else fails the step and the run (a Step Functions task's run leaves retries to
    /// Step Functions).
    pub(super) async fn decide(
        &self,
        c: Claimed,
        ended: Ended,
        received: &Received,
        chain: bool,
    ) -> Result<Option<(Claimed, Received)>, StoreError> {
        let (outcome, seed) = (&ended.outcome, ended.seed);
        let step = c.run.plan.step(c.msg.step_index).expect("claimed steps exist in the plan");
        // A Step Functions task's failure goes back to Step Functions, whose `Retry`
        // makes the next attempt (a new token, a new run): never retried here too.
        let retried_by_sfn = c.run.parent.as_ref().is_some_and(|p| p.task_token.is_some());
        if !outcome.ok && outcome.is_retryable() && c.attempt < step.attempts_allowed() && !retried_by_sfn {
            let base = step.backoff_ms.map_or(self.config.backoff_base, Duration::from_millis);
            let mut delay = backoff(seed, c.attempt, base, self.config.backoff_cap.max(base));
            if let Some(ms) =
                outcome.error.as_ref().and_then(|e| e.details.as_ref()).and_then(|d| d["retry_after_ms"].as_u64())
            {
                delay = delay.max(Duration::from_millis(ms.min(900_000)));
            }
            tracing::info!(run = %c.msg.run_id, step = c.msg.step_index, attempt = c.attempt, code = ?outcome.code(), delay_ms = delay.as_millis() as u64, "step failed, retrying");
            let retry = StepRetry {
                tenant: c.msg.tenant.clone(),
                run_id: c.msg.run_id.clone(),
                step_index: c.msg.step_index,
                last_error: outcome.error.clone().expect("failed outcomes carry an error"),
                delay,
                ack: Some(received.receipt.clone()),
                claim: c.claim.clone(),
                now_ms: now_ms(),
            };
            self.settle_retried(&c, ended.budgeted.as_ref(), outcome).await;
            self.store.retry_step(&retry).await?;
            self.changed(&c.msg);
            return Ok(None);
        }
        self.commit(c, ended, received, chain).await
    }

    /// Stage `commit`: checkpoint chained to the previous one, run advanced or ended,
    /// next step enqueued (or handed straight back, claimed, when `chain`) and this
    /// message acknowledged, in one atomic write.
    async fn commit(
        &self,
        c: Claimed,
        ended: Ended,
        received: &Received,
        chain: bool,
    ) -> Result<Option<(Claimed, Received)>, StoreError> {
        let Ended { outcome, seed, gate, budgeted } = ended;
        let index = c.msg.step_index;
        let step = c.run.plan.step(index).expect("claimed steps exist in the plan");
        // An agent's planner step grows the plan or ends the run.
        let (outcome, applied) = match apply_decision(&c.run.plan, step, &outcome) {
            Ok(applied) => (outcome, applied),
            Err(failure) => (failure, Applied::Nothing),
        };
        // Every value a run keeps has one cap on every backend: over it, the step fails
        // (once, not retried) instead of meeting a store's limit later.
        let (outcome, applied) = match oversize(&outcome, &applied) {
            Some(failure) => (failure, Applied::Nothing),
            None => (outcome, applied),
        };
        let outcome_hash = outcome.content_hash();
        let hash = ChainLink {
            prev_hash: &c.run.last_hash,
            step_index: index,
            step_id: c.run.plan.step_id(index),
            skill: &step.skill,
            seed,
            outcome_hash: &outcome_hash,
            gate: gate.as_ref(),
        }
        .hash();
        let (plan, finished) = match applied {
            Applied::Extended(plan) => (Some(plan), None),
            Applied::Finished(output) => (None, Some(output)),
            Applied::Nothing => (None, None),
        };
        let last = index + 1 == plan.as_ref().unwrap_or(&c.run.plan).len();
        let (run_status, run_output, run_error, next) = if !outcome.ok {
            (RunStatus::Failed, None, outcome.error.clone(), None)
        } else if let Some(output) = finished {
            (RunStatus::Succeeded, Some(output), None, None)
        } else if last {
            (RunStatus::Succeeded, outcome.output.clone(), None, None)
        } else {
            let next = StepMessage { step_index: index + 1, ..c.msg.clone() };
            (RunStatus::Running, None, None, Some(next))
        };
        // A run that answers a Step Functions task keeps its message until the answer is
        // sent: if this worker dies in between, the redelivery answers.
        let answers_task = run_status.is_terminal()
            && self.sfn.is_some()
            && c.run.parent.as_ref().is_some_and(|p| p.task_token.is_some());
        // A policy decision other than a plain allow goes on the tenant's audit record
        // with the step's commit.
        let audit = gate.as_ref().filter(|g| g.decision != GateDecision::Allow).map(|g| {
            let code = outcome.error.as_ref().map(|e| e.code.as_str());
            aos_core::audit::AuditEvent::new(
                &c.msg.tenant,
                aos_core::audit::Actor::system(),
                "gate.decide",
                format!("run:{}/step:{index}", c.msg.run_id),
                g.decision.as_str(),
                now_ms(),
            )
            .because(outcome.error.iter().map(|e| e.message.clone()).collect())
            .with_details(serde_json::json!({
                "skill": step.skill,
                "policy_version": g.policy_version,
                "policies": g.policies,
                "approval": g.approval,
                "code": code,
            }))
        });
        let (charge_record, mut charge) = budgeted.as_ref().map(|b| b.charge(&outcome, c.run.spent_mc)).unzip();
        // The commit's time: its post, and the reservation it makes ahead, carry it.
        let now = now_ms();
        if let (Some(ch), Some(next)) = (charge.as_mut(), &next) {
            // The next step's reservation rides in this commit.
            let plan = plan.as_ref().unwrap_or(&c.run.plan);
            ch.ahead = self.ahead(&c.run, plan, next.step_index, ch.run_spent_mc, now).await;
        }
        if charge.is_none() && c.attempt == 1 {
            // A step that ended before its budget stage (refused by its gate, its input
            // or its own budget) returns the reservation made ahead for it.
            if let Some(a) = c.run.ahead.as_ref().filter(|a| made_for(a, index)) {
                charge = Some(CommitCharge {
                    amount: Millicredits::ZERO,
                    run_spent_mc: c.run.spent_mc,
                    settle: Some((a.clone(), Millicredits::ZERO)),
                    spend: None,
                    envelope: None,
                    ahead: None,
                });
            }
        }
        let warned = charge.as_ref().and_then(|ch| warning(&c, ch.amount));
        let spend_warnings = budgeted.as_ref().map(|b| b.limits.warnings.clone()).unwrap_or_default();
        // What the step used, its own part only (an agent's children have their own runs).
        let own =
            budgeted.as_ref().map_or_else(|| Millicredits::from_credits(outcome.cost_cents), |b| b.actual(&outcome));
        let line = aos_core::usage::step_line(&step.skill, &outcome, own);
        let usage = c.run.usage.with(&line);
        let usage_record = run_status.is_terminal().then(|| c.run.usage_record(run_status, now, usage.clone()));
        // A workflow node's run that ends here advances its execution in the same write
        // (its turn holds this process's other changes of the execution until the store
        // has queued the commit).
        let ends_node = match (&self.workflows, run_status.is_terminal()) {
            (Some(flows), true) => {
                match flows.run_end(&c.run, run_status, run_output.as_ref(), run_error.as_ref()).await {
                    Ok(ends) => ends,
                    Err(crate::workflows::FlowError::Store(e)) => return Err(e),
                    Err(e) => {
                        // Its run_ended message meets the same error, where it is reported.
                        tracing::warn!(run = %c.msg.run_id, error = %e, "execution not advanced with the run's end");
                        None
                    }
                }
            }
            _ => None,
        };
        let execution = ends_node.map(std::sync::Arc::new);
        // The first run it starts comes straight back here, claimed, unless its first step
        // needs a reservation (the claim of a queued run's first step makes that).
        let hand_back = match execution.as_ref().and_then(|w| w.runs.first()) {
            Some(first) if chain => self.ahead(first, &first.plan, 0, 0, now).await.is_none(),
            _ => chain && next.is_some(),
        };
        // The step handed back (the run's own next step, or the first step of the first
        // run its execution write starts) on this message's first delivery, with a skill
        // safe to run twice and nothing reserved for it ahead (a metered run's ledger ids
        // count attempts): its claim may be left to its own first write.
        let handed_step = match (&next, execution.as_ref().and_then(|w| w.runs.first())) {
            (Some(n), _) => plan.as_ref().unwrap_or(&c.run.plan).step(n.step_index),
            (None, Some(first)) => first.plan.step(0),
            (None, None) => None,
        };
        let defer_next = hand_back
            && received.receive_count <= 1
            && charge.as_ref().is_none_or(|ch| ch.ahead.is_none())
            && handed_step.is_some_and(|s| {
                self.skills.descriptor(&s.skill).is_some_and(|d| d.idempotency != IdempotencyClass::NonIdempotent)
            });
        let commit = StepCommit {
            tokens: line.counters.tokens(),
            usage,
            usage_record,
            audit: audit.into_iter().chain(warned).chain(spend_warnings).collect(),
            charge,
            tenant: c.msg.tenant.clone(),
            run_id: c.msg.run_id.clone(),
            checkpoint: Checkpoint {
                step_index: index,
                step_id: c.run.plan.step_id(index).to_owned(),
                skill: step.skill.clone(),
                seed,
                attempts: c.attempt,
                outcome,
                outcome_hash,
                prev_hash: c.run.last_hash.clone(),
                hash,
                created_at_ms: now_ms(),
                gate,
                charge: charge_record,
            },
            run_status,
            run_output,
            run_error,
            notify: run_status.is_terminal().then(|| notify_parent(&c.run)).flatten(),
            next,
            plan,
            execution,
            ack: (!answers_task).then(|| received.receipt.clone()),
            lease_next: hand_back.then_some(self.config.visibility),
            claim: c.claim.clone(),
            next_claim: crate::clock::unique_suffix(),
            defer_next,
            deferred: c.deferred,
            now_ms: now,
        };
        // Budget warnings' webhooks are queued before the commit (each once, by what it is
        // about), so a crash between the two cannot lose them.
        if let Some(url) = &c.run.notify_url {
            crate::notify::budget_warnings(self.store.as_ref(), &c.msg.tenant, url, &commit.audit, now).await;
        }
        let committed = self.store.commit_step(&commit).await?;
        let outcome = &commit.checkpoint.outcome;
        tracing::info!(run = %c.msg.run_id, step = index, ok = outcome.ok, code = ?outcome.code(), run_status = %committed.status, "step committed");
        self.signal(&c.msg, if committed.status.is_terminal() { Change::Ended } else { Change::Moved });
        // The execution the commit finished (if the store took its write: else the run's
        // message takes the end there, and says so then; a signal too many only makes a
        // waiter read again).
        if let (Some(flows), Some(w)) = (&self.workflows, &commit.execution) {
            flows.written(&w.execution);
        }
        if let (true, Some(sfn)) = (answers_task, &self.sfn) {
            let mut ended = c.run.clone();
            ended.status = committed.status;
            ended.output.clone_from(&commit.run_output);
            ended.error.clone_from(&commit.run_error);
            ended.updated_at_ms = commit.now_ms;
            sfn.answer(&ended).await?;
            self.queue.delete(&received.receipt).await?;
        }
        Ok(match (committed.next, commit.next) {
            (Some(next_received), Some(msg)) => {
                let mut run = c.run;
                if let Some(plan) = commit.plan {
                    run.plan = plan;
                }
                run.status = committed.status;
                run.next_step = committed.next_step;
                run.last_hash = committed.last_hash;
                if let Some(charge) = &commit.charge {
                    run.spent_mc = charge.run_spent_mc;
                }
                run.ahead = committed.ahead;
                run.usage = commit.usage;
                let mut next = Claimed::new(msg, run, 1, false, commit.next_claim);
                next.deferred = commit.defer_next;
                Some((next, next_received))
            }
            (Some(next_received), None) => {
                // The first run the execution's write started, handed back claimed.
                let first = commit.execution.and_then(|w| w.runs.first().cloned());
                first.map(|mut run| {
                    run.status = RunStatus::Running;
                    let msg = StepMessage { tenant: run.tenant.clone(), run_id: run.id.clone(), step_index: 0 };
                    self.changed(&msg);
                    let mut next = Claimed::new(msg, run, 1, false, commit.next_claim);
                    next.deferred = commit.defer_next;
                    (next, next_received)
                })
            }
            _ => None,
        })
    }
}

/// The message a finished run sends: the waiting step of the run that started it (an
/// agent step), or the `run_ended` message of a workflow run for its embedded execution.
/// Its receivers ignore repeats, so it may be sent again whenever in doubt.
pub fn notify_parent(run: &RunRecord) -> Option<String> {
    if let Some(caller) = &run.caller {
        let wake =
            StepMessage { tenant: run.tenant.clone(), run_id: caller.run_id.clone(), step_index: caller.step_index };
        return Some(encode(&wake));
    }
    let parent = run.parent.as_ref().filter(|p| p.task_token.is_none())?;
    Some(
        WorkflowMessage::RunEnded {
            tenant: run.tenant.clone(),
            execution: parent.execution.clone(),
            slot: parent.slot.clone(),
            run_id: run.id.clone(),
        }
        .encode(),
    )
}
