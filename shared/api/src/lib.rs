//! AOS HTTP routes: request -> use case -> response. The same router serves `aos dev`
//! and (behind `lambda_http`) the API Lambdas.

mod audit;
mod auth;
pub use auth::{presented_key, GatewayPrincipal};
mod credits;
pub mod demo;
mod error;
mod events;
mod extract;
mod flags;
mod flows;
pub mod mcp;
mod openapi;
pub use openapi::{document, document_json};
mod plans;
mod policies;
mod routes;
mod runs;
mod secrets;
mod tenants;
mod usage;
mod views;

pub use error::ApiError;

/// The API's response bodies, as clients read them: the types the handlers serialize and
/// the OpenAPI document describes.
pub mod bodies {
    pub use crate::audit::AuditPage;
    pub use crate::credits::{AccountView, BookView, GrantMade, GrantView, LedgerPage, TransferView};
    pub use crate::flags::{FlagEvaluation, FlagList, FlagView};
    pub use crate::flows::{
        ApprovalList, ApprovalStepView, ApprovalView, EnvelopeView, ExecutionView, ItemsView, NodeView, WorkflowView,
    };
    pub use crate::plans::QuotasView;
    pub use crate::policies::{EvaluationView, PolicyList, PolicyView};
    pub use crate::routes::{Health, SkillList};
    pub use crate::secrets::{SecretList, SecretWritten};
    pub use crate::tenants::{KeyList, NewKeyView, TenantCreated, TenantView};
    pub use crate::usage::{CountersView, UsageGroup, UsageReport};
    pub use crate::views::{FinishedStep, KeyView, ParentView, RunList, RunView, StepView, StepsView, UnfinishedStep};
}
/// The API's request bodies, as clients send them: the types the handlers deserialize.
pub mod requests {
    pub use crate::flows::DecisionBody;
    pub use aos_runtime::runs::SubmitRun;
    pub use aos_runtime::workflows::StartExecution;
}
pub use routes::{router, router_for, AppState, Route, MAX_BODY_BYTES};
