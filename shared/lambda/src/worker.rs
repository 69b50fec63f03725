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

/// The numbers of the worker Lambda, in one place (`scripts/check_template.py` holds the
/// template to them):
/// - the function's timeout is [`FUNCTION_TIMEOUT`], and the step queue's visibility at
///   least six times that (what Lambda asks of an SQS event source);
/// - a record's message is hidden for [`LEASE`] as soon as its handling starts and the
///   step's claim lasts as long; heartbeats every third of it extend both, so a record whose
///   invocation died is taken over a lease later, not after the queue's visibility;
/// - the records of a batch run concurrently, every step capped at the invocation's
///   remaining time less [`COMMIT_MARGIN`], so its worst case (an agent planner's model
///   calls included) ends, and commits, before the function is stopped.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);
/// How long a record's message and claim last between heartbeats.
pub const LEASE: Duration = Duration::from_secs(60);
/// Time kept back from each step for its commit and the batch's answer.
pub const COMMIT_MARGIN: Duration = Duration::from_secs(20);

/// What a step may take when the invocation has `remaining` left: that less the commit
/// margin (a quarter of it on a function configured shorter than four margins). A
/// deadline already past (an emulator that sends none) counts as a whole function timeout.
pub fn step_budget(remaining: Duration) -> Duration {
    let remaining = if remaining.is_zero() { FUNCTION_TIMEOUT } else { remaining };
    remaining - COMMIT_MARGIN.min(remaining / 4)
}

/// Handles one SQS batch, its records concurrently, with `remaining` time left in the
/// invocation: failures (busy, malformed, store failure, no time left) are reported per
/// record, so only they come back.
pub async fn handle_batch(worker: &StepWorker, event: SqsEvent, remaining: Duration) -> SqsBatchResponse {
    let max_step = step_budget(remaining);
    let worker = worker.within(max_step, max_step / 2);
    let handled = futures_util::future::join_all(event.records.into_iter().map(|record| {
        let worker = &worker;
        async move {
            let id = record.message_id.clone().unwrap_or_default();
            let received = Received::new(
                record.receipt_handle.clone().unwrap_or_default(),
                record.body.clone().unwrap_or_default(),
                record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1),
            );
            if max_step.is_zero() {
                return (id, Handled::Busy);
            }
            // Hidden for a lease, not the queue's visibility: if this invocation dies, the
            // record comes back a lease later.
            if let Err(e) = worker.lease(&received, LEASE).await {
                tracing::warn!(error = %e, message_id = id, "could not shorten the record's visibility to its lease");
            }
            let outcome = worker.handle(&received).await;
            (id, outcome)
        }
    }))
    .await;
    let mut failures = Vec::new();
    for (id, outcome) in handled {
        if outcome != Handled::Done {
            tracing::warn!(message_id = id, outcome = ?outcome, "record not finished; reported as a batch item failure");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// The worker from AWS adapters configured by the environment (see [`FUNCTION_TIMEOUT`]
/// for its numbers).
pub async fn worker_from_env() -> Result<StepWorker, crate::Error> {
    let aws = AwsAdapters::from_env(Resources::Trust).await?;
    let policy = AddressPolicy::parse_allow_list(&std::env::var("AOS_HTTP_ALLOW_HOSTS").unwrap_or_default())?;
    let config = WorkerConfig {
        visibility: LEASE,
        heartbeat: LEASE / 3,
        chain_budget: FUNCTION_TIMEOUT / 2,
        max_step: Some(FUNCTION_TIMEOUT - COMMIT_MARGIN),
        ..WorkerConfig::default()
    };
    // Workflows run on Step Functions: the worker answers their task tokens.
    let tasks = aws.sfn_tasks();
    let bedrock: Arc<dyn aos_runtime::llm::LlmProvider> = Arc::new(aos_aws::BedrockConverse::lazy());
    let extra = WorkerSkills::from_env(aws.secrets.clone(), &policy, Some(bedrock), Some(aws.mailer()))?;
    let credits = aos_runtime::credits::CreditService::new(aws.credits.clone()).with_llm(extra.llm.clone());
    let skills = worker_registry(policy, extra)?;
    let (breakers, secrets, approvals) = (aws.breakers.clone(), aws.tenant_secrets.clone(), aws.workflows.clone());
    // Every tenant's steps are held to its plan's spend limits.
    let quotas = aos_runtime::limits::QuotaService::new(aws.tenants.clone(), aws.runs.clone(), crate::default_plan()?);
    let flags = aos_runtime::flags::FlagService::new(aws.flags.clone(), crate::environment())
        .with_cache_ttl(crate::policy_cache_ttl()?);
    // A warm worker reads a tenant's policies at most once per cache period
    // (`AOS_POLICY_CACHE_MS`, default 10 s: how long a change may take to reach it).
    let policies =
        aos_runtime::policies::PolicyService::new(aws.policies.clone()).with_cache_ttl(crate::policy_cache_ttl()?);
    Ok(StepWorker::new(aws.runs, aws.queue, aws.kv, Arc::new(skills), config)
        .with_sfn_tasks(tasks)
        .with_breakers(breakers)
        .with_secrets(secrets)
        .with_policies(policies)
        .with_approvals(approvals)
        .with_flags(flags)
        .with_credits(credits)
        .with_quotas(quotas))
}

/// Serves SQS batches until the Lambda environment shuts down.
pub async fn serve() -> Result<(), crate::Error> {
    crate::init_tracing();
    let worker = worker_from_env().await?;
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = std::time::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        let remaining = deadline.duration_since(std::time::SystemTime::now()).unwrap_or_default();
        Ok::<_, crate::Error>(handle_batch(worker, event.payload, remaining).await)
    }))
    .await
}
