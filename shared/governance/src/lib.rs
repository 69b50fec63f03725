//! Governance: the policy gate's engine. Tenants' Cedar policies judge every step before
//! it runs (allow, deny, require approval), with the seed's categories and precedence.

mod policy;

pub use policy::{
    Category, Decision, DefaultDecision, Evaluation, Policies, PolicyError, StepFacts, Violation,
    DEFAULT_APPROVAL_TIMEOUT_S, MAX_APPROVAL_TIMEOUT_S, SCHEMA,
};

#[cfg(test)]
mod tests;
