//! The embedded durable queue with SQS semantics: visibility timeout, receive count,
//! change visibility (the heartbeat of long steps) and dead-lettering once a message
//! has been received more than `max_receive_count` times.

use crate::db::{backend, exec, qrow, Db};
use aos_runtime::clock::{now_ms, unique_suffix};
use aos_runtime::ports::{Queue, Received, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;
use std::time::Duration;

/// Name of the queue step messages go to.
pub const STEP_QUEUE: &str = "steps";

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How long a receive waits at most: `wait` less up to a quarter of it, at random. A
/// waiting receiver is woken by the message it is to take; the timer is only a safety
/// net, and receivers that began together (`aos dev`'s workers at start-up) would
/// otherwise keep polling at the same moments.
fn spread(wait: Duration) -> Duration {
    wait.saturating_sub((wait / 4).mul_f64(rand::random::<f64>()))
}

/// A receipt names its message's row and the lease it was received with, `{id}.{lease}`,
/// so that acknowledging it finds the row by its key: no index of leases to keep up in
/// every step's commit. The row's `receipt` column holds the lease.
fn receipt(id: i64, lease: &str) -> String {
    format!("{id}.{lease}")
}

/// The row and the lease a receipt names; `None` for one this queue never gave out.
fn parse_receipt(receipt: &str) -> Option<(i64, &str)> {
    let (id, lease) = receipt.split_once('.')?;
    Some((id.parse().ok()?, lease))
}

/// The time `d` after `now_ms` (a lease's end, a delayed message's), ms since the epoch.
pub(crate) fn ms_after(now_ms: u64, d: Duration) -> u64 {
    now_ms.saturating_add(ms(d))
}

/// Inserts a message inside the caller's transaction (used by atomic step commits).
pub(crate) fn enqueue(conn: &Connection, queue: &str, body: &str, visible_at_ms: u64) -> rusqlite::Result<()> {
    exec(conn, "INSERT INTO queue (queue, body, visible_at) VALUES (?1, ?2, ?3)", params![queue, body, visible_at_ms])?;
    Ok(())
}

/// Inserts a message already received by the caller (receive count 1, hidden until
/// `hidden_until_ms`) inside the caller's transaction, and returns it.
pub(crate) fn enqueue_received(
    c: &Connection,
    queue: &str,
    body: &str,
    hidden_until_ms: u64,
) -> rusqlite::Result<Received> {
    let lease = unique_suffix();
    exec(
        c,
        "INSERT INTO queue (queue, body, visible_at, receive_count, receipt) VALUES (?1, ?2, ?3, 1, ?4)",
        params![queue, body, hidden_until_ms, lease],
    )?;
    Ok(Received::new(receipt(c.last_insert_rowid(), &lease), body.to_owned(), 1))
}

/// Acknowledges the received message `acked` by putting a new message, already received
/// by the caller (receive count 1, hidden until `hidden_until_ms`), in its row, inside
/// the caller's transaction: one row rewritten where a delete and an insert wrote two
/// (the acknowledged receipt matches nothing any more: its lease is gone). `None`, with
/// nothing written, when `acked` names no message this queue holds under that lease.
pub(crate) fn requeue_received(
    c: &Connection,
    acked: &str,
    queue: &str,
    body: &str,
    hidden_until_ms: u64,
) -> rusqlite::Result<Option<Received>> {
    let Some((id, old)) = parse_receipt(acked) else { return Ok(None) };
    let lease = unique_suffix();
    let moved = exec(
        c,
        "UPDATE queue SET queue = ?3, body = ?4, visible_at = ?5, receive_count = 1, receipt = ?6
         WHERE id = ?1 AND receipt = ?2",
        params![id, old, queue, body, hidden_until_ms, lease],
    )?;
    Ok((moved == 1).then(|| Received::new(receipt(id, &lease), body.to_owned(), 1)))
}

/// Hands the received message `held` on to the next step of its run inside the caller's
/// transaction, for the caller to carry on with (receive count 1, `lease` long), and
/// returns it with the time its lease ends. While the message is on its first delivery
/// and three quarters of a lease are left, its row keeps its lease: no write at all, or,
/// with `rewrite`, its body alone (which no index holds). Without `rewrite`, its body
/// still names the step it was delivered for, which is safe: delivered again (its holder
/// died), it is received a second time, and a step message on a later delivery whose
/// step is done resumes its run at the run's next step. A message carried on to another
/// run (the first run of a workflow node, after its run before ended) is rewritten: the
/// run it names is done. Otherwise the row is rewritten with `body` and a new lease
/// (`requeue_received`). `None`, with nothing written, when `held` names no message this
/// queue holds under that lease.
pub(crate) fn carry_received(
    c: &Connection,
    held: &str,
    queue: &str,
    body: &str,
    now_ms: u64,
    lease: Duration,
    rewrite: bool,
) -> rusqlite::Result<Option<(Received, u64)>> {
    let Some((id, lease_id)) = parse_receipt(held) else { return Ok(None) };
    let row: Option<(u64, u32)> = qrow(
        c,
        "SELECT visible_at, receive_count FROM queue WHERE id = ?1 AND receipt = ?2",
        params![id, lease_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?;
    let Some((until, count)) = row else { return Ok(None) };
    let lease = ms(lease);
    if count <= 1 && until >= now_ms.saturating_add(lease - lease / 4) {
        if rewrite {
            exec(c, "UPDATE queue SET body = ?2 WHERE id = ?1", params![id, body])?;
        }
        return Ok(Some((Received::new(held.to_owned(), body.to_owned(), 1), until)));
    }
    let until = now_ms.saturating_add(lease);
    Ok(requeue_received(c, held, queue, body, until)?.map(|r| (r, until)))
}

/// Deletes a received message inside the caller's transaction.
pub(crate) fn ack(conn: &Connection, receipt: &str) -> rusqlite::Result<()> {
    if let Some((id, lease)) = parse_receipt(receipt) {
        exec(conn, "DELETE FROM queue WHERE id = ?1 AND receipt = ?2", params![id, lease])?;
    }
    Ok(())
}

/// Makes a received message visible to every receiver at once, and wakes one.
pub(crate) async fn release(db: &Db, receipt: &str) -> StoreResult<()> {
    let Some((id, lease)) = parse_receipt(receipt) else { return Ok(()) };
    let lease = lease.to_owned();
    db.write(false, move |c| {
        exec(c, "UPDATE queue SET visible_at = 0, receipt = NULL WHERE id = ?1 AND receipt = ?2", params![id, lease])
            .map_err(|e| backend(&e))
    })
    .await?;
    db.enqueued.notify_one();
    Ok(())
}

/// A dead-lettered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The body as sent.
    pub body: String,
    /// How often it was received before it was dead-lettered.
    pub receive_count: u32,
}

/// One named queue in the embedded database.
pub struct EmbeddedQueue {
    db: Arc<Db>,
    name: String,
    max_receive_count: u32,
}

impl EmbeddedQueue {
    /// The queue `name`; messages received more than `max_receive_count` times move to
    /// the dead-letter table.
    pub fn new(db: Arc<Db>, name: &str, max_receive_count: u32) -> Self {
        Self { db, name: name.to_owned(), max_receive_count: max_receive_count.max(1) }
    }

    /// Messages that were dead-lettered from this queue, oldest first.
    pub fn dead_letters(&self) -> StoreResult<Vec<DeadLetter>> {
        self.db.read(|c| {
            let mut st = c.prepare("SELECT body, receive_count FROM dead_letters WHERE queue = ?1 ORDER BY id")?;
            let rows =
                st.query_map(params![self.name], |r| Ok(DeadLetter { body: r.get(0)?, receive_count: r.get(1)? }))?;
            rows.collect()
        })
    }

    /// Number of messages in the queue (visible or not).
    pub fn depth(&self) -> StoreResult<u64> {
        self.db.read(|c| qrow(c, "SELECT COUNT(*) FROM queue WHERE queue = ?1", params![self.name], |r| r.get(0)))
    }

    /// Makes every received-but-unacknowledged message visible now. `aos dev` calls this
    /// at start-up: it holds the data directory's lock, so such leases belong to a
    /// process that died.
    pub async fn release_orphaned_leases(&self) -> StoreResult<u64> {
        let name = self.name.clone();
        self.db
            .write(true, move |c| {
                exec(
                    c,
                    "UPDATE queue SET visible_at = 0, receipt = NULL WHERE queue = ?1 AND receipt IS NOT NULL",
                    params![name],
                )
                .map(|n| n as u64)
                .map_err(|e| backend(&e))
            })
            .await
    }

    fn next_visible_at(&self) -> StoreResult<Option<u64>> {
        self.db.read(|c| {
            qrow(c, "SELECT MIN(visible_at) FROM queue WHERE queue = ?1", params![self.name], |r| {
                r.get::<_, Option<u64>>(0)
            })
        })
    }

    async fn receive_now(&self, max: usize, visibility: Duration) -> StoreResult<Vec<Received>> {
        let name = self.name.clone();
        let max_receives = self.max_receive_count;
        self.db
            .write(false, move |c| receive_tx(c, &name, max, visibility, max_receives).map_err(|e| backend(&e)))
            .await
    }
}

fn receive_tx(
    c: &Connection,
    name: &str,
    max: usize,
    visibility: Duration,
    max_receives: u32,
) -> rusqlite::Result<Vec<Received>> {
    let now = now_ms();
    let mut st = c.prepare_cached(
        "SELECT id, body, receive_count FROM queue WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, id LIMIT ?3",
    )?;
    let rows: Vec<(i64, String, u32)> = st
        .query_map(params![name, now, max as i64 + 8], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (id, body, count) in rows {
        if out.len() >= max {
            break;
        }
        if count >= max_receives {
            exec(
                c,
                "INSERT INTO dead_letters (queue, body, receive_count, dead_at) VALUES (?1, ?2, ?3, ?4)",
                params![name, body, count, now],
            )?;
            exec(c, "DELETE FROM queue WHERE id = ?1", params![id])?;
            tracing::warn!(queue = name, receive_count = count, "message moved to the dead-letter table");
            continue;
        }
        let lease = unique_suffix();
        exec(
            c,
            "UPDATE queue SET receive_count = receive_count + 1, visible_at = ?2, receipt = ?3 WHERE id = ?1",
            params![id, ms_after(now, visibility), lease],
        )?;
        out.push(Received::new(receipt(id, &lease), body, count + 1));
    }
    Ok(out)
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send(&self, body: &str, delay: Duration) -> StoreResult<()> {
        let (name, body) = (self.name.clone(), body.to_owned());
        let at = ms_after(now_ms(), delay);
        self.db.write(true, move |c| enqueue(c, &name, &body, at).map_err(|e| backend(&e))).await?;
        self.db.enqueued.notify_one();
        Ok(())
    }

    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> StoreResult<Vec<Received>> {
        let deadline = tokio::time::Instant::now() + spread(wait);
        loop {
            let notified = self.db.enqueued.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // A read first: a receive is a write (the writer's lock, a transaction), and
            // a worker that finds the queue empty would write one each time it goes idle.
            // A message committed after this read wakes `notified`, armed before it.
            let mut next = self.next_visible_at()?;
            let due = next.is_some_and(|at| at <= now_ms());
            let got = if due { self.receive_now(max, visibility).await? } else { Vec::new() };
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            if due {
                // Another receiver took what was due: when is the next one?
                next = self.next_visible_at()?;
            }
            let mut until = deadline;
            if let Some(at) = next {
                let in_ms = at.saturating_sub(now_ms());
                until = until.min(now + Duration::from_millis(in_ms.max(1)));
            }
            // A new run's first step may come straight here (see `handoff`).
            let mut place = self.db.idle.wait(&self.name, visibility);
            let woken = tokio::select! {
                handed = &mut place.rx => match handed {
                    Ok(received) => return Ok(vec![received]),
                    Err(_) => false,
                },
                () = &mut notified => true,
                () = tokio::time::sleep_until(until) => false,
            };
            if !self.db.idle.withdraw(&place) {
                // Taken meanwhile: the message is committed (or its write failed) now.
                if let Ok(received) = place.rx.await {
                    if woken {
                        // The wake-up was for another message: pass it on.
                        self.db.enqueued.notify_one();
                    }
                    return Ok(vec![received]);
                }
            }
        }
    }

    async fn delete(&self, receipt: &str) -> StoreResult<()> {
        let receipt = receipt.to_owned();
        self.db.write(true, move |c| ack(c, &receipt).map_err(|e| backend(&e))).await
    }

    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> StoreResult<bool> {
        let Some((id, lease)) = parse_receipt(receipt) else { return Ok(false) };
        let lease = lease.to_owned();
        let at = ms_after(now_ms(), visibility);
        self.db
            .write(false, move |c| {
                exec(c, "UPDATE queue SET visible_at = ?3 WHERE id = ?1 AND receipt = ?2", params![id, lease, at])
                    .map(|n| n == 1)
                    .map_err(|e| backend(&e))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_wait_from_three_quarters_of_their_wait_to_all_of_it_each_their_own() {
        let wait = Duration::from_secs(10);
        let waits: Vec<Duration> = (0..64).map(|_| spread(wait)).collect();
        assert!(waits.iter().all(|w| *w >= wait * 3 / 4 && *w <= wait), "{waits:?}");
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 32, "64 receivers wait {} different times", distinct.len());
        assert_eq!(spread(Duration::ZERO), Duration::ZERO);
    }
    use crate::db::Durability;

    fn queue(dir: &tempfile::TempDir, max: u32) -> EmbeddedQueue {
        EmbeddedQueue::new(Db::open(dir.path(), Durability::Full).expect("db"), "q", max)
    }

    #[tokio::test]
    async fn a_queue_numbered_with_autoincrement_is_rebuilt_with_its_messages() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let c = Connection::open(dir.path().join("aos.db")).expect("open");
            c.execute_batch(
                "CREATE TABLE queue (
                     id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body TEXT NOT NULL,
                     visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT);
                 CREATE INDEX queue_visible ON queue (queue, visible_at);
                 CREATE UNIQUE INDEX queue_receipt ON queue (receipt);
                 INSERT INTO queue (queue, body, visible_at) VALUES ('q', 'first', 0), ('q', 'second', 0);",
            )
            .expect("old queue");
        }
        let q = queue(&dir, 5);
        let sql: String =
            q.db.read(|c| c.query_row("SELECT sql FROM sqlite_master WHERE name = 'queue'", [], |r| r.get(0)))
                .expect("schema");
        assert!(!sql.contains("AUTOINCREMENT"), "{sql}");
        let indexes: Vec<String> =
            q.db.read(|c| {
                let mut st = c.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'queue'")?;
                let rows = st.query_map([], |r| r.get(0))?;
                rows.collect()
            })
            .expect("indexes");
        assert_eq!(indexes, ["queue_visible"], "receipts name their row: no index of receipts is kept");
        let got = q.receive(5, Duration::from_secs(30), Duration::ZERO).await.expect("receive");
        let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["first", "second"]);
        q.delete(&got[0].receipt).await.expect("ack");
        q.send("third", Duration::ZERO).await.expect("send");
        let next = q.receive(5, Duration::from_secs(30), Duration::ZERO).await.expect("receive");
        assert_eq!(next.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["third"]);
    }

    #[tokio::test]
    async fn a_received_message_is_hidden_until_its_visibility_expires() {
        let dir = tempfile::tempdir().expect("tmp");
        let q = queue(&dir, 5);
        q.send("m1", Duration::ZERO).await.expect("send");
        let first = q.receive(10, Duration::from_millis(200), Duration::ZERO).await.expect("receive");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].receive_count, 1);
        assert!(q.receive(10, Duration::from_secs(1), Duration::ZERO).await.expect("receive").is_empty());
        let again = q.receive(10, Duration::from_secs(5), Duration::from_secs(2)).await.expect("receive");
        assert_eq!(again.len(), 1, "visible again after the timeout");
        assert_eq!(again[0].receive_count, 2);
        assert_ne!(again[0].receipt, first[0].receipt, "each receive gets a new receipt");
        q.delete(&first[0].receipt).await.expect("stale delete is not an error");
        assert_eq!(q.depth().expect("depth"), 1, "a stale receipt deletes nothing");
        // Nor does a receipt this queue never gave out (or one of the form before receipts
        // named their row), and it extends nothing.
        let (id, _) = parse_receipt(&again[0].receipt).expect("a receipt names its row");
        for forged in [format!("{id}.other-lease"), format!("{id}"), "a-lease-alone".to_owned()] {
            q.delete(&forged).await.expect("delete");
            assert!(!q.change_visibility(&forged, Duration::from_secs(60)).await.expect("extend"), "{forged}");
        }
        assert_eq!(q.depth().expect("depth"), 1, "a foreign receipt deletes nothing");
        q.delete(&again[0].receipt).await.expect("delete");
        assert_eq!(q.depth().expect("depth"), 0);
    }

    #[tokio::test]
    async fn change_visibility_extends_a_lease_and_refuses_stale_receipts() {
        let dir = tempfile::tempdir().expect("tmp");
        let q = queue(&dir, 5);
        q.send("m", Duration::ZERO).await.expect("send");
        let m = q.receive(1, Duration::from_millis(100), Duration::ZERO).await.expect("receive").remove(0);
        assert!(q.change_visibility(&m.receipt, Duration::from_secs(30)).await.expect("extend"));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(q.receive(1, Duration::from_secs(1), Duration::ZERO).await.expect("receive").is_empty());
        assert!(!q.change_visibility("no-such-receipt", Duration::from_secs(1)).await.expect("stale"));
    }

    /// The hand-off of a run's next step puts it in the row of the message it
    /// acknowledges: the old receipt matches nothing, the new one is a received message
    /// like any other (hidden until its lease ends, then delivered again); a stale
    /// receipt is not requeued.
    #[tokio::test]
    async fn a_requeued_message_takes_the_row_of_the_one_it_acknowledges() {
        let dir = tempfile::tempdir().expect("tmp");
        let q = queue(&dir, 5);
        q.send("first", Duration::ZERO).await.expect("send");
        let first = q.receive(1, Duration::from_secs(30), Duration::ZERO).await.expect("receive").remove(0);
        let requeue = |acked: &str, body: &'static str, until: u64| {
            let acked = acked.to_owned();
            q.db.write(true, move |c| requeue_received(c, &acked, "q", body, until).map_err(|e| backend(&e)))
        };
        let next = requeue(&first.receipt, "second", now_ms() + 200).await.expect("write").expect("requeued");
        assert_eq!((next.body.as_str(), next.receive_count), ("second", 1));
        assert_eq!(q.depth().expect("depth"), 1, "one row: the acknowledged message is gone");
        assert!(!q.change_visibility(&first.receipt, Duration::from_secs(1)).await.expect("stale"));
        assert!(q.change_visibility(&next.receipt, Duration::from_millis(100)).await.expect("extend"));
        let again = requeue(&first.receipt, "third", 0).await.expect("write");
        assert!(again.is_none(), "an acknowledged receipt is not requeued");
        assert_eq!(q.depth().expect("depth"), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        let redelivered = q.receive(1, Duration::from_secs(30), Duration::ZERO).await.expect("receive");
        assert_eq!(redelivered.len(), 1, "its lease ran out: delivered again");
        assert_eq!((redelivered[0].body.as_str(), redelivered[0].receive_count), ("second", 2));
        q.delete(&redelivered[0].receipt).await.expect("delete");
        assert_eq!(q.depth().expect("depth"), 0);
    }

    /// A receiver that finds nothing due writes nothing (a receive is a write, and idle
    /// workers look often): with the writer held, it still answers at once; a message
    /// sent while it waits wakes it.
    #[tokio::test]
    async fn a_receive_on_an_empty_queue_writes_nothing_and_a_send_wakes_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let q = queue(&dir, 5);
        {
            let _held = q.db.hold_writer();
            let got =
                tokio::time::timeout(Duration::from_secs(2), q.receive(1, Duration::from_secs(30), Duration::ZERO))
                    .await
                    .expect("the receive waited for the writer: it wrote")
                    .expect("receive");
            assert!(got.is_empty());
        }
        q.send("later", Duration::from_millis(300)).await.expect("send");
        let got = tokio::time::timeout(Duration::from_secs(2), q.receive(1, Duration::from_secs(30), Duration::ZERO))
            .await
            .expect("receive")
            .expect("receive");
        assert!(got.is_empty(), "not due yet");
        let waiting = q.receive(1, Duration::from_secs(30), Duration::from_secs(5));
        let got =
            tokio::time::timeout(Duration::from_secs(4), waiting).await.expect("woken when due").expect("receive");
        assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["later"]);
        let sender = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            q.send("now", Duration::ZERO).await.expect("send");
        };
        let (got, ()) = tokio::join!(q.receive(1, Duration::from_secs(30), Duration::from_secs(10)), sender);
        assert_eq!(got.expect("receive").iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["now"]);
    }

    /// A run's next step carried on with the message its worker holds: the row is kept as
    /// it is while the message is on its first delivery with three quarters of a lease
    /// left (same receipt, the lease's end unchanged, the body as first delivered);
    /// otherwise it is rewritten like a requeue.
    #[tokio::test]
    async fn a_carried_message_keeps_its_row_untouched_until_its_lease_runs_low() {
        let dir = tempfile::tempdir().expect("tmp");
        let q = queue(&dir, 5);
        let lease = Duration::from_secs(8);
        let carry = |held: &str, body: &'static str, now: u64| {
            let held = held.to_owned();
            q.db.write(true, move |c| carry_received(c, &held, "q", body, now, lease, false).map_err(|e| backend(&e)))
        };
        let row = |receipt: &str| {
            let (id, _) = parse_receipt(receipt).expect("receipt");
            q.db.read(|c| {
                qrow(c, "SELECT body, visible_at, receive_count FROM queue WHERE id = ?1", params![id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?, r.get::<_, u32>(2)?))
                })
            })
            .expect("row")
        };
        q.send("step 0", Duration::ZERO).await.expect("send");
        let first = q.receive(1, Duration::from_secs(10), Duration::ZERO).await.expect("receive").remove(0);
        let (_, leased_until, _) = row(&first.receipt);
        let now = now_ms();
        let (kept, until) = carry(&first.receipt, "step 1", now).await.expect("write").expect("carried");
        assert_eq!(
            (kept.receipt.as_str(), kept.body.as_str(), kept.receive_count),
            (first.receipt.as_str(), "step 1", 1)
        );
        assert_eq!(until, leased_until, "the claim ends with the lease it rides on");
        assert_eq!(row(&first.receipt), ("step 0".to_owned(), leased_until, 1), "nothing written");
        // Less than three quarters of a lease left (about 5 s of the 10 s leased, where 6 of
        // the 8 s wanted): a new lease, in a row rewritten with the next step.
        let later = now + 5_000;
        let (renewed, until) = carry(&kept.receipt, "step 2", later).await.expect("write").expect("carried");
        assert_ne!(renewed.receipt, first.receipt);
        assert_eq!(until, later + 8_000);
        assert_eq!(row(&renewed.receipt), ("step 2".to_owned(), later + 8_000, 1));
        assert!(carry(&first.receipt, "step 3", later).await.expect("write").is_none(), "a stale receipt");
        assert_eq!(q.depth().expect("depth"), 1);
        // A message on a later delivery is rewritten (its receive count starts again).
        q.db.write(true, |c| exec(c, "UPDATE queue SET receive_count = 3", []).map_err(|e| backend(&e)))
            .await
            .expect("count");
        let (again, _) = carry(&renewed.receipt, "step 3", later).await.expect("write").expect("carried");
        assert_ne!(again.receipt, renewed.receipt);
        assert_eq!(row(&again.receipt).2, 1);
        // Carried on to another run: the body alone is rewritten, the lease is kept.
        let moved = {
            let held = again.receipt.clone();
            q.db.write(true, move |c| {
                carry_received(c, &held, "q", "other run", later, lease, true).map_err(|e| backend(&e))
            })
            .await
            .expect("write")
            .expect("carried")
        };
        assert_eq!((moved.0.receipt.as_str(), moved.1), (again.receipt.as_str(), later + 8_000));
        assert_eq!(row(&again.receipt), ("other run".to_owned(), later + 8_000, 1), "the body follows");
    }

    #[tokio::test]
    async fn a_message_received_too_often_is_dead_lettered() {
        let dir = tempfile::tempdir().expect("tmp");
        let q = queue(&dir, 2);
        q.send("poison", Duration::ZERO).await.expect("send");
        for _ in 0..2 {
            let got = q.receive(1, Duration::ZERO, Duration::ZERO).await.expect("receive");
            assert_eq!(got.len(), 1);
        }
        assert!(q.receive(1, Duration::ZERO, Duration::ZERO).await.expect("receive").is_empty());
        let dead = q.dead_letters().expect("dlq");
        assert_eq!(dead, vec![DeadLetter { body: "poison".into(), receive_count: 2 }]);
        assert_eq!(q.depth().expect("depth"), 0);
    }

    #[tokio::test]
    async fn a_delayed_message_becomes_visible_and_wakes_a_waiting_receiver() {
        let dir = tempfile::tempdir().expect("tmp");
        let q = queue(&dir, 5);
        q.send("later", Duration::from_millis(150)).await.expect("send");
        assert!(q.receive(1, Duration::from_secs(1), Duration::ZERO).await.expect("receive").is_empty());
        let got = q.receive(1, Duration::from_secs(1), Duration::from_secs(3)).await.expect("receive");
        assert_eq!(got.len(), 1);
    }

    /// A receiver waits without looking again on a timer (`aos dev` workers wait 10 s):
    /// a message sent with a delay while it waits wakes it when the message is due, and
    /// so does a lease that runs out.
    #[tokio::test]
    async fn a_long_waiting_receiver_is_woken_by_what_becomes_visible_meanwhile() {
        let dir = tempfile::tempdir().expect("tmp");
        let q = Arc::new(queue(&dir, 5));
        let long = Duration::from_secs(60);
        let waiting = tokio::spawn({
            let q = Arc::clone(&q);
            async move { q.receive(1, Duration::from_millis(300), long).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        q.send("later", Duration::from_millis(200)).await.expect("send");
        let got = tokio::time::timeout(Duration::from_secs(20), waiting)
            .await
            .expect("woken when the message was due, not at the end of its wait")
            .expect("task")
            .expect("receive");
        assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["later"]);
        // Its lease (300 ms) runs out while another receiver waits: that one gets it again.
        let again = tokio::time::timeout(Duration::from_secs(20), q.receive(1, Duration::from_secs(30), long))
            .await
            .expect("woken when the lease ran out")
            .expect("receive");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].receive_count, 2);
    }

    #[tokio::test]
    async fn messages_survive_reopening_the_store() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let q = queue(&dir, 5);
            q.send("kept", Duration::ZERO).await.expect("send");
            let _leased = q.receive(1, Duration::from_secs(600), Duration::ZERO).await.expect("receive");
        }
        let q = queue(&dir, 5);
        assert_eq!(q.release_orphaned_leases().await.expect("release"), 1);
        let got = q.receive(1, Duration::from_secs(1), Duration::ZERO).await.expect("receive");
        assert_eq!(got[0].body, "kept");
        assert_eq!(got[0].receive_count, 2);
    }
}
