//! The audit log in DynamoDB: `TENANT#t#AUDIT` / `SEQ#<seq, 20 digits>`, one item per
//! entry, never updated, and the head `TENANT#t#AUDIT` / `HEAD` (the last seq and hash).
//!
//! An entry goes in with the change it records, in one `TransactWriteItems`: the change's
//! items, a put of each new entry (it must not exist) and a put of the head conditioned on
//! the head the entries were chained to. A head that moved meanwhile (another append)
//! cancels the transaction on its own condition: the entries are chained again to the new
//! head and the whole write sent again. A failed condition of the change's own items is
//! the caller's answer, with nothing written.

use crate::dynamo::{get_n, get_s, n, s, sdk_err};
use crate::txn::{transact, Reason, Txn};
use aos_core::audit::{AuditEntry, AuditEvent};
use aos_core::TenantId;
use aos_runtime::ports::{AuditStore, StoreError, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

/// Placings of one write before a head that keeps moving counts as a failure.
const PLACINGS: u32 = 16;

fn audit_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}#AUDIT")
}

fn entry_sk(seq: u64) -> String {
    format!("SEQ#{seq:020}")
}

/// The tenant's last seq and hash (a strongly consistent read).
async fn head(client: &Client, table: &str, tenant: &TenantId) -> StoreResult<Option<(u64, String)>> {
    let out = client
        .get_item()
        .table_name(table)
        .key("pk", s(audit_pk(tenant.as_str())))
        .key("sk", s("HEAD"))
        .consistent_read(true)
        .send()
        .await
        .map_err(sdk_err)?;
    match out.item {
        None => Ok(None),
        Some(item) => Ok(Some((get_n(&item, "seq")?, get_s(&item, "hash")?.to_owned()))),
    }
}

/// The items that append `entries` after `head`.
fn audit_items(
    table: &str,
    head: Option<&(u64, String)>,
    entries: &[AuditEntry],
) -> StoreResult<Vec<TransactWriteItem>> {
    let bad = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend(e.to_string());
    let mut items = Vec::with_capacity(entries.len() + 1);
    for e in entries {
        let body = serde_json::to_string(e).map_err(|e| StoreError::Backend(e.to_string()))?;
        let put = Put::builder()
            .table_name(table)
            .item("pk", s(audit_pk(e.event.tenant.as_str())))
            .item("sk", s(entry_sk(e.seq)))
            .item("body", s(body))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(bad)?;
        items.push(TransactWriteItem::builder().put(put).build());
    }
    let last = entries.last().expect("entries to append");
    let put = Put::builder()
        .table_name(table)
        .item("pk", s(audit_pk(last.event.tenant.as_str())))
        .item("sk", s("HEAD"))
        .item("seq", n(last.seq))
        .item("hash", s(&last.hash));
    let put = match head {
        None => put.condition_expression("attribute_not_exists(pk)"),
        Some((seq, _)) => put.condition_expression("seq = :seq").expression_attribute_values(":seq", n(*seq)),
    };
    items.push(TransactWriteItem::builder().put(put.build().map_err(bad)?).build());
    Ok(items)
}

/// Writes `items` and appends `events` (all of one tenant) in one transaction (see the
/// module). Without events it is [`transact`]. A failed condition is reported for the
/// caller's items only, in their order; committed, the entries as placed.
pub(crate) async fn transact_audited(
    client: &Client,
    table: &str,
    items: Vec<TransactWriteItem>,
    events: &[AuditEvent],
) -> StoreResult<(Txn, Vec<AuditEntry>)> {
    let Some(first) = events.first() else { return Ok((transact(client, items).await?, Vec::new())) };
    if events.iter().any(|e| e.tenant != first.tenant) {
        return Err(StoreError::Backend("one write appends to one tenant's audit log".to_owned()));
    }
    let own = items.len();
    for _ in 0..PLACINGS {
        let head = head(client, table, &first.tenant).await?;
        let entries = AuditEntry::chain(head.as_ref().map(|(seq, hash)| (*seq, hash.as_str())), events.iter().cloned());
        let mut all = items.clone();
        all.extend(audit_items(table, head.as_ref(), &entries)?);
        match transact(client, all).await? {
            Txn::Committed => return Ok((Txn::Committed, entries)),
            Txn::ConditionFailed(reasons) => {
                if reasons.iter().take(own).any(|r| *r == Reason::ConditionFailed) {
                    return Ok((Txn::ConditionFailed(reasons.into_iter().take(own).collect()), Vec::new()));
                }
                // The head moved (another append got there first): place them again.
            }
        }
    }
    Err(StoreError::Backend(format!(
        "the audit log of {} kept moving over {PLACINGS} placings; nothing was written",
        first.tenant
    )))
}

/// The audit log in the AOS table.
pub struct DynamoAudit {
    client: Client,
    table: String,
}

impl DynamoAudit {
    /// The store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    async fn query(
        &self,
        tenant: &TenantId,
        lo: u64,
        hi: u64,
        forward: bool,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        if lo > hi {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(audit_pk(tenant.as_str())))
            .expression_attribute_values(":lo", s(entry_sk(lo)))
            .expression_attribute_values(":hi", s(entry_sk(hi)))
            .scan_index_forward(forward)
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(sdk_err)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|i| {
                serde_json::from_str(get_s(i, "body")?)
                    .map_err(|e| StoreError::Backend(format!("corrupt audit entry: {e}")))
            })
            .collect()
    }
}

#[async_trait]
impl AuditStore for DynamoAudit {
    async fn append(&self, events: &[AuditEvent]) -> StoreResult<Vec<AuditEntry>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        match transact_audited(&self.client, &self.table, Vec::new(), events).await? {
            (Txn::Committed, entries) => Ok(entries),
            (Txn::ConditionFailed(r), _) => {
                Err(StoreError::Backend(format!("an audit append was refused without a condition of its own: {r:?}")))
            }
        }
    }

    async fn entries(&self, tenant: &TenantId, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.query(tenant, after.saturating_add(1), u64::MAX / 2, true, limit).await
    }

    async fn recent(&self, tenant: &TenantId, before: Option<u64>, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        match before {
            Some(0) => Ok(Vec::new()),
            Some(b) => self.query(tenant, 1, b - 1, false, limit).await,
            None => self.query(tenant, 1, u64::MAX / 2, false, limit).await,
        }
    }
}
