//! Circuit breakers.

use super::StoreResult;
use aos_core::TenantId;
use async_trait::async_trait;

/// Circuit breakers, per tenant and key (`<skill>:<target>`), shared by every worker:
/// each call applies `aos_core::breaker` rules in one atomic update.
#[async_trait]
pub trait BreakerStore: Send + Sync {
    /// May a call go out now? Claims the half-open probe when it is this caller's.
    async fn admit(
        &self,
        tenant: &TenantId,
        key: &str,
        now_ms: u64,
        policy: &aos_core::breaker::BreakerPolicy,
    ) -> StoreResult<aos_core::breaker::Admission>;
    /// Records how a call ended (`failed`: an upstream failure that counts).
    async fn record(
        &self,
        tenant: &TenantId,
        key: &str,
        failed: bool,
        now_ms: u64,
        policy: &aos_core::breaker::BreakerPolicy,
    ) -> StoreResult<()>;
    /// Deletes breakers nobody changed since `before_ms` (their counts are stale); returns
    /// how many. Stores that expire them themselves (DynamoDB's TTL) return 0.
    async fn forget_idle(&self, before_ms: u64) -> StoreResult<u64>;
}

/// How long a breaker nobody changed is kept.
pub const BREAKER_IDLE_MS: u64 = 7 * 86_400_000;
