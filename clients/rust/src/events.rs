//! The typed events of the two streams, and the follower that re-opens a stream the
//! server closed early.

use crate::bodies::{ExecutionView, NodeView, RunView, StepView};
use crate::sse::{RawEvent, Reader};
use crate::{Client, Error};
use aos_core::workflow::exec::CompensationState;
use futures_util::Stream;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// One event and its id (a finished step's index, a finished node's id; `None` for the
/// events of something still under way).
#[derive(Debug)]
pub struct Event<T> {
    /// `Last-Event-ID` to resume after this event.
    pub id: Option<String>,
    /// What happened.
    pub data: T,
}

/// An event of `GET /v1/runs/{id}/events`.
#[derive(Debug)]
pub enum RunEvent {
    /// A step changed (`event: step`): running, waiting, or finished with its checkpoint.
    Step(Box<StepView>),
    /// The run ended (`event: run`); the last event.
    Run(Box<RunView>),
}

/// An event of `GET /v1/executions/{id}/events`.
#[derive(Debug)]
pub enum ExecutionEvent {
    /// A node changed (`event: node`).
    Node(Box<NodeView>),
    /// A compensation ran (`event: compensation`).
    Compensation(Box<CompensationState>),
    /// The execution ended (`event: execution`); the last event.
    Execution(Box<ExecutionView>),
}

/// What the events of a stream are.
pub(crate) trait Kind: Sized + Send + 'static {
    /// The event of `raw`; `None` for a name this client does not know (skipped).
    fn parse(raw: &RawEvent) -> Option<Result<Self, String>>;
    /// Whether it is the stream's last.
    fn is_end(&self) -> bool;
}

fn typed<T: DeserializeOwned>(raw: &RawEvent) -> Result<T, String> {
    serde_json::from_str(&raw.data).map_err(|e| format!("a {} event this client cannot read: {e}", raw.name))
}

impl Kind for RunEvent {
    fn parse(raw: &RawEvent) -> Option<Result<Self, String>> {
        match raw.name.as_str() {
            "step" => Some(typed(raw).map(|s| RunEvent::Step(Box::new(s)))),
            "run" => Some(typed(raw).map(|r| RunEvent::Run(Box::new(r)))),
            _ => None,
        }
    }
    fn is_end(&self) -> bool {
        matches!(self, RunEvent::Run(_))
    }
}

impl Kind for ExecutionEvent {
    fn parse(raw: &RawEvent) -> Option<Result<Self, String>> {
        match raw.name.as_str() {
            "node" => Some(typed(raw).map(|n| ExecutionEvent::Node(Box::new(n)))),
            "compensation" => Some(typed(raw).map(|c| ExecutionEvent::Compensation(Box::new(c)))),
            "execution" => Some(typed(raw).map(|e| ExecutionEvent::Execution(Box::new(e)))),
            _ => None,
        }
    }
    fn is_end(&self) -> bool {
        matches!(self, ExecutionEvent::Execution(_))
    }
}

/// Where a follower is.
struct Follower {
    client: Client,
    path: String,
    last: Option<String>,
    reader: Option<Reader>,
    done: bool,
}

/// Follows the stream at `path` to its last event, re-opening it after the last event id
/// when the server closes it before (with a short pause, as EventSource does).
pub(crate) fn follow<K: Kind>(
    client: Client,
    path: String,
    last: Option<String>,
) -> impl Stream<Item = Result<Event<K>, Error>> + Send + 'static {
    let start = Follower { client, path, last, reader: None, done: false };
    futures_util::stream::unfold(start, |mut f| async move {
        if f.done {
            return None;
        }
        loop {
            let reader = match f.reader.as_mut() {
                Some(r) => r,
                None => match f.client.open_stream(&f.path, f.last.as_deref()).await {
                    Ok(r) => f.reader.insert(r),
                    Err(e) => {
                        f.done = true;
                        return Some((Err(e), f));
                    }
                },
            };
            match reader.next().await {
                Ok(Some(raw)) => {
                    let Some(parsed) = K::parse(&raw) else { continue };
                    let status = reader.resp.status().as_u16();
                    let data = match parsed {
                        Ok(d) => d,
                        Err(detail) => {
                            f.done = true;
                            return Some((Err(Error::Decode { status, detail }), f));
                        }
                    };
                    if raw.id.is_some() {
                        f.last.clone_from(&raw.id);
                    }
                    f.done = data.is_end();
                    return Some((Ok(Event { id: raw.id, data }), f));
                }
                Ok(None) => {
                    // Closed before the end (a gateway's cap): open it again after the
                    // last event id.
                    f.reader = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    f.done = true;
                    return Some((Err(e), f));
                }
            }
        }
    })
}
