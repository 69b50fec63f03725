//! The client against a real local stack (what `aos dev` runs: the API on a loopback
//! port, the embedded store, the step workers): runs, waiting, streams, workflows,
//! approvals and typed errors.

use aos_cli::stack::{LocalStack, StackConfig};
use aos_client::bodies::StepView;
use aos_client::requests::{StartExecution, SubmitRun};
use aos_client::{Client, Error, ErrorCode, ExecutionEvent, RunEvent, RunFilter, RunStatus, SpecFormat, Submit};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;

struct Dev {
    stack: LocalStack,
    _dir: tempfile::TempDir,
}

async fn dev() -> Dev {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = StackConfig::new(dir.path());
    cfg.port = 0;
    cfg.workers = 2;
    cfg.worker.poll_wait = Duration::from_millis(100);
    Dev { stack: LocalStack::start(cfg).await.expect("stack starts"), _dir: dir }
}

impl Dev {
    fn client(&self) -> Client {
        Client::new(&self.stack.url(), &self.stack.dev_api_key).expect("client")
    }
}

fn run(body: serde_json::Value) -> SubmitRun {
    serde_json::from_value(body).expect("a run body")
}

/// Two steps: a quote from the stack's demo service (slow when `delay_ms` > 0), then a
/// transform of it.
fn quote_run(base: &str, delay_ms: u64) -> SubmitRun {
    run(json!({
        "input": {"symbol": "SDK"},
        "plan": [
            {"id": "fetch", "skill": "http_call",
             "input": {"url": format!("{base}/demo/quote?symbol=${{input.symbol}}&delay_ms={delay_ms}")}},
            {"id": "pick", "skill": "json_transform",
             "input": {"expression": "symbol", "data": "${steps.fetch.output.body}"}}
        ]
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_and_wait_answers_the_finished_run_and_get_steps_and_list_read_it() {
    let dev = dev().await;
    let aos = dev.client();
    let done = aos.submit_and_wait(&quote_run(aos.base_url(), 0), Duration::from_secs(30)).await.expect("run");
    assert_eq!(done.status, RunStatus::Succeeded, "{done:?}");
    assert_eq!(done.output, Some(json!({"result": "SDK"})));
    assert_eq!(done.steps_done, 2);

    let got = aos.get(&done.id).await.expect("get");
    assert_eq!((got.id.clone(), got.status), (done.id.clone(), RunStatus::Succeeded));
    let steps = aos.steps(&done.id).await.expect("steps");
    assert!(steps.chain_valid, "{steps:?}");
    assert_eq!(steps.steps.len(), 2);
    assert!(steps.steps.iter().all(|s| matches!(s, StepView::Finished(_))), "{steps:?}");
    let page =
        aos.list(&RunFilter { status: Some(RunStatus::Succeeded), limit: Some(5), before: None }).await.expect("list");
    assert_eq!(page.runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![done.id.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_the_status_and_the_stable_code() {
    let dev = dev().await;
    let aos = dev.client();
    let missing = aos_client::RunId::parse("run_nope").expect("an id");
    let err = aos.get(&missing).await.expect_err("no such run");
    assert!(matches!(err, Error::Api { status: 404, code: ErrorCode::NotFound, .. }), "{err}");

    let bad = run(json!({"plan": [{"id": "x", "skill": "no_such_skill", "input": {}}]}));
    let err = aos.submit(&bad).await.expect_err("unknown skill");
    assert_eq!(err.status(), Some(422), "{err}");
    assert_eq!(err.code(), Some(ErrorCode::SkillNotFound), "{err}");
    assert!(err.to_string().contains("no_such_skill"), "the message names what to fix: {err}");

    let stranger = Client::new(aos.base_url(), "aos_not_a_key").expect("client");
    let err = stranger.list(&RunFilter::default()).await.expect_err("unknown key");
    assert_eq!(err.status(), Some(401), "{err}");

    let nowhere = Client::new("http://127.0.0.1:9", "aos_x").expect("client");
    assert!(matches!(nowhere.get(&missing).await, Err(Error::Transport { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_makes_a_retried_submission_answer_the_first_run() {
    let dev = dev().await;
    let aos = dev.client();
    let body = quote_run(aos.base_url(), 0);
    let opts = Submit { idempotency_key: Some("sdk-1".to_owned()), wait: None };
    let first = aos.submit_with(&body, &opts).await.expect("first");
    let again = aos.submit_with(&body, &opts).await.expect("again");
    assert!(first.created && !again.created);
    assert_eq!(first.value.id, again.value.id);
    let page = aos.list(&RunFilter::default()).await.expect("list");
    assert_eq!(page.runs.len(), 1, "one run for two calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_streams_each_step_then_the_run_and_resumes_after_an_event_id() {
    let dev = dev().await;
    let aos = dev.client();
    let submitted = aos.submit(&quote_run(aos.base_url(), 300)).await.expect("submit");
    let events: Vec<_> = aos.follow(&submitted.id).collect().await;
    let events: Vec<_> = events.into_iter().map(|e| e.expect("an event")).collect();
    let finished: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.data {
            RunEvent::Step(s) if matches!(**s, StepView::Finished(_)) => e.id.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(finished, vec!["0".to_owned(), "1".to_owned()], "each finished step once, with its index as id");
    let Some(RunEvent::Run(end)) = events.last().map(|e| &e.data) else { panic!("the run ends the stream") };
    assert_eq!(end.status, RunStatus::Succeeded);
    assert!(
        events.iter().any(|e| matches!(&e.data, RunEvent::Step(s) if matches!(**s, StepView::Unfinished(_)))),
        "the slow step was seen running: {events:?}"
    );

    let after: Vec<_> = aos.follow_after(&submitted.id, "0").collect().await;
    let ids: Vec<_> = after.iter().map(|e| e.as_ref().expect("event").id.clone()).collect();
    assert_eq!(ids, vec![Some("1".to_owned()), None], "only the step after 0, then the run");
    let stale: Vec<_> = aos.follow_after(&submitted.id, "7").collect().await;
    assert!(
        matches!(stale.as_slice(), [Err(Error::Api { status: 422, code: ErrorCode::ValidationFailed, .. })]),
        "a stale id is a clear error: {stale:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_run_and_wait_gives_up_at_its_timeout() {
    let dev = dev().await;
    let aos = dev.client();
    let slow = aos.submit(&quote_run(aos.base_url(), 3_000)).await.expect("submit");
    let waited = aos.wait(&slow.id, Duration::from_millis(300)).await.expect("wait");
    assert!(!waited.status.is_terminal(), "still running at the timeout: {:?}", waited.status);
    let cancelled = aos.cancel(&slow.id).await.expect("cancel");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    let end = aos.wait(&slow.id, Duration::from_secs(10)).await.expect("wait");
    assert_eq!(end.status, RunStatus::Cancelled);
}

const SAGA: &str = "name: sdk-flow
nodes:
  - id: a
    skill: json_transform
    input: {expression: n, data: {n: 2}}
  - id: ok
    type: approval
    depends_on: [a]
    prompt: Go on with ${steps.a.output.result}?
    timeout_s: 600
  - id: b
    skill: json_transform
    depends_on: [ok]
    input: {expression: v, data: {v: done}}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_applies_starts_waits_for_its_approval_and_streams_to_its_end() {
    let dev = dev().await;
    let aos = dev.client();
    let applied = aos.apply_workflow(SAGA, SpecFormat::Yaml).await.expect("apply");
    assert!(applied.created);
    assert_eq!((applied.value.name.as_str(), applied.value.version), ("sdk-flow", 1));
    let again = aos.apply_workflow(SAGA, SpecFormat::Yaml).await.expect("apply again");
    assert!(!again.created, "the same spec stores nothing new");
    assert_eq!(aos.workflow("sdk-flow", None).await.expect("get").version, 1);
    let err = aos.apply_workflow("name: x\nnodes: []\n", SpecFormat::Yaml).await.expect_err("empty");
    assert_eq!(err.status(), Some(422), "{err}");

    let started = aos.start("sdk-flow", &StartExecution::default(), &Submit::default()).await.expect("start");
    assert!(started.created);
    let id = started.value.id.clone();
    let approval = loop {
        let list = aos.approvals(Some("pending")).await.expect("approvals");
        if let Some(a) = list.approvals.first() {
            break a.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let waiting = aos.wait_execution(&id, Duration::from_millis(200)).await.expect("wait");
    assert!(!waiting.finished, "it waits for the decision");
    let decided = aos.approve(&approval, Some("fine")).await.expect("approve");
    assert_eq!(serde_json::to_value(decided.status).expect("json"), json!("approved"));
    let err = aos.reject(&approval, None).await.expect_err("decided already");
    assert_eq!(err.code(), Some(ErrorCode::ApprovalNotPending), "{err}");

    let events: Vec<_> = aos.follow_execution(&id).collect().await;
    let events: Vec<_> = events.into_iter().map(|e| e.expect("event")).collect();
    let nodes: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.data {
            ExecutionEvent::Node(n) if e.id.is_some() => Some(n.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(nodes, ["a", "ok", "b"], "{events:?}");
    let Some(ExecutionEvent::Execution(end)) = events.last().map(|e| &e.data) else { panic!("ends the stream") };
    assert!(end.finished);
    let done = aos.wait_execution(&id, Duration::from_secs(10)).await.expect("wait");
    assert_eq!(done.output, end.output);
    assert!(done.finished && done.error.is_none(), "{done:?}");
}
