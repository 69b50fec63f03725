//! Step Functions: the task-token answers the worker sends, and the state machines and
//! executions of workflows compiled to ASL.

use crate::dynamo::sdk_err;
use aos_runtime::ports::{MachineExecution, StateMachines, StoreError, StoreResult, TaskTokens};
use async_trait::async_trait;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::Client;
use serde_json::Value;

/// Step Functions through the SDK.
#[derive(Clone)]
pub struct StepFunctions {
    client: Client,
}

/// The ARN of execution `name` of a state machine (`…:stateMachine:<m>` →
/// `…:execution:<m>:<name>`).
fn execution_arn(state_machine_arn: &str, name: &str) -> Option<String> {
    let (head, machine) = state_machine_arn.split_once(":stateMachine:")?;
    Some(format!("{head}:execution:{machine}:{name}"))
}

/// Errors meaning the task is gone: it timed out, was answered, or its execution ended.
fn task_gone(code: Option<&str>) -> bool {
    matches!(code, Some("TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken"))
}

impl StepFunctions {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl StateMachines for StepFunctions {
    async fn create_state_machine(&self, name: &str, definition: &Value, role_arn: &str) -> StoreResult<String> {
        // Same name, definition and role again: Step Functions answers the existing ARN.
        let out = self
            .client
            .create_state_machine()
            .name(name)
            .definition(definition.to_string())
            .role_arn(role_arn)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.state_machine_arn)
    }

    async fn start_execution(&self, state_machine_arn: &str, name: &str, input: &Value) -> StoreResult<String> {
        let started = self
            .client
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await;
        let err = match started {
            Ok(out) => return Ok(out.execution_arn),
            Err(e) => e,
        };
        if !err.as_service_error().is_some_and(|e| e.is_execution_already_exists()) {
            return Err(sdk_err(err));
        }
        // Started before (a retry after a lost answer, or after it already ended): the
        // same execution when its input is the same, else the name is taken.
        let arn = execution_arn(state_machine_arn, name)
            .ok_or_else(|| StoreError::Backend(format!("not a state machine ARN: {state_machine_arn}")))?;
        let existing = self.client.describe_execution().execution_arn(&arn).send().await.map_err(sdk_err)?;
        let same =
            existing.input.as_deref().and_then(|i| serde_json::from_str::<Value>(i).ok()).as_ref() == Some(input);
        if same {
            Ok(arn)
        } else {
            Err(StoreError::Conflict(format!("execution {name} exists with another input")))
        }
    }

    async fn retire_state_machine(&self, state_machine_arn: &str) -> StoreResult<bool> {
        let running = self
            .client
            .list_executions()
            .state_machine_arn(state_machine_arn)
            .status_filter(aws_sdk_sfn::types::ExecutionStatus::Running)
            .max_results(1)
            .send()
            .await;
        match running {
            Ok(out) if !out.executions.is_empty() => return Ok(false),
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|se| se.is_state_machine_does_not_exist()) => return Ok(true),
            Err(e) => return Err(sdk_err(e)),
        }
        self.client.delete_state_machine().state_machine_arn(state_machine_arn).send().await.map_err(sdk_err)?;
        Ok(true)
    }

    async fn describe_execution(&self, execution_arn: &str) -> StoreResult<MachineExecution> {
        let out = self.client.describe_execution().execution_arn(execution_arn).send().await.map_err(sdk_err)?;
        Ok(MachineExecution {
            status: out.status.as_str().to_owned(),
            output: out.output.and_then(|o| serde_json::from_str(&o).ok()),
            error: out.error,
            stopped_at_ms: out.stop_date.and_then(|d| u64::try_from(d.to_millis().ok()?).ok()),
        })
    }

    async fn stop_execution(&self, execution_arn: &str, cause: &str) -> StoreResult<()> {
        self.client.stop_execution().execution_arn(execution_arn).cause(cause).send().await.map_err(sdk_err)?;
        Ok(())
    }
}

#[async_trait]
impl TaskTokens for StepFunctions {
    async fn succeed(&self, token: &str, output: &Value) -> StoreResult<bool> {
        match self.client.send_task_success().task_token(token).output(output.to_string()).send().await {
            Ok(_) => Ok(true),
            Err(e) if task_gone(e.code()) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn fail(&self, token: &str, error: &str, cause: &str) -> StoreResult<bool> {
        match self.client.send_task_failure().task_token(token).error(error).cause(cause).send().await {
            Ok(_) => Ok(true),
            Err(e) if task_gone(e.code()) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn heartbeat(&self, token: &str) -> StoreResult<bool> {
        match self.client.send_task_heartbeat().task_token(token).send().await {
            Ok(_) => Ok(true),
            Err(e) if task_gone(e.code()) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }
}
