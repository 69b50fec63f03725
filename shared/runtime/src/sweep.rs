//! Sweeps: what keeps the promises of a backend whose writes cannot all be one. On AWS a
//! run's record (DynamoDB) and its first message (SQS) are two writes; a crash between
//! them leaves a run that exists without its first message. The sweep finds runs still
//! queued at step 0 some time after they were submitted and sends their first message
//! again. A duplicate is harmless: the step's claim lets one delivery through.
//! Likewise a cancel and the wake-up of whoever waits for the run: runs cancelled in the
//! window before the last one get their wake-up sent again (waiters ignore repeats) and
//! their agent tree cancelled again (runs already finished are left alone). A cancel stays in
//! that window for `grace`: sweeps every `grace / 2` send its wake-up once or twice.

use crate::ports::{Queue, RunStore, StepMessage, StoreResult, TenantStore};
use crate::worker::encode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Runs queued longer than this are taken for stranded. Longer than any submission
/// takes; a backlog only costs duplicate messages.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);
/// How often `aos dev --backend aws` sweeps (the Lambda runs on its own schedule).
pub const DEFAULT_EVERY: Duration = Duration::from_secs(30);
/// Tenants read per page, stranded runs re-sent per tenant and sweep.
const PAGE: u32 = 100;

/// Re-sends the first message of stranded runs.
#[derive(Clone)]
pub struct Sweeper {
    tenants: Arc<dyn TenantStore>,
    runs: Arc<dyn RunStore>,
    queue: Arc<dyn Queue>,
    grace: Duration,
}

impl Sweeper {
    /// A sweeper over every tenant's runs, sending on `queue`.
    pub fn new(tenants: Arc<dyn TenantStore>, runs: Arc<dyn RunStore>, queue: Arc<dyn Queue>, grace: Duration) -> Self {
        Self { tenants, runs, queue, grace }
    }

    /// One sweep at `now_ms`: runs queued since before `now - grace` get their first
    /// message again, runs cancelled in `[now - 2 grace, now - grace)` their waiter's
    /// wake-up.
    /// Returns how many messages were sent.
    pub async fn resend_stranded(&self, now_ms: u64) -> StoreResult<usize> {
        let before = now_ms.saturating_sub(u64::try_from(self.grace.as_millis()).unwrap_or(u64::MAX));
        let mut sent = 0;
        let mut after = None;
        loop {
            let tenants = self.tenants.tenant_ids(after.as_ref(), PAGE).await?;
            for tenant in &tenants {
                for run in self.runs.queued_before(tenant, before, PAGE).await? {
                    let first = StepMessage { tenant: tenant.clone(), run_id: run.id.clone(), step_index: 0 };
                    self.queue.send(&encode(&first), Duration::ZERO).await?;
                    tracing::warn!(run = %run.id, "first message of a stranded run sent again");
                    sent += 1;
                }
                let window = before.saturating_sub(u64::try_from(self.grace.as_millis()).unwrap_or(u64::MAX));
                for run in self.runs.cancelled_between(tenant, window, before, PAGE).await? {
                    if let Some(body) = crate::worker::notify_parent(&run) {
                        self.queue.send(&body, Duration::ZERO).await?;
                        sent += 1;
                    }
                    crate::runs::cancel_descendants(self.runs.as_ref(), tenant, &run).await?;
                }
            }
            if tenants.len() < PAGE as usize {
                return Ok(sent);
            }
            after = tenants.last().cloned();
        }
    }

    /// Sweeps every `every` until `shutdown` turns true.
    pub async fn run_loop(self, every: Duration, shutdown: watch::Receiver<bool>) {
        periodically(every, shutdown, "sweep of stranded runs", |now| self.resend_stranded(now)).await;
    }
}

/// Runs `pass` (given the time) every `every` until `shutdown` turns true; a failed pass
/// is logged as `what` and the next one comes as usual.
pub(crate) async fn periodically<T, F, Fut>(every: Duration, mut shutdown: watch::Receiver<bool>, what: &str, pass: F)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = pass(crate::clock::now_ms()).await {
            tracing::error!(error = %e, "{what} failed");
        }
    }
}
