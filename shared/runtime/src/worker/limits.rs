//! The budget stage's limits above a run: a step's estimate is taken from its tenant's
//! spend windows (its plan's per-step, per-UTC-hour and per-UTC-day limits) and, for a
//! workflow node's run, from its execution's envelope (the execution's `budget_cents`
//! and the plan's per-workflow limit, the smaller) before the step runs, each in one
//! conditional write; the step's commit adds its actual charge less what was taken. A
//! step that does not fit does not run (`ERR_BUDGET_EXCEEDED`, `scope` `tenant_request`,
//! `tenant_hour`, `tenant_day` or `workflow`), and the take that carries a window or an
//! envelope past [`WARNING_SHARE`] of its limit is on the audit record.

use super::budget::{exceeded, WARNING_SHARE};
use super::{Claimed, StepWorker};
use crate::clock::now_ms;
use crate::limits::{EnvelopeTaken, SpendError, SpendRefusal, SpendTaken};
use crate::ports::CommitCharge;
use aos_core::audit::{Actor, AuditEvent};
use aos_core::credits::Millicredits;
use aos_core::limits::SpendAdjust;
use aos_core::{ErrorCode, StructuredOutcome, TenantId};
use serde_json::json;

/// What a step took from its tenant's windows and its execution's envelope.
#[derive(Debug, Clone, Default)]
pub(super) struct Taken {
    spend: Option<SpendTaken>,
    envelope: Option<EnvelopeTaken>,
    /// The windows and envelope this step carried past [`WARNING_SHARE`] of their limits.
    pub(super) warnings: Vec<AuditEvent>,
}

impl Taken {
    /// What the step's own `actual` charge does to the windows and the envelope.
    pub(super) fn adjust(&self, actual: Millicredits, now: u64) -> (Option<SpendAdjust>, Option<(String, i64)>) {
        let spend = self.spend.as_ref().and_then(|s| s.adjust(actual, now));
        let envelope = self.envelope.as_ref().and_then(|e| e.adjust(actual));
        (spend, envelope)
    }
}

fn refusal(r: &SpendRefusal, index: u32, skill: &str, estimate: Millicredits) -> StructuredOutcome {
    let (spent, limit) = (Millicredits(r.spent_mc), Millicredits(r.limit_mc));
    let what = match r.scope {
        "request" => format!("the tenant's plan allows {} c a step", limit.cents()),
        "workflow" => format!("its workflow execution has spent {} c of its {} c", spent.cents(), limit.cents()),
        window => format!("the tenant has spent {} c of its {} c this UTC {window}", spent.cents(), limit.cents()),
    };
    let scope = if r.scope == "workflow" { "workflow".to_owned() } else { format!("tenant_{}", r.scope) };
    exceeded(
        format!("step {index} ({skill}) is estimated at {} c and {what}", estimate.cents()),
        json!({"scope": scope, "spent_cents": spent.cents(), "estimate_cents": estimate.cents(), "limit_cents": limit.cents()}),
    )
}

fn warning(c: &Claimed, resource: String, scope: &str, total: u64, limit: u64) -> AuditEvent {
    AuditEvent::new(&c.msg.tenant, Actor::system(), "budget.warning", resource, "warned", now_ms()).with_details(
        json!({
            "scope": scope,
            "spent_cents": Millicredits(total).cents(),
            "limit_cents": Millicredits(limit).cents(),
            "share": WARNING_SHARE,
            "run_id": c.msg.run_id,
            "step": c.msg.step_index,
        }),
    )
}

impl StepWorker {
    /// Takes the step's `estimate` from its tenant's windows and its execution's
    /// envelope (nothing when this worker knows no plans).
    pub(super) async fn take_limits(
        &self,
        c: &Claimed,
        skill: &str,
        estimate: Millicredits,
        now: u64,
    ) -> Result<Taken, StructuredOutcome> {
        let Some(quotas) = &self.quotas else { return Ok(Taken::default()) };
        let (tenant, index) = (&c.msg.tenant, c.msg.step_index);
        let failed = |e: SpendError| match e {
            SpendError::Refused(r) => refusal(&r, index, skill, estimate),
            SpendError::Store(e) => StructuredOutcome::failure(
                ErrorCode::Internal,
                format!("the tenant's spend could not be checked, so the step did not run: {e}"),
            ),
        };
        // A compensation undoes a failed execution's effects: counted, never refused.
        let enforce = !c.run.parent.as_ref().is_some_and(|p| p.slot.compensation);
        let spend = quotas.take_spend(tenant, estimate, now, enforce).await.map_err(failed)?;
        let mut taken = Taken { spend, ..Taken::default() };
        if let Some(parent) = &c.run.parent {
            match quotas.take_envelope(tenant, parent, estimate).await {
                Ok(envelope) => taken.envelope = envelope,
                Err(e) => {
                    self.give_back(tenant, &taken).await;
                    return Err(failed(e));
                }
            }
        }
        if let Some(s) = &taken.spend {
            for (window, total, limit) in s.crossed(WARNING_SHARE) {
                let scope = format!("tenant_{window}");
                taken.warnings.push(warning(c, format!("tenant:{tenant}"), &scope, total, limit));
            }
        }
        if let Some(e) = taken.envelope.as_ref().filter(|e| e.crossed(WARNING_SHARE)) {
            taken.warnings.push(warning(c, format!("execution:{}", e.execution), "workflow", e.total, e.limit));
        }
        Ok(taken)
    }

    /// Returns all that `taken` took (the step does not run after all).
    pub(super) async fn give_back(&self, tenant: &TenantId, taken: &Taken) {
        let Some(quotas) = &self.quotas else { return };
        let (spend, envelope) = taken.adjust(Millicredits::ZERO, now_ms());
        if let Some(adjust) = spend {
            quotas.adjust_spend(tenant, &adjust).await;
        }
        if let Some((execution, delta)) = envelope {
            quotas.adjust_envelope(tenant, &execution, delta).await;
        }
    }

    /// Applies a retried step's `charge` to its tenant's windows and envelope (a
    /// committed step's goes in its commit).
    pub(super) async fn adjust_limits(&self, tenant: &TenantId, charge: &CommitCharge) {
        let Some(quotas) = &self.quotas else { return };
        if let Some(adjust) = &charge.spend {
            quotas.adjust_spend(tenant, adjust).await;
        }
        if let Some((execution, delta)) = &charge.envelope {
            quotas.adjust_envelope(tenant, execution, *delta).await;
        }
    }
}
