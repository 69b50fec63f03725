//! Reading a tenant's audit log: filtered pages, newest first, and the walk that
//! verifies its chain (see `aos_core::audit`).

use crate::ports::{AuditStore, StoreResult};
use aos_core::audit::{AuditBreak, AuditEntry, ChainWalk};
use aos_core::page::{Page, PageLimit};
use aos_core::TenantId;
use std::sync::Arc;

/// Entries a listing reads at most, looking for matches, before it answers with what it
/// found and a cursor to go on from.
pub const SCAN_BUDGET: usize = 5_000;

/// What a listing keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The actor's key id.
    pub actor: Option<String>,
    /// The action, or its noun with a trailing `.` (`approval.` for every approval entry).
    pub action: Option<String>,
    /// The resource, or a prefix of it ending in `:` or `/` (`run:run_1/` for its steps).
    pub resource: Option<String>,
    /// From this time, ms (inclusive).
    pub from_ms: Option<u64>,
    /// Before this time, ms.
    pub to_ms: Option<u64>,
}

impl AuditFilter {
    fn keeps(&self, e: &AuditEntry) -> bool {
        let prefix_or_exact = |want: &str, have: &str| {
            if want.ends_with(['.', ':', '/']) {
                have.starts_with(want)
            } else {
                have == want
            }
        };
        self.actor.as_deref().is_none_or(|a| e.event.actor.key_id.as_deref() == Some(a))
            && self.action.as_deref().is_none_or(|a| prefix_or_exact(a, &e.event.action))
            && self.resource.as_deref().is_none_or(|r| prefix_or_exact(r, &e.event.resource))
            && self.from_ms.is_none_or(|f| e.event.at_ms >= f)
            && self.to_ms.is_none_or(|t| e.event.at_ms < t)
    }
}

/// What a verify found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verified {
    /// Entries walked.
    pub entries: u64,
    /// The hash of the last one (the log's head), when there is one.
    pub head_hash: Option<String>,
}

/// The audit log's use cases.
#[derive(Clone)]
pub struct AuditService {
    store: Arc<dyn AuditStore>,
}

impl AuditService {
    /// The service over `store`.
    pub fn new(store: Arc<dyn AuditStore>) -> Self {
        Self { store }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn AuditStore> {
        &self.store
    }

    /// Up to `limit` entries that `filter` keeps, newest first, below the seq `before`.
    /// At most [`SCAN_BUDGET`] entries are read per call: the cursor (`next`, a seq)
    /// goes on from the last one read, even when fewer than `limit` matched.
    pub async fn list(
        &self,
        tenant: &TenantId,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: PageLimit,
    ) -> StoreResult<Page<AuditEntry>> {
        let want = limit.get() as usize;
        let mut items = Vec::new();
        let mut cursor = before;
        let mut read = 0;
        loop {
            let batch = self.store.recent(tenant, cursor, 200).await?;
            let Some(last) = batch.last().map(|e| e.seq) else {
                return Ok(Page { items, next: None });
            };
            let full = batch.len() == 200;
            for e in batch {
                read += 1;
                cursor = Some(e.seq);
                if filter.keeps(&e) {
                    items.push(e);
                    if items.len() == want {
                        let next = (cursor != Some(1)).then(|| cursor.map(|c| c.to_string())).flatten();
                        return Ok(Page { items, next });
                    }
                }
            }
            if !full || last == 1 {
                return Ok(Page { items, next: None });
            }
            if read >= SCAN_BUDGET {
                return Ok(Page { items, next: cursor.map(|c| c.to_string()) });
            }
        }
    }

    /// Entries in chain order after the seq `after` (what a client verifying the chain
    /// itself reads).
    pub async fn in_order(&self, tenant: &TenantId, after: u64, limit: PageLimit) -> StoreResult<Page<AuditEntry>> {
        let items = self.store.entries(tenant, after, limit.get()).await?;
        let next = (items.len() == limit.get() as usize).then(|| items.last().map(|e| e.seq.to_string())).flatten();
        Ok(Page { items, next })
    }

    /// Walks the whole chain: `Ok` with its length and head, or where it breaks.
    pub async fn verify(&self, tenant: &TenantId) -> StoreResult<Result<Verified, AuditBreak>> {
        let mut walk = ChainWalk::new(tenant);
        let (mut after, mut head) = (0, None);
        loop {
            let batch = self.store.entries(tenant, after, 500).await?;
            for e in &batch {
                if let Err(broken) = walk.next(e) {
                    return Ok(Err(broken));
                }
                after = e.seq;
                head = Some(e.hash.clone());
            }
            if batch.len() < 500 {
                return Ok(Ok(Verified { entries: walk.finish(), head_hash: head }));
            }
        }
    }
}
