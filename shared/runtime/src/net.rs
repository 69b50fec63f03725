//! Outbound address policy (SSRF guard).
//!
//! AOS refuses to connect to loopback, private, link-local, unique-local, carrier-grade
//! NAT, multicast, reserved, unspecified and cloud metadata addresses, and to IPv6 forms
//! that embed an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo). The check runs
//! on every address the resolver hands to the connector, so DNS rebinding and redirects
//! cannot bypass it, and on literal addresses in every url (including redirects). The
//! url parser normalises shorthand, octal, hex and decimal IPv4 forms first.
//! An operator allow-list (`AOS_HTTP_ALLOW_HOSTS`) lifts the check for named hosts.

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
    #[error("address {addr} of host {host:?} is refused ({reason}); an operator can allow the host with AOS_HTTP_ALLOW_HOSTS")]
    Blocked {
        /// Host as written in the url.
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
            Some((addr, reason)) => Err(Refused::Blocked { host: name, addr, reason }),
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

    /// Checks the addresses a host name resolved to. Any refused address refuses the
    /// whole name (a mix of public and private answers is a rebinding attempt).
    pub fn check_resolved(&self, host: &str, addrs: &[IpAddr]) -> Result<(), Refused> {
        let host = host.to_ascii_lowercase();
        if self.allow.iter().any(|r| r.host == host) {
            return Ok(());
        }
        for &addr in addrs {
            if let Some(reason) = refusal_reason(addr) {
                return Err(Refused::Blocked { host, addr, reason });
            }
        }
        Ok(())
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

/// Sees every address handed to the connector; returning false stops the dial.
/// Production uses none; tests use it as a tripwire that records dial attempts.
pub type DialObserver = Arc<dyn Fn(SocketAddr) -> bool + Send + Sync>;

/// A reqwest resolver that applies the [`AddressPolicy`] to every answer.
#[derive(Clone)]
pub struct GuardedResolver {
    policy: Arc<AddressPolicy>,
    lookup: Arc<dyn Lookup>,
    observer: Option<DialObserver>,
}

impl GuardedResolver {
    /// Wraps `lookup` with `policy`; `observer` sees every address that passes.
    pub fn new(policy: Arc<AddressPolicy>, lookup: Arc<dyn Lookup>, observer: Option<DialObserver>) -> Self {
        Self { policy, lookup, observer }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let ips = this.lookup.lookup(&host).await?;
            this.policy.check_resolved(&host, &ips)?;
            let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
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

/// An HTTP client that can only reach what `policy` allows: rustls, no proxies, every
/// resolved address checked by a [`GuardedResolver`], redirects (at most 5) re-checked.
/// Every outbound call of a skill goes through one of these.
pub fn guarded_client(
    policy: &Arc<AddressPolicy>,
    lookup: &Arc<dyn Lookup>,
    observer: Option<DialObserver>,
) -> Result<reqwest::Client, reqwest::Error> {
    let resolver = GuardedResolver::new(Arc::clone(policy), Arc::clone(lookup), observer);
    let redirect_policy = Arc::clone(policy);
    reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(Arc::new(resolver))
        .connect_timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("more than 5 redirects");
            }
            match redirect_policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(refused) => attempt.error(refused),
            }
        }))
        .build()
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
        assert_eq!(p.check_resolved("sink.test", &["127.0.0.1".parse().expect("ip")]), Ok(()));
        assert!(p.check_resolved("other.test", &["127.0.0.1".parse().expect("ip")]).is_err());
        assert!(AddressPolicy::parse_allow_list("host:notaport").is_err());
    }

    #[test]
    fn a_name_with_any_refused_answer_is_refused() {
        let p = AddressPolicy::default();
        let mixed: Vec<IpAddr> = vec!["93.184.216.34".parse().expect("ip"), "10.0.0.1".parse().expect("ip")];
        assert!(p.check_resolved("rebind.test", &mixed).is_err());
    }
}
