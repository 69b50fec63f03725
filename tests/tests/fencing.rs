//! Every write of a step is fenced by its claim, and a step begins only in a run the
//! lifecycle lets run — on both backends, through the store port itself.

use aos_core::{RunId, RunStatus, StructuredOutcome, TenantId};
use aos_runtime::ports::{BeginOutcome, BeginStep, StepRetry};
use aos_runtime::runs::{RunService, SubmitRun};
use aos_runtime::skills::KvStoreSkill;
use aos_runtime::SkillRegistry;
use aos_tests::backends::Ports;
use aos_tests::contract;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn tenant() -> TenantId {
    TenantId::parse("ten_fence").expect("id")
}

async fn submit(p: &Ports, steps: usize) -> RunId {
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(KvStoreSkill)).expect("kv");
    let service = RunService::new(Arc::clone(&p.runs), Arc::clone(&p.idempotency), Arc::new(reg));
    let plan: Vec<_> =
        (0..steps).map(|i| json!({"skill": "kv_store", "input": {"op": "get", "key": format!("k{i}")}})).collect();
    let body: SubmitRun = serde_json::from_value(json!({"plan": plan})).expect("body");
    service.submit(&tenant(), body, None).await.expect("submitted").run.id
}

fn begin(run: &RunId, claim: &str, now_ms: u64) -> BeginStep {
    BeginStep {
        tenant: tenant(),
        run_id: run.clone(),
        step_index: 0,
        claim: claim.to_owned(),
        claim_until_ms: now_ms + 1_000,
        durable: true,
        reserve: None,
        deferrable: false,
        resumed: false,
        now_ms,
    }
}

/// Takes `step`'s claim, which must be granted.
async fn claims(p: &Ports, step: &BeginStep) {
    let outcome = p.runs.begin_step(step).await.expect("claim");
    assert!(matches!(outcome, BeginOutcome::Claimed { .. }), "{outcome:?}");
}

async fn commit_by(p: &Ports, run: &RunId, claim: &str) -> aos_runtime::ports::Committed {
    let stored = p.runs.run(&tenant(), run).await.expect("read").expect("run");
    let commit =
        aos_tests::ending_commit(&stored, "kv_store", claim, json!({"by": claim}), aos_runtime::clock::now_ms());
    p.runs.commit_step(&commit).await.expect("commit answers")
}

contract!(a_step_never_begins_after_its_run_was_cancelled, 5, |p: Ports| async move {
    let run = submit(&p, 2).await;
    let now = aos_runtime::clock::now_ms();
    claims(&p, &begin(&run, "first", now)).await;
    p.runs.cancel_run(&tenant(), &run, now, &[]).await.expect("cancelled");
    // The first claim has expired: without the run's state in the claim, a redelivered
    // message would take the step over and run it after the cancel was acknowledged.
    let late = p.runs.begin_step(&begin(&run, "late", now + 5_000)).await.expect("claim");
    assert_eq!(late, BeginOutcome::AlreadyDone, "a cancelled run's step does not begin");
});

contract!(a_worker_whose_claim_was_taken_over_can_neither_extend_nor_retry_nor_commit, 5, |p: Ports| async move {
    let run = submit(&p, 1).await;
    let now = aos_runtime::clock::now_ms();
    claims(&p, &begin(&run, "old", now)).await;
    // The old claim expires (its worker stalled); a redelivery takes the step over.
    let taken = p.runs.begin_step(&begin(&run, "new", now + 2_000)).await.expect("claim");
    assert_eq!(taken, BeginOutcome::Claimed { attempt: 2, taken_over: true, reserved: None });
    assert!(
        !p.runs.extend_claim(&tenant(), &run, 0, "old", now + 60_000).await.expect("extend"),
        "the old claim is gone"
    );
    assert!(p.runs.extend_claim(&tenant(), &run, 0, "new", now + 60_000).await.expect("extend"), "the new one holds");
    let error = StructuredOutcome::failure(aos_core::ErrorCode::Http503, "flaky").error.expect("error");
    let retry = StepRetry {
        tenant: tenant(),
        run_id: run.clone(),
        step_index: 0,
        last_error: error,
        delay: Duration::from_secs(900),
        ack: None,
        claim: "old".into(),
        now_ms: now + 3_000,
    };
    p.runs.retry_step(&retry).await.expect("retry answers");
    let progress = p.runs.step_progress(&tenant(), &run).await.expect("progress");
    assert!(
        progress[0].claim_until_ms > 0 && progress[0].last_error.is_none(),
        "the old worker's retry changed nothing: {progress:?}"
    );
    let stale = commit_by(&p, &run, "old").await;
    assert_eq!((stale.status, stale.next_step), (RunStatus::Running, 0), "the old worker's commit is refused");
    assert!(p.runs.checkpoints(&tenant(), &run).await.expect("checkpoints").is_empty());
    let done = commit_by(&p, &run, "new").await;
    assert_eq!((done.status, done.next_step), (RunStatus::Succeeded, 1));
    let cps = p.runs.checkpoints(&tenant(), &run).await.expect("checkpoints");
    assert_eq!(cps.len(), 1);
    assert_eq!(cps[0].hash, "hash-by-new", "the checkpoint is the new claim's");
});

contract!(cancelled_runs_are_found_by_the_time_of_their_cancel_for_the_sweep, 5, |p: Ports| async move {
    let run = submit(&p, 1).await;
    let at = aos_runtime::clock::now_ms();
    p.runs.cancel_run(&tenant(), &run, at, &[]).await.expect("cancelled");
    let found = p.runs.cancelled_between(&tenant(), at, at + 1, 10).await.expect("query");
    assert_eq!(found.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![run]);
    assert!(p.runs.cancelled_between(&tenant(), at + 1, at + 1000, 10).await.expect("query").is_empty());
    assert!(
        p.runs.queued_before(&tenant(), at + 1000, 10).await.expect("query").is_empty(),
        "a cancelled run is not stranded"
    );
});

/// The first claim of a run's first step, deferred to whatever write of the step comes
/// first (a worker's first delivery of a step safe to run twice).
fn deferred(run: &RunId, claim: &str, now_ms: u64) -> BeginStep {
    BeginStep { deferrable: true, durable: false, ..begin(run, claim, now_ms) }
}

async fn status(p: &Ports, run: &RunId) -> RunStatus {
    p.runs.run(&tenant(), run).await.expect("read").expect("run").status
}

contract!(a_deferred_first_claim_writes_nothing_and_its_commit_takes_it, 5, |p: Ports| async move {
    let run = submit(&p, 1).await;
    let now = aos_runtime::clock::now_ms();
    let lazy = p.runs.begin_step(&deferred(&run, "lazy", now)).await.expect("claim");
    assert_eq!(lazy, BeginOutcome::Claimed { attempt: 1, taken_over: false, reserved: None });
    assert_eq!(status(&p, &run).await, RunStatus::Queued, "nothing was written");
    // A store may show the step running from what it keeps in memory (the embedded one
    // does), but wrote no claim: nothing else shows.
    let progress = p.runs.step_progress(&tenant(), &run).await.expect("progress");
    assert!(progress.iter().all(|s| s.step_index == 0 && s.attempts == 1 && s.last_error.is_none()), "{progress:?}");
    let done = commit_by(&p, &run, "lazy").await;
    assert_eq!((done.status, done.next_step), (RunStatus::Succeeded, 1), "the commit takes the claim");
    assert_eq!(status(&p, &run).await, RunStatus::Succeeded);
    let cps = p.runs.checkpoints(&tenant(), &run).await.expect("checkpoints");
    assert_eq!(cps.iter().map(|c| c.hash.as_str()).collect::<Vec<_>>(), ["hash-by-lazy"]);
});

contract!(a_claim_taken_while_a_deferred_one_ran_refuses_the_deferred_commit, 5, |p: Ports| async move {
    let run = submit(&p, 1).await;
    let now = aos_runtime::clock::now_ms();
    claims(&p, &deferred(&run, "lazy", now)).await;
    // A second delivery (the first worker stalled past its visibility) claims first.
    let eager = p.runs.begin_step(&begin(&run, "eager", now + 1)).await.expect("claim");
    assert_eq!(eager, BeginOutcome::Claimed { attempt: 1, taken_over: false, reserved: None });
    assert!(!p.runs.extend_claim(&tenant(), &run, 0, "lazy", now + 60_000).await.expect("extend"));
    let stale = commit_by(&p, &run, "lazy").await;
    assert_eq!((stale.status, stale.next_step), (RunStatus::Running, 0), "the deferred commit is refused");
    assert!(p.runs.checkpoints(&tenant(), &run).await.expect("checkpoints").is_empty());
    let done = commit_by(&p, &run, "eager").await;
    assert_eq!((done.status, done.next_step), (RunStatus::Succeeded, 1));
});

contract!(a_heartbeat_takes_a_deferred_claim_and_holds_the_step_against_others, 5, |p: Ports| async move {
    let run = submit(&p, 1).await;
    let now = aos_runtime::clock::now_ms();
    claims(&p, &deferred(&run, "lazy", now)).await;
    assert!(p.runs.extend_claim(&tenant(), &run, 0, "lazy", now + 60_000).await.expect("extend"), "taken late");
    assert_eq!(status(&p, &run).await, RunStatus::Running, "the run started with its claim");
    let progress = p.runs.step_progress(&tenant(), &run).await.expect("progress");
    assert_eq!((progress.len(), progress[0].attempts), (1, 1), "{progress:?}");
    assert!(progress[0].claim_until_ms >= now + 60_000);
    let other = p.runs.begin_step(&begin(&run, "other", now + 2_000)).await.expect("claim");
    assert!(matches!(other, BeginOutcome::Busy { .. }), "the late claim holds: {other:?}");
    assert!(p.runs.extend_claim(&tenant(), &run, 0, "lazy", now + 90_000).await.expect("extend"));
    let done = commit_by(&p, &run, "lazy").await;
    assert_eq!((done.status, done.next_step), (RunStatus::Succeeded, 1));
});

contract!(a_retry_of_a_deferred_claim_keeps_the_step_and_sends_it_again, 5, |p: Ports| async move {
    let run = submit(&p, 1).await;
    // The submission's own message.
    let first = p.queue.receive(1, Duration::from_secs(60), Duration::from_secs(2)).await.expect("receive");
    assert_eq!(first.len(), 1);
    let now = aos_runtime::clock::now_ms();
    claims(&p, &deferred(&run, "lazy", now)).await;
    let error = StructuredOutcome::failure(aos_core::ErrorCode::Http503, "flaky").error.expect("error");
    let retry = StepRetry {
        tenant: tenant(),
        run_id: run.clone(),
        step_index: 0,
        last_error: error,
        delay: Duration::ZERO,
        ack: Some(first[0].receipt.clone()),
        claim: "lazy".into(),
        now_ms: now,
    };
    p.runs.retry_step(&retry).await.expect("retry");
    let progress = p.runs.step_progress(&tenant(), &run).await.expect("progress");
    assert_eq!(progress.len(), 1, "{progress:?}");
    assert_eq!((progress[0].attempts, progress[0].claim_until_ms), (1, 0), "{progress:?}");
    assert!(progress[0].last_error.as_ref().is_some_and(|e| e.message == "flaky"), "{progress:?}");
    assert_eq!(status(&p, &run).await, RunStatus::Running);
    let again = p.queue.receive(1, Duration::from_secs(60), Duration::from_secs(5)).await.expect("receive");
    assert_eq!(again.len(), 1, "the retry sent the step again");
    let body: serde_json::Value = serde_json::from_str(&again[0].body).expect("json");
    assert_eq!((body["run_id"].as_str(), body["step_index"].as_u64()), (Some(run.as_str()), Some(0)));
    // Its delivery claims as any other, and counts the attempt.
    let next = p.runs.begin_step(&begin(&run, "second", now + 10)).await.expect("claim");
    assert_eq!(next, BeginOutcome::Claimed { attempt: 2, taken_over: false, reserved: None });
});

contract!(a_deferred_first_step_in_flight_at_a_cancel_keeps_its_claim_and_its_outcome, 5, |p: Ports| async move {
    let run = submit(&p, 2).await;
    let now = aos_runtime::clock::now_ms();
    claims(&p, &deferred(&run, "lazy", now)).await;
    p.runs.cancel_run(&tenant(), &run, now + 1, &[]).await.expect("cancelled");
    // The step's heartbeat after the cancel: the claim is still this worker's.
    assert!(p.runs.extend_claim(&tenant(), &run, 0, "lazy", now + 60_000).await.expect("extend"));
    assert_eq!(status(&p, &run).await, RunStatus::Cancelled, "the claim does not revive the run");
    let done = commit_by(&p, &run, "lazy").await;
    assert_eq!(done.status, RunStatus::Cancelled);
    let cps = p.runs.checkpoints(&tenant(), &run).await.expect("checkpoints");
    assert_eq!(cps.iter().map(|c| c.hash.as_str()).collect::<Vec<_>>(), ["hash-by-lazy"], "the outcome is recorded");
});
