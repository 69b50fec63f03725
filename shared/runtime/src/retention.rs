//! Retention: how long a finished run is kept, and the reaper that deletes what is past it.
//! Each tenant keeps its finished runs (with their checkpoints, step claims and outputs)
//! for its `retention_days` ([`DEFAULT_DAYS`] unless set), counted from the run's end, and
//! so its closed approvals and ended workflow executions. A run that has not ended is never
//! deleted, however old: the stores refuse to. Expiring key-value entries (the LLM response
//! cache) go at their expiry and circuit breakers a week after their last change (DynamoDB's
//! TTL does both there; the reaper on the embedded store).

use crate::ports::{
    BreakerStore, KvStore, RunStore, SfnRecords, StateMachines, StoreResult, TenantRecord, TenantStore, WorkflowStore,
    BREAKER_IDLE_MS,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Days a finished run is kept unless its tenant says otherwise.
pub const DEFAULT_DAYS: u32 = 30;
/// The shortest retention: a day (an idempotency key, kept 24 h, never outlives its run).
pub const MIN_DAYS: u32 = 1;
/// The longest retention a tenant may ask for: ten years.
pub const MAX_DAYS: u32 = 3650;
/// How often `aos dev` reaps (the AWS sweep Lambda runs every minute).
pub const DEFAULT_EVERY: Duration = Duration::from_secs(60);
/// Tenants read per page, runs deleted per tenant and batch.
const PAGE: u32 = 100;
const DAY_MS: u64 = 86_400_000;

/// A retention a tenant asked for, checked: `MIN_DAYS..=MAX_DAYS`.
pub fn check_days(days: u32) -> Result<u32, String> {
    if (MIN_DAYS..=MAX_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(format!("retention_days must be {MIN_DAYS} to {MAX_DAYS}; got {days}"))
    }
}

/// The tenant's retention in days.
pub fn days_of(tenant: &TenantRecord) -> u32 {
    tenant.retention_days.unwrap_or(DEFAULT_DAYS)
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Finished runs, with everything of them.
    pub runs: usize,
    /// Closed approvals and ended executions.
    pub workflow_records: u64,
    /// Expired key-value entries.
    pub kv: u64,
    /// Idle circuit breakers.
    pub breakers: u64,
    /// Records of Step Functions executions (with their node progress).
    pub sfn_executions: usize,
}

/// Deletes every tenant's records past their retention.
#[derive(Clone)]
pub struct Reaper {
    tenants: Arc<dyn TenantStore>,
    runs: Arc<dyn RunStore>,
    workflows: Option<Arc<dyn WorkflowStore>>,
    kv: Option<Arc<dyn KvStore>>,
    breakers: Option<Arc<dyn BreakerStore>>,
    sfn: Option<(Arc<dyn SfnRecords>, Arc<dyn StateMachines>)>,
}

impl Reaper {
    /// Over every tenant's runs.
    pub fn new(tenants: Arc<dyn TenantStore>, runs: Arc<dyn RunStore>) -> Self {
        Self { tenants, runs, workflows: None, kv: None, breakers: None, sfn: None }
    }

    /// Also the records of Step Functions executions: those started before a tenant's
    /// cutoff are described, and deleted once they stopped before it.
    #[must_use]
    pub fn with_step_functions(mut self, records: Arc<dyn SfnRecords>, machines: Arc<dyn StateMachines>) -> Self {
        self.sfn = Some((records, machines));
        self
    }

    /// Also approvals and executions (`workflows`), expiring entries (`kv`) and idle
    /// breakers.
    #[must_use]
    pub fn with_records(
        mut self,
        workflows: Option<Arc<dyn WorkflowStore>>,
        kv: Arc<dyn KvStore>,
        breakers: Arc<dyn BreakerStore>,
    ) -> Self {
        self.workflows = workflows;
        self.kv = Some(kv);
        self.breakers = Some(breakers);
        self
    }

    /// One pass at `now_ms`: deletes the runs, approvals and executions that ended more
    /// than their tenant's retention ago, expired entries and idle breakers.
    pub async fn reap(&self, now_ms: u64) -> StoreResult<Reaped> {
        let mut reaped = Reaped::default();
        if let Some(kv) = &self.kv {
            reaped.kv = kv.purge_expired(now_ms).await?;
        }
        if let Some(breakers) = &self.breakers {
            reaped.breakers = breakers.forget_idle(now_ms.saturating_sub(BREAKER_IDLE_MS)).await?;
        }
        let mut after = None;
        loop {
            let tenants = self.tenants.tenant_ids(after.as_ref(), PAGE).await?;
            for id in &tenants {
                let Some(tenant) = self.tenants.tenant(id).await? else { continue };
                let cutoff = now_ms.saturating_sub(u64::from(days_of(&tenant)) * DAY_MS);
                loop {
                    let expired = self.runs.ended_before(id, cutoff, PAGE).await?;
                    for run in &expired {
                        if self.runs.delete_run(id, run).await? {
                            reaped.runs += 1;
                        }
                    }
                    if expired.len() < PAGE as usize {
                        break;
                    }
                }
                if let Some((records, machines)) = &self.sfn {
                    // One page a pass: executions still running stay in it until they stop.
                    for e in records.started_before(id, cutoff, PAGE).await? {
                        match machines.describe_execution(&e.execution_arn).await {
                            Ok(m) if m.stopped_at_ms.is_some_and(|t| t < cutoff) => {
                                records.delete_sfn_execution(id, &e.id).await?;
                                reaped.sfn_executions += 1;
                            }
                            Ok(_) => {}
                            Err(err) => {
                                tracing::warn!(error = %err, execution = %e.id, "could not describe an old execution");
                            }
                        }
                    }
                }
                if let Some(workflows) = &self.workflows {
                    loop {
                        let n = workflows.expire_before(id, cutoff, PAGE).await?;
                        reaped.workflow_records += n;
                        if n < u64::from(PAGE) {
                            break;
                        }
                    }
                }
            }
            if tenants.len() < PAGE as usize {
                if reaped != Reaped::default() {
                    tracing::info!(?reaped, "records past their retention deleted");
                }
                return Ok(reaped);
            }
            after = tenants.last().cloned();
        }
    }

    /// Reaps every `every` until `shutdown` turns true.
    pub async fn run_loop(self, every: Duration, shutdown: watch::Receiver<bool>) {
        crate::sweep::periodically(every, shutdown, "retention pass", |now| self.reap(now)).await;
    }
}
