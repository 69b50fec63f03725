//! The audit log: per tenant, append-only, each entry hash-chained to the one before it
//! (as the checkpoints of a run are), so an edited, removed or reordered entry shows.
//!
//! An [`AuditEvent`] is what a use case records with the change it makes; the store
//! gives it its place (`seq`, from 1, with no gaps) and its hashes in the same atomic
//! write as the change, so nothing happens unrecorded and nothing is recorded that did
//! not happen.

use crate::determinism::content_hash;
use crate::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// The API key (`None`: AOS itself, e.g. the policy gate or a timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The key's role (`aos` for AOS itself).
    pub role: String,
}

impl Actor {
    /// AOS itself: the gate, a worker, a timer.
    pub fn system() -> Self {
        Self { key_id: None, role: "aos".to_owned() }
    }

    /// A caller's key.
    pub fn key(key_id: impl Into<String>, role: impl Into<String>) -> Self {
        Self { key_id: Some(key_id.into()), role: role.into() }
    }
}

/// What is recorded of one change, before the store places it in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Whose log it goes to.
    pub tenant: TenantId,
    /// Who.
    pub actor: Actor,
    /// What, as `<noun>.<verb>`: `policy.apply`, `gate.deny`, `approval.decide`, ….
    pub action: String,
    /// On what: `run:<id>/step:<n>`, `approval:<id>`, `policies`, `key:<id>`, ….
    pub resource: String,
    /// The outcome: `applied`, `deny`, `approved`, ….
    pub decision: String,
    /// Why, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Anything else worth keeping (never a secret).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
    /// When, ms since the epoch.
    pub at_ms: u64,
}

impl AuditEvent {
    /// An event with no reasons or details.
    pub fn new(
        tenant: &TenantId,
        actor: Actor,
        action: &str,
        resource: impl Into<String>,
        decision: &str,
        at_ms: u64,
    ) -> Self {
        Self {
            tenant: tenant.clone(),
            actor,
            action: action.to_owned(),
            resource: resource.into(),
            decision: decision.to_owned(),
            reasons: Vec::new(),
            details: Value::Null,
            at_ms,
        }
    }

    /// With reasons.
    #[must_use]
    pub fn because(mut self, reasons: Vec<String>) -> Self {
        self.reasons = reasons;
        self
    }

    /// With details.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// An entry of the log, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Its place in its tenant's log, from 1, with no gaps.
    pub seq: u64,
    /// What was recorded.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The hash of the entry before it ([`genesis`] for the first).
    pub prev_hash: String,
    /// The hash of this entry: over `seq`, the event and `prev_hash`.
    pub hash: String,
}

/// The `prev_hash` of a tenant's first entry.
pub fn genesis(tenant: &TenantId) -> String {
    content_hash(&json!(["aos-audit", tenant]))
}

/// The hash an entry must carry.
pub fn entry_hash(seq: u64, event: &AuditEvent, prev_hash: &str) -> String {
    content_hash(&json!({"seq": seq.to_string(), "event": event, "prev_hash": prev_hash}))
}

impl AuditEntry {
    /// `event` placed after the entry `(seq, hash)` (`None`: first of its tenant).
    pub fn after(head: Option<(u64, &str)>, event: AuditEvent) -> Self {
        let (seq, prev_hash) = match head {
            Some((seq, hash)) => (seq + 1, hash.to_owned()),
            None => (1, genesis(&event.tenant)),
        };
        let hash = entry_hash(seq, &event, &prev_hash);
        Self { seq, event, prev_hash, hash }
    }

    /// `events` placed one after another after `head`.
    pub fn chain(head: Option<(u64, &str)>, events: impl IntoIterator<Item = AuditEvent>) -> Vec<Self> {
        let mut out: Vec<Self> = Vec::new();
        for event in events {
            let entry = match out.last() {
                Some(last) => Self::after(Some((last.seq, &last.hash)), event),
                None => Self::after(head, event),
            };
            out.push(entry);
        }
        out
    }
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("the audit log breaks at position {position} (seq {seq}): {reason}")]
pub struct AuditBreak {
    /// 1-based position in the walk.
    pub position: u64,
    /// The `seq` found there.
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// Walks a tenant's entries in order: consecutive from 1, each linked to the one before,
/// each hash recomputing. Feed it page by page; `finish` says how many it saw.
#[derive(Debug, Clone)]
pub struct ChainWalk {
    tenant: TenantId,
    seen: u64,
    prev: String,
}

impl ChainWalk {
    /// A walk of `tenant`'s log from its first entry.
    pub fn new(tenant: &TenantId) -> Self {
        Self { tenant: tenant.clone(), seen: 0, prev: genesis(tenant) }
    }

    /// The next entry; the first break found.
    pub fn next(&mut self, e: &AuditEntry) -> Result<(), AuditBreak> {
        let position = self.seen + 1;
        let brk = |reason: &str| AuditBreak { position, seq: e.seq, reason: reason.to_owned() };
        if e.event.tenant != self.tenant {
            return Err(brk("the entry belongs to another tenant"));
        }
        if e.seq != position {
            let why = if e.seq > position {
                format!("expected seq {position}: an entry before it is missing")
            } else {
                format!("expected seq {position}: the entries are out of order")
            };
            return Err(brk(&why));
        }
        if e.prev_hash != self.prev {
            return Err(brk("prev_hash is not the hash of the entry before it (removed, reordered or edited)"));
        }
        if entry_hash(e.seq, &e.event, &e.prev_hash) != e.hash {
            return Err(brk("the entry was edited: its hash does not recompute"));
        }
        self.seen = position;
        self.prev.clone_from(&e.hash);
        Ok(())
    }

    /// How many entries verified.
    pub fn finish(self) -> u64 {
        self.seen
    }
}

/// Verifies a whole log (see [`ChainWalk`]); how many entries it holds.
pub fn verify(tenant: &TenantId, entries: &[AuditEntry]) -> Result<u64, AuditBreak> {
    let mut walk = ChainWalk::new(tenant);
    for e in entries {
        walk.next(e)?;
    }
    Ok(walk.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("ten_audit").expect("tenant")
    }

    fn log(n: u64) -> Vec<AuditEntry> {
        let events = (0..n).map(|i| {
            AuditEvent::new(&tenant(), Actor::key("key_a", "admin"), "policy.apply", "policies", "applied", 1_000 + i)
                .because(vec![format!("version {i}")])
        });
        AuditEntry::chain(None, events)
    }

    #[test]
    fn a_log_built_entry_by_entry_verifies() {
        assert_eq!(verify(&tenant(), &log(5)), Ok(5));
        assert_eq!(verify(&tenant(), &[]), Ok(0));
        let first = &log(1)[0];
        assert_eq!((first.seq, first.prev_hash.clone()), (1, genesis(&tenant())));
    }

    #[test]
    fn an_edited_removed_or_reordered_entry_is_reported_at_its_position() {
        let mut edited = log(5);
        edited[2].event.decision = "denied".into();
        let e = verify(&tenant(), &edited).expect_err("edited");
        assert_eq!((e.position, e.seq), (3, 3), "{e}");
        assert!(e.reason.contains("edited"), "{e}");

        let mut removed = log(5);
        removed.remove(1);
        let e = verify(&tenant(), &removed).expect_err("removed");
        assert_eq!((e.position, e.seq), (2, 3), "{e}");
        assert!(e.reason.contains("missing"), "{e}");

        let mut reordered = log(5);
        reordered.swap(1, 3);
        let e = verify(&tenant(), &reordered).expect_err("reordered");
        assert_eq!(e.position, 2, "{e}");

        // An edit that recomputes its own hash still breaks the link of the next entry.
        let mut rehashed = log(5);
        rehashed[1].event.actor = Actor::system();
        rehashed[1].hash = entry_hash(2, &rehashed[1].event, &rehashed[1].prev_hash);
        let e = verify(&tenant(), &rehashed).expect_err("rehashed");
        assert_eq!(e.position, 3, "{e}");

        // Another tenant's log does not verify as this one's.
        let other = TenantId::parse("ten_other").expect("tenant");
        assert_eq!(verify(&other, &log(2)).expect_err("other").position, 1);
    }
}
