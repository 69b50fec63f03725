//! Workflows: a DAG of skill calls, choices, maps, waits and approvals, declared once
//! ([`spec`]), validated ([`validate`]), then executed by the embedded executor's state
//! machine ([`exec`]) or compiled to Amazon States Language for Step Functions
//! ([`asl`]), with the same results.

pub mod asl;
pub mod condition;
pub mod exec;
pub mod spec;
pub mod validate;

pub use condition::{Condition, Op};
pub use exec::{
    final_output, Action, Ctx, Decision, Event, ExecState, ExecStatus, IdSource, NodeState, NodeStatus, Slot,
};
pub use spec::{parse, Format, NodeSpec, NodeType, ParseError, WorkflowSpec};
pub use validate::{SkillCatalog, Workflow, WorkflowError};

#[cfg(test)]
mod tests;
