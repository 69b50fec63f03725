//! AOS domain core: pure types and rules, no I/O and no async runtime.
//!
//! Everything here is deterministic and side-effect free so that the same code runs
//! in `aos dev`, in a Lambda and in replay.

pub mod agent;
pub mod audit;
pub mod breaker;
pub mod checkpoint;
pub mod costsim;
pub mod credits;
pub mod determinism;
pub mod error_code;
pub mod flags;
pub mod ids;
pub mod limits;
pub mod outcome;
pub mod page;
pub mod plan;
pub mod roles;
pub mod state;
pub mod template;
pub mod usage;
pub mod workflow;

pub use checkpoint::{ChainLink, Checkpoint};
pub use error_code::{ErrorCategory, ErrorCode};
pub use ids::{ApiKeyId, ApprovalId, ExecutionId, IdError, RunId, TenantId};
pub use outcome::{OutcomeError, StructuredOutcome};
pub use plan::{Plan, PlanError, PlanStep};
pub use state::{IllegalTransition, RunStatus, StepStatus};
