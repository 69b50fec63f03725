//! Usage and spend attribution (seed M13): what a run used — steps, model tokens in and
//! out, cache hits and the tokens they saved, what it cost — line by line per skill and
//! model, kept on the run as its steps commit and written once as a usage record with
//! the run's end; and the rollups of a tenant's records by UTC day, workflow, skill or
//! model.
//!
//! A step's line counts only what the step itself did: an agent step's children are runs
//! with records of their own, so a tree of agents is never counted twice.

use crate::credits::Millicredits;
use crate::{RunId, RunStatus, StructuredOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The counters every line and rollup group keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Steps that ended (succeeded or failed).
    pub steps: u64,
    /// Prompt tokens sent to a model (its cache's reads and writes included).
    pub tokens_in: u64,
    /// Tokens a model generated.
    pub tokens_out: u64,
    /// Model calls answered from AOS's response cache.
    pub cache_hits: u64,
    /// Tokens those answers would have cost.
    pub tokens_saved: u64,
    /// What the steps were charged, millicredits.
    pub cost_mc: u64,
}

impl Counters {
    /// Adds `other` (saturating).
    pub fn add(&mut self, other: &Counters) {
        self.steps = self.steps.saturating_add(other.steps);
        self.tokens_in = self.tokens_in.saturating_add(other.tokens_in);
        self.tokens_out = self.tokens_out.saturating_add(other.tokens_out);
        self.cache_hits = self.cache_hits.saturating_add(other.cache_hits);
        self.tokens_saved = self.tokens_saved.saturating_add(other.tokens_saved);
        self.cost_mc = self.cost_mc.saturating_add(other.cost_mc);
    }

    /// Model tokens used (in and out): what a tenant's token quota counts.
    pub fn tokens(&self) -> u64 {
        self.tokens_in.saturating_add(self.tokens_out)
    }
}

/// What one skill with one model (`""`: no model) used in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageLine {
    /// The skill.
    pub skill: String,
    /// The model that answered, as its provider names it (`""` for skills without one).
    #[serde(default)]
    pub model: String,
    /// What it used.
    #[serde(flatten)]
    pub counters: Counters,
}

/// What a step with `skill` that ended with `outcome` used, charged `cost` of its own.
/// Model calls (`llm_invoke`) and planner decisions report tokens in their output's
/// `usage`; an answer from the response cache used none and saved its tokens.
pub fn step_line(skill: &str, outcome: &StructuredOutcome, cost: Millicredits) -> UsageLine {
    let mut line = UsageLine {
        skill: skill.to_owned(),
        model: String::new(),
        counters: Counters { steps: 1, cost_mc: cost.0, ..Counters::default() },
    };
    let Some(out) = outcome.output.as_ref().filter(|_| outcome.ok) else { return line };
    let model = out.get("model").or_else(|| out.get("source").and_then(|s| s.get("model")));
    line.model = model.and_then(Value::as_str).unwrap_or_default().to_owned();
    let count = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let hit = out.get("cache").and_then(|c| c.get("hit")).and_then(Value::as_bool) == Some(true);
    let saved = out.get("cache").map_or_else(|| count(out, "tokens_saved"), |c| count(c, "tokens_saved"));
    if hit {
        line.counters.cache_hits = 1;
    } else if let Some(usage) = out.get("usage") {
        line.counters.tokens_in = count(usage, "input_tokens")
            .saturating_add(count(usage, "cache_read_tokens"))
            .saturating_add(count(usage, "cache_write_tokens"));
        line.counters.tokens_out = count(usage, "output_tokens");
    }
    line.counters.tokens_saved = saved;
    if saved > 0 && !hit {
        // A planner whose decision came partly from the cache reports what it saved.
        line.counters.cache_hits = 1;
    }
    line
}

/// What a run used so far, a line per skill and model (in the order they first ran).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunUsage {
    lines: Vec<UsageLine>,
}

impl RunUsage {
    /// Adds a step's line to the run's.
    pub fn add(&mut self, line: &UsageLine) {
        match self.lines.iter_mut().find(|l| l.skill == line.skill && l.model == line.model) {
            Some(l) => l.counters.add(&line.counters),
            None => self.lines.push(line.clone()),
        }
    }

    /// The run's usage with `line` added.
    #[must_use]
    pub fn with(&self, line: &UsageLine) -> Self {
        let mut next = self.clone();
        next.add(line);
        next
    }

    /// Its lines.
    pub fn lines(&self) -> &[UsageLine] {
        &self.lines
    }

    /// Whether no step has ended.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Every line added up.
    pub fn total(&self) -> Counters {
        self.lines.iter().fold(Counters::default(), |mut t, l| {
            t.add(&l.counters);
            t
        })
    }
}

/// A finished run's usage, written once with its end and kept after the run itself is
/// deleted by its tenant's retention (usage is what a bill is made from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The run.
    pub run_id: RunId,
    /// The workflow whose node the run was, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// How it ended.
    pub status: RunStatus,
    /// When it ended, ms since the epoch.
    pub ended_at_ms: u64,
    /// What it used.
    pub usage: RunUsage,
}

/// What usage is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The UTC day the run ended (`2026-12-04`).
    Day,
    /// The workflow (`""`: runs outside workflows).
    Workflow,
    /// The skill.
    Skill,
    /// The model (`""`: steps without one).
    Model,
}

impl GroupBy {
    /// Every grouping.
    pub const ALL: [GroupBy; 4] = [GroupBy::Day, GroupBy::Workflow, GroupBy::Skill, GroupBy::Model];

    /// Its name in `group_by`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Day => "day",
            GroupBy::Workflow => "workflow",
            GroupBy::Skill => "skill",
            GroupBy::Model => "model",
        }
    }

    /// The grouping named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == name)
    }
}

/// The UTC day of `ms` since the epoch (`2026-12-04`).
pub fn utc_day(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
}

/// One group of a rollup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageGroup {
    /// The day, workflow, skill or model.
    pub key: String,
    /// Runs that had usage in this group.
    pub runs: u64,
    /// What they used in it.
    #[serde(flatten)]
    pub counters: Counters,
}

/// Usage records added up by one grouping.
#[derive(Debug, Clone)]
pub struct Rollup {
    by: GroupBy,
    groups: BTreeMap<String, (BTreeSet<RunId>, Counters)>,
    total: Counters,
    runs: u64,
}

impl Rollup {
    /// An empty rollup by `by`.
    pub fn new(by: GroupBy) -> Self {
        Self { by, groups: BTreeMap::new(), total: Counters::default(), runs: 0 }
    }

    /// Adds a run's record.
    pub fn add(&mut self, r: &UsageRecord) {
        self.runs += 1;
        self.total.add(&r.usage.total());
        // A run's day and workflow are the run's own: it counts there even when it
        // ended before any step did.
        let run_key = match self.by {
            GroupBy::Day => Some(utc_day(r.ended_at_ms)),
            GroupBy::Workflow => Some(r.workflow.clone().unwrap_or_default()),
            GroupBy::Skill | GroupBy::Model => None,
        };
        if let Some(key) = run_key {
            let (runs, counters) = self.groups.entry(key).or_default();
            runs.insert(r.run_id.clone());
            counters.add(&r.usage.total());
            return;
        }
        for line in r.usage.lines() {
            let key = if self.by == GroupBy::Skill { line.skill.clone() } else { line.model.clone() };
            let (runs, counters) = self.groups.entry(key).or_default();
            runs.insert(r.run_id.clone());
            counters.add(&line.counters);
        }
    }

    /// The groups, in key order.
    pub fn groups(&self) -> Vec<UsageGroup> {
        self.groups
            .iter()
            .map(|(key, (runs, counters))| UsageGroup {
                key: key.clone(),
                runs: runs.len() as u64,
                counters: *counters,
            })
            .collect()
    }

    /// Everything added up.
    pub fn total(&self) -> Counters {
        self.total
    }

    /// Runs added.
    pub fn runs(&self) -> u64 {
        self.runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(id: &str, workflow: Option<&str>, ended: u64, lines: &[UsageLine]) -> UsageRecord {
        let mut usage = RunUsage::default();
        for l in lines {
            usage.add(l);
        }
        UsageRecord {
            run_id: RunId::parse(id).expect("id"),
            workflow: workflow.map(str::to_owned),
            status: RunStatus::Succeeded,
            ended_at_ms: ended,
            usage,
        }
    }

    fn model_call(model: &str, hit: bool) -> StructuredOutcome {
        StructuredOutcome::success(json!({
            "text": "hi", "model": model,
            "usage": {"input_tokens": 100, "output_tokens": 20, "cache_read_tokens": 5, "cache_write_tokens": 0},
            "cache": {"hit": hit, "tokens_saved": if hit { 125 } else { 0 }},
        }))
    }

    #[test]
    fn a_model_call_counts_its_tokens_and_a_cache_hit_counts_what_it_saved() {
        let miss = step_line("llm_invoke", &model_call("gpt-4o", false), Millicredits(2_500));
        assert_eq!((miss.model.as_str(), miss.counters.tokens_in, miss.counters.tokens_out), ("gpt-4o", 105, 20));
        assert_eq!((miss.counters.cache_hits, miss.counters.tokens_saved, miss.counters.cost_mc), (0, 0, 2_500));
        let hit = step_line("llm_invoke", &model_call("gpt-4o", true), Millicredits(1_000));
        assert_eq!((hit.counters.tokens_in, hit.counters.tokens_out), (0, 0), "nothing was sent to the model");
        assert_eq!((hit.counters.cache_hits, hit.counters.tokens_saved), (1, 125));
        let plain = step_line("json_transform", &StructuredOutcome::success(json!({"n": 1})), Millicredits(1_000));
        assert_eq!((plain.model.as_str(), plain.counters.steps, plain.counters.tokens()), ("", 1, 0));
    }

    #[test]
    fn a_planner_decision_is_attributed_to_its_model() {
        let out = StructuredOutcome::success(json!({
            "usage": {"input_tokens": 300, "output_tokens": 40}, "tokens_saved": 0,
            "source": {"provider": "local", "model": "claude-sonnet-4-5"},
        }));
        let line = step_line("agent_plan", &out, Millicredits(700));
        assert_eq!(
            (line.model.as_str(), line.counters.tokens_in, line.counters.tokens_out),
            ("claude-sonnet-4-5", 300, 40)
        );
    }

    #[test]
    fn a_failed_step_counts_as_a_step_with_its_cost_and_no_tokens() {
        let failed = StructuredOutcome::failure(crate::ErrorCode::Internal, "boom");
        let line = step_line("llm_invoke", &failed, Millicredits(300));
        assert_eq!((line.counters.steps, line.counters.tokens(), line.counters.cost_mc), (1, 0, 300));
    }

    #[test]
    fn a_run_keeps_a_line_per_skill_and_model() {
        let a = step_line("llm_invoke", &model_call("m1", false), Millicredits(10));
        let b = step_line("llm_invoke", &model_call("m2", false), Millicredits(20));
        let usage = RunUsage::default().with(&a).with(&a).with(&b);
        assert_eq!(usage.lines().len(), 2);
        assert_eq!((usage.lines()[0].counters.steps, usage.lines()[0].counters.cost_mc), (2, 20));
        assert_eq!(usage.total().cost_mc, 40);
        let text = serde_json::to_value(&usage).expect("json");
        assert_eq!(serde_json::from_value::<RunUsage>(text).expect("back"), usage);
    }

    #[test]
    fn rollups_group_by_day_workflow_skill_and_model_and_count_each_run_once_per_group() {
        let day1 = 1_764_806_400_000; // 2025-12-04T00:00:00Z
        let llm = step_line("llm_invoke", &model_call("m1", false), Millicredits(5_000));
        let pure = step_line("json_transform", &StructuredOutcome::success(json!({})), Millicredits(1_000));
        let records = [
            record("run_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Some("etl"), day1 + 5, &[llm.clone(), llm, pure.clone()]),
            record("run_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", None, day1 + 86_400_000, std::slice::from_ref(&pure)),
        ];
        let roll = |by| {
            let mut r = Rollup::new(by);
            records.iter().for_each(|rec| r.add(rec));
            r
        };
        let by_day = roll(GroupBy::Day).groups();
        assert_eq!(
            by_day.iter().map(|g| (g.key.as_str(), g.runs, g.counters.steps)).collect::<Vec<_>>(),
            [("2025-12-04", 1, 3), ("2025-12-05", 1, 1)]
        );
        let by_skill = roll(GroupBy::Skill).groups();
        assert_eq!(
            by_skill.iter().map(|g| (g.key.as_str(), g.runs, g.counters.cost_mc)).collect::<Vec<_>>(),
            [("json_transform", 2, 2_000), ("llm_invoke", 1, 10_000)]
        );
        let by_workflow = roll(GroupBy::Workflow).groups();
        assert_eq!(by_workflow.iter().map(|g| (g.key.as_str(), g.runs)).collect::<Vec<_>>(), [("", 1), ("etl", 1)]);
        let by_model = roll(GroupBy::Model);
        assert_eq!(
            by_model.groups().iter().map(|g| (g.key.as_str(), g.counters.tokens_in)).collect::<Vec<_>>(),
            [("", 0), ("m1", 210)]
        );
        assert_eq!((by_model.runs(), by_model.total().cost_mc, by_model.total().steps), (2, 12_000, 4));
    }
}
