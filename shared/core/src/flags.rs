//! Feature flags: per tenant, with per-environment overrides, targeting rules and a
//! percentage rollout by a deterministic bucket of a stable key (a run id), so the same
//! key always gets the same answer. A flag that names a skill gates it: where the flag
//! is off, a step calling the skill fails with `ERR_SKILL_DISABLED`.

use crate::determinism::sha256_hex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Buckets of a rollout: a key lands in one of 10 000 (0.01 % steps).
pub const BUCKETS: u32 = 10_000;
/// Most environments a flag may override.
pub const MAX_ENVIRONMENTS: usize = 16;
/// Most targeting rules of a flag.
pub const MAX_RULES: usize = 50;
/// Most values of one rule.
pub const MAX_RULE_VALUES: usize = 100;

/// How a rule compares an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = FlagOp)]
pub enum Op {
    /// The attribute is one of the values.
    In,
    /// The attribute is none of the values.
    NotIn,
    /// The attribute starts with one of the values.
    Prefix,
}

/// A targeting rule: when the attribute matches, the flag serves `serve` (the first
/// rule that matches decides, before the rollout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The attribute looked at (`skill`, `kind`, `run_id`, `workflow`, `agent`, `depth`, or
    /// any a caller of the evaluate route passes).
    pub attribute: String,
    /// How.
    pub op: Op,
    /// Against what.
    pub values: Vec<String>,
    /// The answer when it matches.
    pub serve: bool,
}

/// An environment's override of the flag's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvOverride {
    /// On or off there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The rollout there, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_percent: Option<f64>,
}

/// A flag as a tenant sets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagSpec {
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// The master switch: off serves false to everyone.
    pub enabled: bool,
    /// The share of keys served true once on and no rule matched, percent (default 100).
    #[serde(default = "all")]
    pub rollout_percent: f64,
    /// Overrides per environment (`production`, `staging`, `development`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, EnvOverride>,
    /// Targeting rules, first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// The skill this flag gates, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    /// Where a signed `flag.changed` webhook goes on each change, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

fn all() -> f64 {
    100.0
}

/// What a flag says for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlagAnswer {
    /// On or off.
    pub value: bool,
    /// Why: `off`, `rule N`, `rollout`.
    pub reason: String,
    /// The key's bucket (0–9999) when the rollout decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<u32>,
    /// The bucket below which keys are served true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
}

/// The bucket (0–9999) of `stable_key` for the flag `flag`: SHA-256 of both, so a key
/// lands the same for a flag every time and independently across flags.
pub fn bucket(flag: &str, stable_key: &str) -> u32 {
    let digest = sha256_hex(format!("{flag}\n{stable_key}").as_bytes());
    let head = u64::from_str_radix(&digest[..16], 16).expect("hex");
    u32::try_from(head % u64::from(BUCKETS)).expect("below 10 000")
}

/// A flag key: 1–64 of `a-z`, `0-9`, `_`, `-`, `.`, starting with a letter.
pub fn check_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!("flag key {key:?} must be 1-64 of a-z, 0-9, '_', '-', '.', starting with a letter"))
    }
}

fn check_percent(what: &str, p: f64) -> Result<(), String> {
    if p.is_finite() && (0.0..=100.0).contains(&p) {
        Ok(())
    } else {
        Err(format!("{what} must be a percentage from 0 to 100, got {p}"))
    }
}

fn check_name(what: &str, name: &str, max: usize) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!("{what} {name:?} must be 1-{max} of a-z, 0-9, '_', '-'"))
    }
}

impl FlagSpec {
    /// Whether the spec is one AOS stores: what is wrong, else `Ok`.
    pub fn check(&self) -> Result<(), String> {
        if self.description.chars().count() > 500 {
            return Err("description must be at most 500 characters".to_owned());
        }
        check_percent("rollout_percent", self.rollout_percent)?;
        if let Some(u) = &self.webhook_url {
            let starts = u.starts_with("http://") || u.starts_with("https://");
            if !starts || u.len() > 2048 || u.contains(char::is_whitespace) {
                return Err(format!("webhook_url {u:?} must be an http or https URL of at most 2048 bytes"));
            }
        }
        if self.environments.len() > MAX_ENVIRONMENTS {
            return Err(format!("at most {MAX_ENVIRONMENTS} environments, got {}", self.environments.len()));
        }
        for (name, o) in &self.environments {
            check_name("environment", name, 32)?;
            if let Some(p) = o.rollout_percent {
                check_percent(&format!("environments.{name}.rollout_percent"), p)?;
            }
        }
        if self.rules.len() > MAX_RULES {
            return Err(format!("at most {MAX_RULES} rules, got {}", self.rules.len()));
        }
        for (i, r) in self.rules.iter().enumerate() {
            check_name(&format!("rules[{i}].attribute"), &r.attribute, 32)?;
            if r.values.is_empty() || r.values.len() > MAX_RULE_VALUES {
                return Err(format!("rules[{i}].values must hold 1-{MAX_RULE_VALUES} values"));
            }
            if let Some(v) = r.values.iter().find(|v| v.len() > 256) {
                return Err(format!(
                    "rules[{i}].values: {:?}… is over 256 bytes",
                    v.chars().take(20).collect::<String>()
                ));
            }
        }
        Ok(())
    }

    /// What the flag `key` says for `stable_key` in `environment`, with the attributes of
    /// the evaluation (rules look at them).
    pub fn evaluate(
        &self,
        key: &str,
        environment: &str,
        stable_key: &str,
        attributes: &BTreeMap<String, String>,
    ) -> FlagAnswer {
        let over = self.environments.get(environment);
        let enabled = over.and_then(|o| o.enabled).unwrap_or(self.enabled);
        let answer = |value, reason: String| FlagAnswer { value, reason, bucket: None, threshold: None };
        if !enabled {
            return answer(false, format!("off in {environment}"));
        }
        for (i, r) in self.rules.iter().enumerate() {
            let Some(have) = attributes.get(&r.attribute) else { continue };
            let matched = match r.op {
                Op::In => r.values.iter().any(|v| v == have),
                Op::NotIn => !r.values.iter().any(|v| v == have),
                Op::Prefix => r.values.iter().any(|v| have.starts_with(v.as_str())),
            };
            if matched {
                return answer(r.serve, format!("rule {i} ({} {:?})", r.attribute, r.op));
            }
        }
        let percent = over.and_then(|o| o.rollout_percent).unwrap_or(self.rollout_percent);
        // Rounded to the bucket size: 30 % serves buckets 0–2999.
        let threshold = (percent * f64::from(BUCKETS) / 100.0).round() as u32;
        let b = bucket(key, stable_key);
        FlagAnswer { value: b < threshold, reason: "rollout".to_owned(), bucket: Some(b), threshold: Some(threshold) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(percent: f64) -> FlagSpec {
        FlagSpec {
            description: String::new(),
            enabled: true,
            rollout_percent: percent,
            environments: BTreeMap::new(),
            rules: Vec::new(),
            skill: None,
            webhook_url: None,
        }
    }

    #[test]
    fn a_30_percent_rollout_serves_30_percent_of_10000_run_ids_and_the_same_id_the_same() {
        let flag = spec(30.0);
        let none = BTreeMap::new();
        let ids: Vec<String> =
            (0..10_000).map(|i| format!("run_{:032x}", u128::from(i as u32) * 0x9e37_79b9)).collect();
        let on = ids.iter().filter(|id| flag.evaluate("new-planner", "production", id, &none).value).count();
        let share = on as f64 / ids.len() as f64;
        assert!((0.28..=0.32).contains(&share), "30 % ± 2 %: {share}");
        for id in ids.iter().take(500) {
            let first = flag.evaluate("new-planner", "production", id, &none);
            assert_eq!(flag.evaluate("new-planner", "production", id, &none), first, "the same id lands the same");
        }
        // Another flag buckets the same ids independently.
        let both = ids
            .iter()
            .filter(|id| {
                flag.evaluate("new-planner", "production", id, &none).value
                    && flag.evaluate("other-flag", "production", id, &none).value
            })
            .count() as f64
            / ids.len() as f64;
        assert!((0.07..=0.11).contains(&both), "independent buckets: about 9 %, got {both}");
        assert!(!spec(0.0).evaluate("f", "p", "run_x", &none).value);
        assert!(spec(100.0).evaluate("f", "p", "run_x", &none).value);
    }

    #[test]
    fn the_switch_then_the_environment_then_the_first_matching_rule_then_the_rollout_decide() {
        let mut f = spec(0.0);
        f.rules = vec![
            Rule { attribute: "skill".into(), op: Op::In, values: vec!["http_call".into()], serve: true },
            Rule { attribute: "run_id".into(), op: Op::Prefix, values: vec!["run_beta".into()], serve: true },
        ];
        f.environments.insert("staging".into(), EnvOverride { enabled: None, rollout_percent: Some(100.0) });
        f.environments.insert("production".into(), EnvOverride { enabled: Some(false), rollout_percent: None });
        let attrs = |skill: &str| BTreeMap::from([("skill".to_owned(), skill.to_owned())]);
        assert_eq!(f.evaluate("f", "development", "run_1", &attrs("http_call")).reason, "rule 0 (skill In)");
        assert!(f.evaluate("f", "development", "run_1", &attrs("http_call")).value);
        assert!(!f.evaluate("f", "development", "run_1", &attrs("kv_store")).value, "rollout 0 %");
        assert!(f.evaluate("f", "staging", "run_1", &attrs("kv_store")).value, "staging rolls out to all");
        let off = f.evaluate("f", "production", "run_1", &attrs("http_call"));
        assert_eq!((off.value, off.reason.as_str()), (false, "off in production"));
        f.enabled = false;
        assert!(!f.evaluate("f", "development", "run_1", &attrs("http_call")).value);
    }

    #[test]
    fn a_spec_out_of_bounds_is_refused_naming_what_to_fix() {
        let mut f = spec(120.0);
        assert!(f.check().expect_err("percent").contains("rollout_percent"));
        f.rollout_percent = f64::NAN;
        assert!(f.check().is_err());
        f = spec(50.0);
        f.environments.insert("Prod!".into(), EnvOverride::default());
        assert!(f.check().expect_err("env").contains("environment"));
        f = spec(50.0);
        f.rules = vec![Rule { attribute: "skill".into(), op: Op::In, values: Vec::new(), serve: true }];
        assert!(f.check().expect_err("rule").contains("rules[0].values"));
        assert!(check_key("new-planner.v2").is_ok());
        for bad in ["", "New", "9lives", "a b", &"x".repeat(65)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
