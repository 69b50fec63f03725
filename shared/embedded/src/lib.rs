//! Embedded adapters for every AOS port, on one SQLite file under a data directory:
//! runs and checkpoints, the step queue, idempotency keys, key-value data, tenants and
//! API keys, plus local secrets. Real durable storage: acknowledged writes survive
//! `kill -9` (and, for durable writes, power loss).

mod audit;
mod blobs;
mod breakers;
mod credits;
mod db;
mod execution_nodes;
mod flags;
mod handoff;
mod idempotency;
mod kv;
mod policies;
mod queue;
mod runs;
mod secrets;
mod tenant_secrets;
mod tenants;
mod usage;
mod workflows;

pub use audit::EmbeddedAudit;
pub use blobs::FileBlobs;
pub use breakers::EmbeddedBreakers;
pub use credits::EmbeddedCredits;
pub use db::{Db, Durability};
pub use flags::EmbeddedFlags;
pub use idempotency::EmbeddedIdempotency;
pub use kv::EmbeddedKv;
pub use policies::EmbeddedPolicies;
pub use queue::{DeadLetter, EmbeddedQueue, STEP_QUEUE};
pub use runs::EmbeddedRunStore;
pub use secrets::LocalSecrets;
pub use tenant_secrets::{EmbeddedSecrets, KEY_ENV as SECRETS_KEY_ENV};
pub use tenants::EmbeddedTenants;
pub use usage::EmbeddedUsage;
pub use workflows::EmbeddedWorkflows;

use aos_runtime::StoreError;
use std::path::Path;
use std::sync::Arc;

/// Receives after which a step message is dead-lettered.
pub const STEP_MAX_RECEIVE_COUNT: u32 = 10;

/// Every embedded adapter over one opened data directory.
pub struct Embedded {
    /// The database.
    pub db: Arc<Db>,
    /// Runs, checkpoints, step transitions.
    pub runs: Arc<EmbeddedRunStore>,
    /// The step queue.
    pub queue: Arc<EmbeddedQueue>,
    /// Idempotency keys.
    pub idempotency: Arc<EmbeddedIdempotency>,
    /// Key-value data.
    pub kv: Arc<EmbeddedKv>,
    /// Tenants and API keys.
    pub tenants: Arc<EmbeddedTenants>,
    /// The deployment's secrets, from env and `<dir>/secrets.json`.
    pub secrets: Arc<LocalSecrets>,
    /// Tenants' secrets, sealed in the database.
    pub tenant_secrets: Arc<EmbeddedSecrets>,
    /// Workflows, executions, approvals.
    pub workflows: Arc<EmbeddedWorkflows>,
    /// Circuit breakers.
    pub breakers: Arc<EmbeddedBreakers>,
    /// The credit ledger.
    pub credits: Arc<EmbeddedCredits>,
    /// Tenants' policy sets.
    pub policies: Arc<EmbeddedPolicies>,
    /// Tenants' audit logs.
    pub audit: Arc<EmbeddedAudit>,
    /// Tenants' feature flags.
    pub flags: Arc<EmbeddedFlags>,
    /// Finished runs' usage records.
    pub usage: Arc<EmbeddedUsage>,
}

impl Embedded {
    /// Opens the data directory (see [`Db::open`]) and recovers from a previous process
    /// that died: its queue leases and step claims are released, so work resumes now.
    pub async fn open(dir: &Path, durability: Durability) -> Result<Self, StoreError> {
        let db = Db::open(dir, durability)?;
        let this = Self {
            runs: Arc::new(EmbeddedRunStore::new(Arc::clone(&db))),
            queue: Arc::new(EmbeddedQueue::new(Arc::clone(&db), STEP_QUEUE, STEP_MAX_RECEIVE_COUNT)),
            idempotency: Arc::new(EmbeddedIdempotency::new(Arc::clone(&db))),
            kv: Arc::new(EmbeddedKv::new(Arc::clone(&db))),
            tenants: Arc::new(EmbeddedTenants::new(Arc::clone(&db))),
            secrets: Arc::new(LocalSecrets::new(Some(dir.join("secrets.json")))),
            tenant_secrets: Arc::new(EmbeddedSecrets::open(Arc::clone(&db), dir)?),
            workflows: Arc::new(EmbeddedWorkflows::new(Arc::clone(&db))),
            breakers: Arc::new(EmbeddedBreakers::new(Arc::clone(&db))),
            credits: Arc::new(EmbeddedCredits::new(Arc::clone(&db))),
            policies: Arc::new(EmbeddedPolicies::new(Arc::clone(&db))),
            audit: Arc::new(EmbeddedAudit::new(Arc::clone(&db))),
            flags: Arc::new(EmbeddedFlags::new(Arc::clone(&db))),
            usage: Arc::new(EmbeddedUsage::new(Arc::clone(&db))),
            db,
        };
        let leases = this.queue.release_orphaned_leases().await?;
        let claims = this.runs.expire_orphaned_claims().await?;
        if leases + claims > 0 {
            tracing::info!(leases, claims, "recovered work left by a previous process");
        }
        Ok(this)
    }
}
