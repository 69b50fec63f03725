//! The step worker as a Lambda on the SQS event source. Each record goes through the
//! same pipeline as in `aos dev`; records that did not finish (busy, malformed, store
//! failure) are reported as batch item failures so only they come back, and a malformed
//! one reaches the dead-letter queue after its maximum receive count.

use aos_aws::{AwsAdapters, Resources};

use aos_runtime::net::AddressPolicy;
use aos_runtime::ports::Received;
use aos_runtime::skills::{worker_registry, WorkerSkills};
use aos_runtime::worker::{Handled, StepWorker, WorkerConfig};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;
use std::time::Duration;

/// Handles one SQS batch: every record once, failures reported per record.
pub async fn handle_batch(worker: &StepWorker, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let received = Received {
            receipt: record.receipt_handle.clone().unwrap_or_default(),
            body: record.body.clone().unwrap_or_default(),
            receive_count: record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1),
        };
        match worker.handle(&received).await {
            Handled::Done => {}
            other => {
                tracing::warn!(message_id = id, outcome = ?other, "record not finished; reported as a batch item failure");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// The worker from AWS adapters configured by the environment. The visibility timeout
/// (`AOS_VISIBILITY_TIMEOUT_S`, default 180) must match the queue's.
pub async fn worker_from_env() -> Result<StepWorker, crate::Error> {
    let aws = AwsAdapters::from_env(Resources::Trust).await?;
    let policy = AddressPolicy::parse_allow_list(&std::env::var("AOS_HTTP_ALLOW_HOSTS").unwrap_or_default())?;
    let visibility: u64 = std::env::var("AOS_VISIBILITY_TIMEOUT_S").ok().and_then(|v| v.parse().ok()).unwrap_or(180);
    let config = WorkerConfig {
        visibility: Duration::from_secs(visibility),
        heartbeat: Duration::from_secs((visibility / 3).max(1)),
        // Hand long runs back to the queue well before the function's 30 s timeout.
        chain_budget: Duration::from_secs(15),
        ..WorkerConfig::default()
    };
    // Workflows run on Step Functions: the worker answers their task tokens.
    let tasks = aws.sfn_tasks();
    let bedrock: Arc<dyn aos_runtime::llm::LlmProvider> = Arc::new(aos_aws::BedrockConverse::lazy());
    let extra = WorkerSkills::from_env(aws.secrets.clone(), &policy, Some(bedrock), Some(aws.mailer()))?;
    let skills = worker_registry(policy, extra)?;
    let breakers = aws.breakers.clone();
    Ok(StepWorker::new(aws.runs, aws.queue, aws.kv, Arc::new(skills), config)
        .with_sfn_tasks(tasks)
        .with_breakers(breakers))
}

/// Serves SQS batches until the Lambda environment shuts down.
pub async fn serve() -> Result<(), crate::Error> {
    crate::init_tracing();
    let worker = worker_from_env().await?;
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, crate::Error>(handle_batch(worker, event.payload).await)
    }))
    .await
}
