//! The database's tables and indexes, and how a data directory made by an earlier AOS is
//! brought up to them when it opens.

use rusqlite::{Connection, OptionalExtension};

/// Creates what does not exist yet and migrates what an earlier version made.
pub(super) fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    create_rowid_tables(conn)?;
    migrate(conn)
}

const SCHEMA: &str = r"
-- A run's spec (its plan and input as submitted), never changed: apart from the state a
-- step's commit rewrites, and found by its number, the run's `spec_seq`. Numbered, not
-- keyed by tenant and run, so a run's insert appends to this table and writes no index.
CREATE TABLE IF NOT EXISTS run_specs (seq INTEGER PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
    tenant TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL, payload_hash TEXT NOT NULL,
    result TEXT, expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)) WITHOUT ROWID;
-- No AUTOINCREMENT: a message is found by its receipt (its id and its lease, `receipt`),
-- never by an id kept after it is gone, and the sequence table would be one more page
-- in every step's commit (as an index of receipts would).
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY, queue TEXT NOT NULL, body TEXT NOT NULL,
    visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT);
CREATE INDEX IF NOT EXISTS queue_visible ON queue (queue, visible_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, queue TEXT NOT NULL, body TEXT NOT NULL,
    receive_count INTEGER NOT NULL, dead_at INTEGER NOT NULL);
-- A book's grants as JSON; its balances and suspension as columns, which a step's
-- commit updates without reading or rewriting the grants (crate::credits::HOT).
CREATE TABLE IF NOT EXISTS credit_books (tenant TEXT PRIMARY KEY, book TEXT NOT NULL,
    credits_debits_posted INTEGER, credits_credits_posted INTEGER, credits_debits_pending INTEGER, credits_credits_pending INTEGER,
    grants_debits_posted INTEGER, grants_credits_posted INTEGER, grants_debits_pending INTEGER, grants_credits_pending INTEGER,
    spent_debits_posted INTEGER, spent_credits_posted INTEGER, spent_debits_pending INTEGER, spent_credits_pending INTEGER,
    expired_debits_posted INTEGER, expired_credits_posted INTEGER, expired_debits_pending INTEGER, expired_credits_pending INTEGER,
    suspended INTEGER, next_change_ms INTEGER) WITHOUT ROWID;
-- Ledger rows are never deleted, so their rowids only grow: no AUTOINCREMENT (its
-- sequence table would be one more page in every step's commit). `body` is the transfer
-- as written; a reservation's resolution changes only `state`.
CREATE TABLE IF NOT EXISTS credit_transfers (
    seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL, state TEXT,
    timeout_ms INTEGER, body TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS credit_transfers_id ON credit_transfers (tenant, id);
CREATE INDEX IF NOT EXISTS credit_transfers_pending ON credit_transfers (tenant, timeout_ms) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS kv (
    tenant TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (tenant, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL, retention_days INTEGER, plan TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meters (tenant TEXT NOT NULL, meter TEXT NOT NULL, period TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (tenant, meter, period)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, body TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant);
CREATE TABLE IF NOT EXISTS workflows (
    tenant TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (tenant, name, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS executions (
    tenant TEXT NOT NULL, id TEXT NOT NULL, revision INTEGER NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS execution_nodes (
    tenant TEXT NOT NULL, execution TEXT NOT NULL, node TEXT NOT NULL, revision INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (tenant, execution, node)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS approvals (
    tenant TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS approvals_by_status ON approvals (tenant, status, id);
CREATE TABLE IF NOT EXISTS tenant_secrets (
    tenant TEXT NOT NULL, name TEXT NOT NULL, nonce BLOB NOT NULL, sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policies (
    tenant TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (tenant, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS flags (
    tenant TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (tenant, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    tenant TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)) WITHOUT ROWID;
-- The usage records of runs deleted (a finished run's is read from the run), keyed in
-- the order they are listed: by end.
CREATE TABLE IF NOT EXISTS usage_kept (
    tenant TEXT NOT NULL, ended_at INTEGER NOT NULL, run_id TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (tenant, ended_at, run_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS breakers (
    tenant TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (tenant, key)) WITHOUT ROWID;
";

/// Tables with rowids, each with its key in an index of its own, where they were
/// `WITHOUT ROWID` tables: their name, their columns, and the indexes built with them.
///
/// The inner pages of a `WITHOUT ROWID` table hold whole rows, and these rows are large:
/// a step's with its checkpoint is about 550 bytes, a run's state 300 bytes and more
/// (its output, an agent's plan). At six to a page, every run in progress inserted its
/// steps at a page of its own and split pages all over a deep tree. Rows numbered in the
/// order they are written all go to the last page, whichever runs they are of, and the
/// keys' indexes hold entries of about 60 bytes: with 64 runs in progress a step went from
/// 8.4–9.0 `pwrite` calls to 4.6 with `steps` so, and to 3.9–4.2 with `runs` too (`perf
/// stat` of `aos bench`, runs of 200 steps against runs of 20).
const ROWID_TABLES: [(&str, &str, &str); 2] = [
    // A run: its status apart from its state; its spec in `run_specs` under `spec_seq`;
    // once it finished, when (`ended_at`). Its indexes (`runs_live`, `runs_by_end`) are
    // made once the columns are there (`migrate`).
    (
        "runs",
        "tenant TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, state TEXT NOT NULL, spec_seq INTEGER,
         ended_at INTEGER, PRIMARY KEY (tenant, id)",
        "",
    ),
    // A run's steps: each one's claim (who runs it, until when, how often it was tried)
    // and, once it committed, its checkpoint. One row, so a step's commit writes one table
    // where a claim table and a checkpoint table took two.
    (
        "steps",
        "tenant TEXT NOT NULL, run_id TEXT NOT NULL, step_index INTEGER NOT NULL,
         status TEXT NOT NULL, attempts INTEGER NOT NULL, claim_until INTEGER NOT NULL, last_error TEXT,
         claim_id TEXT, checkpoint TEXT,
         PRIMARY KEY (tenant, run_id, step_index)",
        "",
    ),
];

/// Creates the tables of [`ROWID_TABLES`] that do not exist yet.
fn create_rowid_tables(conn: &Connection) -> rusqlite::Result<()> {
    for (name, columns, indexes) in ROWID_TABLES {
        conn.execute_batch(&format!("CREATE TABLE IF NOT EXISTS {name} ({columns}); {indexes}"))?;
    }
    Ok(())
}

/// Brings a data directory made by an earlier AOS up to the schema: columns added since.
/// Builds table `name` again as `definition` (what follows the name in its `CREATE TABLE`:
/// its columns in parentheses, then any table options), in one savepoint: its rows are
/// copied by column name, the old table goes with its indexes, and `then` (the new table's
/// indexes) runs last.
fn rebuild_table(conn: &Connection, name: &str, definition: &str, then: &str) -> rusqlite::Result<()> {
    let names: String =
        conn.query_row(&format!("SELECT group_concat(name, ', ') FROM pragma_table_info('{name}')"), [], |r| r.get(0))?;
    conn.execute_batch(&format!(
        "SAVEPOINT rebuild;
         ALTER TABLE {name} RENAME TO {name}_rebuilt;
         CREATE TABLE {name} {definition};
         INSERT INTO {name} ({names}) SELECT {names} FROM {name}_rebuilt;
         DROP TABLE {name}_rebuilt;
         {then}
         RELEASE rebuild;"
    ))
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_table = |name: &str| -> rusqlite::Result<bool> {
        conn.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |r| {
            r.get::<_, i64>(0).map(|n| n > 0)
        })
    };
    // Adds `column` to `table` unless it has it.
    let add_column = |table: &str, column: &str, decl: &str| -> rusqlite::Result<()> {
        let has: bool = conn.query_row(
            &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'"),
            [],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
        Ok(())
    };
    // Claims and checkpoints were two tables before `steps`.
    if has_table("step_claims")? {
        add_column("step_claims", "claim_id", "TEXT")?;
        conn.execute_batch(
            "SAVEPOINT steps_from_claims;
             INSERT INTO steps (tenant, run_id, step_index, status, attempts, claim_until, last_error, claim_id)
                 SELECT tenant, run_id, step_index, status, attempts, claim_until, last_error, claim_id FROM step_claims;
             DROP TABLE step_claims;
             RELEASE steps_from_claims;",
        )?;
    }
    if has_table("checkpoints")? {
        conn.execute_batch(
            "SAVEPOINT steps_from_checkpoints;
             INSERT INTO steps (tenant, run_id, step_index, status, attempts, claim_until, checkpoint)
                 SELECT tenant, run_id, step_index, 'done', 1, 0, body FROM checkpoints WHERE true
                 ON CONFLICT (tenant, run_id, step_index) DO UPDATE SET checkpoint = excluded.checkpoint;
             DROP TABLE checkpoints;
             RELEASE steps_from_checkpoints;",
        )?;
    }
    for (table, column, decl) in [
        ("tenants", "retention_days", "INTEGER"),
        ("kv", "expires_at", "INTEGER"),
        ("breakers", "touched_at", "INTEGER NOT NULL DEFAULT 0"),
        ("tenants", "plan", "TEXT"),
    ] {
        add_column(table, column, decl)?;
    }
    for column in crate::credits::HOT {
        add_column("credit_books", column, "INTEGER")?;
    }
    crate::credits::migrate_books(conn)?;
    let table_sql = |name: &str| -> rusqlite::Result<String> {
        conn.query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |r| r.get(0))
    };
    // Runs and steps were WITHOUT ROWID tables (see `ROWID_TABLES`).
    for (name, columns, indexes) in ROWID_TABLES {
        if table_sql(name)?.contains("WITHOUT ROWID") {
            rebuild_table(conn, name, &format!("({columns})"), indexes)?;
        }
    }
    // Earlier versions wrote every finished run's usage record into `usage` with its end
    // (keyed by run, or by end). Those of runs deleted since are kept; the others are
    // read from their runs now.
    if has_table("usage")? {
        conn.execute_batch(
            "SAVEPOINT usage_kept;
             INSERT INTO usage_kept (tenant, ended_at, run_id, body)
                 SELECT tenant, ended_at, run_id, body FROM usage u
                 WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.tenant = u.tenant AND r.id = u.run_id)
                 ON CONFLICT DO NOTHING;
             DROP TABLE usage;
             RELEASE usage_kept;",
        )?;
    }
    // Specs were keyed by tenant and run before they were numbered (`run_specs`).
    add_column("runs", "spec_seq", "INTEGER")?;
    if table_sql("run_specs")?.contains("tenant") {
        conn.execute_batch(
            "SAVEPOINT specs_numbered;
             ALTER TABLE run_specs RENAME TO run_specs_keyed;
             CREATE TABLE run_specs (seq INTEGER PRIMARY KEY, spec TEXT NOT NULL);
             INSERT INTO run_specs (seq, spec)
                 SELECT r.rowid, s.spec FROM run_specs_keyed s JOIN runs r ON r.tenant = s.tenant AND r.id = s.id;
             UPDATE runs SET spec_seq = rowid;
             DROP TABLE run_specs_keyed;
             RELEASE specs_numbered;",
        )?;
    }
    // The queue of earlier versions numbered its messages with AUTOINCREMENT.
    if table_sql("queue")?.contains("AUTOINCREMENT") {
        rebuild_table(
            conn,
            "queue",
            "(id INTEGER PRIMARY KEY, queue TEXT NOT NULL, body TEXT NOT NULL,
              visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT)",
            "CREATE INDEX queue_visible ON queue (queue, visible_at);
             DELETE FROM sqlite_sequence WHERE name = 'queue';",
        )?;
    }
    // Receipts name their row since the index of receipts went.
    conn.execute_batch("DROP INDEX IF EXISTS queue_receipt;")?;
    // Executions kept their nodes' states in their own record before `execution_nodes`.
    conn.execute_batch(
        "SAVEPOINT nodes_apart;
         INSERT INTO execution_nodes (tenant, execution, node, revision, body)
             SELECT e.tenant, e.id, n.key, e.revision, n.value FROM executions e, json_each(e.body, '$.state.nodes') n
             WHERE json_extract(e.body, '$.state.nodes') <> '{}'
             ON CONFLICT DO NOTHING;
         UPDATE executions SET body = json_set(body, '$.state.nodes', json('{}'))
             WHERE json_extract(body, '$.state.nodes') <> '{}';
         RELEASE nodes_apart;",
    )?;
    // Finished runs by their end, for the retention reaper: a column the run's last write
    // sets. Earlier versions indexed an expression over the run's state, which SQLite
    // evaluated at each run's end and checked at every step's write of the state.
    add_column("runs", "ended_at", "INTEGER")?;
    let by_end: Option<String> = conn
        .query_row("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'runs_by_end'", [], |r| r.get(0))
        .optional()?;
    // Filled in wherever the index is not made on the column yet: a data directory whose
    // runs table was rebuilt above has none at all.
    if by_end.is_none_or(|sql| sql.contains("json_extract")) {
        conn.execute_batch(
            "SAVEPOINT ended_at;
             DROP INDEX IF EXISTS runs_by_end;
             UPDATE runs SET ended_at = json_extract(state, '$.updated_at_ms')
                 WHERE ended_at IS NULL AND status IN ('succeeded', 'failed', 'cancelled');
             RELEASE ended_at;",
        )?;
    }
    conn.execute_batch("CREATE INDEX IF NOT EXISTS runs_by_end ON runs (tenant, ended_at) WHERE ended_at IS NOT NULL")?;
    // Runs not finished by status (a tenant's live runs, the queued ones), and these
    // only: a run's end takes its entry out and puts none in. Earlier versions indexed
    // every run by status, so a run's end moved its entry across an index of all of a
    // tenant's runs (five pages of the index in that commit, in a data directory of six
    // thousand runs), for no listing that used it.
    conn.execute_batch(
        "DROP INDEX IF EXISTS runs_by_status;
         CREATE INDEX IF NOT EXISTS runs_live ON runs (tenant, status, id) WHERE ended_at IS NULL;",
    )?;
    Ok(())
}
