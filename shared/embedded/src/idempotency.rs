//! Embedded idempotency records (Powertools semantics): an in-progress record with an
//! expiry, a completed record with the stored result and the payload hash. The same key
//! with another payload is a conflict; an expired in-progress record can be taken over.

use crate::db::{backend, exec, qrow, Db};
use aos_core::TenantId;
use aos_runtime::ports::{ClaimOutcome, IdempotencyCompletion, IdempotencyStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;

/// Idempotency keys in the embedded database.
pub struct EmbeddedIdempotency {
    db: Arc<Db>,
}

impl EmbeddedIdempotency {
    /// The store over `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

pub(crate) fn complete_tx(c: &Connection, tenant: &str, done: &IdempotencyCompletion) -> Result<(), StoreError> {
    let result = serde_json::to_string(&done.result).map_err(|e| StoreError::Backend(e.to_string()))?;
    exec(c,
        "INSERT INTO idempotency (tenant, key, status, payload_hash, result, expires_at) VALUES (?1, ?2, 'completed', ?3, ?4, ?5)
         ON CONFLICT (tenant, key) DO UPDATE SET status = 'completed', payload_hash = ?3, result = ?4, expires_at = ?5",
        params![tenant, done.key, done.payload_hash, result, done.expires_at_ms],
    )
    .map_err(|e| backend(&e))?;
    Ok(())
}

fn claim_tx(
    c: &Connection,
    tenant: &str,
    key: &str,
    hash: &str,
    until: u64,
    now: u64,
) -> Result<ClaimOutcome, StoreError> {
    let row: Option<(String, String, Option<String>, u64)> = qrow(
        c,
        "SELECT status, payload_hash, result, expires_at FROM idempotency WHERE tenant = ?1 AND key = ?2",
        params![tenant, key],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .optional()
    .map_err(|e| backend(&e))?;
    match row {
        Some((_, _, _, expires)) if expires <= now => {}
        Some((_, stored_hash, _, _)) if stored_hash != hash => return Ok(ClaimOutcome::Conflict),
        Some((status, _, _, expires)) if status == "in_progress" => {
            return Ok(ClaimOutcome::InProgress { until_ms: expires })
        }
        Some((_, _, result, _)) => {
            let value = serde_json::from_str(result.as_deref().unwrap_or("null"))
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            return Ok(ClaimOutcome::Completed(value));
        }
        None => {}
    }
    exec(c,
        "INSERT INTO idempotency (tenant, key, status, payload_hash, result, expires_at) VALUES (?1, ?2, 'in_progress', ?3, NULL, ?4)
         ON CONFLICT (tenant, key) DO UPDATE SET status = 'in_progress', payload_hash = ?3, result = NULL, expires_at = ?4",
        params![tenant, key, hash, until],
    )
    .map_err(|e| backend(&e))?;
    Ok(ClaimOutcome::Claimed)
}

#[async_trait]
impl IdempotencyStore for EmbeddedIdempotency {
    async fn claim(
        &self,
        tenant: &TenantId,
        key: &str,
        payload_hash: &str,
        until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<ClaimOutcome> {
        let (t, k, h) = (tenant.to_string(), key.to_owned(), payload_hash.to_owned());
        self.db.write(true, move |c| claim_tx(c, &t, &k, &h, until_ms, now_ms)).await
    }

    async fn complete(&self, tenant: &TenantId, done: &IdempotencyCompletion) -> StoreResult<()> {
        let (t, done) = (tenant.to_string(), done.clone());
        self.db.write(true, move |c| complete_tx(c, &t, &done)).await
    }

    async fn release(&self, tenant: &TenantId, key: &str) -> StoreResult<()> {
        let (t, k) = (tenant.to_string(), key.to_owned());
        self.db
            .write(true, move |c| {
                exec(
                    c,
                    "DELETE FROM idempotency WHERE tenant = ?1 AND key = ?2 AND status = 'in_progress'",
                    params![t, k],
                )
                .map(|_| ())
                .map_err(|e| backend(&e))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Durability;
    use serde_json::json;

    fn store(dir: &tempfile::TempDir) -> EmbeddedIdempotency {
        EmbeddedIdempotency::new(Db::open(dir.path(), Durability::Full).expect("db"))
    }

    fn tenant() -> TenantId {
        TenantId::parse("ten_a").expect("id")
    }

    #[tokio::test]
    async fn a_completed_key_replays_its_result_and_refuses_another_payload() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = store(&dir);
        assert_eq!(s.claim(&tenant(), "k", "h1", 1_000, 0).await.expect("claim"), ClaimOutcome::Claimed);
        assert_eq!(
            s.claim(&tenant(), "k", "h1", 1_000, 10).await.expect("claim"),
            ClaimOutcome::InProgress { until_ms: 1_000 }
        );
        let done = IdempotencyCompletion {
            key: "k".into(),
            payload_hash: "h1".into(),
            result: json!({"r": 1}),
            expires_at_ms: 5_000,
        };
        s.complete(&tenant(), &done).await.expect("complete");
        assert_eq!(
            s.claim(&tenant(), "k", "h1", 9_000, 20).await.expect("claim"),
            ClaimOutcome::Completed(json!({"r": 1}))
        );
        assert_eq!(s.claim(&tenant(), "k", "h2", 9_000, 20).await.expect("claim"), ClaimOutcome::Conflict);
        let other = TenantId::parse("ten_b").expect("id");
        assert_eq!(
            s.claim(&other, "k", "h2", 9_000, 20).await.expect("claim"),
            ClaimOutcome::Claimed,
            "keys are per tenant"
        );
    }

    #[tokio::test]
    async fn an_expired_in_progress_record_is_taken_over_and_a_released_one_is_free() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = store(&dir);
        assert_eq!(s.claim(&tenant(), "k", "h", 100, 0).await.expect("claim"), ClaimOutcome::Claimed);
        assert_eq!(
            s.claim(&tenant(), "k", "h", 300, 150).await.expect("claim"),
            ClaimOutcome::Claimed,
            "expired: taken over"
        );
        s.release(&tenant(), "k").await.expect("release");
        assert_eq!(
            s.claim(&tenant(), "k", "other", 500, 160).await.expect("claim"),
            ClaimOutcome::Claimed,
            "released: free again"
        );
    }
}
