//! Tenant-scoped key-value storage for the `kv_store` skill.

use crate::db::{backend, exec, qrow, Db};
use aos_core::TenantId;
use aos_runtime::ports::{KvStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use serde_json::Value;
use std::sync::Arc;

/// Key-value pairs in the embedded database, keyed by tenant first.
pub struct EmbeddedKv {
    db: Arc<Db>,
}

impl EmbeddedKv {
    /// The store over `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }

    /// Stores `value`; `durable` waits for its fsync (see [`KvStore::put_expiring`] for
    /// the writes that need not).
    async fn write(
        &self,
        tenant: &TenantId,
        key: &str,
        value: &Value,
        expires_at: Option<u64>,
        durable: bool,
    ) -> StoreResult<()> {
        let (t, k, v) = (tenant.to_string(), key.to_owned(), value.to_string());
        self.db
            .write(durable, move |c| {
                exec(
                    c,
                    "INSERT INTO kv (tenant, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant, key) DO UPDATE SET value = ?3, expires_at = ?4",
                    params![t, k, v, expires_at],
                )
                .map(|_| ())
                .map_err(|e| backend(&e))
            })
            .await
    }
}

#[async_trait]
impl KvStore for EmbeddedKv {
    async fn get(&self, tenant: &TenantId, key: &str) -> StoreResult<Option<Value>> {
        let raw: Option<String> = self.db.read(|c| {
            qrow(
                c,
                "SELECT value FROM kv WHERE tenant = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
                params![tenant.as_str(), key, aos_runtime::clock::now_ms()],
                |r| r.get(0),
            )
            .optional()
        })?;
        raw.map(|v| serde_json::from_str(&v).map_err(|e| StoreError::Backend(e.to_string()))).transpose()
    }

    async fn put(&self, tenant: &TenantId, key: &str, value: &Value) -> StoreResult<()> {
        self.write(tenant, key, value, None, true).await
    }

    async fn put_expiring(&self, tenant: &TenantId, key: &str, value: &Value, expires_at_ms: u64) -> StoreResult<()> {
        // A cache entry, written during a step: it is in the log at once (a crash of the
        // process keeps it) and the step's commit that follows fsyncs it with itself, so
        // it waits for no fsync of its own. Power lost before that commit loses the entry
        // and the step alike: the step runs again and calls anew.
        self.write(tenant, key, value, Some(expires_at_ms), false).await
    }

    async fn purge_expired(&self, now_ms: u64) -> StoreResult<u64> {
        self.db
            .write(false, move |c| {
                exec(c, "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?1", params![now_ms])
                    .map(|n| n as u64)
                    .map_err(|e| backend(&e))
            })
            .await
    }

    async fn delete(&self, tenant: &TenantId, key: &str) -> StoreResult<bool> {
        let (t, k) = (tenant.to_string(), key.to_owned());
        self.db
            .write(true, move |c| {
                exec(c, "DELETE FROM kv WHERE tenant = ?1 AND key = ?2", params![t, k])
                    .map(|n| n > 0)
                    .map_err(|e| backend(&e))
            })
            .await
    }
}
