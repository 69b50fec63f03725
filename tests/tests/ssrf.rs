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
    harness_dialling(allow, dns, |addr| addr.ip().is_loopback())
}

/// A harness whose tripwire lets only the dials `may_dial` accepts through.
fn harness_dialling(allow: &str, dns: &[(&str, &str)], may_dial: fn(SocketAddr) -> bool) -> Harness {
    let dials: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
    let seen = Arc::clone(&dials);
    // The tripwire: records every address the connector would dial; a refused one is
    // recorded and blocked (the test then fails), never dialled.
    let observer: DialObserver = Arc::new(move |addr: SocketAddr| {
        seen.lock().expect("dials").push(addr);
        may_dial(addr)
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
    let db = Db::open(dir.path(), Durability::Off).expect("db");
    let kv = Arc::new(EmbeddedKv::new(Arc::clone(&db)));
    let secrets = Arc::new(aos_embedded::EmbeddedSecrets::open(db, dir.path()).expect("secrets"));
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
        secrets,
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

/// The port of the local service the guard must keep `http_call` away from.
static OTHER_PORT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

#[tokio::test]
async fn an_allow_listed_host_is_allowed_on_its_port_only_by_name_literal_and_redirect() {
    // Another local service (a database, an admin port) that nothing may reach.
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let other = serve(axum::Router::new().fallback(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { "secret" }
    }))
    .await;
    OTHER_PORT.store(other.port(), std::sync::atomic::Ordering::SeqCst);
    let by_name: &'static str = Box::leak(format!("http://localhost:{}/", other.port()).into_boxed_str());
    let by_literal: &'static str = Box::leak(format!("http://127.0.0.1:{}/", other.port()).into_boxed_str());
    let allowed = serve(
        axum::Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route("/to-name", get(move || redirect_to(by_name)))
            .route("/to-literal", get(move || redirect_to(by_literal))),
    )
    .await;
    // What `aos dev` allows: its own port, by name and by address. The tripwire lets no
    // dial to the other port through, so a guard that failed would still reach nothing.
    let allow = format!("localhost:{p},127.0.0.1:{p}", p = allowed.port());
    let h = harness_dialling(&allow, &[("localhost", "127.0.0.1")], |addr| {
        addr.ip().is_loopback() && addr.port() != OTHER_PORT.load(std::sync::atomic::Ordering::SeqCst)
    });
    let ok = h.get(&format!("http://localhost:{}/ok", allowed.port())).await;
    assert!(ok.ok, "the allowed port is reachable by name: {ok:?}");
    for url in [
        by_name.to_owned(),
        by_literal.to_owned(),
        format!("http://localhost:{}/to-name", allowed.port()),
        format!("http://127.0.0.1:{}/to-literal", allowed.port()),
    ] {
        let out = h.get(&url).await;
        assert_eq!(out.code(), Some(ErrorCode::BlockedAddress), "{url}: {out:?}");
        assert!(out.error.expect("error").message.contains(&other.port().to_string()), "the refusal names the port");
    }
    let dials = h.dials.lock().expect("dials").clone();
    assert!(dials.iter().all(|a| a.port() != other.port()), "no dial reached the other port: {dials:?}");
    assert!(dials.contains(&SocketAddr::from(([127, 0, 0, 1], allowed.port()))), "the tripwire saw the allowed dials");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "the other service was never reached");
}
