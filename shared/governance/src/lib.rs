//! Governance: the policy gate's engine. Tenants' Cedar policies judge every step before
//! it runs (allow, deny, require approval), with the seed's categories and precedence.

mod api;
mod policy;

pub use api::{api_schema, ApiFacts, API_GROUP};

pub use policy::{
    Category, Decision, DefaultDecision, Evaluation, Policies, PolicyError, StepFacts, Violation,
    DEFAULT_APPROVAL_TIMEOUT_S, MAX_APPROVAL_TIMEOUT_S, SCHEMA,
};

#[cfg(test)]
mod tests;
