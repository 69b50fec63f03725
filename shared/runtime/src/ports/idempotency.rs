//! Idempotency-Key records.

use super::StoreResult;
use aos_core::TenantId;
use async_trait::async_trait;
use serde_json::Value;

/// An idempotent request that carries its completion with the write it guards.
#[derive(Debug, Clone)]
pub struct IdempotencyCompletion {
    /// The client's key.
    pub key: String,
    /// SHA-256 of the canonical request.
    pub payload_hash: String,
    /// The response to replay on a repeat.
    pub result: Value,
    /// When the record may be forgotten.
    pub expires_at_ms: u64,
}

/// Stored state of an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// The caller owns the key now (new, or an expired in-progress record taken over).
    Claimed,
    /// Another request with this key is in progress until `until_ms`.
    InProgress {
        /// Expiry of that claim.
        until_ms: u64,
    },
    /// A request with this key and the same payload completed; here is its result.
    Completed(Value),
    /// The key was used with a different payload.
    Conflict,
}

/// Idempotency records with Powertools semantics: in-progress with an expiry, completed
/// with the stored result and payload hash, conflict on a different payload.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request whose canonical payload hashes to `payload_hash`.
    async fn claim(
        &self,
        tenant: &TenantId,
        key: &str,
        payload_hash: &str,
        in_progress_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<ClaimOutcome>;
    /// Marks the key completed with `result` (when no other write carries it).
    async fn complete(&self, tenant: &TenantId, done: &IdempotencyCompletion) -> StoreResult<()>;
    /// Deletes an in-progress claim after a failure, so the client can retry.
    async fn release(&self, tenant: &TenantId, key: &str) -> StoreResult<()>;
}
