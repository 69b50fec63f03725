//! The loopback endpoints that ship with AOS for the quickstart and the tests: a price
//! quote to fetch and a sink that records effects, honouring `Idempotency-Key` the way
//! a well-behaved upstream does. State is in memory: this is a demo target, not AOS data.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the sink received.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
    /// The JSON body.
    pub body: Value,
}

/// What the sink saw: every delivery, and the effects it applied (one per key).
#[derive(Debug, Default)]
pub struct SinkLog {
    /// Every POST, in arrival order (repeats included).
    pub deliveries: Vec<Delivery>,
    /// Effects applied, by idempotency key (a repeat of a key applies nothing).
    pub effects: BTreeMap<String, u32>,
}

/// Shared handle on the sink's log.
pub type Sink = Arc<Mutex<SinkLog>>;

#[derive(Deserialize)]
struct QuoteQuery {
    #[serde(default = "default_symbol")]
    symbol: String,
    #[serde(default)]
    delay_ms: u64,
}

fn default_symbol() -> String {
    "AOS".to_owned()
}

async fn quote(Query(q): Query<QuoteQuery>) -> Json<Value> {
    if q.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(q.delay_ms.min(10_000))).await;
    }
    let cents: u64 = q.symbol.bytes().map(u64::from).sum::<u64>() * 37 % 100_000;
    Json(json!({"symbol": q.symbol, "price": cents as f64 / 100.0, "currency": "USD", "quotes": [
        {"venue": "north", "price": cents as f64 / 100.0},
        {"venue": "south", "price": (cents + 125) as f64 / 100.0}
    ]}))
}

async fn sink_post(State(sink): State<Sink>, headers: HeaderMap, body: Option<Json<Value>>) -> Json<Value> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = body.map_or(Value::Null, |Json(b)| b);
    let mut log = sink.lock().expect("sink lock");
    log.deliveries.push(Delivery { idempotency_key: key.clone(), body });
    let applied = match key {
        Some(k) => {
            let n = log.effects.entry(k).or_insert(0);
            *n += 1;
            *n == 1
        }
        None => true,
    };
    Json(json!({"accepted": true, "applied": applied, "deliveries": log.deliveries.len()}))
}

async fn sink_get(State(sink): State<Sink>) -> Json<Value> {
    let log = sink.lock().expect("sink lock");
    Json(json!({
        "deliveries": log.deliveries.len(),
        "effects": log.effects.len(),
        "bodies": log.deliveries.iter().map(|d| d.body.clone()).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize)]
struct FailQuery {
    #[serde(default = "default_fail_status")]
    status: u16,
}

fn default_fail_status() -> u16 {
    500
}

/// Answers with the asked status (400-599, default 500): a failing upstream for
/// workflow examples (compensation, retries).
async fn fail(Query(q): Query<FailQuery>) -> (axum::http::StatusCode, Json<Value>) {
    let status = axum::http::StatusCode::from_u16(q.status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({"error": "the demo upstream failed on purpose", "status": status.as_u16()})))
}

/// The demo routes (`GET /demo/quote`, `POST|GET /demo/sink`, `GET|POST /demo/fail`) and
/// a handle on the sink.
pub fn demo_router() -> (Router, Sink) {
    let sink: Sink = Arc::default();
    let router = Router::new()
        .route("/demo/quote", get(quote))
        .route("/demo/sink", get(sink_get).post(sink_post))
        .route("/demo/fail", get(fail).post(fail))
        .with_state(Arc::clone(&sink));
    (router, sink)
}
