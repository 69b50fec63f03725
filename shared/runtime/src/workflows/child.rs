//! The one-step run of a workflow node, map element or compensation.

use super::FlowError;
use crate::ports::{ParentLink, RunRecord};
use aos_core::determinism::labelled_seed;
use aos_core::workflow::Slot;
use aos_core::{ErrorCode, ExecutionId, Plan, PlanStep, RunId, TenantId};
use serde_json::{json, Value};

/// A one-step run for a workflow node, map element or compensation.
pub(crate) struct ChildRun<'a> {
    pub(crate) tenant: &'a TenantId,
    pub(crate) execution: &'a ExecutionId,
    pub(crate) workflow: &'a str,
    pub(crate) base_seed: u64,
    pub(crate) slot: Slot,
    pub(crate) run_id: RunId,
    pub(crate) skill: String,
    pub(crate) input: Value,
    pub(crate) max_attempts: u32,
    pub(crate) backoff_ms: u64,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) task_token: Option<String>,
    /// The execution's budget, millicredits.
    pub(crate) budget_mc: Option<u64>,
    /// Where signed notices about the execution go.
    pub(crate) notify_url: Option<String>,
}

impl ChildRun<'_> {
    pub(crate) fn build(self, now: u64) -> Result<RunRecord, FlowError> {
        let slot = self.slot;
        let label = match (slot.item, slot.compensation) {
            (Some(i), _) => format!("{}[{i}]", slot.node),
            (None, true) => format!("{}.compensate", slot.node),
            (None, false) => slot.node.clone(),
        };
        let step_id = label.replace(['[', ']', '.'], "_");
        // The resolved input is the run input and the step reads it whole, so values
        // that happen to contain `${` are never resolved a second time.
        let plan = Plan::new(vec![PlanStep {
            id: Some(step_id.trim_end_matches('_').to_owned()),
            skill: self.skill,
            input: json!("${input}"),
            max_attempts: Some(self.max_attempts),
            timeout_ms: self.timeout_ms,
            backoff_ms: Some(self.backoff_ms.max(1)),
        }])
        .map_err(|e| FlowError::Invalid {
            code: ErrorCode::InvalidWorkflow,
            message: e.0,
            node: Some(slot.node.clone()),
        })?;
        let base_seed = labelled_seed(self.base_seed, &label);
        let parent = ParentLink {
            execution: self.execution.clone(),
            slot,
            workflow: self.workflow.to_owned(),
            task_token: self.task_token,
            budget_mc: self.budget_mc,
        };
        let run = RunRecord::queued(self.tenant.clone(), self.run_id, plan, self.input, base_seed, Some(parent), now);
        Ok(run.with_notify_url(self.notify_url))
    }
}
