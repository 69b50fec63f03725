//! Checkpoints and their hash chain. Each checkpoint's hash covers the previous one, so
//! a trace cannot be edited, reordered or truncated in the middle without detection.

use crate::outcome::StructuredOutcome;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The fields of a step that its chain hash covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink<'a> {
    /// Hash of the previous checkpoint (or the run's genesis hash for step 0).
    pub prev_hash: &'a str,
    /// Position of the step in the plan.
    pub step_index: u32,
    /// The step's id in the plan.
    pub step_id: &'a str,
    /// Skill name the step ran.
    pub skill: &'a str,
    /// The step's deterministic seed.
    pub seed: u64,
    /// `StructuredOutcome::content_hash` of the step's final outcome.
    pub outcome_hash: &'a str,
    /// What the policy gate decided (`None`: the tenant has no policies).
    pub gate: Option<&'a GateRecord>,
}

impl ChainLink<'_> {
    /// The hash of this link: SHA-256 over the canonical JSON of all its fields.
    pub fn hash(&self) -> String {
        self.canonical().hash()
    }

    /// The canonical JSON of the object `{prev, index, step_id, skill, seed (as a
    /// string), outcome, gate}`, written field by field (one per step commit).
    fn canonical(&self) -> crate::determinism::CanonicalObject {
        let mut link = crate::determinism::CanonicalObject::new();
        // Covered when there is one, so a chain without policies hashes as it always did.
        if let Some(gate) = self.gate {
            link = link.value("gate", &json!(gate));
        }
        link.scalar("index", &self.step_index)
            .scalar("outcome", self.outcome_hash)
            .scalar("prev", self.prev_hash)
            .scalar("seed", &self.seed.to_string())
            .scalar("skill", self.skill)
            .scalar("step_id", self.step_id)
    }
}

/// What the policy gate made of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GateDecision {
    /// The policies allowed it.
    Allow,
    /// A policy denied it: the step failed with `ERR_POLICY_VIOLATION`.
    Deny,
    /// A policy asked for an approval, which a person gave.
    Approved,
    /// A policy asked for an approval, which a person refused.
    Rejected,
    /// A policy asked for an approval, which nobody gave in time.
    Expired,
}

impl GateDecision {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }
}

/// The policy gate's decision for a step, as its checkpoint records it (and its chain
/// hash covers): a replay sees the same gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GateRecord {
    /// The decision.
    pub decision: GateDecision,
    /// The tenant's policy version that decided.
    pub policy_version: u32,
    /// The policies that applied and did not allow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The approval the step waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
}

/// The genesis hash of a run: covers the plan, the run input and the base seed (not the
/// run id or any time), so two runs of the same plan, input and seed share a chain.
pub fn genesis_hash(plan: &serde_json::Value, input: &serde_json::Value, base_seed: u64) -> String {
    // `{"base_seed": "<seed>", "input": …, "plan": …}` written in key order, without
    // copying the plan and the input into a new object first.
    crate::determinism::CanonicalObject::new()
        .scalar("base_seed", &base_seed.to_string())
        .value("input", input)
        .value("plan", plan)
        .hash()
}

/// A stored checkpoint: the final outcome of one step plus its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    /// Position of the step in the plan.
    pub step_index: u32,
    /// The step's id in the plan.
    pub step_id: String,
    /// Skill name the step ran.
    pub skill: String,
    /// The step's deterministic seed.
    pub seed: u64,
    /// How many attempts the step took.
    pub attempts: u32,
    /// The final outcome.
    pub outcome: StructuredOutcome,
    /// Hash of what the step produced.
    pub outcome_hash: String,
    /// Hash of the previous checkpoint (genesis for step 0).
    pub prev_hash: String,
    /// This checkpoint's chain hash.
    pub hash: String,
    /// When the checkpoint was written (ms since the epoch); not hashed.
    pub created_at_ms: u64,
    /// What the policy gate decided (`None`: the tenant had no policies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateRecord>,
    /// What the step cost (`None`: nothing was estimated, such as a step that never ran);
    /// not hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<crate::credits::StepCharge>,
}

impl Checkpoint {
    /// The chain link this checkpoint claims.
    pub fn link(&self) -> ChainLink<'_> {
        ChainLink {
            prev_hash: &self.prev_hash,
            step_index: self.step_index,
            step_id: &self.step_id,
            skill: &self.skill,
            seed: self.seed,
            outcome_hash: &self.outcome_hash,
            gate: self.gate.as_ref(),
        }
    }
}

/// A break found by [`verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("checkpoint chain broken at step {step_index}: {reason}")]
pub struct ChainBreak {
    /// The first step whose checkpoint does not verify.
    pub step_index: u32,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Checks that `checkpoints` (in step order) form an unbroken chain from `genesis`:
/// indexes are consecutive from 0, each `prev_hash` is the previous hash, every outcome
/// hash and chain hash recomputes.
pub fn verify_chain(genesis: &str, checkpoints: &[Checkpoint]) -> Result<(), ChainBreak> {
    let mut prev = genesis.to_owned();
    for (i, cp) in checkpoints.iter().enumerate() {
        let brk = |reason| ChainBreak { step_index: cp.step_index, reason };
        if usize::try_from(cp.step_index).ok() != Some(i) {
            return Err(brk("step indexes are not consecutive from 0"));
        }
        if cp.prev_hash != prev {
            return Err(brk("prev_hash does not match the previous checkpoint"));
        }
        if cp.outcome.content_hash() != cp.outcome_hash {
            return Err(brk("outcome hash does not match the outcome"));
        }
        if cp.link().hash() != cp.hash {
            return Err(brk("chain hash does not recompute"));
        }
        prev.clone_from(&cp.hash);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::determinism::content_hash;

    fn chain(n: u32) -> (String, Vec<Checkpoint>) {
        let genesis = genesis_hash(&json!([]), &json!({}), 1);
        let mut prev = genesis.clone();
        let mut out = Vec::new();
        for i in 0..n {
            let outcome = StructuredOutcome::success(json!({ "i": i }));
            let outcome_hash = outcome.content_hash();
            // Odd steps passed a tenant's policies.
            let gate = (i % 2 == 1).then(|| GateRecord {
                decision: GateDecision::Allow,
                policy_version: 3,
                policies: Vec::new(),
                approval: None,
            });
            let link = ChainLink {
                prev_hash: &prev,
                step_index: i,
                step_id: "s",
                skill: "noop",
                seed: 9,
                outcome_hash: &outcome_hash,
                gate: gate.as_ref(),
            };
            let hash = link.hash();
            out.push(Checkpoint {
                step_index: i,
                step_id: "s".into(),
                skill: "noop".into(),
                seed: 9,
                attempts: 1,
                outcome,
                outcome_hash,
                prev_hash: prev.clone(),
                hash: hash.clone(),
                created_at_ms: 0,
                gate,
                charge: None,
            });
            prev = hash;
        }
        (genesis, out)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (g, cps) = chain(4);
        assert_eq!(verify_chain(&g, &cps), Ok(()));
    }

    #[test]
    fn editing_reordering_or_dropping_a_checkpoint_breaks_the_chain() {
        let (g, cps) = chain(4);
        let mut edited = cps.clone();
        edited[1].outcome = StructuredOutcome::success(json!({"i": 99}));
        assert_eq!(verify_chain(&g, &edited).map_err(|b| b.step_index), Err(1));
        let mut dropped = cps.clone();
        dropped.remove(1);
        assert!(verify_chain(&g, &dropped).is_err());
        let mut swapped = cps.clone();
        swapped.swap(2, 3);
        assert!(verify_chain(&g, &swapped).is_err());
        // The gate's record is covered: a deny turned into an allow, or a gate removed.
        let mut regated = cps.clone();
        regated[3].gate.as_mut().expect("a gate").policy_version = 2;
        assert_eq!(verify_chain(&g, &regated).map_err(|b| b.step_index), Err(3));
        let mut ungated = cps;
        ungated[1].gate = None;
        assert_eq!(verify_chain(&g, &ungated).map_err(|b| b.step_index), Err(1));
    }

    #[test]
    fn a_link_without_a_gate_hashes_as_before_gates_existed() {
        let link = ChainLink {
            prev_hash: "p",
            step_index: 0,
            step_id: "s",
            skill: "k",
            seed: 1,
            outcome_hash: "o",
            gate: None,
        };
        let before =
            content_hash(&json!({"prev": "p", "index": 0, "step_id": "s", "skill": "k", "seed": "1", "outcome": "o"}));
        assert_eq!(link.hash(), before);
    }

    /// The link is written field by field: its bytes are those of the object form's
    /// canonical JSON, escapes and a gate included, and its hash stays what it was.
    #[test]
    fn a_link_hashes_as_the_canonical_json_of_its_fields() {
        let gate = GateRecord {
            decision: GateDecision::Approved,
            policy_version: 7,
            policies: vec!["needs \"ok\"".into()],
            approval: Some("apr_1".into()),
        };
        let link = ChainLink {
            prev_hash: "p\u{1}\\",
            step_index: 12,
            step_id: "s/é\n",
            skill: "k",
            seed: u64::MAX,
            outcome_hash: "o",
            gate: Some(&gate),
        };
        let object = json!({"prev": link.prev_hash, "index": 12, "step_id": link.step_id, "skill": "k",
                            "seed": u64::MAX.to_string(), "outcome": "o", "gate": gate});
        let text = String::from_utf8(link.canonical().finish()).expect("utf-8");
        assert_eq!(text, crate::determinism::canonical_json(&object));
        assert_eq!(
            text,
            r#"{"gate":{"approval":"apr_1","decision":"approved","policies":["needs \"ok\""],"policy_version":7},"index":12,"outcome":"o","prev":"p\u0001\\","seed":"18446744073709551615","skill":"k","step_id":"s/é\n"}"#
        );
        assert_eq!(link.hash(), content_hash(&object));
    }

    /// The genesis hash is written field by field: it stays the hash of the object form.
    #[test]
    fn a_genesis_hash_is_the_hash_of_its_object_form() {
        let (plan, input) = (json!([{"skill": "echo", "id": "s1"}]), json!({"b": [1, {"z": 1, "a": "é"}], "a": null}));
        let object = json!({"plan": plan, "input": input, "base_seed": u64::MAX.to_string()});
        let hash = genesis_hash(&plan, &input, u64::MAX);
        assert_eq!(hash, content_hash(&object));
        // sha256 of {"base_seed":"18446744073709551615","input":{"a":null,"b":[1,{"a":"é","z":1}]},"plan":[{"id":"s1","skill":"echo"}]}
        assert_eq!(hash, "0132ca71f9d1fde63d7794abdc6bc8ebb86ef35a26b579a7b6e762a7056bba0e");
    }
}
