//! The `kv_store` skill's data.

use super::StoreResult;
use aos_core::TenantId;
use async_trait::async_trait;
use serde_json::Value;

/// Tenant-scoped key-value storage for the `kv_store` skill.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The value stored under `key`.
    async fn get(&self, tenant: &TenantId, key: &str) -> StoreResult<Option<Value>>;
    /// Stores `value` under `key`.
    async fn put(&self, tenant: &TenantId, key: &str, value: &Value) -> StoreResult<()>;
    /// Deletes `key`; returns whether it existed.
    async fn delete(&self, tenant: &TenantId, key: &str) -> StoreResult<bool>;
}
