//! The credit ledger in the embedded database: one book per tenant (its accounts and
//! grants, as JSON) and one row per transfer, changed together in one transaction by
//! the rules of [`Book`].

use crate::db::{backend, exec, qrow, Db};
use aos_core::audit::AuditEvent;
use aos_core::credits::{
    check_amount, repeated_settle, resolution, Balance, Book, Cause, GrantSpec, LedgerError, Millicredits,
    PendingState, Transfer, TransferId, TransferKind,
};
use aos_core::TenantId;
use aos_runtime::ports::{CreditError, CreditResult, CreditStore, StoreError, TransferPage};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::{Arc, LazyLock};

/// The credit ledger.
pub struct EmbeddedCredits {
    db: Arc<Db>,
}

impl EmbeddedCredits {
    /// The ledger over `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

fn corrupt(e: &serde_json::Error) -> StoreError {
    StoreError::Backend(format!("corrupt ledger record: {e}"))
}

/// A book's grants: the part of it that only grant events change, kept as JSON. Its
/// balances and whether it is suspended are columns of their own (see [`HOT`]), the
/// only part a step reads and writes.
#[derive(serde::Serialize, serde::Deserialize)]
struct Grants {
    grants: Vec<aos_core::credits::Grant>,
    allocated: Millicredits,
}

/// The four sums of each account, as columns of `credit_books` (account by account, in
/// [`Account::ALL`] order; `u64` stored bit for bit in SQLite's `i64`), then whether the
/// tenant is suspended and when its grants next change: what a step needs of a book,
/// read and written without touching its grants.
pub(crate) const HOT: [&str; 18] = [
    "credits_debits_posted",
    "credits_credits_posted",
    "credits_debits_pending",
    "credits_credits_pending",
    "grants_debits_posted",
    "grants_credits_posted",
    "grants_debits_pending",
    "grants_credits_pending",
    "spent_debits_posted",
    "spent_credits_posted",
    "spent_debits_pending",
    "spent_credits_pending",
    "expired_debits_posted",
    "expired_credits_posted",
    "expired_debits_pending",
    "expired_credits_pending",
    "suspended",
    "next_change_ms",
];

static SELECT_HOT: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM credit_books WHERE tenant = ?1", HOT.join(", ")));
static SELECT_BOOK: LazyLock<String> =
    LazyLock::new(|| format!("SELECT book, {} FROM credit_books WHERE tenant = ?1", HOT.join(", ")));
static UPDATE_HOT: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = HOT.iter().enumerate().map(|(i, c)| format!("{c} = ?{}", i + 2)).collect();
    format!("UPDATE credit_books SET {} WHERE tenant = ?1", set.join(", "))
});
static UPSERT: LazyLock<String> = LazyLock::new(|| {
    let marks: Vec<String> = (0..HOT.len()).map(|i| format!("?{}", i + 3)).collect();
    let set: Vec<String> = HOT.iter().map(|c| format!("{c} = excluded.{c}")).collect();
    format!(
        "INSERT INTO credit_books (tenant, book, {}) VALUES (?1, ?2, {}) \
         ON CONFLICT (tenant) DO UPDATE SET book = excluded.book, {}",
        HOT.join(", "),
        marks.join(", "),
        set.join(", ")
    )
});

/// The hot columns' values of `book` (see [`HOT`]).
#[allow(clippy::cast_possible_wrap)]
fn hot_values(book: &Book) -> [i64; 18] {
    let mut v = [0i64; 18];
    for (i, b) in book.balances.iter().enumerate() {
        let sums = [b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending];
        for (j, m) in sums.into_iter().enumerate() {
            v[i * 4 + j] = m.0 as i64;
        }
    }
    v[16] = i64::from(book.suspended);
    v[17] = book.next_change_ms().min(i64::MAX as u64) as i64;
    v
}

/// A book's balances and suspension read from its hot columns starting at column `at`
/// (its grants empty), and when its grants next change.
#[allow(clippy::cast_sign_loss)]
fn from_hot(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<(Book, u64)> {
    let mut book = Book::default();
    for (i, b) in book.balances.iter_mut().enumerate() {
        let col = |j: usize| r.get::<_, i64>(at + i * 4 + j).map(|v| Millicredits(v as u64));
        *b = Balance {
            debits_posted: col(0)?,
            credits_posted: col(1)?,
            debits_pending: col(2)?,
            credits_pending: col(3)?,
        };
    }
    book.suspended = r.get::<_, i64>(at + 16)? != 0;
    Ok((book, r.get::<_, i64>(at + 17)? as u64))
}

/// The tenant's book without its grants, and when they next change ([`u64::MAX`]:
/// never); `None` before its first grant.
fn load_hot(c: &Connection, tenant: &str) -> Result<Option<(Book, u64)>, StoreError> {
    qrow(c, &SELECT_HOT, params![tenant], |r| from_hot(r, 0)).optional().map_err(|e| backend(&e))
}

/// Writes `book`'s balances and suspension (the book exists; its grants are unchanged).
fn store_hot(c: &Connection, tenant: &str, book: &Book) -> Result<(), StoreError> {
    let v = hot_values(book);
    let mut args: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(1 + HOT.len());
    args.push(&tenant);
    args.extend(v.iter().map(|x| x as &dyn rusqlite::ToSql));
    exec(c, &UPDATE_HOT, args.as_slice()).map_err(|e| backend(&e))?;
    Ok(())
}

/// The whole book: its grants from the JSON, the rest from the hot columns.
fn read_book(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Book, StoreError>> {
    let body: String = r.get(0)?;
    let (mut book, _) = from_hot(r, 1)?;
    Ok(serde_json::from_str::<Grants>(&body).map_err(|e| corrupt(&e)).map(|g| {
        book.grants = g.grants;
        book.allocated = g.allocated;
        book
    }))
}

fn load_book(c: &Connection, tenant: &str) -> Result<Book, StoreError> {
    qrow(c, &SELECT_BOOK, params![tenant], read_book)
        .optional()
        .map_err(|e| backend(&e))?
        .unwrap_or_else(|| Ok(Book::default()))
}

fn store_book(c: &Connection, tenant: &str, book: &Book) -> Result<(), StoreError> {
    let body = serde_json::to_string(&Grants { grants: book.grants.clone(), allocated: book.allocated })
        .map_err(|e| corrupt(&e))?;
    let v = hot_values(book);
    let mut args: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(2 + HOT.len());
    args.push(&tenant);
    args.push(&body);
    args.extend(v.iter().map(|x| x as &dyn rusqlite::ToSql));
    exec(c, &UPSERT, args.as_slice()).map_err(|e| backend(&e))?;
    Ok(())
}

/// Brings `credit_books` rows written before the hot columns existed (every sum in the
/// JSON) up to them. Run when the database opens.
pub(crate) fn migrate_books(c: &Connection) -> rusqlite::Result<()> {
    let old: Vec<(String, String)> = {
        let mut st = c.prepare("SELECT tenant, book FROM credit_books WHERE next_change_ms IS NULL")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (tenant, body) in old {
        let book: Book =
            serde_json::from_str(&body).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        store_book(c, &tenant, &book).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.to_string().into()))?;
    }
    Ok(())
}

/// A transfer from its row's `body` and `state` (columns `at` and `at + 1`): the body is
/// the transfer as written, the column a reservation's state since (its resolution
/// changes only the column).
fn read_transfer(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Result<Transfer, StoreError>> {
    let body: String = r.get(at)?;
    let state: Option<String> = r.get(at + 1)?;
    Ok(serde_json::from_str::<Transfer>(&body).map_err(|e| corrupt(&e)).map(|mut t| {
        if t.state.is_some() {
            t.state = state.as_deref().and_then(PendingState::parse).or(t.state);
        }
        t
    }))
}

fn load_transfer(c: &Connection, tenant: &str, id: &str) -> Result<Option<Transfer>, StoreError> {
    qrow(c, "SELECT body, state FROM credit_transfers WHERE tenant = ?1 AND id = ?2", params![tenant, id], |r| {
        read_transfer(r, 0)
    })
    .optional()
    .map_err(|e| backend(&e))?
    .transpose()
}

fn insert_transfer(c: &Connection, tenant: &str, t: &Transfer) -> Result<(), StoreError> {
    let body = serde_json::to_string(t).map_err(|e| corrupt(&e))?;
    exec(
        c,
        "INSERT INTO credit_transfers (tenant, id, state, timeout_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tenant, t.id.as_str(), t.state.map(PendingState::as_str), t.timeout_ms, body],
    )
    .map_err(|e| backend(&e))?;
    Ok(())
}

/// Records a reservation's resolution: its `state` column (its body stays as written).
fn update_pending(c: &Connection, tenant: &str, t: &Transfer) -> Result<(), StoreError> {
    exec(
        c,
        "UPDATE credit_transfers SET state = ?3 WHERE tenant = ?1 AND id = ?2",
        params![tenant, t.id.as_str(), t.state.map(PendingState::as_str)],
    )
    .map_err(|e| backend(&e))?;
    Ok(())
}

/// Inserts `rows` (one or two) in one statement, each unless its id exists; answers how
/// many were inserted.
fn insert_new(c: &Connection, tenant: &str, rows: &[&Transfer]) -> Result<usize, StoreError> {
    const ONE: &str = "INSERT INTO credit_transfers (tenant, id, state, timeout_ms, body) VALUES (?1, ?2, ?3, ?4, ?5) \
                       ON CONFLICT (tenant, id) DO NOTHING";
    const TWO: &str = "INSERT INTO credit_transfers (tenant, id, state, timeout_ms, body) \
                       VALUES (?1, ?2, ?3, ?4, ?5), (?1, ?6, ?7, ?8, ?9) ON CONFLICT (tenant, id) DO NOTHING";
    let sql = match rows.len() {
        0 => return Ok(0),
        1 => ONE,
        2 => TWO,
        n => return Err(StoreError::Backend(format!("insert_new takes one or two transfers, not {n}"))),
    };
    let bodies =
        rows.iter().map(|t| serde_json::to_string(t).map_err(|e| corrupt(&e))).collect::<Result<Vec<_>, _>>()?;
    let states: Vec<Option<&str>> = rows.iter().map(|t| t.state.map(PendingState::as_str)).collect();
    let mut args: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(9);
    args.push(&tenant);
    for (i, t) in rows.iter().enumerate() {
        args.extend([&t.id.0 as &dyn rusqlite::ToSql, &states[i], &t.timeout_ms, &bodies[i]]);
    }
    exec(c, sql, args.as_slice()).map_err(|e| backend(&e))
}

/// Loads the tenant's book rolled to `now_ms`, with the roll's transfers recorded.
fn rolled(c: &Connection, tenant: &str, now_ms: u64) -> Result<Book, StoreError> {
    let mut book = load_book(c, tenant)?;
    if book.next_change_ms() <= now_ms {
        for t in book.roll(now_ms) {
            insert_transfer(c, tenant, &t)?;
        }
        store_book(c, tenant, &book)?;
    }
    Ok(book)
}

/// The tenant's book for an operation that changes only its balances (a reservation
/// and its resolution): without its grants, unless a grant event is due; then rolled to
/// `now_ms`, and `true`: [`put_book`] stores it whole.
fn for_balances(c: &Connection, tenant: &str, now_ms: u64) -> Result<(Book, bool), StoreError> {
    Ok(match load_hot(c, tenant)? {
        Some((book, next_change_ms)) if next_change_ms > now_ms => (book, false),
        _ => (rolled(c, tenant, now_ms)?, true),
    })
}

/// Stores what [`for_balances`] loaded: its balances only, or the whole book.
fn put_book(c: &Connection, tenant: &str, book: &Book, whole: bool) -> Result<(), StoreError> {
    if whole {
        store_book(c, tenant, book)
    } else {
        store_hot(c, tenant, book)
    }
}

/// Resolves `pending` by `kind` (post `amount`, void, expire) against `book` and records
/// the transfers (the caller stores the book).
fn resolve(
    c: &Connection,
    tenant: &str,
    book: &mut Book,
    pending: &mut Transfer,
    amount: Millicredits,
    kind: TransferKind,
    now_ms: u64,
) -> CreditResult<Transfer> {
    let t = match kind {
        TransferKind::Post => book.settle(pending, amount, now_ms)?,
        TransferKind::Expire => book.expire(pending, now_ms)?,
        _ => book.void(pending, now_ms)?,
    };
    update_pending(c, tenant, pending)?;
    insert_transfer(c, tenant, &t)?;
    Ok(t)
}

/// Settles the reservation `id` for `amount` (0: voids it) against `book` (rolled to
/// now), recording the transfers (the caller stores the book); a repeat answers the
/// first resolution and changes nothing.
fn settle_in(
    c: &Connection,
    tenant: &str,
    book: &mut Book,
    id: &TransferId,
    amount: Millicredits,
    now_ms: u64,
) -> CreditResult<Transfer> {
    let mut pending = load_transfer(c, tenant, id.as_str())?.ok_or_else(|| LedgerError::Unknown(id.clone()))?;
    if pending.state != Some(PendingState::Pending) {
        let first = [TransferKind::Post, TransferKind::Void, TransferKind::Expire]
            .into_iter()
            .find_map(|k| load_transfer(c, tenant, TransferId::following(id, k).as_str()).transpose())
            .transpose()?;
        return Ok(repeated_settle(&pending, first, amount)?);
    }
    resolve(c, tenant, book, &mut pending, amount, resolution(amount), now_ms)
}

/// Reserves `amount` for `cause` until `timeout_ms` against `book` (rolled to now),
/// recording the reservation (the caller stores the book); a repeat answers the first.
fn reserve_in(
    c: &Connection,
    tenant: &str,
    book: &mut Book,
    cause: &Cause,
    amount: Millicredits,
    timeout_ms: u64,
    now_ms: u64,
) -> CreditResult<Transfer> {
    let id = TransferId::derive(cause, TransferKind::Reserve);
    if let Some(first) = load_transfer(c, tenant, id.as_str())? {
        return Ok(first);
    }
    let r = book.reserve(cause.clone(), amount, timeout_ms, now_ms)?;
    insert_transfer(c, tenant, &r)?;
    Ok(r)
}

/// Settles the reservation `id` for `amount` (0: voids it) inside the caller's
/// transaction; a repeat answers the first resolution.
fn settle_tx(
    c: &Connection,
    tenant: &str,
    id: &TransferId,
    amount: Millicredits,
    now_ms: u64,
) -> CreditResult<Transfer> {
    let (mut book, whole) = for_balances(c, tenant, now_ms)?;
    let t = settle_in(c, tenant, &mut book, id, amount, now_ms)?;
    put_book(c, tenant, &book, whole)?;
    Ok(t)
}

/// Settles `pending` as the step holds it (as it was reserved) for `amount` against
/// `book`, without reading it first: its row leaves `pending` only while it still is
/// pending, and the post (or void) it makes is pushed to `to_write` for the caller to
/// insert. One resolved meanwhile (it expired) takes the reading path, which records
/// what it does itself and answers repeats.
fn settle_held(
    c: &Connection,
    tenant: &str,
    book: &mut Book,
    pending: &Transfer,
    amount: Millicredits,
    now_ms: u64,
    to_write: &mut Vec<Transfer>,
) -> CreditResult<()> {
    if pending.state == Some(PendingState::Pending) {
        let (mut resolved, mut after) = (pending.clone(), book.clone());
        let t = match resolution(amount) {
            TransferKind::Post => after.settle(&mut resolved, amount, now_ms)?,
            _ => after.void(&mut resolved, now_ms)?,
        };
        let moved = exec(
            c,
            "UPDATE credit_transfers SET state = ?3 WHERE tenant = ?1 AND id = ?2 AND state = 'pending'",
            params![tenant, pending.id.as_str(), resolved.state.map(PendingState::as_str)],
        )
        .map_err(|e| backend(&e))?;
        if moved == 1 {
            to_write.push(t);
            *book = after;
            return Ok(());
        }
    }
    settle_in(c, tenant, book, &pending.id, amount, now_ms).map(|_| ())
}

/// A step's ledger work inside the transaction of its commit (or its first claim), with
/// one read and one write of the book and no read of a transfer on its way: `settle`
/// (the step's reservation as it holds it and what to post of it; one resolved otherwise
/// already is left as the ledger decided) and `ahead` (a reservation for the next step,
/// made only if the credits allow it). Answers the reservation made ahead, if it was.
pub(crate) fn step_tx(
    c: &Connection,
    tenant: &str,
    settle: Option<(&Transfer, Millicredits)>,
    ahead: Option<&Transfer>,
    now_ms: u64,
) -> Result<Option<Transfer>, StoreError> {
    let (mut book, whole) = for_balances(c, tenant, now_ms)?;
    let mut to_write = Vec::with_capacity(2);
    if let Some((pending, amount)) = settle {
        match settle_held(c, tenant, &mut book, pending, amount, now_ms, &mut to_write) {
            Ok(()) => {}
            Err(CreditError::Refused(e)) => {
                tracing::warn!(tenant, reservation = pending.id.as_str(), error = %e, "a step's reservation could not be settled");
            }
            Err(CreditError::Store(e)) => return Err(e),
        }
    }
    let settled = to_write.len();
    // The reservation ahead, by the ledger's rules (refused: too few credits, a suspended
    // tenant; the step's own budget stage then reserves and says why).
    let mut with_ahead = None;
    if let Some((a, Some(cause), Some(timeout))) = ahead.map(|a| (a, a.cause.as_ref(), a.timeout_ms)) {
        let mut after = book.clone();
        match after.reserve(cause.clone(), a.amount, timeout, now_ms) {
            Ok(r) => {
                to_write.push(r);
                with_ahead = Some(after);
            }
            Err(_refused) => {}
        }
    }
    let rows: Vec<&Transfer> = to_write.iter().collect();
    let put = insert_new(c, tenant, &rows)?;
    // A resolution written here cannot exist already (its reservation left `pending`
    // just now, and a reservation's state and its resolution are written together), so
    // a row not inserted is the reservation ahead, made before (a repeated commit).
    if put < settled {
        let id = to_write.first().map(|t| t.id.to_string()).unwrap_or_default();
        return Err(StoreError::Backend(format!("ledger record {id} exists before its reservation resolved")));
    }
    let made = match (with_ahead, to_write.get(settled)) {
        (Some(after), Some(r)) if put == to_write.len() => {
            book = after;
            Some(r.clone())
        }
        // It stands as the ledger has it.
        (Some(_), Some(r)) => load_transfer(c, tenant, r.id.as_str())?,
        _ => None,
    };
    put_book(c, tenant, &book, whole)?;
    Ok(made.filter(|r| r.state == Some(PendingState::Pending)))
}

type Op<R> = Box<dyn FnOnce(&Connection) -> CreditResult<R> + Send>;

impl EmbeddedCredits {
    /// Runs `op` in one write (`durable`: synced before it answers). Every operation
    /// checks the ledger's rules before it writes anything but the roll of the tenant's
    /// grants, so a refusal commits only the roll (which is due either way).
    async fn write<R: Send + 'static>(&self, durable: bool, op: Op<R>) -> CreditResult<R> {
        let answer = self
            .db
            .write(durable, move |c| match op(c) {
                Ok(r) => Ok(Ok(r)),
                Err(CreditError::Refused(e)) => Ok(Err(e)),
                Err(CreditError::Store(e)) => Err(e),
            })
            .await?;
        Ok(answer?)
    }
}

#[async_trait]
impl CreditStore for EmbeddedCredits {
    async fn book(&self, tenant: &TenantId, now_ms: u64) -> CreditResult<Book> {
        let t = tenant.to_string();
        let book = self.db.read(move |c| qrow(c, &SELECT_BOOK, params![t], read_book).optional())?;
        let mut book = book.unwrap_or_else(|| Ok(Book::default()))?;
        book.roll(now_ms);
        Ok(book)
    }

    async fn grant(
        &self,
        tenant: &TenantId,
        spec: &GrantSpec,
        audit: &[AuditEvent],
        now_ms: u64,
    ) -> CreditResult<Vec<Transfer>> {
        let (t, spec, audit) = (tenant.to_string(), spec.clone(), audit.to_vec());
        self.write(
            true,
            Box::new(move |c| {
                let mut book = rolled(c, &t, now_ms)?;
                let repeated = book.grants.iter().any(|g| g.spec.id == spec.id);
                let out = book.grant(spec, now_ms)?;
                if !repeated {
                    for tr in &out {
                        insert_transfer(c, &t, tr)?;
                    }
                    store_book(c, &t, &book)?;
                    crate::audit::append_tx(c, &audit)?;
                }
                Ok(out)
            }),
        )
        .await
    }

    async fn reserve(
        &self,
        tenant: &TenantId,
        cause: &Cause,
        amount: Millicredits,
        timeout_ms: u64,
        now_ms: u64,
    ) -> CreditResult<Transfer> {
        check_amount(amount)?;
        let (t, cause) = (tenant.to_string(), cause.clone());
        // Not synced on its own: the log is written in order, so the reservation is on
        // disk by the time anything that settles it (a step's commit) is. A crash that
        // loses it loses the step's commit too, and the step runs again (a new attempt, a
        // new reservation).
        self.write(
            false,
            Box::new(move |c| {
                let (mut book, whole) = for_balances(c, &t, now_ms)?;
                let r = reserve_in(c, &t, &mut book, &cause, amount, timeout_ms, now_ms)?;
                put_book(c, &t, &book, whole)?;
                Ok(r)
            }),
        )
        .await
    }

    async fn settle(
        &self,
        tenant: &TenantId,
        id: &TransferId,
        amount: Millicredits,
        now_ms: u64,
    ) -> CreditResult<Transfer> {
        let (t, id) = (tenant.to_string(), id.clone());
        self.write(true, Box::new(move |c| settle_tx(c, &t, &id, amount, now_ms))).await
    }

    async fn expire_due(&self, tenant: &TenantId, now_ms: u64, limit: u32) -> CreditResult<u32> {
        let t = tenant.to_string();
        self.write(
            true,
            Box::new(move |c| {
                let ids: Vec<String> = {
                    let mut st = c
                    .prepare_cached(
                        "SELECT id FROM credit_transfers WHERE tenant = ?1 AND state = 'pending' AND timeout_ms <= ?2 \
                         ORDER BY timeout_ms LIMIT ?3",
                    )
                    .map_err(|e| backend(&e))?;
                    let rows = st.query_map(params![t, now_ms, limit], |r| r.get(0)).map_err(|e| backend(&e))?;
                    rows.collect::<Result<_, _>>().map_err(|e| backend(&e))?
                };
                let mut book = rolled(c, &t, now_ms)?;
                for id in &ids {
                    let mut pending =
                        load_transfer(c, &t, id)?.ok_or_else(|| LedgerError::Unknown(TransferId(id.clone())))?;
                    resolve(c, &t, &mut book, &mut pending, Millicredits::ZERO, TransferKind::Expire, now_ms)?;
                }
                store_book(c, &t, &book)?;
                Ok(u32::try_from(ids.len()).unwrap_or(u32::MAX))
            }),
        )
        .await
    }

    async fn set_suspended(&self, tenant: &TenantId, suspended: bool, audit: &[AuditEvent]) -> CreditResult<()> {
        let (t, audit) = (tenant.to_string(), audit.to_vec());
        self.write(
            true,
            Box::new(move |c| {
                let mut book = load_book(c, &t)?;
                if book.suspended != suspended {
                    book.suspended = suspended;
                    store_book(c, &t, &book)?;
                    crate::audit::append_tx(c, &audit)?;
                }
                Ok(())
            }),
        )
        .await
    }

    async fn transfer(&self, tenant: &TenantId, id: &TransferId) -> CreditResult<Option<Transfer>> {
        let (t, id) = (tenant.to_string(), id.clone());
        let found = self.db.read(move |c| {
            qrow(
                c,
                "SELECT body, state FROM credit_transfers WHERE tenant = ?1 AND id = ?2",
                params![t, id.as_str()],
                |r| read_transfer(r, 0),
            )
            .optional()
        })?;
        Ok(found.transpose()?)
    }

    async fn transfers(&self, tenant: &TenantId, after: Option<&str>, limit: u32) -> CreditResult<TransferPage> {
        let t = tenant.to_string();
        let after: i64 = after.map_or(Ok(0), str::parse).map_err(|_| StoreError::Conflict("bad page cursor".into()))?;
        let limit = limit.clamp(1, 1000);
        let mut rows: Vec<(i64, Result<Transfer, StoreError>)> = self.db.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT seq, body, state FROM credit_transfers WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = st.query_map(params![t, after, limit + 1], |r| Ok((r.get(0)?, read_transfer(r, 1)?)))?;
            rows.collect()
        })?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more { rows.last().map(|(s, _)| s.to_string()) } else { None };
        let transfers = rows.into_iter().map(|(_, t)| t).collect::<Result<_, _>>()?;
        Ok(TransferPage { transfers, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Durability;
    use aos_core::credits::GrantKind;

    #[tokio::test]
    async fn a_book_written_before_the_hot_columns_opens_with_its_balances_and_grants() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tenant = TenantId::parse("ten_old").expect("tenant");
        let mut book = Book::default();
        let spec = GrantSpec {
            id: "g1".into(),
            kind: GrantKind::Paid,
            amount: Millicredits(50_000),
            effective_ms: 0,
            expires_ms: Some(10_000_000),
            priority: 0,
        };
        book.grant(spec, 1_000).expect("grant");
        let cause = Cause { run: "run_1".into(), step: 0, attempt: 0 };
        book.reserve(cause, Millicredits(7_000), 9_000, 1_000).expect("reserve");
        // The layout before the hot columns: the whole book as JSON.
        {
            let c = Connection::open(dir.path().join("aos.db")).expect("open");
            c.execute_batch("CREATE TABLE credit_books (tenant TEXT PRIMARY KEY, book TEXT NOT NULL) WITHOUT ROWID;")
                .expect("old table");
            c.execute(
                "INSERT INTO credit_books (tenant, book) VALUES (?1, ?2)",
                params![tenant.as_str(), serde_json::to_string(&book).expect("json")],
            )
            .expect("old row");
        }
        let db = Db::open(dir.path(), Durability::Full).expect("open and migrate");
        let credits = EmbeddedCredits::new(db);
        let read = credits.book(&tenant, 1_000).await.expect("book");
        assert_eq!(read, book);
        assert_eq!(read.reserved(), Millicredits(7_000));
        assert_eq!(read.available(), Millicredits(43_000));
        // And it goes on: a step's reservation on the migrated book changes its balances only.
        let more = Cause { run: "run_1".into(), step: 1, attempt: 0 };
        credits.reserve(&tenant, &more, Millicredits(3_000), 9_000, 2_000).await.expect("reserve");
        let after = credits.book(&tenant, 2_000).await.expect("book");
        assert_eq!(after.available(), Millicredits(40_000));
        assert_eq!(after.grants, book.grants);
    }
}
