//! The credit ledger in the embedded database: one book per tenant and one row per
//! transfer (stored as `records` says), changed together in one transaction by the rules
//! of [`Book`]: the step path (`step_tx`, inside a step's commit) and the operations of
//! [`CreditStore`].

mod records;

use records::{
    insert_new, insert_transfer, load_book, load_hot, load_transfer, read_book, read_transfer, store_book, store_hot,
    update_pending, SELECT_BOOK,
};
pub(crate) use records::{migrate_books, HOT};

use crate::db::{backend, qrow, Db};
use aos_core::audit::AuditEvent;
use aos_core::credits::{
    check_amount, repeated_settle, resolution, Book, Cause, GrantSpec, LedgerError, Millicredits, PendingState,
    Transfer, TransferId, TransferKind,
};
use aos_core::TenantId;
use aos_runtime::ports::{CreditError, CreditResult, CreditStore, StoreError, TransferPage};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;

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
    if !update_pending(c, tenant, pending)? {
        return Err(StoreError::Conflict(format!("reservation {} was resolved meanwhile", pending.id)).into());
    }
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
        if update_pending(c, tenant, &resolved)? {
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
    let put = insert_new(c, tenant, &to_write)?;
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
mod tests;
