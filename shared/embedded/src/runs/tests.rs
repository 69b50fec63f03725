//! The layout of runs and steps: the tables earlier versions made are brought to today's,
//! and a run's writes use the indexes they are meant to.

use super::*;
use crate::db::Durability;

/// The names of the schema's objects that match `filter`, in order.
fn schema_names(db: &Db, filter: &str) -> Vec<String> {
    db.read(|c| {
        let mut st = c.prepare(&format!("SELECT name FROM sqlite_master WHERE {filter} ORDER BY name"))?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect()
    })
    .expect("schema")
}

/// A data directory at `dir` holding queued one-step runs of tenant `ten_a` (id, base
/// seed), as this version writes them.
async fn queued_runs(dir: &std::path::Path, runs: &[(&str, u64)]) {
    let db = Db::open(dir, Durability::Full).expect("open");
    let step = serde_json::from_value(serde_json::json!({"skill": "noop", "id": "s0"})).expect("step");
    let plan = aos_core::Plan::new(vec![step]).expect("plan");
    for &(id, seed) in runs {
        let (tenant, id) = (TenantId::parse("ten_a").expect("tenant"), RunId::parse(id).expect("run"));
        let record = RunRecord::queued(tenant, id, plan.clone(), serde_json::json!({}), seed, None, 1);
        db.write(true, move |c| insert_run_tx(c, &record)).await.expect("insert");
    }
    db.close();
}

#[tokio::test]
async fn claims_and_checkpoints_of_earlier_versions_become_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checkpoint = r#"{"step_index":0,"step_id":"s0","skill":"noop","seed":7,"attempts":1,"outcome":{"ok":true,"output":{"n":1},"cost_cents":0,"duration_ms":0},"outcome_hash":"a","prev_hash":"b","hash":"c","created_at_ms":5}"#;
    {
        let c = Connection::open(dir.path().join("aos.db")).expect("open");
        c.execute_batch(
            "CREATE TABLE checkpoints (
                 tenant TEXT NOT NULL, run_id TEXT NOT NULL, step_index INTEGER NOT NULL, body TEXT NOT NULL,
                 PRIMARY KEY (tenant, run_id, step_index)) WITHOUT ROWID;
             CREATE TABLE step_claims (
                 tenant TEXT NOT NULL, run_id TEXT NOT NULL, step_index INTEGER NOT NULL,
                 status TEXT NOT NULL, attempts INTEGER NOT NULL, claim_until INTEGER NOT NULL, last_error TEXT,
                 PRIMARY KEY (tenant, run_id, step_index)) WITHOUT ROWID;
             INSERT INTO step_claims VALUES ('ten_a', 'run_1', 0, 'done', 1, 0, NULL);
             INSERT INTO step_claims VALUES ('ten_a', 'run_1', 1, 'waiting', 2, 0, NULL);",
        )
        .expect("old tables");
        c.execute("INSERT INTO checkpoints VALUES ('ten_a', 'run_1', 0, ?1)", [checkpoint]).expect("checkpoint");
    }
    let db = Db::open(dir.path(), Durability::Full).expect("open and migrate");
    let tables = schema_names(&db, "type = 'table' AND name IN ('checkpoints', 'step_claims', 'steps')");
    assert_eq!(tables, ["steps"]);
    let store = EmbeddedRunStore::new(db);
    let (tenant, run) = (TenantId::parse("ten_a").expect("tenant"), RunId::parse("run_1").expect("run"));
    let kept = store.checkpoints(&tenant, &run).await.expect("checkpoints");
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].step_index, kept[0].seed, kept[0].hash.as_str()), (0, 7, "c"));
    let progress = store.step_progress(&tenant, &run).await.expect("progress");
    assert_eq!(progress.len(), 1, "the step still waiting keeps its claim: {progress:?}");
    assert_eq!((progress[0].step_index, progress[0].attempts), (1, 2));
}

/// The tables of runs and steps as earlier versions made them, with their rows: specs
/// keyed by tenant and run, runs and steps `WITHOUT ROWID`.
const WITHOUT_ROWID: &str = "
    ALTER TABLE run_specs RENAME TO run_specs_now;
    CREATE TABLE run_specs (
        tenant TEXT NOT NULL, id TEXT NOT NULL, spec TEXT NOT NULL,
        PRIMARY KEY (tenant, id));
    INSERT INTO run_specs SELECT r.tenant, r.id, s.spec FROM runs r JOIN run_specs_now s ON s.seq = r.spec_seq;
    DROP TABLE run_specs_now;
    ALTER TABLE runs RENAME TO runs_now;
    CREATE TABLE runs (
        tenant TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, state TEXT NOT NULL,
        PRIMARY KEY (tenant, id)) WITHOUT ROWID;
    INSERT INTO runs SELECT tenant, id, status, state FROM runs_now;
    DROP TABLE runs_now;
    CREATE INDEX runs_by_status ON runs (tenant, status, id);
    ALTER TABLE steps RENAME TO steps_now;
    CREATE TABLE steps (
        tenant TEXT NOT NULL, run_id TEXT NOT NULL, step_index INTEGER NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL, claim_until INTEGER NOT NULL, last_error TEXT,
        claim_id TEXT, checkpoint TEXT,
        PRIMARY KEY (tenant, run_id, step_index)) WITHOUT ROWID;
    INSERT INTO steps SELECT * FROM steps_now;
    DROP TABLE steps_now;";

#[tokio::test]
async fn runs_and_steps_of_without_rowid_tables_are_kept_in_tables_with_rowids_and_specs_are_numbered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checkpoint = r#"{"step_index":0,"step_id":"s0","skill":"noop","seed":7,"attempts":1,"outcome":{"ok":true,"output":{"n":1},"cost_cents":0,"duration_ms":0},"outcome_hash":"a","prev_hash":"b","hash":"c","created_at_ms":5}"#;
    let (tenant, run) = (TenantId::parse("ten_a").expect("tenant"), RunId::parse("run_1").expect("run"));
    queued_runs(dir.path(), &[("run_1", 7), ("run_2", 8)]).await;
    {
        let c = Connection::open(dir.path().join("aos.db")).expect("open");
        c.execute_batch(WITHOUT_ROWID).expect("old tables");
        // run_2 finished at 5, as an earlier version wrote it.
        c.execute_batch(
            "UPDATE runs SET status = 'succeeded', state = json_set(state, '$.status', 'succeeded', '$.updated_at_ms', 5)
             WHERE id = 'run_2'",
        )
        .expect("ended");
        c.execute("INSERT INTO steps VALUES ('ten_a', 'run_1', 0, 'done', 1, 0, NULL, 'claim-0', ?1)", [checkpoint])
            .expect("checkpoint");
        c.execute("INSERT INTO steps VALUES ('ten_a', 'run_1', 1, 'waiting', 2, 0, NULL, 'claim-1', NULL)", [])
            .expect("claim");
    }
    let db = Db::open(dir.path(), Durability::Full).expect("open and migrate");
    let schema: Vec<(String, String)> = db
        .read(|c| {
            let mut st = c.prepare(
                "SELECT name, tbl_name FROM sqlite_master WHERE tbl_name IN ('runs', 'steps') AND sql IS NOT NULL \
                 OR name LIKE '%rebuilt%' ORDER BY name",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .expect("schema");
    let names: Vec<&str> = schema.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["runs", "runs_by_end", "runs_live", "steps"], "{schema:?}");
    for table in ["runs", "steps"] {
        let sql: String = db
            .read(|c| c.query_row("SELECT sql FROM sqlite_master WHERE name = ?1", [table], |r| r.get(0)))
            .expect("sql");
        assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
    }
    // Specs are numbered: no index of their own, none left in the keyed table.
    assert_eq!(schema_names(&db, "tbl_name LIKE 'run_specs%'"), ["run_specs"]);
    let store = EmbeddedRunStore::new(Arc::clone(&db));
    let kept = store.run(&tenant, &run).await.expect("run").expect("the run is kept, with its spec");
    assert_eq!((kept.status, kept.base_seed), (RunStatus::Queued, 7));
    let filter = RunFilter { status: Some(RunStatus::Queued), limit: 10, before: None };
    let listed = store.list_runs(&tenant, &filter).await.expect("list");
    assert_eq!(listed.len(), 1, "listed by status");
    assert_eq!(store.live_runs(&tenant, 10).await.expect("count"), 1, "run_1 is live, run_2 ended");
    let ended = store.ended_before(&tenant, 6, 10).await.expect("reap");
    assert_eq!(ended.iter().map(RunId::as_str).collect::<Vec<_>>(), ["run_2"], "its end is filled in");
    let checkpoints = store.checkpoints(&tenant, &run).await.expect("checkpoints");
    assert_eq!((checkpoints.len(), checkpoints[0].hash.as_str()), (1, "c"));
    let progress = store.step_progress(&tenant, &run).await.expect("progress");
    assert_eq!(
        progress.iter().map(|p| (p.step_index, p.attempts)).collect::<Vec<_>>(),
        [(1, 2)],
        "the step still waiting keeps its claim"
    );
    // The keys still hold: a second row for a step, or for the run, is refused.
    for sql in [
        "INSERT INTO steps (tenant, run_id, step_index, status, attempts, claim_until) VALUES ('ten_a', 'run_1', 1, 'waiting', 1, 0)",
        "INSERT INTO runs (tenant, id, status, state) VALUES ('ten_a', 'run_1', 'queued', '{}')",
    ] {
        let again = db.write(true, move |c| exec(c, sql, []).map_err(|e| backend(&e))).await;
        assert!(again.is_err(), "{sql}: {again:?}");
    }
}

/// Finished runs are found by their end through a column the run's last write sets (it
/// was an index over an expression of the run's state, which earlier versions built, once
/// with an IN list): a data directory of theirs gets the column filled and the index made
/// again; the run writes build no temporary tables; the reaper reads the index.
#[tokio::test]
async fn a_run_write_builds_no_temporary_tables_and_the_reaper_reads_the_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tenant, run) = (TenantId::parse("ten_a").expect("tenant"), RunId::parse("run_1").expect("run"));
    queued_runs(dir.path(), &[("run_1", 7)]).await;
    {
        // The run finished at 5, as an earlier version wrote it.
        let c = Connection::open(dir.path().join("aos.db")).expect("open");
        c.execute_batch(
            "UPDATE runs SET status = 'succeeded', ended_at = NULL,
                 state = json_set(state, '$.status', 'succeeded', '$.updated_at_ms', 5);
             DROP INDEX runs_by_end;
             CREATE INDEX runs_by_end ON runs (tenant, json_extract(state, '$.updated_at_ms'))
                 WHERE status IN ('succeeded', 'failed', 'cancelled');",
        )
        .expect("old index");
    }
    let db = Db::open(dir.path(), Durability::Full).expect("reopen");
    let index: String = db
        .read(|c| c.query_row("SELECT sql FROM sqlite_master WHERE name = 'runs_by_end'", [], |r| r.get(0)))
        .expect("index");
    assert!(!index.contains("json_extract"), "{index}");
    let store = EmbeddedRunStore::new(Arc::clone(&db));
    assert_eq!(
        store.ended_before(&tenant, 6, 10).await.expect("reap"),
        std::slice::from_ref(&run),
        "its end was filled in"
    );
    assert!(store.ended_before(&tenant, 5, 10).await.expect("reap").is_empty());
    let opcodes = |sql: &str, n: usize| -> Vec<String> {
        db.read(|c| {
            let mut st = c.prepare(&format!("EXPLAIN {sql}"))?;
            let args = vec![rusqlite::types::Value::Null; n];
            let rows = st.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(1))?;
            rows.collect()
        })
        .expect("explain")
    };
    for (sql, n) in [
        ("UPDATE runs SET status = ?3, state = ?4, ended_at = ?5 WHERE tenant = ?1 AND id = ?2", 5),
        ("UPDATE runs SET state = ?3 WHERE tenant = ?1 AND id = ?2", 3),
        ("INSERT INTO runs (tenant, id, status, state, spec_seq, ended_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", 6),
    ] {
        assert!(!opcodes(sql, n).iter().any(|o| o == "OpenEphemeral"), "{sql} builds a temporary table");
    }
    let plan: Vec<String> = db
        .read(|c| {
            let sql =
                "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE tenant = ?1 AND ended_at < ?2 ORDER BY ended_at LIMIT ?3";
            let mut st = c.prepare(sql)?;
            let rows = st.query_map(params!["ten_a", 0, 1], |r| r.get::<_, String>(3))?;
            rows.collect()
        })
        .expect("plan");
    assert!(plan.iter().any(|p| p.contains("runs_by_end")), "{plan:?}");
}

/// Only runs not finished are indexed by status (`runs_live`): the count of a tenant's
/// live runs and the sweep of its queued ones read that index, and a run's end takes its
/// entry out without putting one in.
#[tokio::test]
async fn only_runs_not_finished_are_indexed_by_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = TenantId::parse("ten_a").expect("tenant");
    queued_runs(dir.path(), &[("run_1", 7), ("run_2", 8)]).await;
    let db = Db::open(dir.path(), Durability::Full).expect("open");
    let store = EmbeddedRunStore::new(Arc::clone(&db));
    let entries = || -> u32 {
        db.read(|c| {
            qrow(
                c,
                "SELECT COUNT(*) FROM runs INDEXED BY runs_live WHERE tenant = 'ten_a' AND ended_at IS NULL",
                [],
                |r| r.get(0),
            )
        })
        .expect("count")
    };
    assert_eq!((store.live_runs(&tenant, 10).await.expect("live"), entries()), (2, 2));
    store.cancel_run(&tenant, &RunId::parse("run_2").expect("id"), 5, &[]).await.expect("cancel");
    assert_eq!((store.live_runs(&tenant, 10).await.expect("live"), entries()), (1, 1), "its entry went with its end");
    let queued = store.queued_before(&tenant, 1 << 50, 10).await.expect("sweep");
    assert_eq!(queued.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["run_1"]);
    for sql in [
        "SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE tenant = ?1 AND ended_at IS NULL LIMIT ?2)",
        "SELECT id FROM runs r WHERE r.tenant = ?1 AND r.status = 'queued' AND r.ended_at IS NULL LIMIT ?2",
    ] {
        let plan: Vec<String> = db
            .read(|c| {
                let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = st.query_map(params!["ten_a", 10], |r| r.get::<_, String>(3))?;
                rows.collect()
            })
            .expect("plan");
        assert!(plan.iter().any(|p| p.contains("runs_live")), "{sql}: {plan:?}");
    }
}
