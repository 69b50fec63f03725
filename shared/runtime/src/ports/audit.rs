//! The audit log's store: append-only, per tenant, hash-chained (see `aos_core::audit`).
//!
//! Most entries are appended by the store operation that makes the change they record
//! (a policy version, an approval, a step's commit, a cancel, a key): those operations
//! take their events and write them in the same transaction. [`AuditStore::append`] is
//! for changes with nothing else to write in this store.

use super::StoreResult;
use aos_core::audit::{AuditEntry, AuditEvent};
use aos_core::TenantId;
use async_trait::async_trait;

/// A tenant's audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `events` (all of one tenant) at the end of its chain, atomically; the
    /// entries as placed.
    async fn append(&self, events: &[AuditEvent]) -> StoreResult<Vec<AuditEntry>>;
    /// Up to `limit` entries in chain order with `seq` above `after` (the walk of a verify).
    async fn entries(&self, tenant: &TenantId, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    /// Up to `limit` entries, newest first, with `seq` below `before` when given (listings).
    async fn recent(&self, tenant: &TenantId, before: Option<u64>, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}
