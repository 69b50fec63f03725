//! Waiting for a run and following it: `?wait=` on a run's read and on its submission
//! (the answer comes when the run is finished or the time is up), and
//! `GET /v1/runs/{id}/events`, its steps as Server-Sent Events (and
//! `GET /v1/executions/{id}/events`, a workflow execution's nodes).
//!
//! The stream sends an event `step` each time a step's state changes (its data is the
//! step as `GET /v1/runs/{id}/steps` shows it); a finished step's event carries its index
//! as the event id, so a client that reconnects with `Last-Event-ID` gets the steps after
//! it. When the run is finished the stream sends `run` (the run as `GET /v1/runs/{id}`
//! shows it) and ends. A stream lasts at most the deployment's wait cap (25 s on AWS,
//! where API Gateway answers the whole stream at once at its end: the client reconnects,
//! as EventSource does by itself, with the last id it saw).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::Shared;
use crate::views;
use aos_core::{ErrorCode, RunId, TenantId};
use aos_runtime::changes::Waiter;
use aos_runtime::runs::RunService;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

/// How long a client should wait before reconnecting to a stream that ended.
const RECONNECT: Duration = Duration::from_millis(500);

/// Parses a `wait` parameter: `30s`, `500ms`, `2m` or a number of seconds.
pub(crate) fn parse_wait(raw: &str) -> Result<Duration, ApiError> {
    let bad = || {
        ApiError::new(
            ErrorCode::ValidationFailed,
            format!("wait must be a duration such as 30s, 500ms or 2m, got {raw:?}"),
        )
    };
    let raw_trim = raw.trim();
    let (digits, unit) = raw_trim.split_at(raw_trim.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw_trim.len()));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(bad()),
    }
}

/// The finished step the client saw last (`Last-Event-ID`), if it says.
fn last_event_id(headers: &HeaderMap) -> Result<Option<u32>, ApiError> {
    let Some(raw) = headers.get("last-event-id") else { return Ok(None) };
    let text = raw.to_str().unwrap_or_default().trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        ApiError::new(
            ErrorCode::ValidationFailed,
            format!("Last-Event-ID must be the id of an event this stream sent (a step index), got {text:?}"),
        )
    })
}

/// `GET /v1/runs/{id}/events`.
pub(crate) async fn run_events(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = RunId::parse(&id).map_err(|_| ApiError::not_found("run"))?;
    let after = last_event_id(&headers)?;
    let (_, cps, _) = s.runs.steps(&p.tenant, &id).await?;
    if let Some(k) = after {
        if k as usize >= cps.len() {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!(
                    "Last-Event-ID {k} names a step this run has not finished ({} are); reconnect without it to follow the run from its start",
                    cps.len()
                ),
            ));
        }
    }
    let waiter = s.runs.waiter(&p.tenant, &id, aos_runtime::changes::Change::Moved, s.runs.wait_cap());
    let mut emit = Emitter::default();
    for k in 0..after.map_or(0, |k| k + 1) {
        emit.sent.insert(k.to_string(), DONE.to_owned());
    }
    Ok(stream(Follow { source: RunSource { runs: s.runs.clone(), tenant: p.tenant, id }, waiter, emit, ended: false }))
}

/// What the stream keeps of a finished step or node.
const DONE: &str = "done";

/// What a stream has sent and has yet to send.
#[derive(Default)]
struct Emitter {
    /// What was sent of each step or node, by its id: [`DONE`] or its last state.
    sent: HashMap<String, String>,
    queue: VecDeque<Event>,
}

impl Emitter {
    /// Queues an event `name` about `id` (in `state`, `finished` or not) with `data`,
    /// unless the last one sent about it said the same. A finished one carries `id` as its
    /// event id, for `Last-Event-ID`.
    fn changed(&mut self, name: &'static str, id: String, finished: bool, state: String, data: &Value) {
        let key = if finished { DONE.to_owned() } else { state };
        if self.sent.get(&id) == Some(&key) {
            return;
        }
        let mut event = Event::default().event(name).data(data.to_string());
        if finished {
            event = event.id(id.clone()).retry(RECONNECT);
        }
        self.sent.insert(id, key);
        self.queue.push_back(event);
    }
}

/// What a stream follows: one read queues the events of what changed since the last.
trait Source: Send + 'static {
    /// Reads once; `Some(true)` once it ended (its last event queued), `None` when it can
    /// no longer be read.
    fn read(&mut self, emit: &mut Emitter) -> impl std::future::Future<Output = Option<bool>> + Send;
}

/// One client's stream: reads its source, sends what changed, waits for the next change.
struct Follow<S> {
    source: S,
    waiter: Waiter,
    emit: Emitter,
    /// The source ended: what is queued is the last.
    ended: bool,
}

impl<S: Source> Follow<S> {
    /// The next event; `None` when the stream ends (its source ended, the cap passed, or
    /// the source cannot be read any more).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.emit.queue.pop_front() {
                return Some(e);
            }
            if self.ended {
                return None;
            }
            let armed = self.waiter.arm();
            self.ended = self.source.read(&mut self.emit).await?;
            if self.emit.queue.is_empty() && !self.ended {
                if self.waiter.expired() {
                    return None;
                }
                self.waiter.wait(armed).await;
            }
        }
    }
}

/// The SSE response of a follower.
fn stream<S: Source>(follow: Follow<S>) -> Response {
    let events = futures_util::stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        Some((Ok::<_, Infallible>(event), f))
    });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// A run's steps.
struct RunSource {
    runs: RunService,
    tenant: TenantId,
    id: RunId,
}

impl Source for RunSource {
    async fn read(&mut self, emit: &mut Emitter) -> Option<bool> {
        let (run, cps, progress) = self.runs.steps(&self.tenant, &self.id).await.ok()?;
        let view = serde_json::to_value(views::steps(&run, &cps, &progress)).ok()?;
        for step in view["steps"].as_array().into_iter().flatten() {
            let Some(index) = step["step_index"].as_u64() else { continue };
            let status = step["status"].as_str().unwrap_or_default();
            if status == "queued" {
                continue;
            }
            let finished = matches!(status, "succeeded" | "failed");
            emit.changed("step", index.to_string(), finished, format!("{status}/{}", step["attempts"]), step);
        }
        if !run.status.is_terminal() {
            return Some(false);
        }
        emit.queue.push_back(Event::default().event("run").data(serde_json::to_string(&views::run(&run)).ok()?));
        Some(true)
    }
}

/// `GET /v1/executions/{id}/events`: an event `node` each time a node's state changes (its
/// data is the node as `GET /v1/executions/{id}` shows it; a finished node's event has the
/// node's id as the event id), `compensation` as compensations run, then `execution` (the
/// execution's view) and the end. After `Last-Event-ID: <node>`, the nodes that finished
/// after that one (by their end time) are sent.
pub(crate) async fn execution_events(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let svc = crate::flows::service(&s)?.clone();
    let id = crate::flows::execution_id(&id)?;
    let e = svc.execution(&p.tenant, &id).await?;
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let mut emit = Emitter::default();
    if let Some(node) = last {
        let Some(seen) = e.state.nodes.get(node).filter(|n| n.status.is_settled()) else {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("Last-Event-ID {node:?} names no finished node of this execution; reconnect without it to follow the execution from its start"),
            ));
        };
        let mark = (seen.ended_at_ms, node.to_owned());
        for (nid, n) in &e.state.nodes {
            if n.status.is_settled() && (n.ended_at_ms, nid.clone()) <= mark {
                emit.sent.insert(nid.clone(), DONE.to_owned());
            }
        }
    }
    let deadline = tokio::time::Instant::now() + s.runs.wait_cap();
    let source = ExecSource { svc, tenant: p.tenant, id, compensations: 0 };
    Ok(stream(Follow { source, waiter: Waiter::polling(deadline), emit, ended: false }))
}

/// An execution's nodes and compensations.
struct ExecSource {
    svc: aos_runtime::workflows::WorkflowService,
    tenant: TenantId,
    id: aos_core::ExecutionId,
    /// Compensations sent.
    compensations: usize,
}

impl Source for ExecSource {
    async fn read(&mut self, emit: &mut Emitter) -> Option<bool> {
        let e = self.svc.execution(&self.tenant, &self.id).await.ok()?;
        let w = self.svc.get(&self.tenant, &e.workflow, Some(e.version)).await.ok()?;
        let view = serde_json::to_value(crate::flows::execution_view(&e, &w)).ok()?;
        for node in view["nodes"].as_array().into_iter().flatten() {
            let Some(id) = node["id"].as_str() else { continue };
            let status = node["status"].as_str().unwrap_or_default();
            if status == "pending" {
                continue;
            }
            let finished = !matches!(status, "running" | "waiting");
            emit.changed("node", id.to_owned(), finished, format!("{status}/{}", node["items"]), node);
        }
        let comps = view["compensations"].as_array().cloned().unwrap_or_default();
        for c in comps.iter().skip(self.compensations) {
            if !matches!(c["status"].as_str(), Some("completed" | "failed")) {
                break;
            }
            emit.queue.push_back(Event::default().event("compensation").data(c.to_string()));
            self.compensations += 1;
        }
        if !e.state.status.is_terminal() {
            return Some(false);
        }
        emit.queue.push_back(Event::default().event("execution").data(view.to_string()));
        Some(true)
    }
}
