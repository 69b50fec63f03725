//! Tenants' feature flags in the embedded database: one row per flag, its latest version.

use crate::db::{backend, exec, qrow, Db};
use aos_core::audit::AuditEvent;
use aos_core::TenantId;
use aos_runtime::ports::{FlagRecord, FlagStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use std::sync::Arc;

/// Feature flags.
pub struct EmbeddedFlags {
    db: Arc<Db>,
}

impl EmbeddedFlags {
    /// The store over `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

fn parse(body: &str) -> StoreResult<FlagRecord> {
    serde_json::from_str(body).map_err(|e| StoreError::Backend(format!("corrupt flag: {e}")))
}

#[async_trait]
impl FlagStore for EmbeddedFlags {
    async fn put_flag(&self, f: &FlagRecord, audit: &[AuditEvent]) -> StoreResult<()> {
        let body = serde_json::to_string(f).map_err(|e| StoreError::Backend(e.to_string()))?;
        let (t, key, version, audit) = (f.tenant.to_string(), f.key.clone(), f.version, audit.to_vec());
        self.db
            .write(true, move |c| {
                let current: u32 =
                    qrow(c, "SELECT version FROM flags WHERE tenant = ?1 AND key = ?2", params![t, key], |r| r.get(0))
                        .optional()
                        .map_err(|e| backend(&e))?
                        .unwrap_or(0);
                if version != current + 1 {
                    return Err(StoreError::Conflict(format!(
                        "flag {key} version {version} is not next: the stored one is {current}"
                    )));
                }
                exec(
                    c,
                    "INSERT INTO flags (tenant, key, version, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant, key) DO UPDATE SET version = excluded.version, body = excluded.body",
                    params![t, key, version, body],
                )
                .map_err(|e| backend(&e))?;
                crate::audit::append_tx(c, &audit).map(|_| ())
            })
            .await
    }

    async fn flag(&self, tenant: &TenantId, key: &str) -> StoreResult<Option<FlagRecord>> {
        let body: Option<String> = self.db.read(|c| {
            qrow(c, "SELECT body FROM flags WHERE tenant = ?1 AND key = ?2", params![tenant.as_str(), key], |r| {
                r.get(0)
            })
            .optional()
        })?;
        body.as_deref().map(parse).transpose()
    }

    async fn flags(&self, tenant: &TenantId) -> StoreResult<Vec<FlagRecord>> {
        let bodies: Vec<String> = self.db.read(|c| {
            let mut st = c.prepare_cached("SELECT body FROM flags WHERE tenant = ?1 ORDER BY key")?;
            let rows = st.query_map(params![tenant.as_str()], |r| r.get(0))?;
            rows.collect()
        })?;
        bodies.iter().map(|b| parse(b)).collect()
    }
}
