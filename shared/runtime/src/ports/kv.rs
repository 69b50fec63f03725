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
    /// Stores `value` under `key` until `expires_at_ms`: after it, `get` finds nothing and
    /// the store deletes it (DynamoDB's TTL; the embedded store's retention pass). A
    /// cache entry: a store may make it durable with the step commit that follows rather
    /// than on its own (the embedded store does).
    async fn put_expiring(&self, tenant: &TenantId, key: &str, value: &Value, expires_at_ms: u64) -> StoreResult<()>;
    /// Deletes every entry expired by `now_ms`; returns how many. Stores that expire
    /// entries themselves (DynamoDB's TTL) return 0.
    async fn purge_expired(&self, now_ms: u64) -> StoreResult<u64>;
}
