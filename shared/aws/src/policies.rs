//! Tenants' versioned policy sets in DynamoDB: `TENANT#t` / `POLICY#<version, 10 digits>`,
//! one item per version, never updated; the newest is the current one.

use crate::dynamo::{get_s, s, sdk_err, tenant_pk};
use crate::txn::Txn;
use aos_core::TenantId;
use aos_runtime::ports::{PolicyStore, PolicyVersion, StoreError, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

/// Policy versions in the AOS table.
pub struct DynamoPolicies {
    client: Client,
    table: String,
}

impl DynamoPolicies {
    /// The store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn sk(version: u32) -> String {
    format!("POLICY#{version:010}")
}

fn parse(item: &crate::dynamo::Item) -> StoreResult<PolicyVersion> {
    serde_json::from_str(get_s(item, "body")?).map_err(|e| StoreError::Backend(format!("corrupt policy version: {e}")))
}

#[async_trait]
impl PolicyStore for DynamoPolicies {
    async fn put_version(&self, v: &PolicyVersion, audit: &[aos_core::audit::AuditEvent]) -> StoreResult<()> {
        let body = serde_json::to_string(v).map_err(|e| StoreError::Backend(e.to_string()))?;
        let pk = tenant_pk(v.tenant.as_str());
        let bad = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend(e.to_string());
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s(sk(v.version)))
            .item("body", s(body))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(bad)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        // The version before must exist: versions are consecutive, so the newest is current.
        if v.version > 1 {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", s(&pk))
                .key("sk", s(sk(v.version - 1)))
                .condition_expression("attribute_exists(pk)")
                .build()
                .map_err(bad)?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
        }
        match crate::audit::transact_audited(&self.client, &self.table, items, audit).await?.0 {
            Txn::Committed => Ok(()),
            Txn::ConditionFailed(_) => {
                Err(StoreError::Conflict(format!("policy version {} is not next for its tenant", v.version)))
            }
        }
    }

    async fn current(&self, tenant: &TenantId) -> StoreResult<Option<PolicyVersion>> {
        Ok(self.versions(tenant, None, 1).await?.into_iter().next())
    }

    async fn versions(&self, tenant: &TenantId, before: Option<u32>, limit: u32) -> StoreResult<Vec<PolicyVersion>> {
        if before.is_some_and(|b| b <= 1) {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(tenant_pk(tenant.as_str())))
            .expression_attribute_values(":lo", s(sk(0)))
            .expression_attribute_values(":hi", s(sk(before.map_or(u32::MAX, |b| b.saturating_sub(1)))))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.items.unwrap_or_default().iter().map(parse).collect()
    }
}
