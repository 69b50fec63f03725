//! Usage records in DynamoDB: one item per finished run under its tenant's usage
//! partition (`TENANT#t#USAGE`, apart from the tenant's runs), sorted by end
//! (`USAGE#<ended, 13 digits>_<run>`), put in the transaction that ends the run.

use crate::dynamo::{get_s, s, sdk_err, Item};
use aos_core::usage::UsageRecord;
use aos_core::TenantId;
use aos_runtime::ports::{usage_cursor, StoreError, StoreResult, UsageStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::Put;
use aws_sdk_dynamodb::Client;

fn usage_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}#USAGE")
}

/// The put of `record` of `tenant`, for the transaction that ends its run (a repeat
/// writes the same item).
pub(crate) fn put(table: &str, tenant: &str, record: &UsageRecord) -> StoreResult<Put> {
    let body = serde_json::to_string(record).map_err(|e| StoreError::Backend(e.to_string()))?;
    Put::builder()
        .table_name(table)
        .item("pk", s(usage_pk(tenant)))
        .item("sk", s(format!("USAGE#{}", usage_cursor(record))))
        .item("body", s(body))
        .build()
        .map_err(sdk_err)
}

/// Tenants' usage records.
pub struct DynamoUsage {
    client: Client,
    table: String,
}

impl DynamoUsage {
    /// The records in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

#[async_trait]
impl UsageStore for DynamoUsage {
    async fn usage_records(
        &self,
        tenant: &TenantId,
        from_ms: u64,
        to_ms: u64,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<UsageRecord>> {
        let Some(last_ms) = to_ms.checked_sub(1).filter(|l| *l >= from_ms) else { return Ok(Vec::new()) };
        let (lo, hi) = (format!("USAGE#{from_ms:013}"), format!("USAGE#{last_ms:013}~"));
        let mut start: Option<Item> = None;
        if let Some(a) = after.map(|a| format!("USAGE#{a}")) {
            if a >= hi {
                return Ok(Vec::new());
            }
            if a >= lo {
                start = Some(Item::from([("pk".to_owned(), s(usage_pk(tenant.as_str()))), ("sk".to_owned(), s(a))]));
            }
        }
        let mut records = Vec::new();
        // A page of the query holds at most 1 MB: ask again until `limit` or the end.
        loop {
            let want = limit.saturating_sub(u32::try_from(records.len()).unwrap_or(u32::MAX));
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(usage_pk(tenant.as_str())))
                .expression_attribute_values(":lo", s(lo.clone()))
                .expression_attribute_values(":hi", s(hi.clone()))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(sdk_err)?;
            for item in page.items.unwrap_or_default() {
                let record = serde_json::from_str(get_s(&item, "body")?)
                    .map_err(|e| StoreError::Backend(format!("corrupt usage record: {e}")))?;
                records.push(record);
            }
            start = page.last_evaluated_key;
            if start.is_none() || records.len() >= limit as usize {
                return Ok(records);
            }
        }
    }
}
