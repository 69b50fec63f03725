//! What each operation costs, per plan.

use super::Millicredits;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Credits per operation: the base charge of a step of each skill (a model call adds
/// its tokens at the model's price on top).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceTable {
    /// Credits per step, by skill name.
    pub skills: BTreeMap<String, u64>,
    /// Credits per item of an `agent_spawn` job, on top of its base.
    pub job_item: u64,
    /// Credits of a step of any other skill.
    pub other: u64,
}

impl PriceTable {
    /// The seed's table: spawn 5 (+ 2 per item), invoke 10, blackboard read or write 1,
    /// lock 2, message 2, any other skill 1.
    pub fn seed() -> Self {
        let skills = [
            (crate::agent::SPAWN_SKILL, 5),
            (crate::agent::INVOKE_SKILL, 10),
            ("blackboard_read", 1),
            ("blackboard_write", 1),
            ("blackboard_lock", 2),
            ("agent_message", 2),
        ];
        Self { skills: skills.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(), job_item: 2, other: 1 }
    }

    /// The base charge of one step of `skill` with `items` job items (0 except for
    /// `agent_spawn`).
    pub fn step(&self, skill: &str, items: u64) -> Millicredits {
        let base = self.skills.get(skill).copied().unwrap_or(self.other);
        let items = if skill == crate::agent::SPAWN_SKILL { items.saturating_mul(self.job_item) } else { 0 };
        Millicredits::from_credits(base.saturating_add(items))
    }

    /// The cheapest step any plan can have.
    pub fn cheapest(&self) -> Millicredits {
        Millicredits::from_credits(self.skills.values().copied().chain([self.other]).min().unwrap_or(0))
    }
}
