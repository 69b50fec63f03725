//! The sweep as a Lambda on a schedule (EventBridge, every minute): sends the first
//! message of runs whose submission died between the run's write and the message's send,
//! deletes finished runs past their tenant's retention and returns the credit
//! reservations of steps that never ended.

use aos_aws::{AwsAdapters, Resources};
use aos_runtime::sweep::{Sweeper, DEFAULT_GRACE};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};

/// Serves scheduled invocations until the Lambda environment shuts down.
pub async fn serve() -> Result<(), crate::Error> {
    crate::init_tracing();
    let aws = AwsAdapters::from_env(Resources::Trust).await?;
    let sweeper = Sweeper::new(aws.tenants.clone(), aws.runs.clone(), aws.queue.clone(), DEFAULT_GRACE);
    let reaper = aos_runtime::retention::Reaper::new(aws.tenants.clone(), aws.runs.clone())
        .with_records(Some(aws.workflows.clone()), aws.kv.clone(), aws.breakers.clone())
        .with_step_functions(aws.workflows.clone(), aws.sfn.clone());
    let (tenants, credits) = (aws.tenants.clone(), aws.credits.clone());
    let (sweeper, reaper, tenants, credits) = (&sweeper, &reaper, &tenants, &credits);
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let now = aos_runtime::clock::now_ms();
        let resent = sweeper.resend_stranded(now).await?;
        let expired = reaper.reap(now).await?;
        let returned = aos_runtime::credits::expire_due(tenants.as_ref(), credits.as_ref(), now).await?;
        Ok::<_, crate::Error>(json!({"resent": resent, "expired_runs": expired.runs, "expired_approvals_and_executions": expired.workflow_records, "returned_reservations": returned}))
    }))
    .await
}
