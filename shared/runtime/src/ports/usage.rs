//! Usage records: each finished run's usage, written by the run store with the run's end
//! (see [`super::StepCommit::usage_record`]) and read here for rollups.

use super::StoreResult;
use aos_core::usage::UsageRecord;
use aos_core::TenantId;
use async_trait::async_trait;

/// Where the next page of usage records starts: the last record's end and run.
pub fn usage_cursor(r: &UsageRecord) -> String {
    aos_core::page::time_cursor(r.ended_at_ms, r.run_id.as_str())
}

/// A tenant's usage records.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// The records of the tenant's runs that ended in `from_ms..to_ms`, oldest first, at
    /// most `limit` of them after `after` (a [`usage_cursor`]).
    async fn usage_records(
        &self,
        tenant: &TenantId,
        from_ms: u64,
        to_ms: u64,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<UsageRecord>>;
}
