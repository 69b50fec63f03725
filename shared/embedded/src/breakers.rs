//! Circuit breakers in the embedded database. Reads go to a reader connection; changes
//! (a probe claim, a failure, a reset) are one read-modify-write in the writer. Breaker
//! state is a lease, not a record: its writes are not fsynced.

use crate::db::{backend, exec, qrow, Db};
use aos_core::breaker::{Admission, BreakerPolicy, BreakerState};
use aos_core::TenantId;
use aos_runtime::ports::{BreakerStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;

/// Breakers in the embedded database.
pub struct EmbeddedBreakers {
    db: Arc<Db>,
}

impl EmbeddedBreakers {
    /// The store over `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

fn load(c: &Connection, tenant: &str, key: &str) -> Result<BreakerState, StoreError> {
    let raw: Option<String> =
        qrow(c, "SELECT state FROM breakers WHERE tenant = ?1 AND key = ?2", params![tenant, key], |r| r.get(0))
            .optional()
            .map_err(|e| backend(&e))?;
    raw.map_or(Ok(BreakerState::default()), |r| {
        serde_json::from_str(&r).map_err(|e| StoreError::Backend(format!("corrupt breaker: {e}")))
    })
}

fn save(c: &Connection, tenant: &str, key: &str, state: &BreakerState, now: u64) -> Result<(), StoreError> {
    if *state == BreakerState::default() {
        exec(c, "DELETE FROM breakers WHERE tenant = ?1 AND key = ?2", params![tenant, key])
            .map_err(|e| backend(&e))?;
        return Ok(());
    }
    let raw = serde_json::to_string(state).map_err(|e| StoreError::Backend(e.to_string()))?;
    exec(
        c,
        "INSERT INTO breakers (tenant, key, state, touched_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, key) DO UPDATE SET state = excluded.state, touched_at = excluded.touched_at",
        params![tenant, key, raw, now],
    )
    .map_err(|e| backend(&e))?;
    Ok(())
}

#[async_trait]
impl BreakerStore for EmbeddedBreakers {
    async fn admit(&self, tenant: &TenantId, key: &str, now: u64, policy: &BreakerPolicy) -> StoreResult<Admission> {
        let current = self.db.read(|c| Ok(load(c, tenant.as_str(), key)))??;
        if current.admit(now, policy).0 == Admission::Call {
            return Ok(Admission::Call);
        }
        let (t, k, p) = (tenant.as_str().to_owned(), key.to_owned(), *policy);
        self.db
            .write(false, move |c| {
                let (admission, next) = load(c, &t, &k)?.admit(now, &p);
                save(c, &t, &k, &next, now)?;
                Ok(admission)
            })
            .await
    }

    async fn record(
        &self,
        tenant: &TenantId,
        key: &str,
        failed: bool,
        now: u64,
        policy: &BreakerPolicy,
    ) -> StoreResult<()> {
        let current = self.db.read(|c| Ok(load(c, tenant.as_str(), key)))??;
        if !failed && current == BreakerState::default() {
            return Ok(());
        }
        let (t, k, p) = (tenant.as_str().to_owned(), key.to_owned(), *policy);
        self.db
            .write(false, move |c| {
                let next = load(c, &t, &k)?.record(failed, now, &p);
                save(c, &t, &k, &next, now)
            })
            .await
    }

    async fn forget_idle(&self, before_ms: u64) -> StoreResult<u64> {
        self.db
            .write(false, move |c| {
                exec(c, "DELETE FROM breakers WHERE touched_at < ?1", params![before_ms])
                    .map(|n| n as u64)
                    .map_err(|e| backend(&e))
            })
            .await
    }
}
