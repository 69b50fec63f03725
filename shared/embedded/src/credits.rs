//! The credit ledger in the embedded database: one book per tenant (its accounts and
//! grants, as JSON) and one row per transfer, changed together in one transaction by
//! the rules of [`Book`].

use crate::db::{backend, exec, qrow, Db};
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

fn corrupt(e: &serde_json::Error) -> StoreError {
    StoreError::Backend(format!("corrupt ledger record: {e}"))
}

fn load_book(c: &Connection, tenant: &str) -> Result<Book, StoreError> {
    let body: Option<String> =
        qrow(c, "SELECT book FROM credit_books WHERE tenant = ?1", params![tenant], |r| r.get(0))
            .optional()
            .map_err(|e| backend(&e))?;
    body.map_or(Ok(Book::default()), |b| serde_json::from_str(&b).map_err(|e| corrupt(&e)))
}

fn store_book(c: &Connection, tenant: &str, book: &Book) -> Result<(), StoreError> {
    let body = serde_json::to_string(book).map_err(|e| corrupt(&e))?;
    exec(
        c,
        "INSERT INTO credit_books (tenant, book) VALUES (?1, ?2) ON CONFLICT (tenant) DO UPDATE SET book = ?2",
        params![tenant, body],
    )
    .map_err(|e| backend(&e))?;
    Ok(())
}

fn load_transfer(c: &Connection, tenant: &str, id: &str) -> Result<Option<Transfer>, StoreError> {
    let body: Option<String> =
        qrow(c, "SELECT body FROM credit_transfers WHERE tenant = ?1 AND id = ?2", params![tenant, id], |r| r.get(0))
            .optional()
            .map_err(|e| backend(&e))?;
    body.map(|b| serde_json::from_str(&b).map_err(|e| corrupt(&e))).transpose()
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

fn update_pending(c: &Connection, tenant: &str, t: &Transfer) -> Result<(), StoreError> {
    let body = serde_json::to_string(t).map_err(|e| corrupt(&e))?;
    exec(
        c,
        "UPDATE credit_transfers SET state = ?3, body = ?4 WHERE tenant = ?1 AND id = ?2",
        params![tenant, t.id.as_str(), t.state.map(PendingState::as_str), body],
    )
    .map_err(|e| backend(&e))?;
    Ok(())
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
    let mut book = rolled(c, tenant, now_ms)?;
    let t = settle_in(c, tenant, &mut book, id, amount, now_ms)?;
    store_book(c, tenant, &book)?;
    Ok(t)
}

/// Settles `pending` as the step holds it (as it was reserved) for `amount` against
/// `book`, without reading it first: its row leaves `pending` only while it still is
/// pending. One resolved meanwhile (it expired) takes the reading path, which answers
/// repeats.
fn settle_held(
    c: &Connection,
    tenant: &str,
    book: &mut Book,
    pending: &Transfer,
    amount: Millicredits,
    now_ms: u64,
) -> CreditResult<Transfer> {
    if pending.state == Some(PendingState::Pending) {
        let (mut resolved, mut after) = (pending.clone(), book.clone());
        let t = match resolution(amount) {
            TransferKind::Post => after.settle(&mut resolved, amount, now_ms)?,
            _ => after.void(&mut resolved, now_ms)?,
        };
        let body = serde_json::to_string(&resolved).map_err(|e| corrupt(&e))?;
        let moved = exec(
            c,
            "UPDATE credit_transfers SET state = ?3, body = ?4 WHERE tenant = ?1 AND id = ?2 AND state = 'pending'",
            params![tenant, pending.id.as_str(), resolved.state.map(PendingState::as_str), body],
        )
        .map_err(|e| backend(&e))?;
        if moved == 1 {
            insert_transfer(c, tenant, &t)?;
            *book = after;
            return Ok(t);
        }
    }
    settle_in(c, tenant, book, &pending.id, amount, now_ms)
}

/// Reserves for `ahead` (a reservation as the worker made it) against `book` without
/// reading first: the rules are checked, then the row is put unless it exists (then
/// nothing changes and the first is answered).
fn reserve_held(
    c: &Connection,
    tenant: &str,
    book: &mut Book,
    ahead: &Transfer,
    now_ms: u64,
) -> CreditResult<Transfer> {
    let (Some(cause), Some(timeout)) = (ahead.cause.as_ref(), ahead.timeout_ms) else {
        return Err(LedgerError::Unknown(ahead.id.clone()).into());
    };
    let mut after = book.clone();
    let r = after.reserve(cause.clone(), ahead.amount, timeout, now_ms)?;
    let body = serde_json::to_string(&r).map_err(|e| corrupt(&e))?;
    let put = exec(
        c,
        "INSERT INTO credit_transfers (tenant, id, state, timeout_ms, body) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (tenant, id) DO NOTHING",
        params![tenant, r.id.as_str(), r.state.map(PendingState::as_str), r.timeout_ms, body],
    )
    .map_err(|e| backend(&e))?;
    if put == 1 {
        *book = after;
        return Ok(r);
    }
    load_transfer(c, tenant, r.id.as_str())?.ok_or_else(|| LedgerError::Unknown(r.id.clone()).into())
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
    let mut book = rolled(c, tenant, now_ms)?;
    if let Some((pending, amount)) = settle {
        match settle_held(c, tenant, &mut book, pending, amount, now_ms) {
            Ok(_) => {}
            Err(CreditError::Refused(e)) => {
                tracing::warn!(tenant, reservation = pending.id.as_str(), error = %e, "a step's reservation could not be settled");
            }
            Err(CreditError::Store(e)) => return Err(e),
        }
    }
    let made = match ahead.map(|a| reserve_held(c, tenant, &mut book, a, now_ms)) {
        Some(Ok(r)) => Some(r).filter(|r| r.state == Some(PendingState::Pending)),
        // Refused (too few credits, a suspended tenant): the step's own budget stage
        // reserves and says why.
        Some(Err(CreditError::Refused(_))) | None => None,
        Some(Err(CreditError::Store(e))) => return Err(e),
    };
    store_book(c, tenant, &book)?;
    Ok(made)
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
        let body: Option<String> = self.db.read(move |c| {
            qrow(c, "SELECT book FROM credit_books WHERE tenant = ?1", params![t], |r| r.get(0)).optional()
        })?;
        let mut book =
            body.map_or(Ok(Book::default()), |b| serde_json::from_str::<Book>(&b).map_err(|e| corrupt(&e)))?;
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
                let mut book = rolled(c, &t, now_ms)?;
                let r = reserve_in(c, &t, &mut book, &cause, amount, timeout_ms, now_ms)?;
                store_book(c, &t, &book)?;
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
        let body: Option<String> = self.db.read(move |c| {
            qrow(c, "SELECT body FROM credit_transfers WHERE tenant = ?1 AND id = ?2", params![t, id.as_str()], |r| {
                r.get(0)
            })
            .optional()
        })?;
        Ok(body.map(|b| serde_json::from_str(&b).map_err(|e| corrupt(&e))).transpose()?)
    }

    async fn transfers(&self, tenant: &TenantId, after: Option<&str>, limit: u32) -> CreditResult<TransferPage> {
        let t = tenant.to_string();
        let after: i64 = after.map_or(Ok(0), str::parse).map_err(|_| StoreError::Conflict("bad page cursor".into()))?;
        let limit = limit.clamp(1, 1000);
        let rows: Vec<(i64, String)> = self.db.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT seq, body FROM credit_transfers WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = st.query_map(params![t, after, limit + 1], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        let transfers =
            rows.iter().map(|(_, b)| serde_json::from_str(b).map_err(|e| corrupt(&e))).collect::<Result<_, _>>()?;
        Ok(TransferPage { transfers, next: if more { rows.last().map(|(s, _)| s.to_string()) } else { None } })
    }
}
