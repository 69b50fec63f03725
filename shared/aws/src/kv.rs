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

    async fn write(&self, tenant: &TenantId, key: &str, value: &Value, expires_at: Option<u64>) -> StoreResult<()> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant.as_str())))
            .item("sk", s(sk(key)))
            .item("value", s(value.to_string()));
        let put = match expires_at {
            Some(t) => put.item("expires_at_ms", crate::dynamo::n(t)).item("ttl", crate::dynamo::ttl(t)),
            None => put,
        };
        put.send().await.map_err(sdk_err)?;
        Ok(())
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
        // DynamoDB deletes expired items within days, not at once: expired is absent.
        let live = |item: &crate::dynamo::Item| {
            crate::dynamo::get_n(item, "expires_at_ms").map_or(true, |t| t > aos_runtime::clock::now_ms())
        };
        out.item
            .filter(live)
            .map(|item| serde_json::from_str(get_s(&item, "value")?).map_err(|e| StoreError::Backend(e.to_string())))
            .transpose()
    }

    async fn put(&self, tenant: &TenantId, key: &str, value: &Value) -> StoreResult<()> {
        self.write(tenant, key, value, None).await
    }

    async fn put_expiring(&self, tenant: &TenantId, key: &str, value: &Value, expires_at_ms: u64) -> StoreResult<()> {
        self.write(tenant, key, value, Some(expires_at_ms)).await
    }

    async fn purge_expired(&self, _now_ms: u64) -> StoreResult<u64> {
        // The table's TTL deletes them.
        Ok(0)
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
