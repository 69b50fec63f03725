//! Usage records in the embedded database: one row per finished run, keyed by tenant,
//! end and run, written inside the transaction that ends the run ([`put_tx`]).

use crate::db::{backend, exec, Db};
use aos_core::usage::UsageRecord;
use aos_core::TenantId;
use aos_runtime::ports::{StoreError, StoreResult, UsageStore};
use async_trait::async_trait;
use rusqlite::{params, Connection};
use std::sync::Arc;

/// Writes `record` of `tenant` inside the caller's transaction (a repeat replaces it).
pub(crate) fn put_tx(c: &Connection, tenant: &str, record: &UsageRecord) -> Result<(), StoreError> {
    let body = serde_json::to_string(record).map_err(|e| StoreError::Backend(e.to_string()))?;
    exec(
        c,
        "INSERT INTO usage (tenant, run_id, ended_at, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, run_id) DO UPDATE SET ended_at = excluded.ended_at, body = excluded.body",
        params![tenant, record.run_id.as_str(), record.ended_at_ms, body],
    )
    .map_err(|e| backend(&e))?;
    Ok(())
}

/// Tenants' usage records.
pub struct EmbeddedUsage {
    db: Arc<Db>,
}

impl EmbeddedUsage {
    /// The records in `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

#[async_trait]
impl UsageStore for EmbeddedUsage {
    async fn usage_records(
        &self,
        tenant: &TenantId,
        from_ms: u64,
        to_ms: u64,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<UsageRecord>> {
        // The cursor is `<ended, 13 digits>_<run>`: the same order as (ended_at, run_id).
        let (after_ms, after_run) = match after.and_then(|a| a.split_once('_')) {
            Some((ms, run)) => (ms.parse::<u64>().map_err(|_| StoreError::Conflict("bad cursor".into()))?, run),
            None => (from_ms, ""),
        };
        let bodies: Vec<String> = self.db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT body FROM usage WHERE tenant = ?1 AND ended_at >= ?2 AND ended_at < ?3
                 AND (ended_at > ?4 OR (ended_at = ?4 AND run_id > ?5))
                 ORDER BY ended_at, run_id LIMIT ?6",
            )?;
            let rows =
                st.query_map(params![tenant.as_str(), from_ms, to_ms, after_ms, after_run, limit], |r| r.get(0))?;
            rows.collect()
        })?;
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).map_err(|e| StoreError::Backend(format!("corrupt usage record: {e}"))))
            .collect()
    }
}
