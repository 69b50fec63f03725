//! The stage that runs a step: `execute` resolves its input (earlier outputs, the
//! run's input, the tenant's secrets), passes the `gate` (the tenant's policies,
//! `worker/gate.rs`) and the `guard` (the target's circuit breaker), and runs the skill (or the agent step) under a heartbeat that keeps the
//! message hidden and the claim alive.

use super::budget::Budgeted;
use super::gate::Gated;
use super::{millis, Claimed, StepWorker};
use crate::agent::{AgentStep, AgentSteps};
use crate::clock::now_ms;
use crate::ports::{BreakerStore, Received};
use crate::secrets::StepSecrets;
use crate::skills::SkillContext;
use aos_core::breaker::Admission;
use aos_core::checkpoint::GateRecord;
use aos_core::template::{references, resolve, Reference, Scope};
use aos_core::{ErrorCode, StructuredOutcome, TenantId};
use std::collections::BTreeMap;

impl StepWorker {
    /// Stage `execute`: resolve references against earlier outputs, run the skill with a
    /// heartbeat that keeps the message hidden and the claim alive.
    pub(super) async fn execute(
        &self,
        c: &Claimed,
        ctx: SkillContext,
        input: serde_json::Value,
        received: &Received,
    ) -> (AgentStep, Option<GateRecord>, Option<Budgeted>) {
        let step = c.run.plan.step(c.msg.step_index).expect("claimed steps exist in the plan");
        let (input, secrets) = match self.resolve_input(c, &step.skill, input).await {
            Ok(resolved) => resolved,
            Err(outcome) => return (outcome.into(), None, None),
        };
        let gate = match self.gate(c, &step.skill, &input).await {
            Gated::Pass(gate) => gate,
            Gated::Stop(outcome, gate) => return (outcome.into(), gate, None),
            Gated::Wait(recheck) => return (AgentStep::Waiting(recheck), None, None),
        };
        let budgeted = match self.budget(c, &step.skill, &input).await {
            Ok(b) => b,
            Err(outcome) => return (outcome.into(), gate, None),
        };
        // What an agent step's children may spend together: the run's budget left after
        // the step's own price.
        let envelope = c.run.budget_mc.map(|limit| {
            limit.saturating_sub(c.run.spent_mc).saturating_sub(budgeted.as_ref().map_or(0, |b| b.estimate.0))
        });
        (self.run_skill(c, ctx, input, secrets, received, envelope).await, gate, budgeted)
    }

    /// The guard, then the skill (or the agent step) under its heartbeat.
    async fn run_skill(
        &self,
        c: &Claimed,
        ctx: SkillContext,
        input: serde_json::Value,
        secrets: StepSecrets,
        received: &Received,
        envelope: Option<u64>,
    ) -> AgentStep {
        let step = c.run.plan.step(c.msg.step_index).expect("claimed steps exist in the plan");
        // Stage `guard`: the target's circuit breaker (an open one refuses without calling).
        let breaker = match (&self.breakers, self.skills.breaker_target(&step.skill, &input)) {
            (Some(store), Some(target)) => Some((store, format!("{}:{target}", step.skill))),
            _ => None,
        };
        if let Some((store, key)) = &breaker {
            if let Err(refused) = self.guard(store.as_ref(), &c.msg.tenant, key).await {
                return refused.into();
            }
        }
        let outcome = if aos_core::agent::is_agent_skill(&step.skill) {
            // Agent steps need the run store: the worker runs them itself.
            let agents = AgentSteps {
                policies: self.policies.as_ref(),
                store: &self.store,
                history: &self.history,
                skills: &self.skills,
                limits: &self.config.agents,
                defaults: &self.config.planner,
                envelope,
            };
            // Agent steps run here, not through the registry: the step's timeout holds
            // for them all the same (a planner's model calls, its repairs included).
            let limit = ctx.timeout;
            let work = tokio::time::timeout(limit, agents.run(&step.skill, &c.run, c.msg.step_index, &ctx, input));
            match self.with_heartbeat(c, work, received).await {
                Ok(AgentStep::Done(outcome)) => outcome,
                Ok(waiting) => return waiting,
                Err(_) => StructuredOutcome::failure(
                    ErrorCode::Timeout,
                    format!("{} did not finish within {} ms", step.skill, limit.as_millis()),
                ),
            }
        } else {
            let outcome = self.with_heartbeat(c, self.skills.execute(&step.skill, &ctx, input), received).await;
            secrets.redact(outcome)
        };
        if let Some((store, key)) = &breaker {
            if let Err(e) =
                store.record(&c.msg.tenant, key, counts_against_breaker(&outcome), now_ms(), &self.config.breaker).await
            {
                tracing::warn!(error = %e, breaker = key, "could not record a call in its circuit breaker");
            }
        }
        AgentStep::Done(outcome)
    }

    /// The step's input with its references resolved: earlier steps' outputs, the run's
    /// input, and the secrets the authored input names (read now, never stored: the
    /// skill gets their values, its outcome gets them redacted). An agent step's child
    /// plans are resolved by the children, not here.
    async fn resolve_input(
        &self,
        c: &Claimed,
        skill: &str,
        mut input: serde_json::Value,
    ) -> Result<(serde_json::Value, StepSecrets), StructuredOutcome> {
        let held = aos_core::agent::hold_child_parts(skill, &mut input);
        let referenced = referenced_steps(&c.run.plan, &input);
        let outputs = if referenced.is_empty() {
            BTreeMap::new()
        } else {
            self.store.step_outputs(&c.msg.tenant, &c.msg.run_id, &referenced).await.map_err(|e| {
                StructuredOutcome::failure(ErrorCode::Internal, format!("could not load step outputs: {e}"))
            })?
        };
        let secrets = StepSecrets::load(self.secrets.as_ref(), &c.msg.tenant, &input).await?;
        if !secrets.is_empty() && aos_core::agent::is_agent_skill(skill) {
            return Err(StructuredOutcome::failure(
                ErrorCode::ValidationFailed,
                format!("{skill} cannot take ${{secrets.…}}: give secrets to the skills of its child plans, never to a planner"),
            ));
        }
        let scope = Scope { secrets: Some(secrets.scope()), ..Scope::new(&c.run.input, &outputs) };
        let mut input = resolve(&input, &scope)
            .map_err(|e| StructuredOutcome::failure(ErrorCode::UnresolvedReference, e.to_string()))?;
        aos_core::agent::restore_child_parts(skill, &mut input, held);
        Ok((input, secrets))
    }

    /// Stage `guard`: whether the circuit breaker `key` lets the call through. A breaker
    /// that cannot be read must not stop work: the call goes ahead, with a warning.
    async fn guard(&self, store: &dyn BreakerStore, tenant: &TenantId, key: &str) -> Result<(), StructuredOutcome> {
        match store.admit(tenant, key, now_ms(), &self.config.breaker).await {
            Ok(Admission::Refuse { retry_after_ms }) => Err(StructuredOutcome::failure(
                ErrorCode::CircuitOpen,
                format!(
                    "calls to {key} are paused: it failed {} times in a row; retrying in {} ms",
                    self.config.breaker.threshold, retry_after_ms
                ),
            )
            .with_details(serde_json::json!({"retry_after_ms": retry_after_ms, "breaker": key}))),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, breaker = key, "circuit breaker unavailable; calling anyway");
                Ok(())
            }
        }
    }

    /// Runs `work` (a skill call) while heartbeating the step's message and claim.
    pub(super) async fn with_heartbeat<T>(
        &self,
        c: &Claimed,
        work: impl std::future::Future<Output = T>,
        received: &Received,
    ) -> T {
        // The heartbeat shares this task with the skill: no spawn, no thread hop.
        let run = work;
        tokio::pin!(run);
        let mut beat =
            tokio::time::interval_at(tokio::time::Instant::now() + self.config.heartbeat, self.config.heartbeat);
        loop {
            tokio::select! {
                outcome = &mut run => return outcome,
                _ = beat.tick() => {
                    if !self.heartbeat(c, &received.receipt).await {
                        c.lost.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }
    }

    /// One heartbeat: the task token, the message and the claim. Returns false when the
    /// claim is gone (another worker took the step over).
    pub(super) async fn heartbeat(&self, c: &Claimed, receipt: &str) -> bool {
        let (run, msg) = (&c.run, &c.msg);
        if let (Some(sfn), Some(token)) = (&self.sfn, run.parent.as_ref().and_then(|p| p.task_token.as_deref())) {
            if let Err(e) = sfn.tokens().heartbeat(token).await {
                tracing::warn!(error = %e, "heartbeat could not reach Step Functions");
            }
        }
        let until = now_ms() + millis(self.config.visibility);
        if let Err(e) = self.queue.change_visibility(receipt, self.config.visibility).await {
            tracing::warn!(error = %e, "heartbeat could not extend the message");
        }
        match self.store.extend_claim(&msg.tenant, &msg.run_id, msg.step_index, &c.claim, until).await {
            Ok(held) => {
                if !held {
                    tracing::warn!(run = %msg.run_id, step = msg.step_index, "heartbeat found the step's claim taken over");
                }
                held
            }
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat could not extend the claim");
                true
            }
        }
    }
}

/// Whether an outcome is an upstream failure a circuit breaker counts: retryable
/// failures (timeouts, 5xx, refused connections), not throttling (it has its own
/// Retry-After) and not the caller's own mistakes.
fn counts_against_breaker(outcome: &StructuredOutcome) -> bool {
    let Some(e) = &outcome.error else { return false };
    e.retryable
        && !matches!(
            e.code,
            ErrorCode::Http429
                | ErrorCode::LlmRateLimit
                | ErrorCode::RateLimitInternal
                | ErrorCode::RateLimitConcurrent
                | ErrorCode::CircuitOpen
        )
}

/// Indexes of the earlier steps whose outputs `input` references.
fn referenced_steps(plan: &aos_core::Plan, input: &serde_json::Value) -> Vec<u32> {
    let Ok(refs) = references(input) else { return Vec::new() };
    let mut out: Vec<u32> = refs
        .iter()
        .filter_map(|r| match r {
            Reference::StepOutput(id, _) => (0..plan.len()).find(|&i| plan.step_id(i) == id),
            _ => None,
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}
