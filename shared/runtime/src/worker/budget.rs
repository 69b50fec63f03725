//! Stage `budget` (the gate's money check, after the policies): what the step is
//! estimated to cost must fit the run's budget and, when the tenant is metered, be
//! reserved from its credits before the step runs. The reservation's id comes from the
//! run, the step and the attempt, so a redelivery finds the same one; the step's commit
//! settles it in the same write (`worker/end.rs`). A step that does not fit does not run:
//! the run fails with `ERR_BUDGET_EXCEEDED`, saying what was spent, what the step would
//! cost and the limit.

use super::{millis, Claimed, StepWorker};
use crate::clock::now_ms;
use crate::ports::RunRecord;
use crate::ports::{CommitCharge, CreditError};
use aos_core::credits::{
    reservation, Cause, LedgerError, Millicredits, PendingState, StepCharge, Transfer, TransferId, TransferKind,
};
use aos_core::{ErrorCode, Plan, StructuredOutcome, TenantId};
use serde_json::{json, Value};

/// How long a reservation outlives its step's timeout before it returns by itself
/// (covers a worker's takeover after a crash and the commit).
const RESERVATION_MARGIN_MS: u64 = 5 * 60 * 1000;

/// The share of a run's budget past which its spending is on the audit record.
pub const WARNING_SHARE: f64 = 0.8;

/// What the budget stage let through: the step's estimate, its price and its reservation.
#[derive(Debug, Clone)]
pub(super) struct Budgeted {
    /// Estimated before it runs (what was reserved).
    pub(super) estimate: Millicredits,
    /// Its skill's price (what a successful step is charged besides its model calls).
    base: Millicredits,
    /// The tenant's reservation, when the tenant is metered.
    reservation: Option<Transfer>,
    /// An `agent_invoke` / `agent_spawn` step: what its children spent is the run's too.
    calls_children: bool,
    /// What was taken from the tenant's spend windows and the execution's envelope.
    pub(super) limits: super::limits::Taken,
}

impl Budgeted {
    /// What a step that ended with `outcome` is charged: a success its price and its
    /// model calls, a failure only its model calls (its price is refunded).
    pub(super) fn actual(&self, outcome: &StructuredOutcome) -> Millicredits {
        // A model call reports its exact cost beside the whole cents it rounds up to.
        let exact = outcome.output.as_ref().and_then(|o| o.get("cost_cents_exact")).and_then(Value::as_f64);
        let calls = exact.map_or_else(|| Millicredits::from_credits(outcome.cost_cents), Millicredits::from_cents_f64);
        if outcome.ok {
            self.base.checked_add(calls).unwrap_or(self.base)
        } else {
            calls
        }
    }

    /// What the children of an agent step spent (their own steps paid the ledger).
    fn children(&self, outcome: &StructuredOutcome) -> Millicredits {
        if !self.calls_children {
            return Millicredits::ZERO;
        }
        let view = outcome.output.as_ref().or(outcome.error.as_ref().and_then(|e| e.details.as_ref()));
        view.and_then(|v| v.get("spent_cents"))
            .and_then(Value::as_f64)
            .map_or(Millicredits::ZERO, Millicredits::from_cents_f64)
    }

    /// The checkpoint's record of the charge and the commit's ledger work. An agent
    /// step's charge to its run includes what its children spent; the ledger is posted
    /// only the step's own part.
    pub(super) fn charge(&self, outcome: &StructuredOutcome, run_spent_mc: u64) -> (StepCharge, CommitCharge) {
        let own = self.actual(outcome);
        let actual = own.checked_add(self.children(outcome)).unwrap_or(own);
        let record = StepCharge {
            estimate: self.estimate,
            actual,
            reservation: self.reservation.as_ref().map(|r| r.id.clone()),
        };
        // The ledger posts at most what was reserved: the estimate covers a model call's
        // max_tokens, so only a misjudged prompt length can go past it.
        let settle = self.reservation.clone().map(|r| {
            let post = own.min(r.amount);
            (r, post)
        });
        let (spend, envelope) = self.limits.adjust(own, now_ms());
        let run_spent_mc = run_spent_mc.saturating_add(actual.0);
        (record, CommitCharge { amount: actual, run_spent_mc, settle, spend, envelope, ahead: None })
    }
}

pub(super) fn exceeded(message: String, details: Value) -> StructuredOutcome {
    StructuredOutcome::failure(ErrorCode::BudgetExceeded, message).with_details(details).with_retryable(false)
}

impl StepWorker {
    /// Stage `budget` (see the module). `Ok(None)`: this worker keeps no credits.
    pub(super) async fn budget(
        &self,
        c: &Claimed,
        skill: &str,
        input: &Value,
    ) -> Result<Option<Budgeted>, StructuredOutcome> {
        let Some(credits) = &self.credits else { return Ok(None) };
        let index = c.msg.step_index;
        let estimate = credits.estimate(skill, input);
        let base = credits.price(skill, input);
        let calls_children = aos_core::agent::is_agent_skill(skill) && skill != aos_core::agent::PLAN_SKILL;
        let run = &c.run;
        if let Some(limit) = run.budget_mc {
            let (spent, limit) = (Millicredits(run.spent_mc), Millicredits(limit));
            if spent.checked_add(estimate).is_none_or(|total| total > limit) {
                return Err(exceeded(
                    format!(
                        "step {index} ({skill}) is estimated at {} c and the run has spent {} c of its {} c budget",
                        estimate.cents(),
                        spent.cents(),
                        limit.cents()
                    ),
                    json!({"scope": "run", "spent_cents": spent.cents(), "estimate_cents": estimate.cents(), "limit_cents": limit.cents()}),
                ));
            }
        }
        let now = now_ms();
        let tenant = &c.msg.tenant;
        let limits = self.take_limits(c, skill, estimate, now).await?;
        let budgeted = |reservation| Budgeted { estimate, base, reservation, calls_children, limits: limits.clone() };
        let timeout =
            now + millis(self.step_timeout(run, index)) + millis(self.config.visibility) + RESERVATION_MARGIN_MS;
        // The reservation made ahead for this step (by the commit of the step before, or
        // the claim), from its input as authored: used when it covers the estimate and
        // outlives the step; else returned now and made anew below.
        let ahead = run.ahead.as_ref().filter(|a| made_for(a, index));
        if let Some(a) = ahead.filter(|_| c.attempt == 1) {
            if a.amount >= estimate && a.timeout_ms.unwrap_or(0) + RESERVATION_MARGIN_MS >= timeout {
                return Ok(Some(budgeted(Some(a.clone()))));
            }
            if let Err(e) = self.give_back_reservation(tenant, &a.id, now).await {
                self.give_back(tenant, &limits).await;
                return Err(unreadable(&e));
            }
        }
        let metered = match credits.metered(tenant, now).await {
            Ok(metered) => metered,
            Err(e) => {
                self.give_back(tenant, &limits).await;
                return Err(unreadable(&e));
            }
        };
        if estimate == Millicredits::ZERO || !metered {
            return Ok(Some(budgeted(None)));
        }
        if c.attempt > 1 {
            // The attempt before this one stopped without ending the step (its worker
            // died): its reservation (and the one made ahead) goes back now rather than
            // at its timeout.
            let before = Cause { run: run.id.to_string(), step: index, attempt: c.attempt - 1 };
            let earlier =
                ahead.map(|a| a.id.clone()).into_iter().chain([TransferId::derive(&before, TransferKind::Reserve)]);
            for id in earlier {
                if let Err(e) = self.give_back_reservation(tenant, &id, now).await {
                    self.give_back(tenant, &limits).await;
                    return Err(unreadable(&e));
                }
            }
        }
        let cause = Cause { run: run.id.to_string(), step: index, attempt: c.attempt };
        match credits.store().reserve(tenant, &cause, estimate, timeout, now).await {
            Ok(r) if r.state == Some(PendingState::Pending) => Ok(Some(budgeted(Some(r)))),
            Ok(r) => {
                // A parked step woken after its reservation returned: it runs uncharged by
                // the ledger rather than not at all (its run's spend still counts it).
                tracing::warn!(run = %run.id, step = index, reservation = r.id.as_str(), "the step's reservation resolved before the step ran");
                Ok(Some(budgeted(None)))
            }
            Err(e) => {
                // What was taken from the tenant's windows and the envelope goes back.
                self.give_back(tenant, &limits).await;
                Err(refused_reservation(e, index, skill, run.spent_mc))
            }
        }
    }

    /// Returns the reservation `id` in full (one resolved already, or never made, is
    /// left as it is).
    async fn give_back_reservation(&self, tenant: &TenantId, id: &TransferId, now: u64) -> Result<(), CreditError> {
        let Some(credits) = &self.credits else { return Ok(()) };
        match credits.store().settle(tenant, id, Millicredits::ZERO, now).await {
            Ok(_) | Err(CreditError::Refused(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The reservation to make ahead for step `index` of `plan` in `run` (whose spend is
    /// then `spent_mc`): its estimate from its input as authored (references unresolved),
    /// for the step rather than an attempt (attempt 0), when the tenant is metered and
    /// the step costs something and fits the run's budget. The budget stage of that step
    /// uses it, or returns it and reserves anew if its resolved input costs more. `now` is
    /// the time of the write that carries it (the ledger lists it after that write's post).
    pub(super) async fn ahead(
        &self,
        run: &RunRecord,
        plan: &Plan,
        index: u32,
        spent_mc: u64,
        now: u64,
    ) -> Option<Transfer> {
        let credits = self.credits.as_ref()?;
        let step = plan.step(index)?;
        let estimate = credits.estimate(&step.skill, &step.input);
        if estimate == Millicredits::ZERO
            || run.budget_mc.is_some_and(|limit| spent_mc.saturating_add(estimate.0) > limit)
        {
            return None;
        }
        if !credits.metered(&run.tenant, now).await.ok()? {
            return None;
        }
        let timeout =
            now + millis(self.plan_step_timeout(plan, index)) + millis(self.config.visibility) + RESERVATION_MARGIN_MS;
        let cause = Cause { run: run.id.to_string(), step: index, attempt: 0 };
        Some(reservation(cause, estimate, timeout, now))
    }
}

/// Whether `ahead` is the reservation made ahead for step `index`.
pub(super) fn made_for(ahead: &Transfer, index: u32) -> bool {
    ahead.cause.as_ref().is_some_and(|k| k.step == index && k.attempt == 0)
}

/// The failure of a step whose reservation the ledger refused.
fn refused_reservation(e: CreditError, index: u32, skill: &str, run_spent_mc: u64) -> StructuredOutcome {
    match e {
        CreditError::Refused(LedgerError::Insufficient { requested, available }) => exceeded(
            format!(
                "step {index} ({skill}) is estimated at {} c and the tenant has {} c of credits available",
                requested.cents(),
                available.cents()
            ),
            json!({"scope": "tenant", "estimate_cents": requested.cents(), "available_cents": available.cents(), "spent_cents": Millicredits(run_spent_mc).cents()}),
        ),
        CreditError::Refused(LedgerError::Suspended) => exceeded(
            "the tenant is suspended: its steps reserve no credits until an operator reinstates it".to_owned(),
            json!({"scope": "tenant", "suspended": true}),
        ),
        CreditError::Refused(e) => {
            StructuredOutcome::failure(ErrorCode::Internal, format!("the step's credits could not be reserved: {e}"))
        }
        e @ CreditError::Store(_) => unreadable(&e),
    }
}

/// The failure of a step whose tenant's credits could not be read.
fn unreadable(e: &CreditError) -> StructuredOutcome {
    StructuredOutcome::failure(
        ErrorCode::Internal,
        format!("the tenant's credits could not be read, so the step did not run: {e}"),
    )
}

impl StepWorker {
    /// Settles the reservation of a step that is retried (its model calls charged, its
    /// price returned) before the retry is written; a crash in between leaves it to
    /// return at its timeout.
    pub(super) async fn settle_retried(&self, c: &Claimed, budgeted: Option<&Budgeted>, outcome: &StructuredOutcome) {
        let (Some(credits), Some(b)) = (&self.credits, budgeted) else { return };
        let (_, charge) = b.charge(outcome, c.run.spent_mc);
        self.adjust_limits(&c.msg.tenant, &charge).await;
        if let Some((pending, post)) = charge.settle {
            if let Err(e) = credits.store().settle(&c.msg.tenant, &pending.id, post, now_ms()).await {
                tracing::warn!(run = %c.msg.run_id, step = c.msg.step_index, error = %e, "a retried step's reservation could not be settled");
            }
        }
    }
}

/// The audit entry of a run whose spending passed [`WARNING_SHARE`] of its budget with
/// this step (`None`: it did not).
pub(super) fn warning(c: &Claimed, charged: Millicredits) -> Option<aos_core::audit::AuditEvent> {
    let limit = c.run.budget_mc?;
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mark = (limit as f64 * WARNING_SHARE) as u64;
    let before = c.run.spent_mc;
    let after = before.saturating_add(charged.0);
    (before < mark && after >= mark).then(|| {
        aos_core::audit::AuditEvent::new(
            &c.msg.tenant,
            aos_core::audit::Actor::system(),
            "budget.warning",
            format!("run:{}", c.msg.run_id),
            "warned",
            now_ms(),
        )
        .with_details(json!({
            "scope": "run",
            "spent_cents": Millicredits(after).cents(),
            "limit_cents": Millicredits(limit).cents(),
            "share": WARNING_SHARE,
            "step": c.msg.step_index,
        }))
    })
}
