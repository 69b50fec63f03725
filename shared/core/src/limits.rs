//! Plans, the request rates they allow each tenant (seed M8: free 60, dev 300, pro 1 200
//! and enterprise 6 000 API requests per 60 s) and their quotas (seed M21: runs per day,
//! model tokens per month, API keys, runs at once) and spend limits (seed M13: per UTC
//! hour, per UTC day, per request); `unlimited` for a deployment that limits nothing
//! (`aos dev`'s default).

use crate::credits::MILLI;
use serde::{Deserialize, Serialize};

/// A tenant's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanName {
    /// 60 requests per 60 s.
    Free,
    /// 300 requests per 60 s.
    Dev,
    /// 1 200 requests per 60 s.
    Pro,
    /// 6 000 requests per 60 s.
    Enterprise,
    /// No request limit.
    Unlimited,
}

impl PlanName {
    /// Every plan.
    pub const ALL: [PlanName; 5] =
        [PlanName::Free, PlanName::Dev, PlanName::Pro, PlanName::Enterprise, PlanName::Unlimited];

    /// Its name (`pro`).
    pub fn as_str(self) -> &'static str {
        match self {
            PlanName::Free => "free",
            PlanName::Dev => "dev",
            PlanName::Pro => "pro",
            PlanName::Enterprise => "enterprise",
            PlanName::Unlimited => "unlimited",
        }
    }

    /// The plan named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// API requests per 60 s (`None`: no limit).
    pub fn requests_per_minute(self) -> Option<u32> {
        match self {
            PlanName::Free => Some(60),
            PlanName::Dev => Some(300),
            PlanName::Pro => Some(1_200),
            PlanName::Enterprise => Some(6_000),
            PlanName::Unlimited => None,
        }
    }
}

impl PlanName {
    /// What the plan allows (seed M21; `dev`, which the seed's billing had not, sits
    /// between free and pro).
    pub fn quotas(self) -> Quotas {
        // Spend: the seed's cost tracker (1 000 c an hour, 10 000 c a day, 100 c a
        // request) on free and dev; ten times that on pro, a hundred on enterprise.
        let q = |runs, tokens, keys, at_once, spend: u64| Quotas {
            runs_per_day: Some(runs),
            tokens_per_month: Some(tokens),
            api_keys: Some(keys),
            concurrent_runs: Some(at_once),
            spend_per_hour_mc: Some(spend * 1_000 * MILLI),
            spend_per_day_mc: Some(spend * 10_000 * MILLI),
            spend_per_request_mc: Some(spend * 100 * MILLI),
            spend_per_workflow_mc: Some(spend * 500 * MILLI),
        };
        match self {
            PlanName::Free => q(100, 1_000_000, 5, 5, 1),
            PlanName::Dev => q(500, 5_000_000, 10, 10, 1),
            PlanName::Pro => q(1_000, 10_000_000, 20, 20, 10),
            PlanName::Enterprise => q(100_000, 1_000_000_000, 100, 100, 100),
            PlanName::Unlimited => Quotas::default(),
        }
    }
}

/// A plan's quotas (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Quotas {
    /// Runs submitted per UTC day.
    pub runs_per_day: Option<u64>,
    /// Model tokens (in and out) per UTC month.
    pub tokens_per_month: Option<u64>,
    /// API keys not revoked.
    pub api_keys: Option<u64>,
    /// Runs queued or running at once.
    pub concurrent_runs: Option<u64>,
    /// What the tenant's steps may spend per UTC hour, millicredits.
    pub spend_per_hour_mc: Option<u64>,
    /// What the tenant's steps may spend per UTC day, millicredits.
    pub spend_per_day_mc: Option<u64>,
    /// What one step may be estimated at, millicredits.
    pub spend_per_request_mc: Option<u64>,
    /// What the steps of one workflow execution may spend together, millicredits.
    pub spend_per_workflow_mc: Option<u64>,
}

/// The meter of a workflow execution's spend (its period is the execution's id).
pub const WORKFLOW_METER: &str = "workflow";

/// A quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuotaName {
    /// Runs submitted per UTC day.
    RunsPerDay,
    /// Model tokens per UTC month.
    TokensPerMonth,
    /// API keys.
    ApiKeys,
    /// Runs at once.
    ConcurrentRuns,
    /// Spend per UTC hour (millicredits).
    SpendPerHour,
    /// Spend per UTC day (millicredits).
    SpendPerDay,
}

impl QuotaName {
    /// Every quota.
    pub const ALL: [QuotaName; 6] = [
        QuotaName::RunsPerDay,
        QuotaName::TokensPerMonth,
        QuotaName::ApiKeys,
        QuotaName::ConcurrentRuns,
        QuotaName::SpendPerHour,
        QuotaName::SpendPerDay,
    ];

    /// The spend windows a step's estimate is taken from.
    pub const SPEND: [QuotaName; 2] = [QuotaName::SpendPerHour, QuotaName::SpendPerDay];

    /// Its name (`runs_per_day`).
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaName::RunsPerDay => "runs_per_day",
            QuotaName::TokensPerMonth => "tokens_per_month",
            QuotaName::ApiKeys => "api_keys",
            QuotaName::ConcurrentRuns => "concurrent_runs",
            QuotaName::SpendPerHour => "spend_per_hour",
            QuotaName::SpendPerDay => "spend_per_day",
        }
    }

    /// Its limit under `quotas`.
    pub fn limit(self, quotas: &Quotas) -> Option<u64> {
        match self {
            QuotaName::RunsPerDay => quotas.runs_per_day,
            QuotaName::TokensPerMonth => quotas.tokens_per_month,
            QuotaName::ApiKeys => quotas.api_keys,
            QuotaName::ConcurrentRuns => quotas.concurrent_runs,
            QuotaName::SpendPerHour => quotas.spend_per_hour_mc,
            QuotaName::SpendPerDay => quotas.spend_per_day_mc,
        }
    }

    /// The meter that counts it and its period at `now_ms` (`None`: counted live, not
    /// metered): runs by UTC day (`2026-12-04`), tokens by UTC month (`2026-12`), spend
    /// by UTC hour (`2026-12-04T17`) and day.
    pub fn meter(self, now_ms: u64) -> Option<(&'static str, String)> {
        let at = chrono::DateTime::from_timestamp_millis(i64::try_from(now_ms).unwrap_or(i64::MAX)).unwrap_or_default();
        let (name, period) = match self {
            QuotaName::RunsPerDay => (self.meter_name()?, "%Y-%m-%d"),
            QuotaName::TokensPerMonth => (self.meter_name()?, "%Y-%m"),
            QuotaName::SpendPerHour => (self.meter_name()?, "%Y-%m-%dT%H"),
            QuotaName::SpendPerDay => (self.meter_name()?, "%Y-%m-%d"),
            QuotaName::ApiKeys | QuotaName::ConcurrentRuns => return None,
        };
        Some((name, at.format(period).to_string()))
    }

    /// The name of the meter that counts it (`None`: counted live, not metered).
    pub fn meter_name(self) -> Option<&'static str> {
        match self {
            QuotaName::RunsPerDay => Some("runs"),
            QuotaName::TokensPerMonth => Some("tokens"),
            QuotaName::SpendPerHour => Some("spend_hour"),
            QuotaName::SpendPerDay => Some("spend_day"),
            QuotaName::ApiKeys | QuotaName::ConcurrentRuns => None,
        }
    }
}

/// The spend windows a step's estimate is taken from: its UTC hour and UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpendWindows {
    /// The hour (`2026-12-04T17`).
    pub hour: String,
    /// The day (`2026-12-04`).
    pub day: String,
}

impl SpendWindows {
    /// The windows of `now_ms`.
    pub fn at(now_ms: u64) -> Self {
        let period = |q: QuotaName| q.meter(now_ms).map(|(_, p)| p).unwrap_or_default();
        Self { hour: period(QuotaName::SpendPerHour), day: period(QuotaName::SpendPerDay) }
    }
}

/// What a step's spend does to its tenant's windows after it ran: `delta` (the actual
/// charge less what was taken) added to the windows that are still current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendAdjust {
    /// The hour taken from, if it is still the current one.
    pub hour: Option<String>,
    /// The day taken from, if it is still the current one.
    pub day: Option<String>,
    /// Millicredits to add (negative: gives back).
    pub delta: i64,
}

impl SpendAdjust {
    /// The adjustment of `taken` from `windows` to `actual`, at `now_ms` (windows that
    /// have passed keep what was taken: a past hour's spend is history).
    pub fn of(windows: &SpendWindows, taken: u64, actual: u64, now_ms: u64) -> Option<Self> {
        let now = SpendWindows::at(now_ms);
        let delta = i64::try_from(i128::from(actual) - i128::from(taken)).ok().filter(|d| *d != 0)?;
        let hour = (now.hour == windows.hour).then(|| windows.hour.clone());
        let day = (now.day == windows.day).then(|| windows.day.clone());
        (hour.is_some() || day.is_some()).then_some(Self { hour, day, delta })
    }
}

/// The seed's quota check: whether `adding` more fits, what is used and the limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaCheck {
    /// Whether it fits.
    pub allowed: bool,
    /// Why not (`None` when it fits).
    pub reason: Option<String>,
    /// Which quota.
    pub quota_name: QuotaName,
    /// Used so far in its period.
    pub current: u64,
    /// Its limit (`None`: none).
    pub limit: Option<u64>,
}

impl QuotaCheck {
    /// Whether `adding` more of `quota` fits on top of `current` under `plan`.
    pub fn of(quota: QuotaName, plan: PlanName, current: u64, adding: u64) -> Self {
        let limit = quota.limit(&plan.quotas());
        let allowed = limit.is_none_or(|l| current.saturating_add(adding) <= l);
        let reason = (!allowed).then(|| {
            format!(
                "the {plan} plan allows {} {}; {current} used",
                limit.unwrap_or_default(),
                match quota {
                    QuotaName::RunsPerDay => "runs per UTC day",
                    QuotaName::TokensPerMonth => "model tokens per UTC month",
                    QuotaName::ApiKeys => "API keys",
                    QuotaName::ConcurrentRuns => "runs queued or running at once",
                    QuotaName::SpendPerHour => "millicredits of spend per UTC hour",
                    QuotaName::SpendPerDay => "millicredits of spend per UTC day",
                }
            )
        });
        Self { allowed, reason, quota_name: quota, current, limit }
    }
}

impl std::fmt::Display for PlanName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_rates_per_plan() {
        let rates: Vec<Option<u32>> = PlanName::ALL.iter().map(|p| p.requests_per_minute()).collect();
        assert_eq!(rates, [Some(60), Some(300), Some(1_200), Some(6_000), None]);
        assert_eq!(PlanName::parse("pro"), Some(PlanName::Pro));
        assert_eq!(PlanName::parse("gold"), None);
    }

    #[test]
    fn the_seeds_quotas_per_plan_and_their_checks() {
        let q = PlanName::Free.quotas();
        assert_eq!(
            (q.runs_per_day, q.tokens_per_month, q.api_keys, q.concurrent_runs),
            (Some(100), Some(1_000_000), Some(5), Some(5))
        );
        let q = PlanName::Pro.quotas();
        assert_eq!(
            (q.runs_per_day, q.tokens_per_month, q.api_keys, q.concurrent_runs),
            (Some(1_000), Some(10_000_000), Some(20), Some(20))
        );
        let q = PlanName::Enterprise.quotas();
        assert_eq!(
            (q.runs_per_day, q.tokens_per_month, q.api_keys, q.concurrent_runs),
            (Some(100_000), Some(1_000_000_000), Some(100), Some(100))
        );
        assert_eq!(PlanName::Unlimited.quotas(), Quotas::default());
        let ok = QuotaCheck::of(QuotaName::RunsPerDay, PlanName::Free, 99, 1);
        assert!(ok.allowed && ok.reason.is_none());
        let no = QuotaCheck::of(QuotaName::RunsPerDay, PlanName::Free, 100, 1);
        assert!(!no.allowed);
        assert_eq!(
            serde_json::to_value(&no).expect("json"),
            serde_json::json!({"allowed": false, "reason": "the free plan allows 100 runs per UTC day; 100 used",
                               "quota_name": "runs_per_day", "current": 100, "limit": 100})
        );
        // 2026-12-04T05:00:00Z
        assert_eq!(QuotaName::RunsPerDay.meter(1_796_360_400_000), Some(("runs", "2026-12-04".to_owned())));
        assert_eq!(QuotaName::TokensPerMonth.meter(1_796_360_400_000), Some(("tokens", "2026-12".to_owned())));
        assert_eq!(QuotaName::SpendPerHour.meter(1_796_360_400_000), Some(("spend_hour", "2026-12-04T05".to_owned())));
        assert_eq!(QuotaName::SpendPerDay.meter(1_796_360_400_000), Some(("spend_day", "2026-12-04".to_owned())));
    }

    #[test]
    fn a_spend_adjustment_goes_to_the_windows_that_are_still_current() {
        // 2026-12-04T05:00:00Z, and a minute, an hour and a day later.
        let at = 1_796_360_400_000;
        let w = SpendWindows::at(at);
        assert_eq!((w.hour.as_str(), w.day.as_str()), ("2026-12-04T05", "2026-12-04"));
        let same = SpendAdjust::of(&w, 91_000, 2_000, at + 60_000).expect("an adjustment");
        assert_eq!(
            (same.hour.as_deref(), same.day.as_deref(), same.delta),
            (Some("2026-12-04T05"), Some("2026-12-04"), -89_000)
        );
        let next_hour = SpendAdjust::of(&w, 91_000, 100_000, at + 3_600_000).expect("an adjustment");
        assert_eq!((next_hour.hour, next_hour.day.as_deref(), next_hour.delta), (None, Some("2026-12-04"), 9_000));
        assert_eq!(SpendAdjust::of(&w, 91_000, 2_000, at + 86_400_000), None, "a past day's spend is history");
        assert_eq!(SpendAdjust::of(&w, 91_000, 91_000, at), None, "nothing to adjust");
    }

    #[test]
    fn the_seeds_spend_limits_per_plan() {
        let spend = |p: PlanName| {
            let q = p.quotas();
            (q.spend_per_hour_mc, q.spend_per_day_mc, q.spend_per_request_mc, q.spend_per_workflow_mc)
        };
        // The seed's cost tracker: 1 000 c an hour, 10 000 c a day, 100 c a request,
        // 500 c a workflow.
        assert_eq!(spend(PlanName::Free), (Some(1_000_000), Some(10_000_000), Some(100_000), Some(500_000)));
        assert_eq!(spend(PlanName::Dev), spend(PlanName::Free));
        assert_eq!(spend(PlanName::Pro), (Some(10_000_000), Some(100_000_000), Some(1_000_000), Some(5_000_000)));
        assert_eq!(
            spend(PlanName::Enterprise),
            (Some(100_000_000), Some(1_000_000_000), Some(10_000_000), Some(50_000_000))
        );
        assert_eq!(spend(PlanName::Unlimited), (None, None, None, None));
    }
}
