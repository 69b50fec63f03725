//! The sweep as a Lambda on a schedule (EventBridge, every minute): sends the first
//! message of runs whose submission died between the run's write and the message's send.

use aos_aws::{AwsAdapters, Resources};
use aos_runtime::sweep::{Sweeper, DEFAULT_GRACE};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};

/// Serves scheduled invocations until the Lambda environment shuts down.
pub async fn serve() -> Result<(), crate::Error> {
    crate::init_tracing();
    let aws = AwsAdapters::from_env(Resources::Trust).await?;
    let sweeper = Sweeper::new(aws.tenants.clone(), aws.runs.clone(), aws.queue.clone(), DEFAULT_GRACE);
    let sweeper = &sweeper;
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let resent = sweeper.resend_stranded(aos_runtime::clock::now_ms()).await?;
        Ok::<_, crate::Error>(json!({"resent": resent}))
    }))
    .await
}
