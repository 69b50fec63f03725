//! A Rust client of the AOS API.
//!
//! It speaks AOS's own types: the request bodies the handlers read ([`requests`]) and the
//! answers they write ([`bodies`]) are the very structs of the server (`aos-api`), so a
//! field cannot drift between the two. Errors carry the HTTP status and the stable
//! [`ErrorCode`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), aos_client::Error> {
//! use aos_client::{requests::SubmitRun, Client};
//! use std::time::Duration;
//!
//! let aos = Client::new("http://127.0.0.1:8787", "aos_...")?;
//! let run: SubmitRun = serde_json::from_value(serde_json::json!({
//!     "plan": [{"id": "pick", "skill": "json_transform",
//!               "input": {"expression": "a", "data": {"a": 1}}}]
//! })).expect("a run body");
//! let done = aos.submit_and_wait(&run, Duration::from_secs(60)).await?;
//! println!("{:?}: {:?}", done.status, done.output);
//! # Ok(()) }
//! ```

mod error;
mod events;
mod sse;

pub use aos_api::{bodies, requests};
pub use aos_core::{ApprovalId, ErrorCode, ExecutionId, RunId, RunStatus};
pub use error::Error;
pub use events::{Event, ExecutionEvent, RunEvent};

use bodies::{ApprovalList, ApprovalView, ExecutionView, RunList, RunView, StepsView, WorkflowView};
use futures_util::Stream;
use requests::{DecisionBody, StartExecution, SubmitRun};
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The longest single `?wait=` this client asks for: under API Gateway's 29 s
/// integration timeout (the server caps it at 25 s there), so a longer wait is several
/// calls.
pub const WAIT_SLICE: Duration = Duration::from_secs(25);

/// A connection to one AOS deployment as one API key.
#[derive(Clone)]
pub struct Client {
    base: String,
    auth: HeaderValue,
    http: reqwest::Client,
}

/// An answer that may have created something: the record, and whether this call created
/// it (`false`: an earlier call with the same Idempotency-Key or spec did).
#[derive(Debug, Clone)]
pub struct Created<T> {
    /// The record.
    pub value: T,
    /// Whether this call created it (HTTP 201) rather than finding it (200).
    pub created: bool,
}

/// Options of a submission or an execution start.
#[derive(Debug, Clone, Default)]
pub struct Submit {
    /// `Idempotency-Key`: a retried call with the same key and body answers the first
    /// call's record and creates nothing.
    pub idempotency_key: Option<String>,
    /// Answer once it has finished or after this long (at most [`WAIT_SLICE`] per call).
    pub wait: Option<Duration>,
}

/// A workflow spec's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFormat {
    /// `application/json`.
    Json,
    /// `application/yaml`.
    Yaml,
}

/// The query of a run listing.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Page size, 1 to 100 (the server's default 20).
    pub limit: Option<u32>,
    /// A page's `next_before`: the runs older than that one.
    pub before: Option<String>,
}

impl Client {
    /// A client of the API at `base_url` (e.g. `http://127.0.0.1:8787`) with `api_key`
    /// (sent as `Authorization: Bearer`). Fails on a key that cannot be a header.
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, Error> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", api_key.trim()))
            .map_err(|_| Error::Invalid("the API key has characters a header cannot carry".to_owned()))?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| Error::Transport { url: base_url.to_owned(), source })?;
        Ok(Self { base: base_url.trim_end_matches('/').to_owned(), auth, http })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    // ---- runs ----

    /// Submits a run (`POST /v1/runs`).
    pub async fn submit(&self, run: &SubmitRun) -> Result<RunView, Error> {
        Ok(self.submit_with(run, &Submit::default()).await?.value)
    }

    /// Submits a run with an Idempotency-Key and / or a wait.
    pub async fn submit_with(&self, run: &SubmitRun, opts: &Submit) -> Result<Created<RunView>, Error> {
        let path = format!("/v1/runs{}", wait_query(opts.wait));
        self.created(Method::POST, &path, Some(run), opts.idempotency_key.as_deref(), opts.wait).await
    }

    /// Submits a run and waits until it has finished or `timeout` has passed: one call
    /// (`POST /v1/runs?wait=`), then as many `GET ?wait=` as the rest takes. The answer's
    /// status says whether it finished.
    pub async fn submit_and_wait(&self, run: &SubmitRun, timeout: Duration) -> Result<RunView, Error> {
        let start = Instant::now();
        let opts = Submit { idempotency_key: None, wait: Some(timeout.min(WAIT_SLICE)) };
        let first = self.submit_with(run, &opts).await?.value;
        if first.status.is_terminal() {
            return Ok(first);
        }
        self.wait(&first.id, timeout.saturating_sub(start.elapsed())).await
    }

    /// A run (`GET /v1/runs/{id}`).
    pub async fn get(&self, id: &RunId) -> Result<RunView, Error> {
        self.call(Method::GET, &format!("/v1/runs/{id}"), None::<&()>, None, None).await
    }

    /// Waits until the run has finished or `timeout` has passed (`GET /v1/runs/{id}?wait=`
    /// in slices of at most [`WAIT_SLICE`]); the answer's status says which.
    pub async fn wait(&self, id: &RunId, timeout: Duration) -> Result<RunView, Error> {
        self.wait_until(&format!("/v1/runs/{id}"), timeout, |r: &RunView| r.status.is_terminal()).await
    }

    /// A run's steps and whether its checkpoint chain verifies (`GET /v1/runs/{id}/steps`).
    pub async fn steps(&self, id: &RunId) -> Result<StepsView, Error> {
        self.call(Method::GET, &format!("/v1/runs/{id}/steps"), None::<&()>, None, None).await
    }

    /// A page of runs, newest first (`GET /v1/runs`).
    pub async fn list(&self, filter: &RunFilter) -> Result<RunList, Error> {
        let mut q = Vec::new();
        if let Some(s) = filter.status {
            q.push(format!("status={}", s.as_str()));
        }
        if let Some(l) = filter.limit {
            q.push(format!("limit={l}"));
        }
        if let Some(b) = &filter.before {
            q.push(format!("before={b}"));
        }
        let q = if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) };
        self.call(Method::GET, &format!("/v1/runs{q}"), None::<&()>, None, None).await
    }

    /// Cancels a run (`POST /v1/runs/{id}/cancel`); its agent children too.
    pub async fn cancel(&self, id: &RunId) -> Result<RunView, Error> {
        self.call(Method::POST, &format!("/v1/runs/{id}/cancel"), None::<&()>, None, None).await
    }

    /// Follows a run through its event stream (`GET /v1/runs/{id}/events`): each step as
    /// it changes, then the run at its end, after which the stream ends. A stream the
    /// server closes early (API Gateway answers a stream as one response of at most 25 s)
    /// is re-opened after the last event id, so no finished step is missed or repeated.
    pub fn follow(&self, id: &RunId) -> impl Stream<Item = Result<Event<RunEvent>, Error>> + Send + 'static {
        events::follow(self.clone(), format!("/v1/runs/{id}/events"), None)
    }

    /// The same after `last_event_id` (a finished step's index, as an earlier stream
    /// gave it): only what came after.
    pub fn follow_after(
        &self,
        id: &RunId,
        last_event_id: &str,
    ) -> impl Stream<Item = Result<Event<RunEvent>, Error>> + Send + 'static {
        events::follow(self.clone(), format!("/v1/runs/{id}/events"), Some(last_event_id.to_owned()))
    }

    // ---- workflows ----

    /// Validates and stores a workflow spec as its next version (`POST /v1/workflows`);
    /// the same spec again creates nothing.
    pub async fn apply_workflow(&self, spec: &str, format: SpecFormat) -> Result<Created<WorkflowView>, Error> {
        let media = match format {
            SpecFormat::Json => "application/json",
            SpecFormat::Yaml => "application/yaml",
        };
        self.send_raw(Method::POST, "/v1/workflows", media, spec.as_bytes().to_vec()).await
    }

    /// A workflow version, the latest by default (`GET /v1/workflows/{name}`).
    pub async fn workflow(&self, name: &str, version: Option<u32>) -> Result<WorkflowView, Error> {
        let q = version.map(|v| format!("?version={v}")).unwrap_or_default();
        self.call(Method::GET, &format!("/v1/workflows/{name}{q}"), None::<&()>, None, None).await
    }

    /// Starts an execution of a workflow (`POST /v1/workflows/{name}/executions`).
    pub async fn start(
        &self,
        workflow: &str,
        body: &StartExecution,
        opts: &Submit,
    ) -> Result<Created<ExecutionView>, Error> {
        let path = format!("/v1/workflows/{workflow}/executions{}", wait_query(opts.wait));
        self.created(Method::POST, &path, Some(body), opts.idempotency_key.as_deref(), opts.wait).await
    }

    /// An execution with its nodes (`GET /v1/executions/{id}`).
    pub async fn execution(&self, id: &ExecutionId) -> Result<ExecutionView, Error> {
        self.call(Method::GET, &format!("/v1/executions/{id}"), None::<&()>, None, None).await
    }

    /// Waits until the execution has ended or `timeout` has passed; its `finished` says
    /// which.
    pub async fn wait_execution(&self, id: &ExecutionId, timeout: Duration) -> Result<ExecutionView, Error> {
        self.wait_until(&format!("/v1/executions/{id}"), timeout, |e: &ExecutionView| e.finished).await
    }

    /// `GET path?wait=` in slices of at most [`WAIT_SLICE`] until `done` or `timeout`.
    async fn wait_until<T: DeserializeOwned>(
        &self,
        path: &str,
        timeout: Duration,
        done: impl Fn(&T) -> bool,
    ) -> Result<T, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).min(WAIT_SLICE);
            let answer: T = self
                .call(Method::GET, &format!("{path}{}", wait_query(Some(left))), None::<&()>, None, Some(left))
                .await?;
            if done(&answer) || Instant::now() >= deadline {
                return Ok(answer);
            }
        }
    }

    /// Cancels an execution (`POST /v1/executions/{id}/cancel`).
    pub async fn cancel_execution(&self, id: &ExecutionId) -> Result<ExecutionView, Error> {
        self.call(Method::POST, &format!("/v1/executions/{id}/cancel"), None::<&()>, None, None).await
    }

    /// Follows an execution through its event stream (`GET /v1/executions/{id}/events`):
    /// nodes as they change, compensations as they run, then the execution at its end.
    /// Re-opened after the last event id when the server closes it early.
    pub fn follow_execution(
        &self,
        id: &ExecutionId,
    ) -> impl Stream<Item = Result<Event<ExecutionEvent>, Error>> + Send + 'static {
        events::follow(self.clone(), format!("/v1/executions/{id}/events"), None)
    }

    // ---- approvals ----

    /// Approvals, newest first (`GET /v1/approvals`), only `status` ones when given
    /// (`pending`, `approved`, `rejected`, `timed_out`, `cancelled`).
    pub async fn approvals(&self, status: Option<&str>) -> Result<ApprovalList, Error> {
        let q = status.map(|s| format!("?status={s}")).unwrap_or_default();
        self.call(Method::GET, &format!("/v1/approvals{q}"), None::<&()>, None, None).await
    }

    /// Approves a pending approval (`POST /v1/approvals/{id}/decision`).
    pub async fn approve(&self, id: &ApprovalId, comment: Option<&str>) -> Result<ApprovalView, Error> {
        self.decide(id, "approve", comment).await
    }

    /// Rejects a pending approval.
    pub async fn reject(&self, id: &ApprovalId, comment: Option<&str>) -> Result<ApprovalView, Error> {
        self.decide(id, "reject", comment).await
    }

    async fn decide(&self, id: &ApprovalId, decision: &str, comment: Option<&str>) -> Result<ApprovalView, Error> {
        let body = DecisionBody { decision: decision.to_owned(), comment: comment.map(str::to_owned) };
        self.call(Method::POST, &format!("/v1/approvals/{id}/decision"), Some(&body), None, None).await
    }

    // ---- any route ----

    /// Calls any route with a JSON body and reads the answer as `T` (`serde_json::Value`
    /// for a route this client has no method for). `wait` lengthens the call's timeout.
    pub async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
        wait: Option<Duration>,
    ) -> Result<T, Error> {
        Ok(self.created(method, path, body, idempotency_key, wait).await?.value)
    }

    /// [`Client::call`], saying whether the answer was a 201.
    pub async fn created<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
        wait: Option<Duration>,
    ) -> Result<Created<T>, Error> {
        let mut req = self.request(method, path, wait);
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let (status, bytes) = self.send(req).await?;
        Ok(Created { value: decode(status, &bytes)?, created: status == StatusCode::CREATED })
    }

    /// Sends a body of any media type and reads the answer as `T`.
    pub async fn send_raw<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Created<T>, Error> {
        let req = self.request(method, path, None).header(CONTENT_TYPE, content_type).body(body);
        let (status, bytes) = self.send(req).await?;
        Ok(Created { value: decode(status, &bytes)?, created: status == StatusCode::CREATED })
    }

    /// A request with the key and a timeout of 30 s plus `wait`.
    fn request(&self, method: Method, path: &str, wait: Option<Duration>) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::AUTHORIZATION, self.auth.clone())
            .timeout(Duration::from_secs(30) + wait.unwrap_or_default())
    }

    /// Sends; the status and body of a success, or the API's error.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(StatusCode, Vec<u8>), Error> {
        let transport = |source| Error::Transport { url: self.base.clone(), source };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let retry_after = retry_after(&resp);
        let body = resp.bytes().await.map_err(transport)?.to_vec();
        if status.is_success() {
            Ok((status, body))
        } else {
            Err(Error::from_answer(status.as_u16(), retry_after, &body))
        }
    }

    /// Opens an event stream at `path`, after `last` when given.
    async fn open_stream(&self, path: &str, last: Option<&str>) -> Result<sse::Reader, Error> {
        // No whole-response timeout: a stream lasts as long as what it follows; the
        // server sends a keep-alive every 15 s.
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::AUTHORIZATION, self.auth.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(l) = last {
            req = req.header("Last-Event-ID", l);
        }
        let resp = req.send().await.map_err(|source| Error::Transport { url: self.base.clone(), source })?;
        let status = resp.status();
        if !status.is_success() {
            let retry_after = retry_after(&resp);
            let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            return Err(Error::from_answer(status.as_u16(), retry_after, &body));
        }
        Ok(sse::Reader { resp, parser: sse::Parser::default(), base: self.base.clone() })
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn decode<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Decode { status: status.as_u16(), detail: e.to_string() })
}

/// `?wait=<ms>ms`, or nothing.
fn wait_query(wait: Option<Duration>) -> String {
    wait.map(|w| format!("?wait={}ms", w.as_millis().max(1))).unwrap_or_default()
}
