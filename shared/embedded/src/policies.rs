//! Tenants' versioned policy sets in the embedded database.

use crate::db::{backend, exec, qrow, Db};
use aos_core::TenantId;
use aos_runtime::ports::{PolicyStore, PolicyVersion, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use std::sync::Arc;

/// Policy versions, one row each, never updated.
pub struct EmbeddedPolicies {
    db: Arc<Db>,
}

impl EmbeddedPolicies {
    /// The store over `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

fn parse(body: &str) -> StoreResult<PolicyVersion> {
    serde_json::from_str(body).map_err(|e| StoreError::Backend(format!("corrupt policy version: {e}")))
}

#[async_trait]
impl PolicyStore for EmbeddedPolicies {
    async fn put_version(&self, v: &PolicyVersion, audit: &[aos_core::audit::AuditEvent]) -> StoreResult<()> {
        let body = serde_json::to_string(v).map_err(|e| StoreError::Backend(e.to_string()))?;
        let audit = audit.to_vec();
        let (t, version) = (v.tenant.to_string(), v.version);
        self.db
            .write(true, move |c| {
                let current: u32 =
                    qrow(c, "SELECT COALESCE(MAX(version), 0) FROM policies WHERE tenant = ?1", params![t], |r| {
                        r.get(0)
                    })
                    .map_err(|e| backend(&e))?;
                if version != current + 1 {
                    return Err(StoreError::Conflict(format!(
                        "policy version {version} is not next: the current one is {current}"
                    )));
                }
                exec(c, "INSERT INTO policies (tenant, version, body) VALUES (?1, ?2, ?3)", params![t, version, body])
                    .map_err(|e| backend(&e))?;
                crate::audit::append_tx(c, &audit).map(|_| ())
            })
            .await
    }

    async fn current(&self, tenant: &TenantId) -> StoreResult<Option<PolicyVersion>> {
        let body: Option<String> = self.db.read(|c| {
            qrow(
                c,
                "SELECT body FROM policies WHERE tenant = ?1 ORDER BY version DESC LIMIT 1",
                params![tenant.as_str()],
                |r| r.get(0),
            )
            .optional()
        })?;
        body.as_deref().map(parse).transpose()
    }

    async fn versions(&self, tenant: &TenantId, before: Option<u32>, limit: u32) -> StoreResult<Vec<PolicyVersion>> {
        let before = before.unwrap_or(u32::MAX);
        let bodies: Vec<String> = self.db.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT body FROM policies WHERE tenant = ?1 AND version < ?2 ORDER BY version DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![tenant.as_str(), before, limit], |r| r.get(0))?;
            rows.collect()
        })?;
        bodies.iter().map(|b| parse(b)).collect()
    }
}
