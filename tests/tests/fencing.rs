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
        now_ms,
    }
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
    assert!(matches!(
        p.runs.begin_step(&begin(&run, "first", now)).await.expect("claim"),
        BeginOutcome::Claimed { .. }
    ));
    p.runs.cancel_run(&tenant(), &run, now, &[]).await.expect("cancelled");
    // The first claim has expired: without the run's state in the claim, a redelivered
    // message would take the step over and run it after the cancel was acknowledged.
    let late = p.runs.begin_step(&begin(&run, "late", now + 5_000)).await.expect("claim");
    assert_eq!(late, BeginOutcome::AlreadyDone, "a cancelled run's step does not begin");
});

contract!(a_worker_whose_claim_was_taken_over_can_neither_extend_nor_retry_nor_commit, 5, |p: Ports| async move {
    let run = submit(&p, 1).await;
    let now = aos_runtime::clock::now_ms();
    assert!(matches!(p.runs.begin_step(&begin(&run, "old", now)).await.expect("claim"), BeginOutcome::Claimed { .. }));
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
