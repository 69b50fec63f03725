//! Request rates and quotas per tenant. Rates: a limiter answers whether a tenant's request may go on now,
//! and what its `X-RateLimit-*` headers say. In one process (`aos dev`) the limiter is a
//! GCRA from `governor` — a smooth rate with a burst of the plan's minute, not the seed's
//! fixed window, which let twice the rate through at a window's edge.

use crate::ports::{ParentLink, RunStore, StoreError, StoreResult, TenantStore};
use aos_core::credits::Millicredits;
use aos_core::limits::{PlanName, QuotaCheck, QuotaName, SpendAdjust, SpendWindows, WORKFLOW_METER};
use aos_core::TenantId;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::Quota;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the limiter decided of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Requests per 60 s.
    pub limit: u32,
    /// Requests the tenant may still send at once.
    pub remaining: u32,
    /// Seconds until the full allowance is back.
    pub reset_s: u64,
    /// When refused: seconds until a request would be let through.
    pub retry_after_s: u64,
}

type Keyed =
    governor::RateLimiter<TenantId, DefaultKeyedStateStore<TenantId>, DefaultClock, StateInformationMiddleware>;

/// Decides whether a tenant's request may go on now under its plan's rate.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `tenant` on `plan` and decides it (`None`: the plan has no
    /// rate limit, or the limiter could not decide and lets it by).
    async fn check(&self, tenant: &TenantId, plan: PlanName) -> Option<RateDecision>;
}

#[async_trait::async_trait]
impl RateLimiter for InProcessLimiter {
    async fn check(&self, tenant: &TenantId, plan: PlanName) -> Option<RateDecision> {
        self.check_now(tenant, plan)
    }
}

/// The rate of a plan as a GCRA over one minute: one request every `interval_us`, at
/// most a minute's allowance at once. From the theoretical arrival time `tat_us` after
/// the requests taken, what a shared bucket (one DynamoDB item per tenant) tells a
/// request at `now_us`.
pub fn gcra_decision(limit: u32, tat_us: u64, now_us: u64, allowed: bool) -> RateDecision {
    let interval = 60_000_000 / u64::from(limit.max(1));
    let ahead = tat_us.saturating_sub(now_us);
    let room = 60_000_000u64.saturating_sub(ahead);
    let remaining = u32::try_from(room / interval).unwrap_or(u32::MAX).min(limit);
    let reset_s = ahead.div_ceil(1_000_000);
    let retry_after_s =
        if allowed { 0 } else { (ahead + interval).saturating_sub(60_000_000).div_ceil(1_000_000).max(1) };
    RateDecision { allowed, limit, remaining: if allowed { remaining } else { 0 }, reset_s, retry_after_s }
}

/// The rate limiter of one process: every tenant at its plan's rate.
pub struct InProcessLimiter {
    limiters: HashMap<PlanName, (NonZeroU32, Keyed)>,
    clock: DefaultClock,
}

impl Default for InProcessLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessLimiter {
    /// A limiter for every plan with a rate.
    pub fn new() -> Self {
        let limiters = PlanName::ALL
            .into_iter()
            .filter_map(|plan| {
                let per_minute = NonZeroU32::new(plan.requests_per_minute()?)?;
                let limiter = governor::RateLimiter::keyed(Quota::per_minute(per_minute))
                    .with_middleware::<StateInformationMiddleware>();
                Some((plan, (per_minute, limiter)))
            })
            .collect();
        Self { limiters, clock: DefaultClock::default() }
    }

    /// Counts one request of `tenant` on `plan` and decides it (`None`: the plan has no
    /// rate limit).
    pub fn check_now(&self, tenant: &TenantId, plan: PlanName) -> Option<RateDecision> {
        let (per_minute, limiter) = self.limiters.get(&plan)?;
        Some(self.decide(tenant, *per_minute, limiter))
    }

    fn decide(&self, tenant: &TenantId, per_minute: NonZeroU32, limiter: &Keyed) -> RateDecision {
        let limit = per_minute.get();
        // One request comes back every 60 s / limit.
        let back_s = |missing: u32| (u64::from(missing) * 60).div_ceil(u64::from(limit));
        match limiter.check_key(tenant) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                RateDecision { allowed: true, limit, remaining, reset_s: back_s(limit - remaining), retry_after_s: 0 }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let retry = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                RateDecision {
                    allowed: false,
                    limit,
                    remaining: 0,
                    reset_s: back_s(limit),
                    retry_after_s: retry.max(1),
                }
            }
        }
    }
}

/// How long a process keeps a tenant's plan before reading it again: a plan change
/// reaches every process within this.
const PLAN_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// A quota that refused something, in the seed's check shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.reason.clone().unwrap_or_default())]
pub struct QuotaRefusal(pub QuotaCheck);

impl QuotaRefusal {
    /// `ERR_RATE_LIMIT_CONCURRENT` for runs at once, `ERR_QUOTA_EXCEEDED` for the rest.
    pub fn code(&self) -> aos_core::ErrorCode {
        if self.0.quota_name == QuotaName::ConcurrentRuns {
            aos_core::ErrorCode::RateLimitConcurrent
        } else {
            aos_core::ErrorCode::QuotaExceeded
        }
    }
}

/// What was taken of a quota for a submission, to give back if the run is not stored.
#[derive(Debug, Clone)]
pub struct Taken {
    tenant: TenantId,
    meter: &'static str,
    period: String,
}

/// Tenants' plans and their quotas (seed M21): runs per UTC day and model tokens per
/// UTC month on meters in the store, API keys and runs at once counted live.
#[derive(Clone)]
pub struct QuotaService {
    tenants: Arc<dyn TenantStore>,
    runs: Arc<dyn RunStore>,
    default: PlanName,
    plans: Arc<Mutex<HashMap<TenantId, (PlanName, Instant)>>>,
}

impl QuotaService {
    /// Quotas from `tenants`' plans, `default` for a tenant without one.
    pub fn new(tenants: Arc<dyn TenantStore>, runs: Arc<dyn RunStore>, default: PlanName) -> Self {
        Self { tenants, runs, default, plans: Arc::default() }
    }

    /// The deployment's plan for tenants without their own.
    pub fn default_plan(&self) -> PlanName {
        self.default
    }

    /// The tenant's plan (read at most every 30 s per process).
    pub async fn plan(&self, tenant: &TenantId) -> StoreResult<PlanName> {
        if let Some((plan, at)) = self.plans.lock().ok().and_then(|m| m.get(tenant).copied()) {
            if at.elapsed() < PLAN_TTL {
                return Ok(plan);
            }
        }
        let plan = self.tenants.tenant(tenant).await?.and_then(|t| t.plan).unwrap_or(self.default);
        if let Ok(mut m) = self.plans.lock() {
            m.insert(tenant.clone(), (plan, Instant::now()));
        }
        Ok(plan)
    }

    /// Forgets what this process knew of the tenant's plan (it was just changed).
    pub fn forget(&self, tenant: &TenantId) {
        if let Ok(mut m) = self.plans.lock() {
            m.remove(tenant);
        }
    }

    /// Where the tenant stands on each quota: whether one more run (key, token) fits.
    pub async fn checks(&self, tenant: &TenantId, now_ms: u64) -> StoreResult<(PlanName, Vec<QuotaCheck>)> {
        let plan = self.plan(tenant).await?;
        let mut checks = Vec::new();
        for quota in QuotaName::ALL {
            let (current, adding) = self.current(tenant, quota, plan, now_ms).await?;
            checks.push(QuotaCheck::of(quota, plan, current, adding));
        }
        Ok((plan, checks))
    }

    /// What `quota` counts now, and what one more use adds (one run, one key, one token:
    /// a month's tokens are used up at the limit).
    async fn current(
        &self,
        tenant: &TenantId,
        quota: QuotaName,
        plan: PlanName,
        now_ms: u64,
    ) -> StoreResult<(u64, u64)> {
        Ok(match quota {
            QuotaName::RunsPerDay | QuotaName::TokensPerMonth => {
                let (meter, period) = quota.meter(now_ms).expect("metered quotas have a meter");
                (self.tenants.meter(tenant, meter, &period).await?, 1)
            }
            QuotaName::SpendPerHour | QuotaName::SpendPerDay => {
                let (hour, day) = self.tenants.spent(tenant, &SpendWindows::at(now_ms)).await?;
                (if quota == QuotaName::SpendPerHour { hour } else { day }, 1)
            }
            QuotaName::ApiKeys => {
                let keys = self.tenants.keys(tenant).await?;
                (keys.iter().filter(|k| k.revoked_at_ms.is_none()).count() as u64, 1)
            }
            QuotaName::ConcurrentRuns => {
                // Counted up to one past the limit: enough to decide.
                let cap =
                    quota.limit(&plan.quotas()).map_or(u32::MAX, |l| u32::try_from(l).unwrap_or(u32::MAX - 1) + 1);
                (u64::from(self.runs.live_runs(tenant, cap).await?), 1)
            }
        })
    }

    /// Admits one more run of the tenant: under its runs at once and its month's tokens,
    /// and takes one of today's runs (a conditional write, so concurrent submissions never
    /// pass the limit together). Give it back with [`Self::give_back`] if the run is not
    /// stored.
    pub async fn admit_run(&self, tenant: &TenantId, now_ms: u64) -> Result<Option<Taken>, AdmitError> {
        let plan = self.plan(tenant).await?;
        let quotas = plan.quotas();
        for quota in [QuotaName::ConcurrentRuns, QuotaName::TokensPerMonth] {
            if quota.limit(&quotas).is_some() {
                let (current, adding) = self.current(tenant, quota, plan, now_ms).await?;
                let check = QuotaCheck::of(quota, plan, current, adding);
                if !check.allowed {
                    return Err(AdmitError::Refused(QuotaRefusal(check)));
                }
            }
        }
        let Some(limit) = quotas.runs_per_day else { return Ok(None) };
        let (meter, period) = QuotaName::RunsPerDay.meter(now_ms).expect("runs are metered");
        match self.tenants.add_to_meter(tenant, meter, &period, 1, Some(limit)).await? {
            Ok(_) => Ok(Some(Taken { tenant: tenant.clone(), meter, period })),
            Err(current) => {
                Err(AdmitError::Refused(QuotaRefusal(QuotaCheck::of(QuotaName::RunsPerDay, plan, current, 1))))
            }
        }
    }

    /// Returns what [`Self::admit_run`] took (the run was not stored).
    pub async fn give_back(&self, taken: Taken) {
        if let Err(e) = self.tenants.add_to_meter(&taken.tenant, taken.meter, &taken.period, -1, None).await {
            tracing::warn!(tenant = %taken.tenant, error = %e, "a refused run's quota could not be given back");
        }
    }

    /// Takes a step's `estimate` from the tenant's spend limits (its plan's, seed M13):
    /// refused when the step alone is estimated above the per-request limit, or the
    /// hour's or the day's spend with it would pass its limit. `Ok(None)`: the plan limits
    /// no spend, or the estimate is nothing. A step that must run whatever it costs (a
    /// compensation: `enforce` false) is counted and never refused.
    pub async fn take_spend(
        &self,
        tenant: &TenantId,
        estimate: Millicredits,
        now_ms: u64,
        enforce: bool,
    ) -> Result<Option<SpendTaken>, SpendError> {
        let quotas = self.plan(tenant).await?.quotas();
        if let Some(limit) = quotas.spend_per_request_mc.filter(|l| enforce && estimate.0 > *l) {
            return Err(SpendError::Refused(SpendRefusal { scope: "request", spent_mc: 0, limit_mc: limit }));
        }
        let limits = (quotas.spend_per_hour_mc, quotas.spend_per_day_mc);
        if estimate == Millicredits::ZERO || (limits.0.is_none() && limits.1.is_none()) {
            return Ok(None);
        }
        let windows = SpendWindows::at(now_ms);
        let checked = if enforce { limits } else { (None, None) };
        match self.tenants.take_spend(tenant, &windows, estimate.0, checked).await? {
            Ok(totals) => Ok(Some(SpendTaken { windows, amount: estimate.0, totals, limits })),
            Err((quota, spent_mc)) => {
                let (scope, limit) = match quota {
                    QuotaName::SpendPerHour => ("hour", limits.0),
                    _ => ("day", limits.1),
                };
                Err(SpendError::Refused(SpendRefusal { scope, spent_mc, limit_mc: limit.unwrap_or_default() }))
            }
        }
    }

    /// Adds `adjust` to the tenant's spend windows (a retried step's actual charge
    /// against what it took); a failure is logged: the windows are a limit, not a bill.
    pub async fn adjust_spend(&self, tenant: &TenantId, adjust: &SpendAdjust) {
        if let Err(e) = self.tenants.adjust_spend(tenant, adjust).await {
            tracing::warn!(tenant = %tenant, error = %e, "a step's spend could not be adjusted in its windows");
        }
    }

    /// Takes a workflow node step's `estimate` from its execution's envelope: the
    /// smaller of the execution's own budget and the tenant's plan's per-workflow limit
    /// (`Ok(None)`: neither is set). A compensation is counted and never refused: what
    /// undoes a failed execution's effects runs whatever is left.
    pub async fn take_envelope(
        &self,
        tenant: &TenantId,
        parent: &ParentLink,
        estimate: Millicredits,
    ) -> Result<Option<EnvelopeTaken>, SpendError> {
        let Some(limit) = self.envelope_limit(tenant, parent.budget_mc).await? else { return Ok(None) };
        let execution = parent.execution.to_string();
        let amount = i64::try_from(estimate.0).unwrap_or(i64::MAX);
        let checked = (!parent.slot.compensation).then_some(limit);
        match self.tenants.add_to_meter(tenant, WORKFLOW_METER, &execution, amount, checked).await? {
            Ok(total) => Ok(Some(EnvelopeTaken { execution, amount: estimate.0, total, limit })),
            Err(spent_mc) => Err(SpendError::Refused(SpendRefusal { scope: "workflow", spent_mc, limit_mc: limit })),
        }
    }

    /// Adds `delta` to the envelope of `execution` (a failure is logged).
    pub async fn adjust_envelope(&self, tenant: &TenantId, execution: &str, delta: i64) {
        if let Err(e) = self.tenants.add_to_meter(tenant, WORKFLOW_METER, execution, delta, None).await {
            tracing::warn!(tenant = %tenant, execution, error = %e, "a step's spend could not be adjusted in its execution's envelope");
        }
    }

    /// The envelope of an execution of the tenant with its own `budget_mc`: the smaller
    /// of that and the plan's per-workflow limit (`None`: neither is set).
    pub async fn envelope_limit(&self, tenant: &TenantId, budget_mc: Option<u64>) -> StoreResult<Option<u64>> {
        let plan = self.plan(tenant).await?.quotas().spend_per_workflow_mc;
        Ok(match (budget_mc, plan) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (one, other) => one.or(other),
        })
    }

    /// What the steps of `execution` spent from its envelope, millicredits.
    pub async fn envelope_spent(&self, tenant: &TenantId, execution: &str) -> StoreResult<u64> {
        self.tenants.meter(tenant, WORKFLOW_METER, execution).await
    }

    /// Admits one more API key of the tenant.
    pub async fn admit_key(&self, tenant: &TenantId) -> Result<(), AdmitError> {
        let plan = self.plan(tenant).await?;
        let (current, adding) = self.current(tenant, QuotaName::ApiKeys, plan, 0).await?;
        let check = QuotaCheck::of(QuotaName::ApiKeys, plan, current, adding);
        if check.allowed {
            Ok(())
        } else {
            Err(AdmitError::Refused(QuotaRefusal(check)))
        }
    }
}

/// A step's estimate taken from its tenant's spend windows.
#[derive(Debug, Clone)]
pub struct SpendTaken {
    /// The windows it was taken from.
    pub windows: SpendWindows,
    /// What was taken, millicredits.
    pub amount: u64,
    /// The hour's and the day's totals with it.
    pub totals: (u64, u64),
    /// The hour's and the day's limits.
    pub limits: (Option<u64>, Option<u64>),
}

impl SpendTaken {
    /// The windows this take carried past `share` of their limits: (`hour` | `day`,
    /// total, limit).
    pub fn crossed(&self, share: f64) -> Vec<(&'static str, u64, u64)> {
        let mut crossed = Vec::new();
        for (scope, total, limit) in [("hour", self.totals.0, self.limits.0), ("day", self.totals.1, self.limits.1)] {
            let Some(limit) = limit else { continue };
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let mark = (limit as f64 * share) as u64;
            if total.saturating_sub(self.amount) < mark && total >= mark {
                crossed.push((scope, total, limit));
            }
        }
        crossed
    }

    /// What the step's `actual` charge does to the windows, at `now_ms`.
    pub fn adjust(&self, actual: Millicredits, now_ms: u64) -> Option<SpendAdjust> {
        SpendAdjust::of(&self.windows, self.amount, actual.0, now_ms)
    }
}

/// A workflow node step's estimate taken from its execution's envelope.
#[derive(Debug, Clone)]
pub struct EnvelopeTaken {
    /// The execution.
    pub execution: String,
    /// What was taken, millicredits.
    pub amount: u64,
    /// The envelope's total with it.
    pub total: u64,
    /// Its limit.
    pub limit: u64,
}

impl EnvelopeTaken {
    /// Whether this take carried the envelope past `share` of its limit.
    pub fn crossed(&self, share: f64) -> bool {
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mark = (self.limit as f64 * share) as u64;
        self.total.saturating_sub(self.amount) < mark && self.total >= mark
    }

    /// The execution and what to add to its envelope for an `actual` charge.
    pub fn adjust(&self, actual: Millicredits) -> Option<(String, i64)> {
        let delta = i64::try_from(i128::from(actual.0) - i128::from(self.amount)).ok().filter(|d| *d != 0)?;
        Some((self.execution.clone(), delta))
    }
}

/// A step's estimate that does not fit its tenant's spend limits.
#[derive(Debug, Clone)]
pub struct SpendRefusal {
    /// Which limit: `request`, `hour` or `day`.
    pub scope: &'static str,
    /// What the window had spent (0 for `request`), millicredits.
    pub spent_mc: u64,
    /// The limit, millicredits.
    pub limit_mc: u64,
}

/// Why a spend was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SpendError {
    /// A limit refused it.
    #[error("the tenant's {} spend limit refused it", .0.scope)]
    Refused(SpendRefusal),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a quota did not admit something.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// A quota is used up.
    #[error(transparent)]
    Refused(QuotaRefusal),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_warns_once_when_it_carries_a_window_past_its_share() {
        let taken = |amount, totals| SpendTaken {
            windows: SpendWindows::at(0),
            amount,
            totals,
            limits: (Some(1_000_000), Some(10_000_000)),
        };
        assert_eq!(taken(91_000, (819_000, 819_000)).crossed(0.8), [("hour", 819_000, 1_000_000)]);
        assert!(taken(91_000, (910_000, 910_000)).crossed(0.8).is_empty(), "past 80 % before this step");
        assert!(taken(91_000, (700_000, 700_000)).crossed(0.8).is_empty());
        assert_eq!(
            taken(100_000, (850_000, 8_050_000)).crossed(0.8),
            [("hour", 850_000, 1_000_000), ("day", 8_050_000, 10_000_000)]
        );
    }
}
