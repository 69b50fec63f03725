//! The workflow messages the embedded executor puts on the step queue.

use aos_core::workflow::Slot;
use aos_core::{ExecutionId, RunId, TenantId};
use serde::{Deserialize, Serialize};

/// A workflow message on the step queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkflowMessage {
    /// A run of an execution ended.
    RunEnded {
        /// Owner.
        tenant: TenantId,
        /// The execution.
        execution: ExecutionId,
        /// Whose run.
        slot: Slot,
        /// The run.
        run_id: RunId,
    },
    /// A wait node's timer or an approval's timeout is due.
    Timer {
        /// Owner.
        tenant: TenantId,
        /// The execution.
        execution: ExecutionId,
        /// The node.
        node: String,
    },
}

impl WorkflowMessage {
    /// The queue body.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("workflow messages serialize")
    }

    /// Parses a queue body; `None` if it is not a workflow message.
    pub fn decode(body: &str) -> Option<Self> {
        if !body.contains("\"kind\"") {
            return None;
        }
        serde_json::from_str(body).ok()
    }
}
