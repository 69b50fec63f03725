//! Tenants' feature flags, versioned: each change is the flag's next version.

use super::StoreResult;
use aos_core::audit::AuditEvent;
use aos_core::flags::FlagSpec;
use aos_core::TenantId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A flag as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagRecord {
    /// Owner.
    pub tenant: TenantId,
    /// Its key.
    pub key: String,
    /// What it says.
    pub spec: FlagSpec,
    /// 1 when made, one more per change.
    pub version: u32,
    /// The key that made this version.
    pub updated_by: String,
    /// When.
    pub updated_at_ms: u64,
}

/// A tenant's flags.
#[async_trait]
pub trait FlagStore: Send + Sync {
    /// Stores `flag` as its next version: `flag.version` must be one more than the
    /// stored one (1 makes it). `Conflict` otherwise, with nothing written. `audit` goes to
    /// the tenant's audit log in the same write.
    async fn put_flag(&self, flag: &FlagRecord, audit: &[AuditEvent]) -> StoreResult<()>;
    /// One flag.
    async fn flag(&self, tenant: &TenantId, key: &str) -> StoreResult<Option<FlagRecord>>;
    /// Every flag of the tenant, by key.
    async fn flags(&self, tenant: &TenantId) -> StoreResult<Vec<FlagRecord>>;
}
