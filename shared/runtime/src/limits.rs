//! Request rates per tenant: a limiter answers whether a tenant's request may go on now,
//! and what its `X-RateLimit-*` headers say. In one process (`aos dev`) the limiter is a
//! GCRA from `governor` — a smooth rate with a burst of the plan's minute, not the seed's
//! fixed window, which let twice the rate through at a window's edge.

use aos_core::limits::PlanName;
use aos_core::TenantId;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;

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

type Keyed = RateLimiter<TenantId, DefaultKeyedStateStore<TenantId>, DefaultClock, StateInformationMiddleware>;

/// The rate limiter of one process: every tenant at its plan's rate.
pub struct InProcessLimiter {
    plan: PlanName,
    per_minute: NonZeroU32,
    limiter: Keyed,
    clock: DefaultClock,
}

impl InProcessLimiter {
    /// Every tenant at `plan`'s rate; `None` for a plan without a limit.
    pub fn for_plan(plan: PlanName) -> Option<Self> {
        let per_minute = NonZeroU32::new(plan.requests_per_minute()?)?;
        let limiter = RateLimiter::keyed(Quota::per_minute(per_minute)).with_middleware::<StateInformationMiddleware>();
        Some(Self { plan, per_minute, limiter, clock: DefaultClock::default() })
    }

    /// The plan it applies.
    pub fn plan(&self) -> PlanName {
        self.plan
    }

    /// Counts one request of `tenant` and decides it.
    pub fn check(&self, tenant: &TenantId) -> RateDecision {
        let limit = self.per_minute.get();
        // One request comes back every 60 s / limit.
        let back_s = |missing: u32| (u64::from(missing) * 60).div_ceil(u64::from(limit));
        match self.limiter.check_key(tenant) {
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
