//! The audit log in the embedded database: one row per entry, keyed by tenant and seq,
//! never updated. Entries are placed inside the write transaction of the change they
//! record ([`append_tx`]), after the tenant's last entry as that transaction sees it:
//! SQLite has one writer, so two appends never race for a place.

use crate::db::{backend, exec, qrow, Db};
use aos_core::audit::{AuditEntry, AuditEvent};
use aos_core::TenantId;
use aos_runtime::ports::{AuditStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;

/// Appends `events` after their tenants' last entries, inside the caller's transaction.
pub(crate) fn append_tx(c: &Connection, events: &[AuditEvent]) -> Result<Vec<AuditEntry>, StoreError> {
    let mut placed: Vec<AuditEntry> = Vec::with_capacity(events.len());
    for event in events {
        let t = event.tenant.as_str();
        let head: Option<(u64, String)> = qrow(
            c,
            "SELECT seq, json_extract(body, '$.hash') FROM audit WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1",
            params![t],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| backend(&e))?;
        let entry = AuditEntry::after(head.as_ref().map(|(seq, hash)| (*seq, hash.as_str())), event.clone());
        let body = serde_json::to_string(&entry).map_err(|e| StoreError::Backend(e.to_string()))?;
        exec(c, "INSERT INTO audit (tenant, seq, body) VALUES (?1, ?2, ?3)", params![t, entry.seq, body])
            .map_err(|e| backend(&e))?;
        placed.push(entry);
    }
    Ok(placed)
}

fn parse(bodies: &[String]) -> StoreResult<Vec<AuditEntry>> {
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(|e| StoreError::Backend(format!("corrupt audit entry: {e}"))))
        .collect()
}

/// The audit log.
pub struct EmbeddedAudit {
    db: Arc<Db>,
}

impl EmbeddedAudit {
    /// The store over `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

#[async_trait]
impl AuditStore for EmbeddedAudit {
    async fn append(&self, events: &[AuditEvent]) -> StoreResult<Vec<AuditEntry>> {
        let events = events.to_vec();
        self.db.write(true, move |c| append_tx(c, &events)).await
    }

    async fn entries(&self, tenant: &TenantId, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let bodies: Vec<String> = self.db.read(|c| {
            let mut st =
                c.prepare_cached("SELECT body FROM audit WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")?;
            let rows = st.query_map(params![tenant.as_str(), after, limit], |r| r.get(0))?;
            rows.collect()
        })?;
        parse(&bodies)
    }

    async fn recent(&self, tenant: &TenantId, before: Option<u64>, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let before = before.unwrap_or(i64::MAX as u64);
        let bodies: Vec<String> = self.db.read(|c| {
            let mut st =
                c.prepare_cached("SELECT body FROM audit WHERE tenant = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3")?;
            let rows = st.query_map(params![tenant.as_str(), before, limit], |r| r.get(0))?;
            rows.collect()
        })?;
        parse(&bodies)
    }
}
