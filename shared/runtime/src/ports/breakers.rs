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
}
