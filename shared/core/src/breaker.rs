//! Circuit breaker rules, per tenant, skill and target: closed until 5 consecutive
//! failures, then open for a cooldown (60 s), then half-open with exactly one probe whose
//! result closes or reopens it. Pure: adapters store the state and apply these rules in
//! one atomic update, so every worker and every Lambda sees the same breaker.

use serde::{Deserialize, Serialize};

/// Breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker.
    pub threshold: u32,
    /// How long it stays open, ms.
    pub cooldown_ms: u64,
    /// How long a half-open probe may take before another one is allowed, ms.
    pub probe_timeout_ms: u64,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self { threshold: 5, cooldown_ms: 60_000, probe_timeout_ms: 120_000 }
    }
}

/// Stored state of one breaker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerState {
    /// Consecutive failures while closed.
    pub failures: u32,
    /// Open until then (0 when closed).
    pub open_until_ms: u64,
    /// A half-open probe is in flight until then (0 when none).
    pub probe_until_ms: u64,
}

/// What a caller may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: call.
    Call,
    /// Half-open: this caller holds the one probe; call and report.
    Probe,
    /// Open (or a probe is in flight): do not call; retry after this many ms.
    Refuse {
        /// Time until a call may be tried.
        retry_after_ms: u64,
    },
}

impl BreakerState {
    /// Whether the breaker is open at `now` (cooldown not over).
    pub fn is_open(&self, now: u64) -> bool {
        self.open_until_ms > now
    }

    /// Decides admission at `now` and returns the state to store (a probe claim).
    pub fn admit(mut self, now: u64, policy: &BreakerPolicy) -> (Admission, Self) {
        if self.open_until_ms == 0 {
            return (Admission::Call, self);
        }
        if now < self.open_until_ms {
            return (Admission::Refuse { retry_after_ms: self.open_until_ms - now }, self);
        }
        if self.probe_until_ms > now {
            return (Admission::Refuse { retry_after_ms: (self.probe_until_ms - now).min(1000) }, self);
        }
        self.probe_until_ms = now + policy.probe_timeout_ms;
        (Admission::Probe, self)
    }

    /// The state after a call ended (`failed`: an upstream failure that counts).
    pub fn record(mut self, failed: bool, now: u64, policy: &BreakerPolicy) -> Self {
        let half_open = self.open_until_ms != 0 && now >= self.open_until_ms;
        if !failed {
            return Self::default();
        }
        if half_open {
            // The probe failed: open again for a full cooldown.
            return Self { failures: policy.threshold, open_until_ms: now + policy.cooldown_ms, probe_until_ms: 0 };
        }
        if self.open_until_ms != 0 {
            // A call admitted before the breaker opened ended: nothing more to count.
            return self;
        }
        self.failures += 1;
        if self.failures >= policy.threshold {
            self.open_until_ms = now + policy.cooldown_ms;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_open_it_then_one_probe_closes_or_reopens_it() {
        let p = BreakerPolicy { threshold: 5, cooldown_ms: 60_000, probe_timeout_ms: 10_000 };
        let mut s = BreakerState::default();
        for i in 0..4 {
            s = s.record(true, i, &p);
            assert_eq!(s.admit(i, &p).0, Admission::Call);
        }
        s = s.record(false, 5, &p);
        assert_eq!(s.failures, 0, "a success resets the count");
        for i in 0..5 {
            s = s.record(true, 10 + i, &p);
        }
        assert_eq!(s.admit(20, &p).0, Admission::Refuse { retry_after_ms: 59_994 });
        let (probe, claimed) = s.admit(60_014, &p);
        assert_eq!(probe, Admission::Probe);
        assert!(matches!(claimed.admit(60_015, &p).0, Admission::Refuse { .. }), "one probe at a time");
        let reopened = claimed.record(true, 60_020, &p);
        assert!(reopened.is_open(60_021) && reopened.open_until_ms == 120_020);
        let (probe, claimed) = reopened.admit(120_020, &p);
        assert_eq!(probe, Admission::Probe);
        assert_eq!(claimed.record(false, 120_030, &p), BreakerState::default(), "a good probe closes it");
        let (_, stale) = reopened.admit(120_020, &p);
        assert_eq!(stale.admit(130_021, &p).0, Admission::Probe, "a lost probe is replaced after its timeout");
    }
}
