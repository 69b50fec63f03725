//! Outbound address policy (SSRF guard).
//!
//! AOS refuses to connect to loopback, private, link-local, unique-local, carrier-grade
//! NAT, multicast, reserved, unspecified and cloud metadata addresses, and to IPv6 forms
//! that embed an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo). The check runs
//! on every address the resolver hands to the connector, so DNS rebinding and redirects
//! cannot bypass it, and on literal addresses in every url (including redirects). The
//! url parser normalises shorthand, octal, hex and decimal IPv4 forms first.
//! An operator allow-list (`AOS_HTTP_ALLOW_HOSTS`) lifts the check for named hosts, on
//! the ports it names: a rule `host:port` allows that port only, for the url's literal
//! address and for every address a name resolves to. Redirects are followed here, not by
//! reqwest, so every hop is checked with its own port.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// Why an address is refused (the class it belongs to).
pub fn refusal_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [169, 254, 169, 254] => "cloud metadata",
        [0, ..] => "unspecified / this network",
        [127, ..] => "loopback",
        [10, ..] => "private",
        [172, b, ..] if (16..=31).contains(&b) => "private",
        [192, 168, ..] => "private",
        [169, 254, ..] => "link-local",
        [100, b, ..] if (64..=127).contains(&b) => "carrier-grade NAT",
        [192, 0, 0, _] => "IETF protocol assignment",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, 18 | 19, ..] => "benchmarking",
        [a, ..] if a >= 224 => "multicast / reserved / broadcast",
        _ => return None,
    })
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some("cloud metadata");
    }
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback",
        [0, 0, 0, 0, 0, 0xffff, ..] => "IPv4-mapped IPv6",
        [0, 0, 0, 0, 0, 0, ..] => "IPv4-compatible IPv6",
        [0x64, 0xff9b, ..] => "NAT64 (embeds IPv4)",
        [0x2002, ..] => "6to4 (embeds IPv4)",
        [0x2001, 0, ..] => "Teredo (embeds IPv4)",
        [0x2001, 0xdb8, ..] => "documentation",
        [a, ..] if a & 0xfe00 == 0xfc00 => "unique-local",
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local",
        [a, ..] if a & 0xffc0 == 0xfec0 => "site-local",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    })
}

/// One allow-list entry: a host name or address, optionally with a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
    host: String,
    port: Option<u16>,
}

impl AllowRule {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`. Fails on an empty host or bad port.
    pub fn parse(rule: &str) -> Result<Self, String> {
        let rule = rule.trim().to_ascii_lowercase();
        let (host, port) = if let Some(rest) = rule.strip_prefix('[') {
            let (h, tail) = rest.split_once(']').ok_or_else(|| format!("bad allow rule {rule:?}"))?;
            let port =
                tail.strip_prefix(':').map(str::parse).transpose().map_err(|_| format!("bad port in {rule:?}"))?;
            (format!("[{h}]"), port)
        } else if let Some((h, p)) = rule.rsplit_once(':') {
            (h.to_owned(), Some(p.parse().map_err(|_| format!("bad port in {rule:?}"))?))
        } else {
            (rule.clone(), None)
        };
        if host.is_empty() || host == "[]" {
            return Err(format!("empty host in allow rule {rule:?}"));
        }
        Ok(Self { host, port })
    }
}

/// The operator's outbound policy.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow: Vec<AllowRule>,
}

/// A url or address refused by the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not an absolute http(s) url with a host.
    #[error("{0}")]
    InvalidUrl(String),
    /// The address belongs to a refused class.
    #[error("address {addr} of {host:?} is refused ({reason}); an operator can allow the host and port with AOS_HTTP_ALLOW_HOSTS")]
    Blocked {
        /// Host and port as dialled.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// Its class.
        reason: &'static str,
    },
}

fn host_string(host: &Host<&str>) -> String {
    match host {
        Host::Domain(d) => d.to_ascii_lowercase(),
        Host::Ipv4(a) => a.to_string(),
        Host::Ipv6(a) => format!("[{a}]"),
    }
}

impl AddressPolicy {
    /// A policy that lifts the check for the given hosts.
    pub fn with_allow_list(allow: Vec<AllowRule>) -> Self {
        Self { allow }
    }

    /// Parses a comma-separated allow-list such as `127.0.0.1:8787,api.internal`.
    pub fn parse_allow_list(list: &str) -> Result<Self, String> {
        let allow = list.split(',').filter(|s| !s.trim().is_empty()).map(AllowRule::parse).collect::<Result<_, _>>()?;
        Ok(Self { allow })
    }

    fn allows_host(&self, host: &str, port: Option<u16>) -> bool {
        self.allow.iter().any(|r| r.host == host && (r.port.is_none() || r.port == port))
    }

    /// Checks a url before it is requested (and every redirect target): http(s) only,
    /// a host, and no refused literal address unless allow-listed.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::InvalidUrl(format!("scheme {:?} is not http or https", url.scheme())));
        }
        let host = url.host().ok_or_else(|| Refused::InvalidUrl("the url has no host".to_owned()))?;
        let name = host_string(&host);
        if self.allows_host(&name, url.port_or_known_default()) {
            return Ok(());
        }
        let literal = match host {
            Host::Ipv4(a) => Some(IpAddr::V4(a)),
            Host::Ipv6(a) => Some(IpAddr::V6(a)),
            Host::Domain(_) => None,
        };
        match literal.and_then(|a| refusal_reason(a).map(|r| (a, r))) {
            Some((addr, reason)) => {
                let host = url.port_or_known_default().map_or(name.clone(), |p| format!("{name}:{p}"));
                Err(Refused::Blocked { host, addr, reason })
            }
            None => Ok(()),
        }
    }

    /// Checks a non-HTTP endpoint (an SMTP server): allowed when `host:port` (or `host`)
    /// is on the allow-list, else every address must be of an allowed class.
    pub fn check_endpoint(&self, host: &str, port: u16, addrs: &[IpAddr]) -> Result<(), Refused> {
        let host = host.to_ascii_lowercase();
        if self.allows_host(&host, Some(port)) {
            return Ok(());
        }
        for &addr in addrs {
            if let Some(reason) = refusal_reason(addr) {
                return Err(Refused::Blocked { host: format!("{host}:{port}"), addr, reason });
            }
        }
        Ok(())
    }

    /// Checks the addresses `host` resolved to, for a connection to `port`. Any refused
    /// address refuses the whole name (a mix of public and private answers is a
    /// rebinding attempt) unless `host:port` is allowed.
    pub fn check_resolved(&self, host: &str, port: u16, addrs: &[IpAddr]) -> Result<(), Refused> {
        self.check_endpoint(host, port, addrs)
    }
}

/// Name resolution, behind a trait so tests can return any address without DNS.
#[async_trait::async_trait]
pub trait Lookup: Send + Sync {
    /// The addresses of `host`.
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The system resolver (getaddrinfo through tokio).
#[derive(Debug, Default)]
pub struct SystemLookup;

#[async_trait::async_trait]
impl Lookup for SystemLookup {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0)).await?.map(|s| s.ip()).collect())
    }
}

/// Sees every address handed to the connector (with the port it is dialled on);
/// returning false stops the dial. Production uses none; tests use it as a tripwire that
/// records dial attempts.
pub type DialObserver = Arc<dyn Fn(SocketAddr) -> bool + Send + Sync>;

/// A reqwest resolver for connections to one port: it applies the [`AddressPolicy`] to
/// every answer with that port (reqwest's resolver is told the name only, so each port
/// has its own client and resolver).
#[derive(Clone)]
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
    lookup: Arc<dyn Lookup>,
    observer: Option<DialObserver>,
    port: u16,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let ips = this.lookup.lookup(&host).await?;
            this.policy.check_resolved(&host, this.port, &ips)?;
            let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, this.port)).collect();
            if let Some(observe) = &this.observer {
                if !addrs.iter().all(|a| observe(*a)) {
                    return Err("dial refused by observer".into());
                }
            }
            let out: Addrs = Box::new(addrs.into_iter());
            Ok(out)
        })
    }
}

/// Most redirects one request follows.
pub const MAX_REDIRECTS: usize = 5;

/// Why a guarded request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The policy refused the url or an address of its host (first request or a redirect).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// More than [`MAX_REDIRECTS`] redirects.
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The request failed in transit (a refusal by the resolver is in its source chain).
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// The only way AOS calls out over HTTP: rustls, no proxies, every url and every address
/// its host resolves to checked against the policy with the port actually dialled, and
/// redirects (at most 5) followed hop by hop under the same checks. Clients are built on
/// first use, one per port.
pub struct GuardedHttp {
    policy: Arc<AddressPolicy>,
    lookup: Arc<dyn Lookup>,
    observer: Option<DialObserver>,
    clients: std::sync::Mutex<std::collections::HashMap<u16, reqwest::Client>>,
}

impl GuardedHttp {
    /// Outbound HTTP under `policy`, names resolved by `lookup`; `observer` (tests) sees
    /// every address before it is dialled.
    pub fn new(policy: Arc<AddressPolicy>, lookup: Arc<dyn Lookup>, observer: Option<DialObserver>) -> Self {
        Self { policy, lookup, observer, clients: std::sync::Mutex::default() }
    }

    /// The policy in force.
    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    fn client(&self, port: u16) -> Result<reqwest::Client, SendError> {
        let mut clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(&port) {
            return Ok(c.clone());
        }
        let resolver = GuardedResolver {
            policy: Arc::clone(&self.policy),
            lookup: Arc::clone(&self.lookup),
            observer: self.observer.clone(),
            port,
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .connect_timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SendError::Client(e.to_string()))?;
        clients.insert(port, client.clone());
        Ok(client)
    }

    /// A request to `url`, to finish with headers and body and pass to [`Self::send`].
    /// Fails when the url is not http(s) with a host.
    pub fn request(&self, method: reqwest::Method, url: Url) -> Result<reqwest::RequestBuilder, SendError> {
        let port = url.port_or_known_default().ok_or_else(|| Refused::InvalidUrl("the url has no port".to_owned()))?;
        Ok(self.client(port)?.request(method, url))
    }

    /// Sends the request, following redirects: each hop's url is checked, then sent
    /// through the client of its port, whose resolver checks the addresses.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, SendError> {
        let mut request = request.build()?;
        for _ in 0..=MAX_REDIRECTS {
            let url = request.url().clone();
            let port = self.admit(&url)?;
            let next = request.try_clone();
            let resp = self.client(port)?.execute(request).await?;
            let location = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
            let (true, Some(location), Some(next)) = (resp.status().is_redirection(), location, next) else {
                return Ok(resp);
            };
            let target =
                url.join(location).map_err(|e| Refused::InvalidUrl(format!("redirect to {location:?}: {e}")))?;
            request = redirected(next, resp.status(), target);
        }
        Err(SendError::TooManyRedirects)
    }

    /// Checks a hop's url; a literal address is shown to the observer here (the resolver
    /// never sees literals). Returns the port to dial.
    fn admit(&self, url: &Url) -> Result<u16, SendError> {
        self.policy.check_url(url)?;
        let port = url.port_or_known_default().ok_or_else(|| Refused::InvalidUrl("the url has no port".to_owned()))?;
        let literal = match url.host() {
            Some(Host::Ipv4(a)) => Some(IpAddr::V4(a)),
            Some(Host::Ipv6(a)) => Some(IpAddr::V6(a)),
            _ => None,
        };
        if let (Some(ip), Some(observe)) = (literal, &self.observer) {
            if !observe(SocketAddr::new(ip, port)) {
                return Err(SendError::Client("dial refused by observer".to_owned()));
            }
        }
        Ok(port)
    }
}

/// The request a redirect asks for: 303 (and 301/302 after anything but GET or HEAD)
/// becomes a GET without a body; 307/308 repeat the method and body. Credentials are not
/// sent to another origin.
fn redirected(mut request: reqwest::Request, status: reqwest::StatusCode, target: Url) -> reqwest::Request {
    use reqwest::{header, Method, StatusCode};
    let to_get = status == StatusCode::SEE_OTHER && *request.method() != Method::HEAD
        || matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
            && !matches!(*request.method(), Method::GET | Method::HEAD);
    if to_get {
        *request.method_mut() = Method::GET;
        *request.body_mut() = None;
        for h in [header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_ENCODING] {
            request.headers_mut().remove(h);
        }
    }
    if target.origin() != request.url().origin() {
        for h in [header::AUTHORIZATION, header::COOKIE, header::PROXY_AUTHORIZATION, header::WWW_AUTHENTICATE] {
            request.headers_mut().remove(h);
        }
    }
    *request.url_mut() = target;
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> bool {
        let url = Url::parse(url).expect("parses");
        matches!(AddressPolicy::default().check_url(&url), Err(Refused::Blocked { .. }))
    }

    #[test]
    fn every_refused_class_is_refused_as_a_literal() {
        for url in [
            "http://127.0.0.1/",
            "http://127.9.9.9:8080/",
            "http://[::1]/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://169.254.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[fe80::1]/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[::ffff:8.8.8.8]/",
            "http://100.64.0.1/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[64:ff9b::a00:1]/",
            "http://[2002:a00:1::]/",
        ] {
            assert!(refused(url), "{url} must be refused");
        }
    }

    #[test]
    fn shorthand_octal_hex_and_decimal_ipv4_forms_are_normalised_then_refused() {
        for url in [
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://017700000001/",
            "http://10.1/",
            "http://0/",
            "http://2852039166/",
            "http://0xA9FEA9FE/",
        ] {
            assert!(refused(url), "{url} must be refused");
        }
    }

    #[test]
    fn public_addresses_and_names_pass_the_literal_check() {
        let p = AddressPolicy::default();
        for url in ["http://93.184.216.34/", "https://example.com/x", "http://[2606:4700::1111]/"] {
            assert_eq!(p.check_url(&Url::parse(url).expect("url")), Ok(()), "{url}");
        }
        assert!(matches!(p.check_url(&Url::parse("file:///etc/passwd").expect("url")), Err(Refused::InvalidUrl(_))));
    }

    #[test]
    fn the_allow_list_matches_host_and_port() {
        let p = AddressPolicy::parse_allow_list("127.0.0.1:8787, sink.test").expect("rules");
        assert_eq!(p.check_url(&Url::parse("http://127.0.0.1:8787/x").expect("url")), Ok(()));
        assert!(p.check_url(&Url::parse("http://127.0.0.1:8788/x").expect("url")).is_err());
        let loopback: Vec<IpAddr> = vec!["127.0.0.1".parse().expect("ip")];
        assert_eq!(p.check_resolved("sink.test", 80, &loopback), Ok(()));
        assert!(p.check_resolved("other.test", 80, &loopback).is_err());
        let one_port = AddressPolicy::parse_allow_list("localhost:8787").expect("rules");
        assert_eq!(one_port.check_resolved("localhost", 8787, &loopback), Ok(()));
        assert!(
            one_port.check_resolved("localhost", 5432, &loopback).is_err(),
            "a rule with a port allows that port only"
        );
        assert!(AddressPolicy::parse_allow_list("host:notaport").is_err());
    }

    #[test]
    fn a_name_with_any_refused_answer_is_refused() {
        let p = AddressPolicy::default();
        let mixed: Vec<IpAddr> = vec!["93.184.216.34".parse().expect("ip"), "10.0.0.1".parse().expect("ip")];
        assert!(p.check_resolved("rebind.test", 443, &mixed).is_err());
    }

    #[test]
    fn redirects_change_the_method_as_browsers_do_and_drop_credentials_across_origins() {
        let client = reqwest::Client::builder().build().expect("client");
        let post = |url: &str| {
            client
                .post(url)
                .header("authorization", "Bearer k")
                .header("content-type", "application/json")
                .body("{}")
                .build()
                .expect("request")
        };
        let target = |u: &str| Url::parse(u).expect("url");
        let r = redirected(post("http://a.test/x"), reqwest::StatusCode::SEE_OTHER, target("http://a.test/y"));
        assert_eq!((r.method().as_str(), r.body().is_none()), ("GET", true), "303 becomes a GET without a body");
        assert!(r.headers().contains_key("authorization"), "same origin keeps credentials");
        let r = redirected(post("http://a.test/x"), reqwest::StatusCode::TEMPORARY_REDIRECT, target("http://b.test/y"));
        assert_eq!((r.method().as_str(), r.body().is_some()), ("POST", true), "307 repeats method and body");
        assert!(!r.headers().contains_key("authorization"), "another origin gets no credentials");
        let r =
            redirected(post("http://a.test/x"), reqwest::StatusCode::PERMANENT_REDIRECT, target("http://a.test:81/y"));
        assert!(!r.headers().contains_key("authorization"), "another port is another origin");
    }
}
