//! Governance: the policy gate's engine. Tenants' Cedar policies judge every step before
//! it runs (allow, deny, require approval), with the seed's categories and precedence,
//! and may narrow what keys do through the API.
//!
//! `policy`: a compiled set, its annotations, categories and how a step is judged;
//! `answers`: what each policy reads and the answers a set keeps; `api`: API operations
//! as Cedar actions (their schema, which policies are about them, how a request is
//! judged); `located`: where in the text a problem is.

mod answers;
mod api;
mod located;
mod policy;

pub use api::{api_schema, ApiFacts, API_GROUP};

pub use policy::{
    Category, Decision, DefaultDecision, Evaluation, Policies, PolicyError, StepFacts, Violation,
    DEFAULT_APPROVAL_TIMEOUT_S, MAX_APPROVAL_TIMEOUT_S, SCHEMA,
};

#[cfg(test)]
mod tests;
