//! The embedded database: one SQLite file in WAL mode, one writer connection with group
//! commit, and a few reader connections.
//!
//! Writes are closures queued for the writer connection. Whoever finds the writer free
//! becomes the leader: it takes every queued closure (its own and those of callers that
//! arrived meanwhile) into one transaction, each in a savepoint so one failing closure
//! does not undo the others (step commits queued together share one: [`Db::write_again`]),
//! commits once, and hands out the results; it keeps going while closures are queued. With 64 concurrent runs, many step commits share
//! one fsync; a lone caller commits on its own thread without a thread hop. A write is
//! acknowledged only after its transaction committed.
//!
//! Durable writes commit with `synchronous=FULL` (the WAL is fsynced before the reply).
//! Lease writes (queue receives, heartbeats, step claims of re-runnable skills) and cache
//! entries (the LLM response cache) commit with `synchronous=NORMAL`: they survive a
//! process crash (`kill -9`) but may be lost on power loss, which only makes a message
//! visible again sooner or a model call happen again. The next durable commit fsyncs
//! them too.
//!
//! SQLite calls run on the caller's thread (microseconds, plus the fsync of durable
//! commits); with the multi-threaded runtime other tasks keep running meanwhile.

use aos_runtime::StoreError;
use rusqlite::Connection;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, Notify};

mod schema;

/// How hard the store works to keep acknowledged writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Durable writes are fsynced before they are acknowledged (the default).
    Full,
    /// Nothing is fsynced; survives a process crash, not a power loss. For benchmarks.
    Off,
}

type Reply = Box<dyn FnOnce(Option<String>) + Send>;
type JobFn = Box<dyn FnOnce(&Tx<'_>) -> (bool, Reply) + Send>;
/// A write that may run twice in its transaction (see [`Db::write_again`]): each run
/// returns its own reply, and only the last run's is sent.
type AgainFn = Box<dyn FnMut(&Tx<'_>) -> (bool, Reply) + Send>;

/// What a write sees: the writer's connection inside the open transaction (through
/// `Deref`), and the run states the writer keeps between its writes.
pub struct Tx<'a> {
    conn: &'a Connection,
    /// Run states as this writer last wrote them (see [`crate::runs::StateCache`]).
    pub(crate) runs: &'a crate::runs::StateCache,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

struct Job {
    durable: bool,
    run: Work,
}

enum Work {
    Once(JobFn),
    Again(AgainFn),
}

/// The writer connection and its current sync mode.
struct Writer {
    conn: Connection,
    full_sync: bool,
}

/// The open database. Cheap to share behind an `Arc`.
pub struct Db {
    writer: Mutex<Writer>,
    pending: Mutex<Vec<Job>>,
    closed: AtomicBool,
    durability: Durability,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// One waiting receiver is woken per enqueued message.
    pub(crate) enqueued: Arc<Notify>,
    /// Receivers waiting on an empty queue, to which a new run's first step goes at once.
    pub(crate) idle: crate::handoff::Idle,
    /// Executions' node states as last read or committed.
    pub(crate) nodes: crate::execution_nodes::NodeCache,
    /// API keys by hash as last read.
    pub(crate) keys: crate::tenants::KeyCache,
    /// Run states as the writer last wrote them.
    runs: crate::runs::StateCache,
    path: PathBuf,
    _lock: File,
}

/// Maps a SQLite error to a store error (the message is for logs only).
pub(crate) fn backend(e: &rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Executes `sql` through the connection's statement cache.
pub(crate) fn exec<P: rusqlite::Params>(c: &Connection, sql: &str, params: P) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

/// Queries one row through the connection's statement cache.
pub(crate) fn qrow<T, P, F>(c: &Connection, sql: &str, params: P, f: F) -> rusqlite::Result<T>
where
    P: rusqlite::Params,
    F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    c.prepare_cached(sql)?.query_row(params, f)
}

/// The page size of new databases, in bytes (SQLite's default is 4096). A commit writes
/// each page it changed whole into the WAL and syncs it, and most of what a step or a run
/// changes is a row or an index entry: half the bytes a page. Measured against 4096 on the
/// same box, alternating (`aos bench`, `aos bench-workflow --rounds 7`, and `aos dev` under
/// the peers' serial driver): a durable serial step 142–155 µs p50 against 162–168, step
/// overhead with durability off 20.5–20.8 µs against 22.3–22.7, 64 concurrent runs
/// 38.9–40.1 core-µs a step against 43.6–48.4, a chain node 259–293 µs against 280–319, a
/// served 3-step run 1.32–1.35 ms p50 against 1.49–1.90. 1024 was no better than 2048 (more
/// pages to a tree, a row of a run's state or a checkpoint nearly a page of its own).
/// Databases made before keep their page size: SQLite changes it only by rebuilding the
/// file (`VACUUM` out of WAL mode).
const PAGE_SIZE: u32 = 2048;

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // The page size of a database this connection creates (of one that exists, a no-op).
    conn.execute_batch(&format!("PRAGMA page_size={PAGE_SIZE};"))?;
    // Statement journals and temporary b-trees in memory: a multi-row statement inside a
    // savepoint would otherwise create (and unlink) a temporary file for its journal.
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;")?;
    // Plans that do not depend on bound values: otherwise a cached statement with a bound
    // `LIMIT` (a queue receive, every listing) is compiled again whenever the value
    // changes, which costs more than the statement itself.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Db {
    /// Opens (creating if needed) `<dir>/aos.db`, taking an exclusive lock on the
    /// directory so two processes never share it. Fails if the directory cannot be
    /// created, is locked by another process, or the file is not an AOS database.
    pub fn open(dir: &Path, durability: Durability) -> Result<Arc<Self>, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", dir.display())))?;
        let lock = File::create(dir.join("aos.lock"))
            .map_err(|e| StoreError::Backend(format!("cannot create the lock file in {}: {e}", dir.display())))?;
        lock.try_lock()
            .map_err(|_| StoreError::Backend(format!("{} is in use by another AOS process", dir.display())))?;
        let path = dir.join("aos.db");
        let conn = open_connection(&path).map_err(|e| backend(&e))?;
        schema::create(&conn).map_err(|e| backend(&e))?;
        let sync = match durability {
            Durability::Full => "PRAGMA synchronous=FULL;",
            Durability::Off => "PRAGMA synchronous=OFF;",
        };
        conn.execute_batch(sync).map_err(|e| backend(&e))?;
        let readers = (0..4)
            .map(|_| open_connection(&path).map(Mutex::new))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| backend(&e))?;
        Ok(Arc::new(Self {
            writer: Mutex::new(Writer { conn, full_sync: durability == Durability::Full }),
            pending: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            durability,
            readers,
            next_reader: AtomicUsize::new(0),
            enqueued: Arc::new(Notify::new()),
            idle: crate::handoff::Idle::default(),
            nodes: crate::execution_nodes::NodeCache::default(),
            keys: crate::tenants::KeyCache::default(),
            runs: crate::runs::StateCache::default(),
            path,
            _lock: lock,
        }))
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the next group commit. `durable` writes are fsynced before the
    /// reply. If `f` fails, only its own changes are rolled back.
    pub async fn write<R, F>(&self, durable: bool, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        self.write_queued(durable, f, || {}).await
    }

    /// As [`Db::write`], calling `queued` as soon as the write is queued: writes run in
    /// the order they are queued, so a write queued after `queued` ran sees this one's
    /// changes (in the same transaction, or a later one) if this one succeeds.
    pub(crate) async fn write_queued<R, F>(&self, durable: bool, f: F, queued: impl FnOnce()) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
        let run: JobFn = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit_err| {
                let out = match commit_err {
                    Some(e) => Err(StoreError::Backend(e)),
                    None => result,
                };
                let _ = tx.send(out);
            });
            (ok, reply)
        });
        self.enqueue(Job { durable, run: Work::Once(run) }, queued)?;
        rx.await.map_err(|_| StoreError::Backend("the writer dropped a write".to_owned()))?
    }

    /// As [`Db::write_queued`], for a write that can be run again in its transaction:
    /// its only effects are on the database and on the run states the writer keeps (the
    /// transaction's own), and it depends on nothing else that its first run changed.
    ///
    /// Writes of this kind that are queued together share one savepoint instead of one
    /// each. A savepoint copies every page a write first changes into a statement
    /// journal, and the writes of one group commit (steps of different runs) mostly
    /// change the same pages: the last page of `steps`, the pages of `runs`. If one of
    /// them fails, the group rolls back to its savepoint and runs again write by write,
    /// each in a savepoint of its own, as any other write does: a failed write leaves
    /// nothing behind, and every other one is written once.
    pub(crate) async fn write_again<R, F>(
        &self,
        durable: bool,
        mut f: F,
        queued: impl FnOnce(),
    ) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnMut(&Tx<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
        // Shared by the replies of both runs; only the reply of the run that stands is
        // called, and it takes the sender.
        let sender = Arc::new(Mutex::new(Some(tx)));
        let run: AgainFn = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let sender = Arc::clone(&sender);
            let reply: Reply = Box::new(move |commit_err| {
                let out = match commit_err {
                    Some(e) => Err(StoreError::Backend(e)),
                    None => result,
                };
                if let Some(tx) = sender.lock().ok().and_then(|mut s| s.take()) {
                    let _ = tx.send(out);
                }
            });
            (ok, reply)
        });
        self.enqueue(Job { durable, run: Work::Again(run) }, queued)?;
        rx.await.map_err(|_| StoreError::Backend("the writer dropped a write".to_owned()))?
    }

    fn enqueue(&self, job: Job, queued: impl FnOnce()) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Backend("the store is closed".to_owned()));
        }
        self.pending.lock().map_err(|_| StoreError::Backend("write queue lock poisoned".to_owned()))?.push(job);
        queued();
        self.lead();
        Ok(())
    }

    /// Commits queued writes while the writer is free and writes are queued. A caller
    /// that cannot take the writer leaves its write to the current leader, which looks
    /// at the queue again after releasing the writer, so no write is left behind.
    fn lead(&self) {
        loop {
            let Ok(mut writer) = self.writer.try_lock() else { return };
            loop {
                let batch = match self.pending.lock() {
                    Ok(mut p) if !p.is_empty() => std::mem::take(&mut *p),
                    _ => break,
                };
                commit_batch(&mut writer, &self.runs, batch, self.durability);
            }
            drop(writer);
            if self.pending.lock().map(|p| p.is_empty()).unwrap_or(true) {
                return;
            }
        }
    }

    /// How many writes wait for the writer.
    pub fn queued_writes(&self) -> usize {
        self.pending.lock().map_or(0, |p| p.len())
    }

    /// Holds the writer: writes queue up until the hold is dropped, then commit together
    /// (on the dropping thread). For tests that need writes to wait in the queue.
    pub fn hold_writer(&self) -> WriterHold<'_> {
        let writer = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        WriterHold { db: self, writer: Some(writer) }
    }

    /// Runs a read on one of the reader connections (sees committed data only).
    pub fn read<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R, StoreError> {
        let n = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(conn) = self.readers[(start + i) % n].try_lock() {
                return f(&conn).map_err(|e| backend(&e));
            }
        }
        let conn =
            self.readers[start % n].lock().map_err(|_| StoreError::Backend("reader lock poisoned".to_owned()))?;
        f(&conn).map_err(|e| backend(&e))
    }

    /// Refuses further writes; writes already queued are committed first.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Ok(mut writer) = self.writer.lock() {
            let batch = self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
            if !batch.is_empty() {
                commit_batch(&mut writer, &self.runs, batch, self.durability);
            }
        }
    }
}

/// The writer held ([`Db::hold_writer`]).
pub struct WriterHold<'a> {
    db: &'a Db,
    writer: Option<std::sync::MutexGuard<'a, Writer>>,
}

impl Drop for WriterHold<'_> {
    fn drop(&mut self) {
        drop(self.writer.take());
        self.db.lead();
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.close();
    }
}

fn commit_batch(writer: &mut Writer, runs: &crate::runs::StateCache, batch: Vec<Job>, durability: Durability) {
    if durability == Durability::Full {
        let want_full = batch.iter().any(|j| j.durable);
        if want_full != writer.full_sync {
            let pragma = if want_full { "PRAGMA synchronous=FULL" } else { "PRAGMA synchronous=NORMAL" };
            // Prepared once: parsing it was most of what a switch cost.
            if let Err(e) = writer.conn.prepare_cached(pragma).and_then(|mut st| st.execute([])) {
                tracing::error!(error = %e, "cannot set synchronous mode");
            }
            writer.full_sync = want_full;
        }
    }
    let conn = &writer.conn;
    let tx = Tx { conn, runs };
    runs.batch_began();
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE", []) {
        // Dropping the jobs drops their reply channels: every caller gets an error and
        // nothing was written.
        tracing::error!(error = %e, jobs = batch.len(), "cannot begin a transaction");
        return;
    }
    // A job alone needs no savepoint: if it fails, the whole transaction rolls back.
    // (A savepoint copies every page the job touches into a sub-journal first.)
    if let [_] = batch.as_slice() {
        let job = batch.into_iter().next().expect("one job");
        let (ok, reply) = match job.run {
            Work::Once(run) => run(&tx),
            Work::Again(mut run) => run(&tx),
        };
        runs.job_ended(ok);
        if !ok {
            if let Err(e) = exec(conn, "ROLLBACK", []) {
                tracing::error!(error = %e, "rollback failed");
            }
            // The job's own answer says what failed; nothing was written.
            reply(None);
            return;
        }
        let err = commit(conn);
        runs.batch_ended(err.is_none());
        reply(err);
        return;
    }
    let mut replies = Vec::with_capacity(batch.len());
    let mut again: Vec<AgainFn> = Vec::new();
    for job in batch {
        match job.run {
            Work::Again(run) => again.push(run),
            Work::Once(run) => {
                run_group(&tx, &mut again, &mut replies);
                replies.push(in_savepoint(&tx, run));
            }
        }
    }
    run_group(&tx, &mut again, &mut replies);
    let err = commit(conn);
    runs.batch_ended(err.is_none());
    for reply in replies {
        reply(err.clone());
    }
}

/// Runs one write in a savepoint of its own: if it fails, only its changes roll back.
fn in_savepoint(tx: &Tx<'_>, run: impl FnOnce(&Tx<'_>) -> (bool, Reply)) -> Reply {
    let _ = exec(tx.conn, "SAVEPOINT job", []);
    let (ok, reply) = run(tx);
    tx.runs.job_ended(ok);
    let end = if ok {
        exec(tx.conn, "RELEASE job", [])
    } else {
        tx.conn.execute_batch("ROLLBACK TO job; RELEASE job").map(|()| 0)
    };
    if let Err(e) = end {
        tracing::error!(error = %e, "savepoint failed");
    }
    reply
}

/// Runs the writes of `group` (see [`Db::write_again`]) in one savepoint, and empties it.
/// If one fails, the group rolls back and runs again, each write in its own savepoint.
fn run_group(tx: &Tx<'_>, group: &mut Vec<AgainFn>, replies: &mut Vec<Reply>) {
    if group.len() < 2 {
        for mut run in group.drain(..) {
            replies.push(in_savepoint(tx, |tx| run(tx)));
        }
        return;
    }
    let mark = tx.runs.group_began();
    let _ = exec(tx.conn, "SAVEPOINT writes", []);
    let mut first = Vec::with_capacity(group.len());
    for run in group.iter_mut() {
        let (ok, reply) = run(tx);
        tx.runs.job_ended(ok);
        if !ok {
            break;
        }
        first.push(reply);
    }
    if first.len() == group.len() {
        if let Err(e) = exec(tx.conn, "RELEASE writes", []) {
            tracing::error!(error = %e, "savepoint failed");
        }
        replies.append(&mut first);
        group.clear();
        return;
    }
    // Their first answers go unsent: the writes run again below, and those answers stand.
    drop(first);
    if let Err(e) = tx.conn.execute_batch("ROLLBACK TO writes; RELEASE writes") {
        tracing::error!(error = %e, "savepoint failed");
    }
    tx.runs.group_rolled_back(mark);
    for mut run in group.drain(..) {
        replies.push(in_savepoint(tx, |tx| run(tx)));
    }
}

/// Commits the open transaction; on failure rolls it back and says why.
fn commit(conn: &Connection) -> Option<String> {
    exec(conn, "COMMIT", []).err().map(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// A cached statement whose `LIMIT` is bound (a queue receive, a listing) keeps its
    /// compiled plan when the limit changes, on the writer and on the readers.
    #[tokio::test]
    async fn a_bound_limit_does_not_compile_a_statement_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Durability::Off).expect("open");
        let sql = "SELECT id FROM queue WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, id LIMIT ?3";
        let recompiled = |c: &Connection| -> rusqlite::Result<i32> {
            for limit in [1, 9, 3] {
                let mut st = c.prepare_cached(sql)?;
                st.query_map(rusqlite::params!["steps", 0, limit], |r| r.get::<_, i64>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
            }
            Ok(c.prepare_cached(sql)?.get_status(StatementStatus::RePrepare))
        };
        let writer = db.write(false, move |c| recompiled(c).map_err(|e| backend(&e))).await.expect("writer");
        assert_eq!(writer, 0, "the writer compiled the statement again");
        assert_eq!(db.read(recompiled).expect("reader"), 0, "a reader compiled the statement again");
    }

    /// A new data directory's database has pages of [`PAGE_SIZE`]; one made with
    /// SQLite's default of 4096 keeps its pages, and its writes and reads go on as before.
    #[tokio::test]
    async fn new_databases_have_small_pages_and_old_ones_keep_theirs() {
        let page_size = |db: &Db| -> u32 { db.read(|c| qrow(c, "PRAGMA page_size", [], |r| r.get(0))).expect("size") };
        let fresh = tempfile::tempdir().expect("tempdir");
        let db = Db::open(fresh.path(), Durability::Full).expect("open");
        assert_eq!(page_size(&db), PAGE_SIZE);
        let old = tempfile::tempdir().expect("tempdir");
        {
            let c = Connection::open(old.path().join("aos.db")).expect("open");
            c.execute_batch("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t (x);").expect("old db");
        }
        let db = Db::open(old.path(), Durability::Full).expect("open the old one");
        assert_eq!(page_size(&db), 4096);
        db.write(true, |c| {
            exec(c, "INSERT INTO kv (tenant, key, value) VALUES ('ten_a', 'k', 'v')", []).map_err(|e| backend(&e))
        })
        .await
        .expect("write");
        let v: String = db.read(|c| qrow(c, "SELECT value FROM kv WHERE key = 'k'", [], |r| r.get(0))).expect("read");
        assert_eq!(v, "v");
    }

    /// Writes that may run again share a savepoint when they commit together. One of them
    /// failing after it wrote leaves nothing of its own and every other write once: the
    /// group before it runs again, each write in its own savepoint, and a write that can
    /// run only once between two groups runs once.
    #[tokio::test]
    async fn a_failed_write_of_a_shared_savepoint_leaves_nothing_and_the_others_once() {
        use std::sync::atomic::AtomicU32;
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Durability::Full).expect("open");
        let runs: Arc<[AtomicU32; 5]> = Arc::new(Default::default());
        let hold = db.hold_writer();
        let mut handles = Vec::new();
        for (i, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            let (db, runs) = (Arc::clone(&db), Arc::clone(&runs));
            handles.push(tokio::spawn(async move {
                let insert = move |c: &Tx<'_>| -> Result<&'static str, StoreError> {
                    runs[i].fetch_add(1, Ordering::SeqCst);
                    exec(c, "INSERT INTO kv (tenant, key, value) VALUES ('ten_a', ?1, 'v')", [key])
                        .map_err(|e| backend(&e))?;
                    if key == "b" {
                        return Err(StoreError::Conflict("b fails after its insert".to_owned()));
                    }
                    Ok(key)
                };
                if key == "c" {
                    db.write(true, insert).await
                } else {
                    db.write_again(true, insert, || {}).await
                }
            }));
        }
        while db.queued_writes() < 5 {
            tokio::task::yield_now().await;
        }
        drop(hold);
        let mut answers = Vec::new();
        for h in handles {
            answers.push(h.await.expect("task"));
        }
        assert!(matches!(answers[1], Err(StoreError::Conflict(_))), "{:?}", answers[1]);
        for i in [0, 2, 3, 4] {
            assert!(answers[i].is_ok(), "write {i}: {:?}", answers[i]);
        }
        let keys: Vec<String> = db
            .read(|c| {
                c.prepare("SELECT key FROM kv ORDER BY key")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .expect("read");
        assert_eq!(keys, ["a", "c", "d", "e"]);
        let counts: Vec<u32> = runs.iter().map(|n| n.load(Ordering::SeqCst)).collect();
        assert_eq!(counts, [2, 2, 1, 1, 1], "a and b ran again alone; c once; d and e once together");
    }

    /// A durable write commits with `synchronous=FULL` and a lease write with `NORMAL`,
    /// however they alternate (the switch is a statement prepared once).
    #[tokio::test]
    async fn each_write_commits_in_its_own_sync_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Durability::Full).expect("open");
        let mode = |durable: bool| {
            db.write(durable, |c| {
                c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)).map_err(|e| backend(&e))
            })
        };
        for durable in [true, false, false, true, false, true, true] {
            assert_eq!(mode(durable).await.expect("write"), if durable { 2 } else { 1 }, "durable: {durable}");
        }
    }
}
