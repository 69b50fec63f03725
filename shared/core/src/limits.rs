//! Plans and the request rates they allow each tenant (seed M8): free 60, dev 300, pro
//! 1 200 and enterprise 6 000 API requests per 60 s; unlimited for a deployment that
//! limits nothing (`aos dev`'s default).

use serde::{Deserialize, Serialize};

/// A tenant's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
}
