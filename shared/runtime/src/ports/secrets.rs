//! Secrets.

use super::StoreResult;
use async_trait::async_trait;
use secrecy::SecretString;

/// Named secrets (API keys of upstreams, signing keys).
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secret, or `None` if not configured.
    async fn secret(&self, name: &str) -> StoreResult<Option<SecretString>>;
}
