//! Ports: the small capability traits the use cases need, one file per capability of
//! the grid (DESIGN.md). The embedded adapters (`aos-embedded`) and the AWS adapters
//! implement them; nothing here knows which.

mod audit;
mod blobs;
mod breakers;
mod credits;
mod flags;
mod idempotency;
mod kv;
mod policies;
mod queue;
mod runs;
mod secrets;
mod sfn;
mod tenants;
mod usage;
mod workflows;

pub use audit::*;
pub use blobs::*;
pub use breakers::*;
pub use credits::*;
pub use flags::*;
pub use idempotency::*;
pub use kv::*;
pub use policies::*;
pub use queue::*;
pub use runs::*;
pub use secrets::*;
pub use sfn::*;
pub use tenants::*;
pub use usage::*;
pub use workflows::*;

/// A storage or queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found the record in another state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backing store failed; the cause is in the message (never shown to clients).
    #[error("storage failure: {0}")]
    Backend(String),
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;
