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
use crate::routes::AppState;
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
    State(s): State<AppState>,
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
    let waiter = s.runs.waiter(&p.tenant, &id, s.runs.wait_cap());
    let mut sent = HashMap::new();
    for k in 0..after.map_or(0, |k| k + 1) {
        sent.insert(k, DONE.to_owned());
    }
    let follow =
        Follow { runs: s.runs.clone(), tenant: p.tenant, id, waiter, sent, queue: VecDeque::new(), ended: false };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        Some((Ok::<_, Infallible>(event), f))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// What the stream keeps of a finished step.
const DONE: &str = "done";

/// One client's stream of a run's events.
struct Follow {
    runs: RunService,
    tenant: TenantId,
    id: RunId,
    waiter: Waiter,
    /// What was sent of each step: [`DONE`] or its status and attempts.
    sent: HashMap<u32, String>,
    queue: VecDeque<Event>,
    ended: bool,
}

impl Follow {
    /// The next event, waiting for the run to change; `None` when the stream ends (the run
    /// finished, the cap passed, or the run cannot be read any more).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.ended {
                return None;
            }
            let armed = self.waiter.arm();
            let (run, cps, progress) = self.runs.steps(&self.tenant, &self.id).await.ok()?;
            let view = views::steps(&run, &cps, &progress);
            for step in view["steps"].as_array().into_iter().flatten() {
                self.step(step);
            }
            if run.status.is_terminal() {
                let data = serde_json::to_string(&views::run(&run)).unwrap_or_default();
                self.queue.push_back(Event::default().event("run").data(data));
                self.ended = true;
                continue;
            }
            if self.queue.is_empty() {
                if self.waiter.expired() {
                    return None;
                }
                self.waiter.wait(armed).await;
            }
        }
    }

    /// Queues `step`'s event if it changed since the last one sent.
    fn step(&mut self, step: &Value) {
        let Some(index) = step["step_index"].as_u64().and_then(|i| u32::try_from(i).ok()) else { return };
        let status = step["status"].as_str().unwrap_or_default();
        let finished = matches!(status, "succeeded" | "failed");
        let key = if finished { DONE.to_owned() } else { format!("{status}/{}", step["attempts"]) };
        if status == "queued" || self.sent.get(&index) == Some(&key) {
            return;
        }
        let mut event = Event::default().event("step").data(serde_json::to_string(step).unwrap_or_default());
        if finished {
            event = event.id(index.to_string()).retry(RECONNECT);
        }
        self.sent.insert(index, key);
        self.queue.push_back(event);
    }
}

/// `GET /v1/executions/{id}/events`: an event `node` each time a node's state changes (its
/// data is the node as `GET /v1/executions/{id}` shows it; a finished node's event has the
/// node's id as the event id), `compensation` as compensations run, then `execution` (the
/// execution's view) and the end. After `Last-Event-ID: <node>`, the nodes that finished
/// after that one (by their end time) are sent.
pub(crate) async fn execution_events(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let svc = crate::flows::service(&s)?.clone();
    let id = crate::flows::execution_id(&id)?;
    let e = svc.execution(&p.tenant, &id).await?;
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let mut sent = HashMap::new();
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
                sent.insert(nid.clone(), DONE.to_owned());
            }
        }
    }
    let deadline = tokio::time::Instant::now() + s.runs.wait_cap();
    let follow = ExecFollow {
        svc,
        tenant: p.tenant,
        id,
        waiter: Waiter::polling(deadline),
        sent,
        compensations: 0,
        queue: VecDeque::new(),
        ended: false,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        Some((Ok::<_, Infallible>(event), f))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// One client's stream of an execution's events.
struct ExecFollow {
    svc: aos_runtime::workflows::WorkflowService,
    tenant: TenantId,
    id: aos_core::ExecutionId,
    waiter: Waiter,
    /// What was sent of each node: [`DONE`] or its status and items.
    sent: HashMap<String, String>,
    /// Compensations sent.
    compensations: usize,
    queue: VecDeque<Event>,
    ended: bool,
}

impl ExecFollow {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.ended {
                return None;
            }
            let armed = self.waiter.arm();
            let e = self.svc.execution(&self.tenant, &self.id).await.ok()?;
            let w = self.svc.get(&self.tenant, &e.workflow, Some(e.version)).await.ok()?;
            let view = crate::flows::execution_view(&e, &w);
            for node in view["nodes"].as_array().into_iter().flatten() {
                self.node(node);
            }
            let comps = view["compensations"].as_array().cloned().unwrap_or_default();
            for c in comps.iter().skip(self.compensations) {
                if matches!(c["status"].as_str(), Some("completed" | "failed")) {
                    self.queue.push_back(Event::default().event("compensation").data(c.to_string()));
                    self.compensations += 1;
                } else {
                    break;
                }
            }
            if e.state.status.is_terminal() {
                self.queue.push_back(Event::default().event("execution").data(view.to_string()));
                self.ended = true;
                continue;
            }
            if self.queue.is_empty() {
                if self.waiter.expired() {
                    return None;
                }
                self.waiter.wait(armed).await;
            }
        }
    }

    /// Queues `node`'s event if it changed since the last one sent.
    fn node(&mut self, node: &Value) {
        let Some(id) = node["id"].as_str() else { return };
        let status = node["status"].as_str().unwrap_or_default();
        let finished = !matches!(status, "pending" | "running" | "waiting");
        let key = if finished { DONE.to_owned() } else { format!("{status}/{}", node["items"]) };
        if status == "pending" || self.sent.get(id) == Some(&key) {
            return;
        }
        let mut event = Event::default().event("node").data(node.to_string());
        if finished {
            event = event.id(id).retry(RECONNECT);
        }
        self.sent.insert(id.to_owned(), key);
        self.queue.push_back(event);
    }
}
