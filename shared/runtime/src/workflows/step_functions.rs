//! Workflow executions on Step Functions: state machines per version, executions started
//! from the API, the per-node view projected from the worker's records.

use super::{Created, FlowError, StartExecution, WorkflowService};
use crate::clock::{now_ms, unique_suffix};
use crate::ports::{
    ExecutionRecord, IdempotencyCompletion, SfnExecution, SfnRecords, StateMachines, StoreError, TaskTokens,
    WorkflowRecord,
};
use crate::runs::IDEMPOTENCY_TTL_MS;
use aos_core::determinism::content_hash;
use aos_core::workflow::Workflow;
use aos_core::{ErrorCode, ExecutionId, TenantId};
use serde_json::json;
use std::sync::Arc;

/// Executions on Step Functions: each applied version becomes a state machine (ASL
/// compiled from the spec), an execution is a state machine execution, and its per-node
/// view is projected from what the worker records.
#[derive(Clone)]
pub struct StepFunctionsEngine {
    /// State machines and executions.
    pub machines: Arc<dyn StateMachines>,
    /// Executions and node progress.
    pub records: Arc<dyn SfnRecords>,
    /// Answers approvals' task tokens.
    pub tokens: Arc<dyn TaskTokens>,
    /// The step queue the tasks go to.
    pub queue_url: String,
    /// Role the state machines run as (may send to the step queue only).
    pub role_arn: String,
    /// Prefix of state machine names (the stack's, so IAM can scope to it).
    pub prefix: String,
    /// Where outputs too large for a state document are kept ([`crate::state_refs`]).
    pub blobs: Option<Arc<dyn crate::ports::BlobStore>>,
}

/// How many earlier versions an apply looks at to retire their state machines.
const RETIRE_WINDOW: u32 = 20;

impl StepFunctionsEngine {
    /// Creates (or finds: the name derives from tenant, workflow and spec) the state
    /// machine of a validated workflow.
    pub(super) async fn create_machine(
        &self,
        tenant: &TenantId,
        workflow: &Workflow,
        spec_hash: &str,
    ) -> Result<String, FlowError> {
        let definition = aos_core::workflow::asl::compile(
            workflow,
            &aos_core::workflow::asl::AslOptions { queue_url: self.queue_url.clone() },
        )
        .map_err(|message| FlowError::Invalid { code: ErrorCode::InvalidWorkflow, message, node: None })?;
        // One machine per tenant, name and spec: the same spec maps to the same one.
        let key = content_hash(&json!([tenant, workflow.spec().name, spec_hash]));
        let name = format!("{}{}", self.prefix, &key[..24]);
        Ok(self.machines.create_state_machine(&name, &definition, &self.role_arn).await?)
    }
}

impl WorkflowService {
    /// After a new version: the state machines of earlier versions that nothing runs on
    /// are deleted (a start of such a version makes its machine again). Machines still
    /// running executions are kept, and looked at again by the next apply. Failures are
    /// logged: the new version is in place either way.
    pub(super) async fn retire_predecessors(&self, engine: &StepFunctionsEngine, latest: &WorkflowRecord) {
        let keep = latest.state_machine_arn.as_deref();
        let first = latest.version.saturating_sub(RETIRE_WINDOW).max(1);
        for version in (first..latest.version).rev() {
            let old = match self.store.workflow(&latest.tenant, &latest.name, Some(version)).await {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, workflow = latest.name, version, "could not read an earlier version");
                    return;
                }
            };
            let Some(arn) = old.state_machine_arn.as_deref().filter(|a| Some(*a) != keep) else { continue };
            match engine.machines.retire_state_machine(arn).await {
                Ok(true) => {
                    tracing::info!(workflow = latest.name, version, "state machine of an earlier version deleted");
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, workflow = latest.name, version, "could not retire a state machine");
                }
            }
        }
    }

    pub(super) async fn start_on_step_functions(
        &self,
        engine: &StepFunctionsEngine,
        tenant: &TenantId,
        record: &WorkflowRecord,
        workflow: &Workflow,
        req: StartExecution,
        claimed: Option<(&str, &str)>,
    ) -> Result<Created<ExecutionRecord>, FlowError> {
        let (input, seed) = (req.input, req.base_seed);
        let key = claimed.map(|(k, _)| k);
        let arn = record.state_machine_arn.clone().ok_or_else(|| {
            FlowError::Conflict(
                ErrorCode::FeatureUnavailable,
                format!("version {} has no state machine; apply the spec again on this backend", record.version),
            )
        })?;
        let payload_hash = claimed.map(|(_, h)| h.to_owned()).unwrap_or_default();
        let now = now_ms();
        // With an Idempotency-Key the execution's name and seed derive from the tenant,
        // key and body: a retry after a failure anywhere past StartExecution (its answer
        // lost, the record not written) starts the same execution again, which Step
        // Functions answers with the one already started — never a second one.
        let derived = key.map(|k| content_hash(&json!(["sfn-execution", tenant, k, payload_hash])));
        let id = ExecutionId::from_suffix(&derived.as_ref().map_or_else(unique_suffix, |h| h[..32].to_owned()))
            .expect("hex suffixes are valid ids");
        let base_seed = seed.unwrap_or_else(|| {
            derived.as_ref().map_or_else(rand::random, |h| u64::from_str_radix(&h[32..48], 16).unwrap_or_default())
        });
        let budget_mc = req.budget_cents.map(|c| aos_core::credits::Millicredits::from_credits(c).0);
        let mut aos = json!({"tenant": tenant, "execution": id, "workflow": record.name, "base_seed": base_seed});
        if let Some(b) = budget_mc {
            aos["budget_mc"] = json!(b);
        }
        if let Some(u) = &req.notify_url {
            aos["notify_url"] = json!(u);
        }
        let document = aos_core::workflow::asl::start_document(&input, &aos);
        let started = async {
            let execution_arn = match engine.machines.start_execution(&arn, id.as_str(), &document).await {
                Ok(a) => a,
                // The version's machine may have been retired: make it again and retry.
                Err(first) => {
                    let Ok(again) = engine.create_machine(tenant, workflow, &record.spec_hash).await else {
                        return Err(first);
                    };
                    engine.machines.start_execution(&again, id.as_str(), &document).await?
                }
            };
            let sfn = SfnExecution {
                tenant: tenant.clone(),
                id: id.clone(),
                workflow: record.name.clone(),
                version: record.version,
                input: input.clone(),
                base_seed,
                execution_arn,
                created_at_ms: now,
                budget_mc,
                notify_url: req.notify_url.clone(),
            };
            engine.records.put_sfn_execution(&sfn).await?;
            if let Some(k) = key {
                let done = IdempotencyCompletion {
                    key: k.to_owned(),
                    payload_hash: payload_hash.clone(),
                    result: json!({"execution_id": id}),
                    expires_at_ms: now + IDEMPOTENCY_TTL_MS,
                };
                self.idempotency.complete(tenant, &done).await?;
            }
            Ok::<_, StoreError>(sfn)
        }
        .await;
        let sfn = match started {
            Ok(sfn) => sfn,
            Err(e) => {
                if let Some(k) = key {
                    if let Err(release) = self.idempotency.release(tenant, k).await {
                        tracing::warn!(error = %release, "could not release an idempotency claim");
                    }
                }
                return Err(e.into());
            }
        };
        let running = crate::ports::MachineExecution {
            status: "RUNNING".to_owned(),
            output: None,
            error: None,
            stopped_at_ms: None,
        };
        let value = crate::sfn::project(workflow, &sfn, &running, &[], &[], now);
        Ok(Created { value, created: true })
    }
}
