//! Step Functions: state machines, their executions, the records of their nodes and the
//! task tokens the worker answers.

use super::StoreResult;
use aos_core::workflow::Slot;
use aos_core::{ExecutionId, OutcomeError, RunId, TenantId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Answers Step Functions tasks (`.waitForTaskToken`).
#[async_trait]
pub trait TaskTokens: Send + Sync {
    /// `SendTaskSuccess`. Returns false if the task is gone (timed out, already answered).
    async fn succeed(&self, token: &str, output: &Value) -> StoreResult<bool>;
    /// `SendTaskFailure` with an error name (see `aos_core::workflow::asl::error_name`).
    async fn fail(&self, token: &str, error: &str, cause: &str) -> StoreResult<bool>;
    /// `SendTaskHeartbeat`. Returns false if the task is gone.
    async fn heartbeat(&self, token: &str) -> StoreResult<bool>;
}

/// A Step Functions execution as reported by `DescribeExecution`.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineExecution {
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    /// The final state document, once succeeded.
    pub output: Option<Value>,
    /// Error name, once failed.
    pub error: Option<String>,
    /// When it stopped (ms since the epoch), once it did.
    pub stopped_at_ms: Option<u64>,
}

/// Step Functions state machines and their executions (workflows on AWS).
#[async_trait]
pub trait StateMachines: Send + Sync {
    /// Creates a state machine; creating the same name with the same definition again
    /// returns its ARN.
    async fn create_state_machine(&self, name: &str, definition: &Value, role_arn: &str) -> StoreResult<String>;
    /// Starts an execution named `name` (idempotent for the same name and input).
    async fn start_execution(&self, state_machine_arn: &str, name: &str, input: &Value) -> StoreResult<String>;
    /// The execution's status and, when finished, its output or error.
    async fn describe_execution(&self, execution_arn: &str) -> StoreResult<MachineExecution>;
    /// Stops a running execution.
    async fn stop_execution(&self, execution_arn: &str, cause: &str) -> StoreResult<()>;
    /// Deletes a state machine nothing runs on: `Ok(false)` (kept) while it has a running
    /// execution; deleting one that is gone already is `Ok(true)`.
    async fn retire_state_machine(&self, state_machine_arn: &str) -> StoreResult<bool>;
}

/// A workflow execution started on Step Functions, as stored for the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SfnExecution {
    /// Owner.
    pub tenant: TenantId,
    /// Id (also the Step Functions execution name).
    pub id: ExecutionId,
    /// Workflow name.
    pub workflow: String,
    /// Version it is pinned to.
    pub version: u32,
    /// Its input.
    pub input: Value,
    /// Base of its runs' seeds.
    pub base_seed: u64,
    /// The Step Functions execution.
    pub execution_arn: String,
    /// Creation time.
    pub created_at_ms: u64,
    /// Its own budget (`budget_cents`), millicredits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_mc: Option<u64>,
    /// Where signed notices about it go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

/// Progress of one node (map element, compensation) of a Step Functions execution, as
/// the worker records it: the execution's per-node view while it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeProgress {
    /// Owner.
    pub tenant: TenantId,
    /// The execution.
    pub execution: ExecutionId,
    /// Node, element, compensation.
    pub slot: Slot,
    /// The latest attempt's run.
    pub run_id: RunId,
    /// `running`, `completed` or `failed`.
    pub status: aos_core::workflow::NodeStatus,
    /// When the latest attempt started.
    pub started_at_ms: u64,
    /// When it ended.
    pub ended_at_ms: Option<u64>,
    /// Output once completed.
    pub output: Option<Value>,
    /// Error once failed.
    pub error: Option<OutcomeError>,
}

/// Records of workflow executions on Step Functions.
#[async_trait]
pub trait SfnRecords: Send + Sync {
    /// Stores a started execution.
    async fn put_sfn_execution(&self, execution: &SfnExecution) -> StoreResult<()>;
    /// The execution, if this tenant has it.
    async fn sfn_execution(&self, tenant: &TenantId, id: &ExecutionId) -> StoreResult<Option<SfnExecution>>;
    /// Records a node's progress (the latest attempt wins).
    async fn put_progress(&self, progress: &NodeProgress) -> StoreResult<()>;
    /// Every recorded progress of an execution.
    async fn progress(&self, tenant: &TenantId, execution: &ExecutionId) -> StoreResult<Vec<NodeProgress>>;
    /// Up to `limit` of the tenant's executions started before `before_ms`, oldest first
    /// (retention looks at which of them ended long enough ago).
    async fn started_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<Vec<SfnExecution>>;
    /// Deletes an execution's record and its progress.
    async fn delete_sfn_execution(&self, tenant: &TenantId, id: &ExecutionId) -> StoreResult<()>;
}
