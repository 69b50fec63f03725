//! On the embedded executor a node's end advances its execution in the same write as its
//! run's last commit, and the next node's run comes straight back to the worker; nodes
//! are stored apart, so that write touches the nodes it changes only. An execution that
//! moved on meanwhile gets the run's end as a message, as before.

use aos_core::workflow::{parse, Format};
use aos_core::{RunStatus, TenantId};
use aos_embedded::{Durability, Embedded};
use aos_runtime::net::AddressPolicy;
use aos_runtime::ports::{BeginOutcome, BeginStep, ExecutionRecord, Queue, RunStore, WorkflowStore};
use aos_runtime::worker::{StepWorker, WorkerConfig};
use aos_runtime::workflows::{StartExecution, WorkflowService};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn tenant() -> TenantId {
    TenantId::parse("ten_ends").expect("tenant")
}

/// A chain of `n` `json_transform` nodes, each after the one before.
fn chain(n: usize) -> String {
    let mut spec = String::from("name: chain\nnodes:\n");
    for i in 0..n {
        let dep = if i == 0 { String::new() } else { format!(", depends_on: [n{}]", i - 1) };
        spec += &format!("  - {{id: n{i}, skill: json_transform, input: {{expression: a, data: {{a: {i}}}}}{dep}}}\n");
    }
    spec
}

struct Fixture {
    e: Embedded,
    flows: WorkflowService,
    worker: StepWorker,
}

async fn fixture(dir: &tempfile::TempDir) -> Fixture {
    let e = Embedded::open(dir.path(), Durability::Full).await.expect("open");
    let skills = Arc::new(aos_runtime::skills::default_registry(AddressPolicy::default()).expect("skills"));
    // As `aos dev` wires them: the service and the worker signal executions' ends.
    let changes = Arc::new(aos_runtime::changes::Changes::default());
    let flows = WorkflowService::new(e.workflows.clone(), e.runs.clone(), e.idempotency.clone(), Arc::clone(&skills))
        .with_changes(Arc::clone(&changes));
    let worker = StepWorker::new(e.runs.clone(), e.queue.clone(), e.kv.clone(), skills, WorkerConfig::default())
        .with_workflows(flows.clone())
        .with_changes(changes);
    Fixture { e, flows, worker }
}

/// Whether a waiter for the end of `id`, armed before `act`, is woken by it at once
/// (without the signal it would sleep until its recheck, a second later).
async fn woken_by<T>(f: &Fixture, id: &aos_core::ExecutionId, act: impl std::future::Future<Output = T>) -> bool {
    let mut waiter = f.flows.waiter(&tenant(), id, tokio::time::Instant::now() + Duration::from_secs(60));
    let armed = waiter.arm();
    act.await;
    tokio::time::timeout(Duration::from_millis(200), waiter.wait(armed)).await.is_ok()
}

/// A waited read of an execution (`GET /v1/executions/{id}?wait=`) wakes at its end:
/// when the last node's run ends it in the run's commit, and when it is cancelled.
#[tokio::test]
async fn a_waiter_for_an_execution_wakes_at_its_end() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = fixture(&dir).await;
    let started = start(&f, &chain(3)).await;
    let first = f.e.queue.receive(10, Duration::from_secs(30), Duration::ZERO).await.expect("receive");
    assert_eq!(first.len(), 1);
    assert!(woken_by(&f, &started.id, f.worker.handle(&first[0])).await, "the chain's end did not wake its waiter");
    let done = f.flows.execution(&tenant(), &started.id).await.expect("execution");
    assert!(done.state.status.is_terminal(), "{:?}", done.state.status);
    // A cancel ends the next one (its first node's run is still queued).
    let next = start(&f, &chain(2)).await;
    let cancel = async {
        f.flows.cancel(&tenant(), &next.id).await.expect("cancel");
    };
    assert!(woken_by(&f, &next.id, cancel).await, "the cancel did not wake the execution's waiter");
    // A change that does not end it leaves the waiter asleep.
    let third = start(&f, &chain(2)).await;
    let one = f.e.queue.receive(10, Duration::from_secs(30), Duration::ZERO).await.expect("receive");
    // (One node at a time: the chain is not handed on within this call.)
    let worker = f.worker.within(Duration::from_secs(5), Duration::ZERO);
    assert!(
        !woken_by(&f, &third.id, worker.handle(&one[0])).await,
        "a node's end woke the waiter of an execution still running"
    );
}

async fn start(f: &Fixture, spec: &str) -> ExecutionRecord {
    let spec = parse(spec, Format::Yaml).expect("spec");
    let name = spec.name.clone();
    f.flows.apply(&tenant(), spec).await.expect("apply");
    let req = StartExecution { base_seed: Some(7), ..StartExecution::default() };
    f.flows.start(&tenant(), &name, req, None).await.expect("start").value
}

/// Claims the first step of the node run `run_id` under `claim` (as the worker that took
/// its message would) and answers the run.
async fn claim_first_step(f: &Fixture, run_id: &aos_core::RunId, claim: &str) -> aos_runtime::ports::RunRecord {
    assert!(matches!(begin_first_step(f, run_id, claim).await, BeginOutcome::Claimed { .. }));
    f.e.runs.run(&tenant(), run_id).await.expect("read").expect("run")
}

/// Begins the first step of the node run `run_id` under `claim`, as the worker that took
/// its message would.
async fn begin_first_step(f: &Fixture, run_id: &aos_core::RunId, claim: &str) -> BeginOutcome {
    let now = aos_runtime::clock::now_ms();
    let begin = BeginStep {
        tenant: tenant(),
        run_id: run_id.clone(),
        step_index: 0,
        claim: claim.into(),
        claim_until_ms: now + 30_000,
        durable: true,
        reserve: None,
        deferrable: false,
        resumed: false,
        now_ms: now,
    };
    f.e.runs.begin_step(&begin).await.expect("claim")
}

/// The final commit of `run`'s one step, claimed with `claim`, carrying `write`.
fn commit_of(
    run: &aos_runtime::ports::RunRecord,
    claim: &str,
    write: Option<aos_runtime::ports::ExecutionWrite>,
    now: u64,
) -> aos_runtime::ports::StepCommit {
    let output = json!({"result": claim});
    aos_runtime::ports::StepCommit {
        execution: write.map(Arc::new),
        ..aos_tests::ending_commit(run, "json_transform", claim, output, now)
    }
}

#[tokio::test]
async fn a_chain_runs_to_its_end_from_one_message_without_run_ended_messages() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = fixture(&dir).await;
    let started = start(&f, &chain(5)).await;
    let first = f.e.queue.receive(10, Duration::from_secs(30), Duration::ZERO).await.expect("receive");
    assert_eq!(first.len(), 1, "the start enqueues the first node's step only");
    // Each node's end starts the next node's run in its commit and hands it back: one
    // message carries the whole chain.
    f.worker.handle(&first[0]).await;
    let done = f.flows.execution(&tenant(), &started.id).await.expect("execution");
    assert_eq!(done.state.status.as_str(), "succeeded", "{:?}", done.state);
    assert_eq!(
        done.state.output,
        Some(
            json!({"n0": {"result": 0}, "n1": {"result": 1}, "n2": {"result": 2}, "n3": {"result": 3}, "n4": {"result": 4}})
        )
    );
    assert_eq!(f.e.queue.depth().expect("depth"), 0, "no run_ended message and no step message is left");
    // One write per node end (and the start): the revision counts the execution's writes.
    assert_eq!(done.revision, 6);
    // Every node's run is recorded as succeeded, with its one checkpoint.
    for (id, node) in &done.state.nodes {
        let run = node.run_id.as_ref().expect("a task node has a run");
        let run = f.e.runs.run(&tenant(), run).await.expect("read").expect("run");
        assert_eq!(run.status, RunStatus::Succeeded, "{id}");
        assert_eq!(f.e.runs.checkpoints(&tenant(), &run.id).await.expect("checkpoints").len(), 1, "{id}");
    }
}

/// A node's end hands the next node's run back on the message its worker holds: that
/// message's row now names the new run (a run's next step keeps its row as it is, the
/// body naming an earlier step, but the run before is done here), under the same lease.
/// A worker that dies in the handed-back step leaves that message to be delivered
/// again, and it resumes the new run.
#[tokio::test]
async fn a_node_s_next_run_rides_on_the_held_message_and_a_crash_in_it_is_delivered_again() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = fixture(&dir).await;
    let (started, held, handed) = n1_handed_back(&f, false).await;
    assert_eq!(handed.receipt, held.receipt, "carried on the held message");
    let next: aos_runtime::ports::StepMessage = serde_json::from_str(&handed.body).expect("a step message");
    let after = f.flows.execution(&tenant(), &started.id).await.expect("execution");
    assert_eq!(Some(&next.run_id), after.state.nodes["n1"].run_id.as_ref(), "the message names n1's run");
    assert_eq!(next.step_index, 0);
    assert_eq!(f.e.queue.depth().expect("depth"), 1, "one message: n0's was carried on, not kept beside it");
    // The worker dies in n1's step: once the lease (and with it the step's claim) runs
    // out, the message comes again.
    let again = delivered_again(&f, &handed).await;
    f.worker.handle(&again).await;
    let done = f.flows.execution(&tenant(), &started.id).await.expect("execution");
    assert_eq!(done.state.status.as_str(), "succeeded", "{:?}", done.state);
    assert_eq!(done.state.output, Some(json!({"n0": {"result": 0}, "n1": {"result": 1}})));
    assert_eq!(f.e.queue.depth().expect("depth"), 0);
}

/// A chain of two started; n0's step claimed by `c1` and committed, ending n0 and asking
/// for n1's run back on the message its worker holds (`defer_next`: with no claim row for
/// its first step). Answers the execution, the message held and the one handed back.
async fn n1_handed_back(
    f: &Fixture,
    defer_next: bool,
) -> (ExecutionRecord, aos_runtime::ports::Received, aos_runtime::ports::Received) {
    let started = start(f, &chain(2)).await;
    let held = f.e.queue.receive(1, Duration::from_secs(30), Duration::ZERO).await.expect("receive").remove(0);
    let node = started.state.nodes["n0"].run_id.clone().expect("first run");
    let run = claim_first_step(f, &node, "c1").await;
    let now = aos_runtime::clock::now_ms();
    let output = json!({"result": 0});
    let write = f.flows.run_end(&run, RunStatus::Succeeded, Some(&output), None).await.expect("end").expect("a write");
    let commit = aos_runtime::ports::StepCommit {
        ack: Some(held.receipt.clone()),
        lease_next: Some(Duration::from_secs(30)),
        defer_next,
        ..commit_of(&run, "c1", Some(write), now)
    };
    let handed = f.e.runs.commit_step(&commit).await.expect("commit").next.expect("n1's run handed back");
    (started, held, handed)
}

/// The worker holding `handed` died: its lease (and any step claim) runs out, and the
/// message comes again, on its second delivery.
async fn delivered_again(f: &Fixture, handed: &aos_runtime::ports::Received) -> aos_runtime::ports::Received {
    f.e.db
        .write(true, |c| {
            c.execute_batch(
                "UPDATE queue SET visible_at = 0; UPDATE steps SET claim_until = 0 WHERE status = 'running'",
            )
            .map_err(|e| aos_runtime::ports::StoreError::Backend(e.to_string()))
        })
        .await
        .expect("the lease runs out");
    let again = f.e.queue.receive(1, Duration::from_secs(30), Duration::ZERO).await.expect("receive").remove(0);
    assert_eq!((again.body.as_str(), again.receive_count), (handed.body.as_str(), 2));
    again
}

/// Rows of `run`'s step `index` in the store's steps table (its claim or checkpoint).
async fn step_rows(f: &Fixture, run: &aos_core::RunId, index: u32) -> i64 {
    let run = run.to_string();
    f.e.db
        .write(true, move |c| {
            c.query_row(
                &format!("SELECT COUNT(*) FROM steps WHERE run_id = '{run}' AND step_index = {index}"),
                (),
                |r| r.get(0),
            )
            .map_err(|e| aos_runtime::ports::StoreError::Backend(e.to_string()))
        })
        .await
        .expect("count")
}

/// A node's run handed back with `defer_next` (its first step's skill is safe to run
/// twice) is started without a claim row: the step's own commit writes it. If its worker
/// dies, the message delivered again claims the step as its second attempt, and the dead
/// worker's late commit is refused by that claim.
#[tokio::test]
async fn a_node_s_next_run_handed_back_deferred_is_claimed_by_its_commit_or_by_the_next_delivery() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = fixture(&dir).await;
    let (started, _, handed) = n1_handed_back(&f, true).await;
    let next: aos_runtime::ports::StepMessage = serde_json::from_str(&handed.body).expect("a step message");
    let n1 = f.e.runs.run(&tenant(), &next.run_id).await.expect("read").expect("n1's run");
    assert_eq!((n1.status, n1.next_step), (RunStatus::Running, 0), "started by the node before");
    assert_eq!(step_rows(&f, &n1.id, 0).await, 0, "no claim written for its first step");
    // The worker dies in n1's step; the message comes again once its lease runs out.
    let again = delivered_again(&f, &handed).await;
    let claimed = begin_first_step(&f, &n1.id, "c2").await;
    assert!(
        matches!(claimed, BeginOutcome::Claimed { attempt: 2, .. }),
        "the dead worker's attempt counts: {claimed:?}"
    );
    // The dead worker's commit, late: the claim the delivery took refuses it.
    let now = aos_runtime::clock::now_ms();
    let write = f.flows.run_end(&n1, RunStatus::Succeeded, Some(&json!({"result": 1})), None).await.expect("end");
    let late = aos_runtime::ports::StepCommit { deferred: true, ..commit_of(&n1, "c1-next", write.clone(), now) };
    f.e.runs.commit_step(&late).await.expect("refused, not failed");
    assert!(
        f.e.runs.checkpoints(&tenant(), &n1.id).await.expect("checkpoints").is_empty(),
        "the late commit wrote nothing"
    );
    let ours = aos_runtime::ports::StepCommit { ack: Some(again.receipt.clone()), ..commit_of(&n1, "c2", write, now) };
    f.e.runs.commit_step(&ours).await.expect("commit");
    let checkpoints = f.e.runs.checkpoints(&tenant(), &n1.id).await.expect("checkpoints");
    assert_eq!(checkpoints.iter().map(|c| c.hash.as_str()).collect::<Vec<_>>(), ["hash-by-c2"]);
    let done = f.flows.execution(&tenant(), &started.id).await.expect("execution");
    assert_eq!(done.state.status.as_str(), "succeeded", "{:?}", done.state);
    assert_eq!(f.e.queue.depth().expect("depth"), 0);
}

#[tokio::test]
async fn nodes_read_back_the_same_through_the_cache_and_from_a_reopened_database() {
    let dir = tempfile::tempdir().expect("tmp");
    let (id, cached) = {
        let f = fixture(&dir).await;
        let started = start(&f, &chain(3)).await;
        // Read between every change, so that later reads add the changed nodes to what
        // the cache holds.
        loop {
            let now = f.e.workflows.execution(&tenant(), &started.id).await.expect("read").expect("execution");
            if now.state.status.is_terminal() {
                break;
            }
            let got = f.e.queue.receive(1, Duration::from_secs(30), Duration::from_millis(100)).await.expect("receive");
            for m in got {
                // One node at a time: the chain is not handed on within this call.
                f.worker.within(Duration::from_secs(5), Duration::ZERO).handle(&m).await;
            }
        }
        let cached = f.e.workflows.execution(&tenant(), &started.id).await.expect("read").expect("execution");
        assert_eq!(cached.state.status.as_str(), "succeeded");
        assert_eq!(cached.state.nodes.len(), 3);
        f.e.db.close();
        (started.id, cached)
    };
    let reopened = Embedded::open(dir.path(), Durability::Full).await.expect("reopen");
    let fresh = reopened.workflows.execution(&tenant(), &id).await.expect("read").expect("execution");
    assert_eq!(fresh, cached, "a store without the cache assembles the same record");
    // An earlier version kept the nodes in the execution's record: the database moves
    // them into rows when it opens.
    reopened
        .db
        .write(true, |c| {
            c.execute_batch(
                "UPDATE executions SET body = json_set(body, '$.state.nodes',
                     (SELECT json_group_object(node, json(body)) FROM execution_nodes n
                      WHERE n.tenant = executions.tenant AND n.execution = executions.id));
                 DELETE FROM execution_nodes;",
            )
            .map_err(|e| aos_runtime::ports::StoreError::Backend(e.to_string()))
        })
        .await
        .expect("old layout");
    reopened.db.close();
    drop(reopened);
    let migrated = Embedded::open(dir.path(), Durability::Full).await.expect("reopen");
    let read = migrated.workflows.execution(&tenant(), &id).await.expect("read").expect("execution");
    assert_eq!(read, cached, "the old layout reads the same once moved");
    let rows: i64 =
        migrated.db.read(|c| c.query_row("SELECT COUNT(*) FROM execution_nodes", [], |r| r.get(0))).expect("count");
    assert_eq!(rows, 3, "one row per node");
}

#[tokio::test]
async fn a_run_end_for_an_execution_that_moved_on_goes_by_message_and_writes_nothing_to_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = fixture(&dir).await;
    let started = start(&f, &chain(2)).await;
    let node = started.state.nodes["n0"].run_id.clone().expect("first run");
    let run = claim_first_step(&f, &node, "c1").await;
    let now = aos_runtime::clock::now_ms();
    let output = json!({"result": 0});
    let write = f.flows.run_end(&run, RunStatus::Succeeded, Some(&output), None).await.expect("end").expect("a write");
    assert_eq!(write.expected_revision, Some(1));
    assert_eq!(write.changed_nodes, vec!["n0".to_owned(), "n1".to_owned()], "the ended node and the started one");
    write.turn.release();
    // The execution moves on before the run's commit: cancelled.
    f.flows.cancel(&tenant(), &started.id).await.expect("cancel");
    // The run's commit hands the next run back if it applies its write.
    let commit = aos_runtime::ports::StepCommit {
        lease_next: Some(Duration::from_secs(30)),
        ..commit_of(&run, "c1", Some(write), now)
    };
    // The cancellation cancelled the run too: its commit keeps the checkpoint and ends
    // nothing, and leaves the execution as the cancellation wrote it.
    let committed = f.e.runs.commit_step(&commit).await.expect("commit");
    assert!(committed.next.is_none(), "nothing is handed back");
    let after = f.flows.execution(&tenant(), &started.id).await.expect("execution");
    assert_eq!(after.state.status.as_str(), "cancelled");
    assert_eq!(after.revision, 2, "the stale write was not applied");
    assert!(!after.state.nodes.contains_key("n1") || after.state.nodes["n1"].run_id.is_none(), "n1 never started");
}

#[tokio::test]
async fn a_run_end_whose_write_lost_a_race_is_sent_as_its_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = fixture(&dir).await;
    // Two independent nodes: the second one's end moves the execution on under the first.
    let spec = "name: pair\nnodes:\n  - {id: a, skill: json_transform, input: {expression: a, data: {a: 1}}}\n  - {id: b, skill: json_transform, input: {expression: a, data: {a: 2}}}\n";
    let started = start(&f, spec).await;
    let run_of = |n: &str| started.state.nodes[n].run_id.clone().expect("run");
    let (a, b) = (run_of("a"), run_of("b"));
    let now = aos_runtime::clock::now_ms();
    // The worker that takes the two first steps' messages (this test) ends them itself.
    for m in f.e.queue.receive(10, Duration::from_secs(30), Duration::ZERO).await.expect("receive") {
        f.e.queue.delete(&m.receipt).await.expect("delete");
    }
    let run_a = claim_first_step(&f, &a, "ca").await;
    let run_b = claim_first_step(&f, &b, "cb").await;
    let out_a = json!({"result": "ca"});
    let stale = f.flows.run_end(&run_a, RunStatus::Succeeded, Some(&out_a), None).await.expect("end").expect("write");
    stale.turn.release();
    let out_b = json!({"result": "cb"});
    let fresh = f.flows.run_end(&run_b, RunStatus::Succeeded, Some(&out_b), None).await.expect("end").expect("write");
    fresh.turn.release();
    f.e.runs.commit_step(&commit_of(&run_b, "cb", Some(fresh), now)).await.expect("commit b");
    assert_eq!(f.e.queue.depth().expect("depth"), 0, "b's end went into its commit");
    // a's write expected the revision b's commit replaced: a's end goes as a message.
    f.e.runs.commit_step(&commit_of(&run_a, "ca", Some(stale), now)).await.expect("commit a");
    let mid = f.flows.execution(&tenant(), &started.id).await.expect("execution");
    assert_eq!(mid.state.status.as_str(), "running", "a's end is not applied by its stale write");
    assert_eq!(mid.state.nodes["b"].output, Some(out_b.clone()));
    assert_eq!(f.e.queue.depth().expect("depth"), 1, "a's run_ended message waits");
    let msg = f.e.queue.receive(1, Duration::from_secs(30), Duration::ZERO).await.expect("receive");
    f.worker.handle(&msg[0]).await;
    let done = f.flows.execution(&tenant(), &started.id).await.expect("execution");
    assert_eq!(done.state.status.as_str(), "succeeded");
    assert_eq!(done.state.output, Some(json!({"a": out_a, "b": out_b})));
    assert_eq!(f.e.queue.depth().expect("depth"), 0);
}

/// Three independent nodes started; their runs' first steps claimed by this test (the
/// worker that took their messages), each under the claim `c<node>`.
async fn claimed_trio(f: &Fixture) -> (ExecutionRecord, Vec<aos_runtime::ports::RunRecord>) {
    let node = |id: &str, v: u32| {
        format!("  - {{id: {id}, skill: json_transform, input: {{expression: a, data: {{a: {v}}}}}}}\n")
    };
    let spec = format!("name: trio\nnodes:\n{}{}{}", node("a", 1), node("b", 2), node("c", 3));
    let started = start(f, &spec).await;
    for m in f.e.queue.receive(10, Duration::from_secs(30), Duration::ZERO).await.expect("receive") {
        f.e.queue.delete(&m.receipt).await.expect("delete");
    }
    let mut runs = Vec::new();
    for id in ["a", "b", "c"] {
        let run_id = started.state.nodes[id].run_id.clone().expect("run");
        runs.push(claim_first_step(f, &run_id, &format!("c{id}")).await);
    }
    (started, runs)
}

/// The end of a run, built while the ends before it wait in the writer's queue (it must
/// not wait for them to commit), and its commit queued behind theirs.
async fn end_behind(
    f: &Fixture,
    run: &aos_runtime::ports::RunRecord,
    claim: &str,
) -> (Option<u64>, tokio::task::JoinHandle<Result<aos_runtime::ports::Committed, aos_runtime::StoreError>>) {
    let output = json!({"result": claim});
    let ending = f.flows.run_end(run, RunStatus::Succeeded, Some(&output), None);
    let write = tokio::time::timeout(Duration::from_secs(10), ending)
        .await
        .expect("a run's end waited for the commit of the end queued before it")
        .expect("end")
        .expect("a write");
    let expected = write.expected_revision;
    let commit = commit_of(run, claim, Some(write), aos_runtime::clock::now_ms());
    let runs = f.e.runs.clone();
    let queued = f.e.db.queued_writes();
    let committing = tokio::spawn(async move { runs.commit_step(&commit).await });
    // Until the commit has queued its write (with the writer held), or is done.
    while f.e.db.queued_writes() == queued && !committing.is_finished() {
        tokio::task::yield_now().await;
    }
    (expected, committing)
}

/// The ends of a fan-out's runs do not wait for each other's commits: each is built on
/// the one queued before it, and they all go into one commit.
#[tokio::test]
async fn the_ends_of_a_fan_out_s_runs_queue_behind_each_other_and_share_one_commit() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = fixture(&dir).await;
    let (started, runs) = claimed_trio(&f).await;
    assert_eq!(started.revision, 1);
    let held = f.e.db.hold_writer();
    let mut commits = Vec::new();
    for (i, (run, claim)) in runs.iter().zip(["ca", "cb", "cc"]).enumerate() {
        let (expected, committing) = end_behind(&f, run, claim).await;
        assert_eq!(expected, Some(1 + i as u64), "each end expects the revision the one queued before it writes");
        commits.push(committing);
    }
    assert_eq!(f.e.db.queued_writes(), 3, "the three ends wait in the queue together");
    drop(held);
    for c in commits {
        c.await.expect("join").expect("commit");
    }
    let done = f.flows.execution(&tenant(), &started.id).await.expect("execution");
    assert_eq!(done.state.status.as_str(), "succeeded", "{:?}", done.state);
    assert_eq!(done.revision, 4, "one write per end");
    assert_eq!(done.state.output, Some(json!({"a": {"result": "ca"}, "b": {"result": "cb"}, "c": {"result": "cc"}})));
    assert_eq!(f.e.queue.depth().expect("depth"), 0, "every end went into its run's commit: no run_ended message");
}

/// An end built on a queued end that then fails (its run's claim was lost) fails with it
/// and goes by message; the next change starts from what is stored, and the execution
/// ends with every node's output once.
#[tokio::test]
async fn an_end_built_on_a_queued_end_that_fails_goes_by_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = fixture(&dir).await;
    let (started, runs) = claimed_trio(&f).await;
    let held = f.e.db.hold_writer();
    // a's commit names a claim that is not a's: it is fenced off and writes nothing.
    let (expected_a, lost) = end_behind(&f, &runs[0], "stolen").await;
    let (expected_b, b) = end_behind(&f, &runs[1], "cb").await;
    assert_eq!((expected_a, expected_b), (Some(1), Some(2)), "b's end is built on a's");
    drop(held);
    let lost = lost.await.expect("join").expect("a fenced commit answers");
    assert_eq!(lost.status, RunStatus::Running, "the fenced commit ended nothing");
    b.await.expect("join").expect("commit b");
    let mid = f.flows.execution(&tenant(), &started.id).await.expect("execution");
    assert_eq!(mid.revision, 1, "neither end was applied to the execution");
    assert_eq!(f.e.queue.depth().expect("depth"), 1, "b's end waits as its run_ended message");
    // a's own claim ends it: built on what is stored, not on the failed write.
    let (expected, a) = end_behind(&f, &runs[0], "ca").await;
    assert_eq!(expected, Some(1));
    a.await.expect("join").expect("commit a");
    let msg = f.e.queue.receive(1, Duration::from_secs(30), Duration::ZERO).await.expect("receive");
    f.worker.handle(&msg[0]).await;
    let c = end_behind(&f, &runs[2], "cc").await.1;
    c.await.expect("join").expect("commit c");
    let done = f.flows.execution(&tenant(), &started.id).await.expect("execution");
    assert_eq!(done.state.status.as_str(), "succeeded", "{:?}", done.state);
    assert_eq!(done.revision, 4);
    assert_eq!(done.state.output, Some(json!({"a": {"result": "ca"}, "b": {"result": "cb"}, "c": {"result": "cc"}})));
    assert_eq!(f.e.queue.depth().expect("depth"), 0);
}
