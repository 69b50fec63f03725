//! AOS use cases over ports: run submission, the step pipeline, API keys, the skill
//! registry and the built-in skills. Adapters (embedded, AWS) implement [`ports`].

pub mod agent;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod clock;
pub mod credits;
pub mod flags;
pub mod limits;
pub mod llm;
pub mod net;
pub mod notify;
pub mod policies;
pub mod ports;
pub mod retention;
pub mod runs;
pub mod secrets;
pub mod sfn;
pub mod skills;
pub mod state_refs;
pub mod sweep;
pub mod usage;
pub mod worker;
pub mod workflows;

pub use ports::{
    BreakerStore, IdempotencyStore, KvStore, Queue, RunStore, SecretStore, StoreError, TenantSecrets, TenantStore,
    WorkflowStore,
};
pub use skills::{IdempotencyClass, Skill, SkillContext, SkillDescriptor, SkillRegistry};
