//! Tenants' feature flags in DynamoDB: `TENANT#t` / `FLAG#<key>`, the latest version,
//! replaced only over the version before it.

use crate::dynamo::{get_s, n, query_prefix, s, sdk_err, tenant_pk};
use crate::txn::Txn;
use aos_core::audit::AuditEvent;
use aos_core::TenantId;
use aos_runtime::ports::{FlagRecord, FlagStore, StoreError, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

/// Feature flags in the AOS table.
pub struct DynamoFlags {
    client: Client,
    table: String,
}

impl DynamoFlags {
    /// The store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn parse(item: &crate::dynamo::Item) -> StoreResult<FlagRecord> {
    serde_json::from_str(get_s(item, "body")?).map_err(|e| StoreError::Backend(format!("corrupt flag: {e}")))
}

#[async_trait]
impl FlagStore for DynamoFlags {
    async fn put_flag(&self, f: &FlagRecord, audit: &[AuditEvent]) -> StoreResult<()> {
        let body = serde_json::to_string(f).map_err(|e| StoreError::Backend(e.to_string()))?;
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(f.tenant.as_str())))
            .item("sk", s(format!("FLAG#{}", f.key)))
            .item("version", n(u64::from(f.version)))
            .item("body", s(body));
        let put = if f.version <= 1 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :prev")
                .expression_attribute_values(":prev", n(u64::from(f.version - 1)))
        };
        let items = vec![TransactWriteItem::builder().put(put.build().map_err(sdk_err)?).build()];
        match crate::audit::transact_audited(&self.client, &self.table, items, audit).await?.0 {
            Txn::Committed => Ok(()),
            Txn::ConditionFailed(_) => {
                Err(StoreError::Conflict(format!("flag {} version {} is not next", f.key, f.version)))
            }
        }
    }

    async fn flag(&self, tenant: &TenantId, key: &str) -> StoreResult<Option<FlagRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(format!("FLAG#{key}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(parse).transpose()
    }

    async fn flags(&self, tenant: &TenantId) -> StoreResult<Vec<FlagRecord>> {
        let items = query_prefix(&self.client, &self.table, tenant_pk(tenant.as_str()), "FLAG#").await?;
        items.iter().map(parse).collect()
    }
}
