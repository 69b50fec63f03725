//! Usage records in the embedded database. A finished run's record is read from the run
//! itself (its status, its end, its usage, the workflow it ran for), so a run's end writes
//! nothing of its own for it, and a step that commits after a cancel adds to it by adding
//! to the run. A run that is deleted (by the retention reaper, or on request) leaves its
//! record in `usage_kept`, written in the transaction that deletes it ([`keep_tx`]).
//! Listings merge the two in the order of end and run.

use crate::db::{backend, exec, Db};
use aos_core::usage::UsageRecord;
use aos_core::TenantId;
use aos_runtime::ports::{RunRecord, StoreError, StoreResult, UsageStore};
use async_trait::async_trait;
use rusqlite::{params, Connection};
use std::sync::Arc;

/// The usage record of `run`, finished: its status, its end, what it used.
fn record_of(run: &RunRecord) -> UsageRecord {
    run.usage_record(run.status, run.updated_at_ms, run.usage.clone())
}

/// Keeps the usage record of `run`, finished, inside the transaction that deletes it.
pub(crate) fn keep_tx(c: &Connection, run: &RunRecord) -> Result<(), StoreError> {
    let record = record_of(run);
    let body = serde_json::to_string(&record).map_err(|e| StoreError::Backend(e.to_string()))?;
    exec(
        c,
        "INSERT INTO usage_kept (tenant, run_id, ended_at, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, ended_at, run_id) DO UPDATE SET body = excluded.body",
        params![run.tenant.as_str(), record.run_id.as_str(), record.ended_at_ms, body],
    )
    .map_err(|e| backend(&e))?;
    Ok(())
}

/// A tenant's finished runs from an end on (the cursor: after an end and run), up to an
/// end, in the order of their records.
const FINISHED_RUNS: &str = "SELECT r.id, s.spec, r.state FROM runs r JOIN run_specs s ON s.seq = r.spec_seq
     WHERE r.tenant = ?1 AND r.ended_at >= ?2 AND r.ended_at < ?3
     AND (r.ended_at > ?4 OR (r.ended_at = ?4 AND r.id > ?5))
     ORDER BY r.ended_at, r.id LIMIT ?6";

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
        let args = params![tenant.as_str(), from_ms, to_ms, after_ms, after_run, limit];
        // Up to `limit` of each, in order: the finished runs (by the reaper's index of
        // ends), and the records of runs deleted.
        let (live, kept): (Vec<(String, String, String)>, Vec<String>) = self.db.read(|c| {
            let mut st = c.prepare_cached(FINISHED_RUNS)?;
            let live = st.query_map(args, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
            let mut st = c.prepare_cached(
                "SELECT body FROM usage_kept WHERE tenant = ?1 AND ended_at >= ?2 AND ended_at < ?3
                 AND (ended_at > ?4 OR (ended_at = ?4 AND run_id > ?5))
                 ORDER BY ended_at, run_id LIMIT ?6",
            )?;
            let kept = st.query_map(args, |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok((live, kept))
        })?;
        let mut records = Vec::with_capacity(live.len() + kept.len());
        for (id, spec, state) in &live {
            records.push(record_of(&crate::runs::compose(tenant.as_str(), id, spec, state)?));
        }
        for body in &kept {
            records.push(
                serde_json::from_str(body).map_err(|e| StoreError::Backend(format!("corrupt usage record: {e}")))?,
            );
        }
        records.sort_by(|a, b| (a.ended_at_ms, a.run_id.as_str()).cmp(&(b.ended_at_ms, b.run_id.as_str())));
        records.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{qrow, Durability};
    use aos_core::usage::RunUsage;
    use aos_core::{RunId, RunStatus};
    use aos_runtime::ports::RunStore;

    fn record(run: &str, ended_at_ms: u64) -> UsageRecord {
        UsageRecord {
            run_id: RunId::parse(run).expect("run"),
            workflow: None,
            status: RunStatus::Succeeded,
            ended_at_ms,
            usage: RunUsage::default(),
        }
    }

    /// A run of tenant `ten_a` that ended `status` at `ended_at_ms`, having used `steps`
    /// no-op steps, as a finished run is stored.
    fn finished(run: &str, status: RunStatus, ended_at_ms: u64, steps: u64) -> RunRecord {
        let step = serde_json::from_value(serde_json::json!({"skill": "noop", "id": "s0"})).expect("step");
        let plan = aos_core::Plan::new(vec![step]).expect("plan");
        let (tenant, id) = (TenantId::parse("ten_a").expect("tenant"), RunId::parse(run).expect("run"));
        let mut r = RunRecord::queued(tenant, id, plan, serde_json::json!({}), 1, None, 1);
        r.status = status;
        r.updated_at_ms = ended_at_ms;
        let outcome = aos_core::StructuredOutcome::success(serde_json::json!({}));
        for _ in 0..steps {
            r.usage.add(&aos_core::usage::step_line("noop", &outcome, aos_core::credits::Millicredits::ZERO));
        }
        r
    }

    fn listed_ids(records: &[UsageRecord]) -> Vec<(String, u64, RunStatus)> {
        records.iter().map(|r| (r.run_id.to_string(), r.ended_at_ms, r.status)).collect()
    }

    /// A finished run's record is read from the run: its end writes no record of its
    /// own, a run deleted leaves its record behind, and listings merge the two in the
    /// order of end and run, page by page.
    #[tokio::test]
    async fn finished_runs_are_their_own_records_and_deleted_runs_leave_theirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Durability::Full).expect("open");
        for (run, status, at, steps) in [
            ("run_b", RunStatus::Succeeded, 20, 2),
            ("run_a", RunStatus::Cancelled, 20, 1),
            ("run_c", RunStatus::Failed, 10, 3),
            ("run_d", RunStatus::Succeeded, 30, 1),
        ] {
            let run = finished(run, status, at, steps);
            db.write(true, move |c| crate::runs::insert_run_tx(c, &run)).await.expect("insert");
        }
        let kept = |db: &Db| -> u32 {
            db.read(|c| qrow(c, "SELECT COUNT(*) FROM usage_kept", [], |r| r.get(0))).expect("count")
        };
        assert_eq!(kept(&db), 0, "a run's end writes no record apart");
        let runs = crate::runs::EmbeddedRunStore::new(Arc::clone(&db));
        let tenant = TenantId::parse("ten_a").expect("tenant");
        assert!(runs.delete_run(&tenant, &RunId::parse("run_b").expect("id")).await.expect("delete"));
        assert_eq!(kept(&db), 1, "the deleted run's record is kept");
        let store = EmbeddedUsage::new(Arc::clone(&db));
        let page = |after: Option<&'static str>, limit: u32| {
            let (store, tenant) = (&store, tenant.clone());
            async move { store.usage_records(&tenant, 0, 100, after, limit).await.expect("list") }
        };
        let all = page(None, 10).await;
        assert_eq!(
            listed_ids(&all),
            [
                ("run_c".into(), 10, RunStatus::Failed),
                ("run_a".into(), 20, RunStatus::Cancelled),
                ("run_b".into(), 20, RunStatus::Succeeded),
                ("run_d".into(), 30, RunStatus::Succeeded),
            ]
        );
        let steps: Vec<u64> = all.iter().map(|r| r.usage.total().steps).collect();
        assert_eq!(steps, [3, 1, 2, 1], "each with its run's usage");
        assert_eq!(listed_ids(&page(None, 2).await), listed_ids(&all[..2]));
        assert_eq!(listed_ids(&page(Some("0000000000020_run_a"), 2).await), listed_ids(&all[2..]));
        let window = store.usage_records(&tenant, 20, 30, None, 10).await.expect("list");
        assert_eq!(listed_ids(&window), listed_ids(&all[1..3]), "ends from 20 up to 30");
        let plan: Vec<String> = db
            .read(|c| {
                let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {FINISHED_RUNS}"))?;
                let rows = st.query_map(params!["ten_a", 0, 100, 0, "", 10], |r| r.get(3))?;
                rows.collect()
            })
            .expect("plan");
        assert!(plan.iter().any(|p| p.contains("runs_by_end")), "the runs are found by their end: {plan:?}");
    }

    /// Earlier versions wrote every finished run's record into `usage` (keyed by run,
    /// with an index by end, then keyed by end): the records of runs deleted since are
    /// kept, the others are read from their runs, and the table goes.
    #[tokio::test]
    async fn records_of_earlier_versions_are_kept_for_deleted_runs_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = Db::open(dir.path(), Durability::Full).expect("open");
            let live = finished("run_a", RunStatus::Succeeded, 20, 1);
            db.write(true, move |c| crate::runs::insert_run_tx(c, &live)).await.expect("insert");
            db.close();
        }
        {
            let c = Connection::open(dir.path().join("aos.db")).expect("open");
            c.execute_batch(
                "CREATE TABLE usage (
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
        let tables: Vec<String> = db
            .read(|c| {
                let mut st = c.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'usage%' ORDER BY name")?;
                let rows = st.query_map([], |r| r.get(0))?;
                rows.collect()
            })
            .expect("schema");
        assert_eq!(tables, ["usage_kept"]);
        let kept: u32 = db.read(|c| qrow(c, "SELECT COUNT(*) FROM usage_kept", [], |r| r.get(0))).expect("count");
        assert_eq!(kept, 2, "run_b's and run_c's: run_a is still there");
        let tenant = TenantId::parse("ten_a").expect("tenant");
        let all = EmbeddedUsage::new(Arc::clone(&db)).usage_records(&tenant, 0, 100, None, 10).await.expect("list");
        assert_eq!(
            listed_ids(&all),
            [
                ("run_c".into(), 10, RunStatus::Succeeded),
                ("run_a".into(), 20, RunStatus::Succeeded),
                ("run_b".into(), 20, RunStatus::Succeeded),
            ]
        );
        assert_eq!(all[1].usage.total().steps, 1, "run_a's read from the run");
    }
}
