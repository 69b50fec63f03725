//! Tenants and API keys.

use super::StoreResult;
use aos_core::{ApiKeyId, TenantId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use aos_core::roles::{Grant, Permission, Role};

/// A stored API key (only the hash of the secret is stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public id.
    pub id: ApiKeyId,
    /// Owner.
    pub tenant: TenantId,
    /// What the key may do.
    pub role: Role,
    /// Free text label.
    pub label: String,
    /// SHA-256 of the secret key.
    pub hash: String,
    /// Creation time.
    pub created_at_ms: u64,
    /// Revocation time, if revoked.
    pub revoked_at_ms: Option<u64>,
    /// The permissions the key is limited to (`None`: all of its role's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<std::collections::BTreeSet<Permission>>,
    /// The level it decides approvals at, at most its role's (`None`: its role's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_level: Option<u8>,
    /// When it stops working, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

impl ApiKeyRecord {
    /// The audit entry of a change of this key (`key.create`, `key.revoke`) by `actor`:
    /// what it grants, never its secret or hash.
    pub fn audit(
        &self,
        actor: aos_core::audit::Actor,
        action: &str,
        decision: &str,
        at_ms: u64,
    ) -> aos_core::audit::AuditEvent {
        aos_core::audit::AuditEvent::new(&self.tenant, actor, action, format!("key:{}", self.id), decision, at_ms)
            .with_details(serde_json::json!({
                "label": self.label,
                "role": self.role.as_str(),
                "scopes": self.scopes,
                "approval_level": self.approval_level,
                "expires_at_ms": self.expires_at_ms,
            }))
    }

    /// What the key may do.
    pub fn grant(&self) -> Grant {
        Grant { role: self.role, scopes: self.scopes.clone(), approval_level: self.approval_level }
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// Id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at_ms: u64,
    /// Days a finished run (and everything of it) is kept; `None`: the default
    /// ([`crate::retention::DEFAULT_DAYS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Its plan (rates and quotas); `None`: the deployment's default plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<aos_core::limits::PlanName>,
}

/// Tenants and API keys.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant together with its first key. `Conflict` if the id exists.
    /// `audit` goes to the new tenant's audit log in the same write.
    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        first_key: &ApiKeyRecord,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<()>;
    /// The tenant, if it exists.
    async fn tenant(&self, id: &TenantId) -> StoreResult<Option<TenantRecord>>;
    /// Up to `limit` tenant ids after `after`, in id order (for sweeps over every tenant).
    async fn tenant_ids(&self, after: Option<&TenantId>, limit: u32) -> StoreResult<Vec<TenantId>>;
    /// Sets the tenant's retention (`None`: the default); `None` if there is no such tenant.
    /// `audit` goes to the tenant's audit log in the same write (none when there is no
    /// such tenant).
    async fn set_retention(
        &self,
        id: &TenantId,
        days: Option<u32>,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<Option<TenantRecord>>;
    /// Sets the tenant's plan (`None`: the deployment's default); `None` if there is no
    /// such tenant. `audit` goes to the tenant's audit log in the same write.
    async fn set_plan(
        &self,
        id: &TenantId,
        plan: Option<aos_core::limits::PlanName>,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<Option<TenantRecord>>;
    /// What the tenant's `meter` (`runs`, `tokens`) counted in `period` (`2026-12-04`,
    /// `2026-12`); 0 when nothing was.
    async fn meter(&self, tenant: &TenantId, meter: &str, period: &str) -> StoreResult<u64>;
    /// Adds `amount` (negative: gives back) to the meter, unless the total would pass
    /// `limit`: `Ok(total)` after it, or `Err(current)` with nothing changed. One
    /// conditional write, so concurrent adds never pass the limit together.
    async fn add_to_meter(
        &self,
        tenant: &TenantId,
        meter: &str,
        period: &str,
        amount: i64,
        limit: Option<u64>,
    ) -> StoreResult<Result<u64, u64>>;
    /// Takes `amount` millicredits from the tenant's spend `windows`, unless the hour's
    /// or the day's total would pass its limit: `Ok((hour, day))` totals after it, or
    /// `Err((window, current))` with nothing changed. One conditional write, so steps
    /// running at once never pass a limit together.
    async fn take_spend(
        &self,
        tenant: &TenantId,
        windows: &aos_core::limits::SpendWindows,
        amount: u64,
        limits: (Option<u64>, Option<u64>),
    ) -> StoreResult<Result<(u64, u64), (aos_core::limits::QuotaName, u64)>>;
    /// Adds `adjust.delta` to the spend windows it names (a retried step's adjustment; a
    /// committed step's goes in its commit).
    async fn adjust_spend(&self, tenant: &TenantId, adjust: &aos_core::limits::SpendAdjust) -> StoreResult<()>;
    /// What the tenant spent in `windows`: (hour, day), millicredits.
    async fn spent(&self, tenant: &TenantId, windows: &aos_core::limits::SpendWindows) -> StoreResult<(u64, u64)>;
    /// Stores a new key for an existing tenant.
    /// `audit` goes to the tenant's audit log in the same write.
    async fn insert_key(&self, key: &ApiKeyRecord, audit: &[aos_core::audit::AuditEvent]) -> StoreResult<()>;
    /// The key whose secret hashes to `hash`.
    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// The tenant's keys (never their secrets).
    async fn keys(&self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes the tenant's key; `Ok(None)` if the tenant has no such key.
    /// `audit` goes to the tenant's audit log in the same write, when the key was not
    /// revoked already (a repeat changes and records nothing).
    async fn revoke_key(
        &self,
        tenant: &TenantId,
        id: &ApiKeyId,
        now_ms: u64,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<Option<ApiKeyRecord>>;
}
