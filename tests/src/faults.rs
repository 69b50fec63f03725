//! Faults on the wire: a proxy on loopback between the AWS SDK and the emulator (moto
//! server) that forwards every call and, where a test scripted one, answers with a fault
//! instead — or after the emulator did the work. The emulator never throttles, never
//! conflicts and never loses an answer; through this proxy the AWS adapters meet all of
//! that, on the real SDK and the real wire format.
//!
//! Calls are named `<service>.<Operation>` from the `X-Amz-Target` header of the JSON
//! protocols (`dynamodb.TransactWriteItems`, `sqs.SendMessage`, `states.StartExecution`,
//! `secretsmanager.GetSecretValue`), or `<METHOD> <first path segment>` for REST calls.
//! A rule fires on the `at`-th call of its operation (counting from 1 since the proxy
//! started) and on the `times - 1` calls of that operation that follow, so a fault can
//! outlast the SDK's own retries.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// What the proxy does to a call instead of (or after) forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// DynamoDB `TransactionCanceledException`: the transaction's item `item` (from 0)
    /// carries the cancellation reason `code` (`ConditionalCheckFailed`,
    /// `TransactionConflict`, `ThrottlingError`, `ValidationError`), every other item
    /// `None`. Nothing is written.
    Cancelled {
        /// The item with the reason.
        item: usize,
        /// The reason code.
        code: &'static str,
    },
    /// An error answer of the given HTTP status and error type, without forwarding
    /// (`ProvisionedThroughputExceededException`, `ThrottlingException`,
    /// `InternalServerError`, `ServiceUnavailable`, ...). Nothing is done.
    Error(u16, &'static str),
    /// Forwards the call (the emulator does the work), then drops the connection before
    /// answering: the write happened, the answer was lost.
    LoseAnswer,
    /// Forwards the call, then answers with an error: the work happened but the caller
    /// is told it failed (`StartExecution` answered but reported failed).
    FailAfter(u16, &'static str),
}

impl Fault {
    /// Short name for reports.
    pub fn name(&self) -> String {
        match self {
            Self::Cancelled { item, code } => format!("TransactionCanceled[{item}]={code}"),
            Self::Error(status, code) => format!("{status} {code}"),
            Self::LoseAnswer => "lost answer".to_owned(),
            Self::FailAfter(status, code) => format!("done, then {status} {code}"),
        }
    }
}

/// One call that went through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `<service>.<Operation>`.
    pub op: String,
    /// Which call of that operation it was (from 1).
    pub n: u32,
    /// The fault it met, if any.
    pub fault: Option<Fault>,
}

struct Rule {
    op: String,
    at: u32,
    times: u32,
    fault: Fault,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    counts: HashMap<String, u32>,
    log: Vec<Call>,
}

/// The proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (the emulator).
    pub async fn start(upstream: &str) -> Self {
        Self::started(upstream, None).await
    }

    /// A proxy that forwards one call at a time. DynamoDB applies a conditional write
    /// to an item atomically with its check; the emulator (a threaded server with no lock
    /// around an update) may interleave two, so both pass their check and one's update is
    /// lost. Tests of concurrent conditional writes on one item go through this.
    pub async fn one_at_a_time(upstream: &str) -> Self {
        Self::started(upstream, Some(tokio::sync::Mutex::new(()))).await
    }

    async fn started(upstream: &str, serial: Option<tokio::sync::Mutex<()>>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let state: Arc<Mutex<State>> = Arc::default();
        let forward = Arc::new(Forward {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder().no_proxy().build().expect("client"),
            state: Arc::clone(&state),
            serial,
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let forward = Arc::clone(&forward);
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let forward = Arc::clone(&forward);
                        async move { forward.handle(req).await }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { addr, state, task }
    }

    /// The endpoint to give the SDK (`AWS_ENDPOINT_URL` or `endpoint_url`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Scripts `fault` for the `at`-th call of `op` (from 1) and the `times - 1` calls
    /// of it after that.
    pub fn inject(&self, op: &str, at: u32, times: u32, fault: Fault) {
        self.lock().rules.push(Rule { op: op.to_owned(), at, times: times.max(1), fault });
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().log.clone()
    }

    /// How many calls of `op` went through so far.
    pub fn count(&self, op: &str) -> u32 {
        self.lock().counts.get(op).copied().unwrap_or(0)
    }

    /// The calls that met a fault.
    pub fn faulted(&self) -> Vec<Call> {
        self.lock().log.iter().filter(|c| c.fault.is_some()).cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct Forward {
    upstream: String,
    http: reqwest::Client,
    state: Arc<Mutex<State>>,
    /// Held while a call is forwarded, when calls go one at a time.
    serial: Option<tokio::sync::Mutex<()>>,
}

type Answer = Response<Full<Bytes>>;

/// The connection is dropped without an answer (hyper closes it on a service error).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

impl Forward {
    async fn handle(&self, req: Request<Incoming>) -> Result<Answer, Dropped> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
        let op = operation(&parts);
        let fault = self.next_fault(&op);
        match &fault {
            Some(Fault::Cancelled { item, code }) => Ok(cancelled(&body, *item, code)),
            Some(Fault::Error(status, code)) => Ok(error(*status, code)),
            Some(Fault::LoseAnswer) => {
                self.forward(&parts, body).await?;
                Err(Dropped)
            }
            Some(Fault::FailAfter(status, code)) => {
                self.forward(&parts, body).await?;
                Ok(error(*status, code))
            }
            None => self.forward(&parts, body).await,
        }
    }

    fn next_fault(&self, op: &str) -> Option<Fault> {
        let mut st = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = {
            let c = st.counts.entry(op.to_owned()).or_insert(0);
            *c += 1;
            *c
        };
        let fault = st.rules.iter().find(|r| r.op == op && n >= r.at && n < r.at + r.times).map(|r| r.fault.clone());
        st.log.push(Call { op: op.to_owned(), n, fault: fault.clone() });
        fault
    }

    async fn forward(&self, parts: &hyper::http::request::Parts, body: Bytes) -> Result<Answer, Dropped> {
        let _one = match &self.serial {
            Some(serial) => Some(serial.lock().await),
            None => None,
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).map_err(|_| Dropped)?;
        let mut req = self.http.request(method, format!("{}{path}", self.upstream)).body(body);
        for (name, value) in &parts.headers {
            if !matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
                req = req.header(name.as_str(), value.as_bytes());
            }
        }
        let resp = req.send().await.map_err(|_| Dropped)?;
        let mut answer = Response::builder().status(resp.status().as_u16());
        for (name, value) in resp.headers() {
            if !matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
                answer = answer.header(name.as_str(), value.as_bytes());
            }
        }
        let bytes = resp.bytes().await.map_err(|_| Dropped)?;
        answer.body(Full::new(bytes)).map_err(|_| Dropped)
    }
}

/// `<service>.<Operation>` of a call.
fn operation(parts: &hyper::http::request::Parts) -> String {
    if let Some(target) = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (service, op) = target.split_once('.').unwrap_or(("", target));
        let service = match service {
            s if s.starts_with("DynamoDB") => "dynamodb",
            "AmazonSQS" => "sqs",
            "AWSStepFunctions" => "states",
            s => return format!("{}.{op}", s.to_ascii_lowercase()),
        };
        return format!("{service}.{op}");
    }
    let first = parts.uri.path().trim_start_matches('/').split('/').next().unwrap_or_default().to_owned();
    format!("{} {first}", parts.method)
}

fn json_answer(status: u16, body: &Value) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", "fault-proxy")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("answer")
}

/// An error answer in the JSON protocols' shape (the SDK reads the type from `__type`;
/// SQS's query-compatible clients also from `x-amzn-query-error`).
fn error(status: u16, code: &str) -> Answer {
    let mut answer = json_answer(status, &json!({"__type": code, "message": format!("{code} (injected)")}));
    if let Ok(v) = hyper::http::HeaderValue::from_str(&format!("{code};Sender")) {
        answer.headers_mut().insert("x-amzn-query-error", v);
    }
    answer
}

/// A `TransactionCanceledException` for the transaction in `request`.
fn cancelled(request: &[u8], item: usize, code: &str) -> Answer {
    let items = serde_json::from_slice::<Value>(request)
        .ok()
        .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(item + 1)
        .max(item + 1);
    let reasons: Vec<Value> = (0..items)
        .map(|i| {
            if i == item {
                json!({"Code": code, "Message": format!("{code} (injected)")})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    let codes: Vec<&str> = reasons.iter().map(|r| r["Code"].as_str().unwrap_or("None")).collect();
    json_answer(
        400,
        &json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
            "CancellationReasons": reasons,
        }),
    )
}
