//! The http_call address guard, tested at the resolver / connector boundary: names that
//! resolve to refused addresses come from a fake resolver, and a tripwire records every
//! address handed to the connector and fails the test on any refused one. Only
//! addresses on 127.0.0.1 are ever dialled for real.

use aos_core::{ErrorCode, RunId, StructuredOutcome, TenantId};
use aos_embedded::{Db, Durability, EmbeddedKv};
use aos_runtime::net::{refusal_reason, AddressPolicy, DialObserver, Lookup};
use aos_runtime::skills::{HttpCallConfig, HttpCallSkill};
use aos_runtime::{SkillContext, SkillRegistry};
use aos_tests::serve;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answers names from a fixed table, like a DNS server an attacker controls.
struct FakeDns(HashMap<String, Vec<IpAddr>>);

#[async_trait::async_trait]
impl Lookup for FakeDns {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.0.get(host).cloned().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))
    }
}

struct Harness {
    registry: SkillRegistry,
    ctx: SkillContext,
    dials: Arc<Mutex<Vec<SocketAddr>>>,
    _dir: tempfile::TempDir,
}

fn harness(allow: &str, dns: &[(&str, &str)]) -> Harness {
    let dials: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
    let seen = Arc::clone(&dials);
    // The tripwire: records every address the connector would dial; a refused one is
    // recorded and blocked (the test then fails), never dialled.
    let observer: DialObserver = Arc::new(move |addr: SocketAddr| {
        seen.lock().expect("dials").push(addr);
        addr.ip().is_loopback()
    });
    let table = dns.iter().map(|(h, ip)| ((*h).to_owned(), vec![ip.parse().expect("ip")])).collect();
    let config = HttpCallConfig {
        policy: Arc::new(AddressPolicy::parse_allow_list(allow).expect("allow list")),
        lookup: Arc::new(FakeDns(table)),
        observer: Some(observer),
        default_max_response_bytes: 1024,
    };
    let mut registry = SkillRegistry::new();
    registry.register(Arc::new(HttpCallSkill::new(config).expect("client"))).expect("register");
    let dir = tempfile::tempdir().expect("tmp");
    let kv = Arc::new(EmbeddedKv::new(Db::open(dir.path(), Durability::Off).expect("db")));
    let ctx = SkillContext {
        tenant: TenantId::parse("ten_t").expect("id"),
        run_id: RunId::parse("run_r").expect("id"),
        step_index: 0,
        step_id: "s0".into(),
        attempt: 1,
        seed: 1,
        idempotency_key: "aos-run_r-0".into(),
        timeout: Duration::from_secs(5),
        kv,
    };
    Harness { registry, ctx, dials, _dir: dir }
}

impl Harness {
    async fn get(&self, url: &str) -> StructuredOutcome {
        self.registry.execute("http_call", &self.ctx, json!({"url": url})).await
    }

    fn assert_no_refused_dial(&self) {
        let dials = self.dials.lock().expect("dials");
        let bad: Vec<_> = dials.iter().filter(|a| refusal_reason(a.ip()).is_some() && !a.ip().is_loopback()).collect();
        assert!(bad.is_empty(), "dialled refused addresses: {bad:?}");
    }
}

const REFUSED: &[(&str, &str)] = &[
    ("loopback.test", "127.0.0.1"),
    ("loopback6.test", "::1"),
    ("private10.test", "10.0.0.7"),
    ("private172.test", "172.20.1.1"),
    ("private192.test", "192.168.0.10"),
    ("linklocal.test", "169.254.10.10"),
    ("metadata.test", "169.254.169.254"),
    ("metadata6.test", "fd00:ec2::254"),
    ("uniquelocal.test", "fd12:3456:789a::1"),
    ("linklocal6.test", "fe80::1"),
    ("unspecified.test", "0.0.0.0"),
    ("unspecified6.test", "::"),
    ("mapped.test", "::ffff:10.0.0.1"),
    ("mappedloop.test", "::ffff:127.0.0.1"),
    ("cgnat.test", "100.64.1.1"),
];

#[tokio::test]
async fn names_resolving_to_any_refused_class_are_refused_before_a_dial() {
    let h = harness("", REFUSED);
    for (host, ip) in REFUSED {
        let out = h.get(&format!("http://{host}/x")).await;
        assert_eq!(out.code(), Some(ErrorCode::BlockedAddress), "{host} -> {ip}: {out:?}");
        assert!(
            out.error.as_ref().expect("error").message.contains(ip.trim_start_matches("::ffff:")),
            "message names the address"
        );
    }
    assert!(h.dials.lock().expect("dials").is_empty(), "nothing reached the connector");
}

#[tokio::test]
async fn literal_refused_addresses_in_every_spelling_are_refused_without_resolving() {
    let h = harness("", &[]);
    for url in [
        "http://127.0.0.1:1/",
        "http://[::1]:1/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://0xA9FEA9FE/",
        "http://3232235521/",
        "http://[fe80::1]/",
        "http://[fc00::5]/",
    ] {
        let out = h.get(url).await;
        assert_eq!(out.code(), Some(ErrorCode::BlockedAddress), "{url}: {out:?}");
    }
    assert!(h.dials.lock().expect("dials").is_empty());
    let out = h.get("ftp://example.com/").await;
    assert_eq!(out.code(), Some(ErrorCode::InvalidUrl));
}

async fn redirect_to(target: &'static str) -> impl IntoResponse {
    (StatusCode::FOUND, [(header::LOCATION, target)])
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_or_name_is_refused() {
    let upstream = axum::Router::new()
        .route("/to-metadata", get(|| redirect_to("http://169.254.169.254/latest/meta-data/")))
        .route("/to-private-name", get(|| redirect_to("http://internal.test/admin")))
        .route("/to-decimal-loopback", get(|| redirect_to("http://2130706433:9/")))
        .route("/to-ok", get(|| redirect_to("/ok")))
        .route("/ok", get(|| async { "fine" }));
    let addr = serve(upstream).await;
    let h = harness(&addr.to_string(), &[("internal.test", "10.1.2.3")]);
    for path in ["/to-metadata", "/to-private-name", "/to-decimal-loopback"] {
        let out = h.get(&format!("http://{addr}{path}")).await;
        assert_eq!(out.code(), Some(ErrorCode::BlockedAddress), "{path}: {out:?}");
    }
    let ok = h.get(&format!("http://{addr}/to-ok")).await;
    assert!(ok.ok, "a redirect within the allowed host is followed: {ok:?}");
    assert_eq!(ok.output.expect("output")["body"], "fine");
    h.assert_no_refused_dial();
}

#[tokio::test]
async fn the_tripwire_sees_allowed_dials_so_its_silence_means_something() {
    let upstream = axum::Router::new().route("/ok", get(|| async { "fine" }));
    let addr = serve(upstream).await;
    let h = harness("sink.test", &[("sink.test", "127.0.0.1")]);
    let out = h.get(&format!("http://sink.test:{}/ok", addr.port())).await;
    assert!(out.ok, "{out:?}");
    let dials = h.dials.lock().expect("dials").clone();
    assert_eq!(dials.iter().map(SocketAddr::ip).collect::<Vec<_>>(), vec!["127.0.0.1".parse::<IpAddr>().expect("ip")]);
    // The same loopback name without the allow-list entry is refused.
    let strict = harness("", &[("sink.test", "127.0.0.1")]);
    let out = strict.get(&format!("http://sink.test:{}/ok", addr.port())).await;
    assert_eq!(out.code(), Some(ErrorCode::BlockedAddress));
}

#[tokio::test]
async fn a_response_over_the_size_cap_is_refused() {
    let upstream = axum::Router::new().route("/big", get(|| async { "x".repeat(5000) }));
    let addr = serve(upstream).await;
    let h = harness(&addr.to_string(), &[]);
    let out = h.get(&format!("http://{addr}/big")).await;
    assert_eq!(out.code(), Some(ErrorCode::ResponseTooLarge), "{out:?}");
    let small = h
        .registry
        .execute("http_call", &h.ctx, json!({"url": format!("http://{addr}/big"), "max_response_bytes": 10000}))
        .await;
    assert!(small.ok);
}
