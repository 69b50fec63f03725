//! Secrets: the deployment's own (provider keys, the SMTP password), which only the
//! operator sets, and each tenant's (signing keys, webhook URLs, upstream tokens), which
//! the tenant manages through the API. The two never mix: no tenant call reaches a
//! deployment secret, and no tenant reaches another's.

use super::StoreResult;
use aos_core::TenantId;
use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The deployment's secrets (API keys of model providers, the SMTP password).
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secret, or `None` if not configured.
    async fn secret(&self, name: &str) -> StoreResult<Option<SecretString>>;
}

/// What is known of a tenant secret besides its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecretMeta {
    /// Its name.
    pub name: String,
    /// When it was first set (ms since the epoch).
    pub created_at_ms: u64,
    /// When its value last changed.
    pub updated_at_ms: u64,
}

/// Each tenant's secrets. Values go in and come out only to the step worker; listing
/// gives names and times.
#[async_trait]
pub trait TenantSecrets: Send + Sync {
    /// Sets `name` to `value` (creating it or replacing its value). `Ok(true)` if it was
    /// created.
    async fn put(&self, tenant: &TenantId, name: &str, value: &SecretString, now_ms: u64) -> StoreResult<bool>;
    /// The value, or `None` if the tenant has no such secret.
    async fn get(&self, tenant: &TenantId, name: &str) -> StoreResult<Option<SecretString>>;
    /// The tenant's secrets, by name.
    async fn list(&self, tenant: &TenantId) -> StoreResult<Vec<SecretMeta>>;
    /// Deletes `name`; `Ok(false)` if there was none.
    async fn delete(&self, tenant: &TenantId, name: &str) -> StoreResult<bool>;
}
