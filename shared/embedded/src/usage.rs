//! Usage records in the embedded database: one row per finished run, keyed by tenant,
//! end and run (the order they are listed in), written inside the transaction that ends
//! the run ([`put_tx`]).

use crate::db::{backend, exec, Db};
use aos_core::usage::UsageRecord;
use aos_core::TenantId;
use aos_runtime::ports::{StoreError, StoreResult, UsageStore};
use async_trait::async_trait;
use rusqlite::{params, Connection};
use std::sync::Arc;

/// Writes `record` of `tenant` inside the caller's transaction. A repeat replaces it: a
/// run's record is written again only by a step that commits after the run's cancel,
/// with the run's end as the cancel wrote it, so under the same key.
pub(crate) fn put_tx(c: &Connection, tenant: &str, record: &UsageRecord) -> Result<(), StoreError> {
    let body = serde_json::to_string(record).map_err(|e| StoreError::Backend(e.to_string()))?;
    exec(
        c,
        "INSERT INTO usage (tenant, run_id, ended_at, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, ended_at, run_id) DO UPDATE SET body = excluded.body",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{qrow, Durability};
    use aos_core::usage::RunUsage;
    use aos_core::{RunId, RunStatus};

    fn record(run: &str, ended_at_ms: u64) -> UsageRecord {
        UsageRecord {
            run_id: RunId::parse(run).expect("run"),
            workflow: None,
            status: RunStatus::Succeeded,
            ended_at_ms,
            usage: RunUsage::default(),
        }
    }

    /// Records keyed by run with an index by end (earlier versions) are keyed by end,
    /// with no index of their own; they list in the same order, and a repeat of a
    /// record (a step that commits after its run's cancel) replaces it.
    #[tokio::test]
    async fn records_keyed_by_run_are_keyed_by_end_and_list_as_before() {
        let dir = tempfile::tempdir().expect("tempdir");
        Db::open(dir.path(), Durability::Full).expect("open").close();
        {
            let c = Connection::open(dir.path().join("aos.db")).expect("open");
            c.execute_batch(
                "DROP TABLE usage;
                 CREATE TABLE usage (
                     tenant TEXT NOT NULL, run_id TEXT NOT NULL, ended_at INTEGER NOT NULL, body TEXT NOT NULL,
                     PRIMARY KEY (tenant, run_id)) WITHOUT ROWID;
                 CREATE INDEX usage_by_end ON usage (tenant, ended_at, run_id);",
            )
            .expect("old table");
            for (run, at) in [("run_b", 20), ("run_a", 20), ("run_c", 10)] {
                let body = serde_json::to_string(&record(run, at)).expect("json");
                c.execute("INSERT INTO usage VALUES ('ten_a', ?1, ?2, ?3)", params![run, at, body]).expect("row");
            }
        }
        let db = Db::open(dir.path(), Durability::Full).expect("open and migrate");
        let indexes: u32 = db
            .read(|c| {
                qrow(c, "SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'usage' AND sql IS NOT NULL", [], |r| {
                    r.get(0)
                })
            })
            .expect("schema");
        assert_eq!(indexes, 1, "the table alone, no index of its own");
        let store = EmbeddedUsage::new(Arc::clone(&db));
        let tenant = TenantId::parse("ten_a").expect("tenant");
        let listed = |after: Option<String>| {
            let store = &store;
            let tenant = tenant.clone();
            async move {
                store
                    .usage_records(&tenant, 0, 100, after.as_deref(), 2)
                    .await
                    .expect("list")
                    .into_iter()
                    .map(|r| (r.run_id.to_string(), r.ended_at_ms, r.status))
                    .collect::<Vec<_>>()
            }
        };
        let first = listed(None).await;
        assert_eq!(first, [("run_c".into(), 10, RunStatus::Succeeded), ("run_a".into(), 20, RunStatus::Succeeded)]);
        assert_eq!(listed(Some("0000000000020_run_a".into())).await, [("run_b".into(), 20, RunStatus::Succeeded)]);
        let mut again = record("run_a", 20);
        again.status = RunStatus::Cancelled;
        db.write(true, move |c| put_tx(c, "ten_a", &again)).await.expect("repeat");
        let first = listed(None).await;
        assert_eq!(first[1], ("run_a".into(), 20, RunStatus::Cancelled), "the repeat replaced the record");
        let rows: u32 = db.read(|c| qrow(c, "SELECT COUNT(*) FROM usage", [], |r| r.get(0))).expect("count");
        assert_eq!(rows, 3);
    }
}
