//! The credit ledger in DynamoDB. A tenant's ledger is the partition
//! `TENANT#t#CREDITS`: its book `BOOK` and one item per transfer `XFER#<id>`.
//!
//! The book keeps each account's four sums as number attributes (`a<account>_<sum>`),
//! the tenant's available credits (`avail`), the next time a grant becomes effective or
//! expires (`nextc`), whether it is suspended (`susp`), its grants as JSON (`grants`)
//! and a version (`ver`) that every write adds one to.
//!
//! Reserve and settle are one `TransactWriteItems` each, with the ledger's rules as
//! conditions, and read nothing first when the step knows its reservation: a reserve
//! puts the reservation under `attribute_not_exists` and updates the book with `ADD`
//! under `avail >= :amount AND nextc > :now AND susp = false`; a settle moves the
//! reservation out of `pending` under `state = pending`, puts its post (or void, or
//! expiry) and adds to the book's sums under `nextc > :now`. On the per-step path both
//! ride in the step's commit: it settles the step's reservation and reserves the next
//! step's, with one `ADD` to the book under both conditions ([`DynamoCredits::step_items`]).
//! A failed condition is read item by item: the transfer exists (a repeat: the first
//! answer), the grants are due a roll (read, roll, write under the version, send again),
//! or the rule refuses (the book read to say why).
//!
//! Grants, rolls and suspensions rewrite the book under its version. Pending
//! reservations are in the `ends` index (`gsi2pk = TENANT#t#PENDING`, `gsi2sk =
//! <timeout ms>#<id>`) until they resolve; every transfer is in `gsi1` (`gsi1pk =
//! TENANT#t#LEDGER`, `gsi1sk = <written ms>#<id>`) for the paged ledger.

use crate::dynamo::{ends_before, get_n, get_s, n, s, sdk_err, Item};
use crate::txn::{transact, Txn};
use aos_core::audit::AuditEvent;
use aos_core::credits::{
    account_index, check_amount, repeated_settle, reservation, resolution, Account, Balance, Book, Cause, Grant,
    GrantSpec, LedgerError, Millicredits, PendingState, Transfer, TransferId, TransferKind,
};
use aos_core::TenantId;
use aos_runtime::ports::{CreditError, CreditResult, CreditStore, StoreError, StoreResult, TransferPage};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

/// Rounds of "condition failed, look, send again" before an operation gives up.
const ROUNDS: u32 = 32;

/// The credit ledger in the AOS table.
pub struct DynamoCredits {
    client: Client,
    table: String,
}

impl DynamoCredits {
    /// The ledger over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn pk(tenant: &str) -> String {
    format!("TENANT#{tenant}#CREDITS")
}

fn xfer_sk(id: &str) -> String {
    format!("XFER#{id}")
}

const SUMS: [&str; 4] = ["dp", "cp", "dq", "cq"];

/// The attribute of `account`'s sum `sum` (one of [`SUMS`]).
fn sum_attr(account: Account, sum: &str) -> String {
    format!("a{}_{sum}", account_index(account))
}

fn sums(b: &Balance) -> [u64; 4] {
    [b.debits_posted.0, b.credits_posted.0, b.debits_pending.0, b.credits_pending.0]
}

/// What of a book is not a number attribute.
#[derive(Serialize, Deserialize, Default)]
struct Rest {
    grants: Vec<Grant>,
    allocated: Millicredits,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("corrupt ledger record: {what}"))
}

/// A book and the version it was read at (0: none stored).
fn parse_book(item: &Item) -> StoreResult<(Book, u64)> {
    let mut book = Book::default();
    for a in Account::ALL {
        let b = &mut book.balances[account_index(a)];
        let v: Vec<u64> = SUMS.iter().map(|x| get_n(item, &sum_attr(a, x))).collect::<StoreResult<_>>()?;
        b.debits_posted = Millicredits(v[0]);
        b.credits_posted = Millicredits(v[1]);
        b.debits_pending = Millicredits(v[2]);
        b.credits_pending = Millicredits(v[3]);
    }
    let rest: Rest = serde_json::from_str(get_s(item, "grants")?).map_err(corrupt)?;
    book.grants = rest.grants;
    book.allocated = rest.allocated;
    book.suspended = matches!(item.get("susp"), Some(AttributeValue::Bool(true)));
    Ok((book, get_n(item, "ver")?))
}

fn parse_transfer(item: &Item) -> StoreResult<Transfer> {
    serde_json::from_str(get_s(item, "body")?).map_err(corrupt)
}

fn txn_item(b: Result<impl Into<Op>, aws_sdk_dynamodb::error::BuildError>) -> StoreResult<TransactWriteItem> {
    Ok(match b.map_err(sdk_err)?.into() {
        Op::Put(p) => TransactWriteItem::builder().put(p).build(),
        Op::Update(u) => TransactWriteItem::builder().update(u).build(),
    })
}

enum Op {
    Put(Put),
    Update(Update),
}

impl From<Put> for Op {
    fn from(p: Put) -> Self {
        Self::Put(p)
    }
}

impl From<Update> for Op {
    fn from(u: Update) -> Self {
        Self::Update(u)
    }
}

/// How a step's ledger write changes the book: a reservation released and `posted` of
/// it posted from credits to spent, and `reserved` reserved anew.
#[derive(Default)]
struct Delta {
    released: u64,
    posted: u64,
    reserved: u64,
}

impl DynamoCredits {
    async fn get(&self, tenant: &str, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk(tenant)))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item)
    }

    async fn load(&self, tenant: &str) -> StoreResult<(Book, u64)> {
        self.get(tenant, "BOOK").await?.map_or(Ok((Book::default(), 0)), |i| parse_book(&i))
    }

    async fn load_transfer(&self, tenant: &str, id: &str) -> StoreResult<Option<Transfer>> {
        self.get(tenant, &xfer_sk(id)).await?.as_ref().map(parse_transfer).transpose()
    }

    /// A put of a new transfer (it must not exist), in the ledger index and, pending,
    /// in the index of due reservations.
    fn put_transfer(&self, tenant: &str, t: &Transfer) -> StoreResult<TransactWriteItem> {
        let body = serde_json::to_string(t).map_err(corrupt)?;
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(pk(tenant)))
            .item("sk", s(xfer_sk(t.id.as_str())))
            .item("body", s(body))
            .item("gsi1pk", s(format!("TENANT#{tenant}#LEDGER")))
            .item("gsi1sk", s(format!("{:013}#{}", t.at_ms, t.id)))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(state) = t.state {
            put = put.item("state", s(state.as_str()));
            if state == PendingState::Pending {
                put = put
                    .item("gsi2pk", s(format!("TENANT#{tenant}#PENDING")))
                    .item("gsi2sk", s(format!("{:013}#{}", t.timeout_ms.unwrap_or(0), t.id)));
            }
        }
        txn_item(put.build())
    }

    /// A put of the whole book at version `ver + 1`, over version `ver` (0: none).
    fn put_book(&self, tenant: &str, book: &Book, ver: u64) -> StoreResult<TransactWriteItem> {
        let rest = Rest { grants: book.grants.clone(), allocated: book.allocated };
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(pk(tenant)))
            .item("sk", s("BOOK"))
            .item("avail", n(book.available().0))
            .item("nextc", n(book.next_change_ms()))
            .item("susp", AttributeValue::Bool(book.suspended))
            .item("grants", s(serde_json::to_string(&rest).map_err(corrupt)?))
            .item("ver", n(ver + 1));
        for a in Account::ALL {
            for (name, v) in SUMS.iter().zip(sums(&book.balance(a))) {
                put = put.item(sum_attr(a, name), n(v));
            }
        }
        let put = if ver == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("ver = :ver").expression_attribute_values(":ver", n(ver))
        };
        txn_item(put.build())
    }

    /// Rolls the tenant's grants to `now_ms` when due, under the book's version. True when
    /// it wrote (or another writer moved the book meanwhile: look again).
    async fn roll(&self, tenant: &str, now_ms: u64) -> StoreResult<bool> {
        let (mut book, ver) = self.load(tenant).await?;
        if book.next_change_ms() > now_ms {
            return Ok(false);
        }
        let mut items = Vec::new();
        for t in book.roll(now_ms) {
            items.push(self.put_transfer(tenant, &t)?);
        }
        items.insert(0, self.put_book(tenant, &book, ver)?);
        match transact(&self.client, items).await? {
            Txn::Committed => Ok(true),
            Txn::ConditionFailed(r) if r.first() == Some(&crate::txn::Reason::ConditionFailed) => Ok(true),
            Txn::ConditionFailed(r) => Err(corrupt(format!("a roll's transfer exists already: {r:?}"))),
        }
    }

    /// Writes a book change under its version: `change` applied to the book as read
    /// (rolled to `now_ms`), its transfers put, `audit` appended; again when another
    /// writer moved the book. `change` answering `None` writes nothing.
    async fn rewrite<R>(
        &self,
        tenant: &str,
        now_ms: u64,
        audit: &[AuditEvent],
        mut change: impl FnMut(&mut Book) -> Result<Option<(R, Vec<Transfer>)>, LedgerError>,
    ) -> CreditResult<Option<R>> {
        for _ in 0..ROUNDS {
            let (mut book, ver) = self.load(tenant).await?;
            let mut transfers = book.roll(now_ms);
            let Some((answer, more)) = change(&mut book)? else { return Ok(None) };
            transfers.extend(more);
            let mut items = vec![self.put_book(tenant, &book, ver)?];
            for t in &transfers {
                items.push(self.put_transfer(tenant, t)?);
            }
            match crate::audit::transact_audited(&self.client, &self.table, items, audit).await?.0 {
                Txn::Committed => return Ok(Some(answer)),
                Txn::ConditionFailed(r) if r.first() == Some(&crate::txn::Reason::ConditionFailed) => {}
                Txn::ConditionFailed(r) => {
                    return Err(corrupt(format!("a ledger transfer exists already: {r:?}")).into());
                }
            }
        }
        Err(StoreError::Conflict(format!("the ledger of {tenant} kept moving over {ROUNDS} rounds")).into())
    }

    /// Resolves `pending` (read as pending) into `kind` with `amount`: one transaction
    /// (see the module), again after a roll. Answers the resolving transfer, or the
    /// first resolution when another writer resolved it meanwhile.
    async fn resolve(
        &self,
        tenant: &str,
        pending: &Transfer,
        amount: Millicredits,
        kind: TransferKind,
        now_ms: u64,
    ) -> CreditResult<Transfer> {
        for _ in 0..ROUNDS {
            let (t, items) = self.resolution_items(tenant, pending, amount, kind, now_ms)?;
            match transact(&self.client, items).await? {
                Txn::Committed => return Ok(t),
                txn if txn.failed(0) || txn.failed(1) => {
                    let first = self.load_transfer(tenant, t.id.as_str()).await?;
                    if let Some(first) = first.filter(|f| *f == t) {
                        return Ok(first);
                    }
                    return self.first_resolution(tenant, pending.id.clone(), amount).await;
                }
                _ => {
                    self.roll(tenant, now_ms).await?;
                }
            }
        }
        Err(StoreError::Conflict(format!("the ledger of {tenant} kept rolling over {ROUNDS} rounds")).into())
    }

    /// The writes that resolve `pending` (read as pending) into `kind` with `amount`, and
    /// the resolving transfer (see [`Self::step_items`]).
    pub(crate) fn resolution_items(
        &self,
        tenant: &str,
        pending: &Transfer,
        amount: Millicredits,
        kind: TransferKind,
        now_ms: u64,
    ) -> CreditResult<(Transfer, Vec<TransactWriteItem>)> {
        let (t, items) = self.step_items(tenant, Some((pending, amount, kind)), None, now_ms)?;
        Ok((t.expect("a resolution was asked for"), items))
    }

    /// A step's ledger writes, each conditional (see the module), for one transaction:
    /// `settle` — `pending` (read as pending) resolved into its kind with its amount: the
    /// reservation moved out of `pending` and the resolution put — then `ahead`, a new
    /// reservation put, and last one update of the book's sums for both (under
    /// `nextc > :now`, and with a reservation under `avail` covering it after the
    /// settle and `susp = false`). Answers the resolving transfer.
    pub(crate) fn step_items(
        &self,
        tenant: &str,
        settle: Option<(&Transfer, Millicredits, TransferKind)>,
        ahead: Option<&Transfer>,
        now_ms: u64,
    ) -> CreditResult<(Option<Transfer>, Vec<TransactWriteItem>)> {
        let mut items = Vec::with_capacity(4);
        let mut delta = Delta::default();
        let mut resolving = None;
        if let Some((pending, amount, kind)) = settle {
            let mut resolved = pending.clone();
            let mut scratch = Book::default();
            let t = match kind {
                TransferKind::Post => scratch.settle(&mut resolved, amount, now_ms)?,
                TransferKind::Expire => scratch.expire(&mut resolved, now_ms)?,
                _ => scratch.void(&mut resolved, now_ms)?,
            };
            delta.released = pending.amount.0;
            delta.posted = if kind == TransferKind::Post { amount.0 } else { 0 };
            let body = serde_json::to_string(&resolved).map_err(corrupt)?;
            let state = resolved.state.map_or("", PendingState::as_str);
            let mark = Update::builder()
                .table_name(&self.table)
                .key("pk", s(pk(tenant)))
                .key("sk", s(xfer_sk(pending.id.as_str())))
                .update_expression("SET #st = :state, body = :body REMOVE gsi2pk, gsi2sk")
                .condition_expression("#st = :pending")
                .expression_attribute_names("#st", "state")
                .expression_attribute_values(":state", s(state))
                .expression_attribute_values(":body", s(body))
                .expression_attribute_values(":pending", s(PendingState::Pending.as_str()));
            items.push(txn_item(mark.build())?);
            items.push(self.put_transfer(tenant, &t)?);
            resolving = Some(t);
        }
        if let Some(r) = ahead {
            check_amount(r.amount)?;
            delta.reserved = r.amount.0;
            items.push(self.put_transfer(tenant, r)?);
        }
        items.push(self.book_delta(tenant, &delta, now_ms)?);
        Ok((resolving, items))
    }

    /// The blind update of the book's sums by `delta`, valid while no grant event is due
    /// and, with a reservation, while the credits available after the release cover it
    /// and the tenant is not suspended.
    fn book_delta(&self, tenant: &str, d: &Delta, now_ms: u64) -> StoreResult<TransactWriteItem> {
        let num = |v: i128| AttributeValue::N(v.to_string());
        let (released, posted, reserved) = (i128::from(d.released), i128::from(d.posted), i128::from(d.reserved));
        let mut up = Update::builder()
            .table_name(&self.table)
            .key("pk", s(pk(tenant)))
            .key("sk", s("BOOK"))
            .update_expression(format!(
                "ADD {cdp} :posted, {scp} :posted, {cdq} :pending, {scq} :pending, avail :avail, ver :one",
                cdp = sum_attr(Account::Credits, "dp"),
                scp = sum_attr(Account::Spent, "cp"),
                cdq = sum_attr(Account::Credits, "dq"),
                scq = sum_attr(Account::Spent, "cq"),
            ))
            .expression_attribute_values(":posted", num(posted))
            .expression_attribute_values(":pending", num(reserved - released))
            .expression_attribute_values(":avail", num(released - posted - reserved))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now_ms));
        up = if d.reserved > 0 {
            up.condition_expression("nextc > :now AND avail >= :need AND susp = :no")
                .expression_attribute_values(":need", num(reserved - (released - posted)))
                .expression_attribute_values(":no", AttributeValue::Bool(false))
        } else {
            up.condition_expression("nextc > :now")
        };
        txn_item(up.build())
    }

    /// The answer to a settle of `id` for `amount` that found it resolved.
    async fn first_resolution(&self, tenant: &str, id: TransferId, amount: Millicredits) -> CreditResult<Transfer> {
        let pending = self.load_transfer(tenant, id.as_str()).await?.ok_or_else(|| LedgerError::Unknown(id.clone()))?;
        let mut first = None;
        for k in [TransferKind::Post, TransferKind::Void, TransferKind::Expire] {
            if let Some(t) = self.load_transfer(tenant, TransferId::following(&id, k).as_str()).await? {
                first = Some(t);
                break;
            }
        }
        Ok(repeated_settle(&pending, first, amount)?)
    }
}

#[async_trait]
impl CreditStore for DynamoCredits {
    async fn book(&self, tenant: &TenantId, now_ms: u64) -> CreditResult<Book> {
        let (mut book, _) = self.load(tenant.as_str()).await?;
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
        let answer = self
            .rewrite(tenant.as_str(), now_ms, audit, |book| {
                if book.grants.iter().any(|g| g.spec.id == spec.id) {
                    // A repeat (or an id taken): the rules answer, nothing is written.
                    return book.grant(spec.clone(), now_ms).map(|_| None);
                }
                let out = book.grant(spec.clone(), now_ms)?;
                Ok(Some((out.clone(), out)))
            })
            .await?;
        Ok(answer.unwrap_or_default())
    }

    async fn reserve(
        &self,
        tenant: &TenantId,
        cause: &Cause,
        amount: Millicredits,
        timeout_ms: u64,
        now_ms: u64,
    ) -> CreditResult<Transfer> {
        let t = tenant.as_str();
        check_amount(amount)?;
        let r = reservation(cause.clone(), amount, timeout_ms, now_ms);
        for _ in 0..ROUNDS {
            let (_, items) = self.step_items(t, None, Some(&r), now_ms)?;
            match transact(&self.client, items).await? {
                Txn::Committed => return Ok(r),
                txn if txn.failed(0) => {
                    return self.load_transfer(t, r.id.as_str()).await?.ok_or_else(|| {
                        corrupt(format!("reservation {} refused as a repeat but not found", r.id)).into()
                    });
                }
                _ => {
                    if self.roll(t, now_ms).await? {
                        continue;
                    }
                    // A repeat whose book also failed its condition (a suspended tenant).
                    if let Some(first) = self.load_transfer(t, r.id.as_str()).await? {
                        return Ok(first);
                    }
                    // No roll was due: the rules refuse it, or the book moved meanwhile.
                    let (mut book, _) = self.load(t).await?;
                    book.reserve(cause.clone(), amount, timeout_ms, now_ms)?;
                }
            }
        }
        Err(StoreError::Conflict(format!("the ledger of {t} kept moving over {ROUNDS} rounds")).into())
    }

    async fn settle(
        &self,
        tenant: &TenantId,
        id: &TransferId,
        amount: Millicredits,
        now_ms: u64,
    ) -> CreditResult<Transfer> {
        let t = tenant.as_str();
        let pending = self.load_transfer(t, id.as_str()).await?.ok_or_else(|| LedgerError::Unknown(id.clone()))?;
        if pending.kind != TransferKind::Reserve {
            return Err(LedgerError::Unknown(id.clone()).into());
        }
        if pending.state != Some(PendingState::Pending) {
            return self.first_resolution(t, id.clone(), amount).await;
        }
        self.resolve(t, &pending, amount, resolution(amount), now_ms).await
    }

    async fn expire_due(&self, tenant: &TenantId, now_ms: u64, limit: u32) -> CreditResult<u32> {
        let t = tenant.as_str();
        let due =
            ends_before(&self.client, &self.table, format!("TENANT#{t}#PENDING"), now_ms.saturating_add(1), limit)
                .await?;
        let mut expired = 0;
        for (_, id) in due {
            let Some(pending) = self.load_transfer(t, &id).await? else { continue };
            if pending.state != Some(PendingState::Pending) {
                continue;
            }
            match self.resolve(t, &pending, Millicredits::ZERO, TransferKind::Expire, now_ms).await {
                Ok(e) if e.kind == TransferKind::Expire => expired += 1,
                // Settled or voided meanwhile: nothing of it is due any more.
                Ok(_) | Err(CreditError::Refused(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    async fn set_suspended(&self, tenant: &TenantId, suspended: bool, audit: &[AuditEvent]) -> CreditResult<()> {
        self.rewrite(tenant.as_str(), 0, audit, |book| {
            if book.suspended == suspended {
                return Ok(None);
            }
            book.suspended = suspended;
            Ok(Some(((), Vec::new())))
        })
        .await?;
        Ok(())
    }

    async fn transfer(&self, tenant: &TenantId, id: &TransferId) -> CreditResult<Option<Transfer>> {
        Ok(self.load_transfer(tenant.as_str(), id.as_str()).await?)
    }

    async fn transfers(&self, tenant: &TenantId, after: Option<&str>, limit: u32) -> CreditResult<TransferPage> {
        let limit = limit.clamp(1, 1000);
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .expression_attribute_values(":pk", s(format!("TENANT#{tenant}#LEDGER")))
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX));
        q = match after {
            Some(a) => q
                .key_condition_expression("gsi1pk = :pk AND gsi1sk > :after")
                .expression_attribute_values(":after", s(a)),
            None => q.key_condition_expression("gsi1pk = :pk"),
        };
        let mut items = q.send().await.map_err(sdk_err)?.items.unwrap_or_default();
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let transfers = items.iter().map(parse_transfer).collect::<StoreResult<Vec<_>>>()?;
        let next = match items.last() {
            Some(last) if more => Some(get_s(last, "gsi1sk")?.to_owned()),
            _ => None,
        };
        Ok(TransferPage { transfers, next })
    }
}
