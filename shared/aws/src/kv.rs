//! Tenant-scoped key-value data in DynamoDB: `TENANT#t` / `KV#key`.

use crate::dynamo::{get_s, s, sdk_err, tenant_pk};
use aos_core::TenantId;
use aos_runtime::ports::{KvStore, StoreError, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use aws_sdk_dynamodb::Client;
use serde_json::Value;

/// The `kv_store` skill's data in the AOS table.
pub struct DynamoKv {
    client: Client,
    table: String,
}

impl DynamoKv {
    /// The store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn sk(key: &str) -> String {
    format!("KV#{key}")
}

#[async_trait]
impl KvStore for DynamoKv {
    async fn get(&self, tenant: &TenantId, key: &str) -> StoreResult<Option<Value>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(sk(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item
            .map(|item| serde_json::from_str(get_s(&item, "value")?).map_err(|e| StoreError::Backend(e.to_string())))
            .transpose()
    }

    async fn put(&self, tenant: &TenantId, key: &str, value: &Value) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant.as_str())))
            .item("sk", s(sk(key)))
            .item("value", s(value.to_string()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn delete(&self, tenant: &TenantId, key: &str) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(sk(key)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
