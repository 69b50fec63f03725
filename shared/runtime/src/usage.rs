//! Usage and spend attribution: a tenant's usage records between two times added up by
//! UTC day, workflow, skill or model. The records are read in end order, a page at a
//! time, and rolled up as they come (no hot counter item that every run's end would
//! write: a busy tenant's ends never contend on one record).

use crate::ports::{usage_cursor, StoreResult, UsageStore};
use aos_core::usage::{Counters, GroupBy, Rollup, UsageGroup, UsageRecord};
use aos_core::TenantId;
use std::sync::Arc;

/// Records read from the store at once.
const PAGE: u32 = 500;

/// The longest span one report covers, ms (a year and a day).
pub const MAX_SPAN_MS: u64 = 366 * 86_400_000;

/// A tenant's usage between two times, grouped.
#[derive(Debug, Clone)]
pub struct UsageReport {
    /// The grouping.
    pub group_by: GroupBy,
    /// From (inclusive), ms since the epoch.
    pub from_ms: u64,
    /// To (exclusive), ms since the epoch.
    pub to_ms: u64,
    /// The groups, in key order.
    pub groups: Vec<UsageGroup>,
    /// Everything added up.
    pub total: Counters,
    /// Runs that ended in the span.
    pub runs: u64,
}

/// Reads and rolls up usage records.
#[derive(Clone)]
pub struct UsageService {
    store: Arc<dyn UsageStore>,
}

impl UsageService {
    /// The service over `store`.
    pub fn new(store: Arc<dyn UsageStore>) -> Self {
        Self { store }
    }

    /// The tenant's runs that ended in `from_ms..to_ms` added up by `group_by`. Fails
    /// only when the store does.
    pub async fn report(
        &self,
        tenant: &TenantId,
        group_by: GroupBy,
        from_ms: u64,
        to_ms: u64,
    ) -> StoreResult<UsageReport> {
        let mut rollup = Rollup::new(group_by);
        self.each(tenant, from_ms, to_ms, |r| rollup.add(r)).await?;
        Ok(UsageReport {
            group_by,
            from_ms,
            to_ms,
            groups: rollup.groups(),
            total: rollup.total(),
            runs: rollup.runs(),
        })
    }

    /// Calls `f` with each of the tenant's records in `from_ms..to_ms`, oldest first.
    pub async fn each(
        &self,
        tenant: &TenantId,
        from_ms: u64,
        to_ms: u64,
        mut f: impl FnMut(&UsageRecord) + Send,
    ) -> StoreResult<()> {
        let mut after: Option<String> = None;
        loop {
            let page = self.store.usage_records(tenant, from_ms, to_ms, after.as_deref(), PAGE).await?;
            page.iter().for_each(&mut f);
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = Some(usage_cursor(last)),
                _ => return Ok(()),
            }
        }
    }
}
