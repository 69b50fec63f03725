//! Tenants' policy sets, versioned: each change is a new version, none is edited.

use super::StoreResult;
use aos_core::audit::AuditEvent;
use aos_core::TenantId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One version of a tenant's policy set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// Owner.
    pub tenant: TenantId,
    /// 1 for the first, then one more per change.
    pub version: u32,
    /// The Cedar text, as applied.
    pub text: String,
    /// Whether a step no policy applies to is refused (deny by default).
    pub default_deny: bool,
    /// Whether a policy forbidding everything was allowed in.
    pub allow_deny_all: bool,
    /// How many policies it holds.
    pub policies: u32,
    /// The key that applied it.
    pub created_by: String,
    /// When.
    pub created_at_ms: u64,
}

/// Tenants' versioned policy sets.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// Stores `v` as its tenant's next version: `v.version` must be one more than the
    /// current one (1 for the first). `Conflict` when another change got there first.
    /// `audit` is appended to the tenant's audit log in the same write.
    async fn put_version(&self, v: &PolicyVersion, audit: &[AuditEvent]) -> StoreResult<()>;
    /// The tenant's current version, if it has any.
    async fn current(&self, tenant: &TenantId) -> StoreResult<Option<PolicyVersion>>;
    /// Up to `limit` versions, newest first, older than `before` when given.
    async fn versions(&self, tenant: &TenantId, before: Option<u32>, limit: u32) -> StoreResult<Vec<PolicyVersion>>;
}
