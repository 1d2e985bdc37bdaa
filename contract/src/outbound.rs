//! Which outbound targets a tenant may point Pombo at: one rule for every URL or host a
//! tenant can set (provider `base_url`, `token_uri`, SMTP `host`/`port`, a webhook `to`),
//! so the worker can never be turned into a probe of its own network (SSRF).
//!
//! A target is allowed when it is `https://` (or SMTP) on a public address. The only
//! exceptions are the `host:port` pairs of `outbound.allowed_private_targets`, listed by
//! the operator for local fakes and tests, which may also be plain `http://`. This module
//! is the pure half of the guard: parsing and address classification. The clients that
//! apply it at connect time (a resolver that filters every answer, no redirects, no proxy)
//! are in `pombo_activities::channels::outbound`. Server-wide accounts from the
//! configuration file are the operator's own and are not guarded.

use serde::Deserialize;
use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

/// One `host:port` the operator lets tenants reach although it is not public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedTarget {
    /// Lower case; an IPv6 address without its brackets.
    host: String,
    port: u16,
}

impl FromStr for AllowedTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("`{s}`: give host:port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("`{s}`: `{port}` is not a port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("`{s}`: the host is empty"));
        }
        Ok(AllowedTarget {
            host: normalise_host(host),
            port,
        })
    }
}

impl fmt::Display for AllowedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How hosts are compared: lower case, without a trailing dot, IP addresses in their
/// canonical form (`0x7f.1` and `127.0.0.1` are one host).
fn normalise_host(host: &str) -> String {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    match url::Host::parse(&host) {
        Ok(url::Host::Ipv4(ip)) => ip.to_string(),
        _ => match host.parse::<Ipv6Addr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => host,
        },
    }
}

/// Why a target was refused, phrased for the tenant who set it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetRefused {
    #[error("not a URL: {0}")]
    NotAUrl(String),
    #[error("must use https, not `{0}`")]
    Scheme(String),
    #[error("plain http:// is not allowed; use https")]
    PlainHttp,
    #[error("must not carry credentials in the URL")]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error(
        "`{0}` is a loopback, private, link-local or reserved address, which this server does \
         not call (outbound.allowed_private_targets)"
    )]
    NonPublicAddress(String),
    #[error(
        "`{0}` names this machine or an internal network, which this server does not call \
         (outbound.allowed_private_targets)"
    )]
    LocalName(String),
    #[error(
        "`{0}` resolves only to loopback, private, link-local or reserved addresses, which \
         this server does not call (outbound.allowed_private_targets)"
    )]
    ResolvesToNonPublic(String),
    #[error("`{0}` is allowed on another port only (outbound.allowed_private_targets)")]
    OtherPort(String),
}

/// The outbound rule: public https targets, plus the operator's exceptions. It is the
/// `[outbound]` section of the configuration itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "OutboundSection", into = "OutboundSection")]
pub struct OutboundPolicy {
    allowed: Vec<AllowedTarget>,
}

/// `[outbound]` as written: `allowed_private_targets` is a list of `host:port`, or one
/// comma-separated string (`POMBO_OUTBOUND__ALLOWED_PRIVATE_TARGETS=127.0.0.1:4010,…`).
#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct OutboundSection {
    #[serde(deserialize_with = "list_or_commas")]
    allowed_private_targets: Vec<String>,
}

fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(list) => list,
        Either::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}

impl TryFrom<OutboundSection> for OutboundPolicy {
    type Error = String;
    fn try_from(section: OutboundSection) -> Result<Self, String> {
        OutboundPolicy::parse(&section.allowed_private_targets)
            .map_err(|e| format!("outbound.allowed_private_targets: {e}"))
    }
}

impl From<OutboundPolicy> for OutboundSection {
    fn from(policy: OutboundPolicy) -> Self {
        OutboundSection {
            allowed_private_targets: policy.allowed.iter().map(ToString::to_string).collect(),
        }
    }
}

impl OutboundPolicy {
    pub const fn new(allowed: Vec<AllowedTarget>) -> Self {
        OutboundPolicy { allowed }
    }

    /// Parses `host:port` entries (`outbound.allowed_private_targets`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let allowed = entries
            .iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<_, _>>()?;
        Ok(Self::new(allowed))
    }

    /// A policy with these exceptions (tests and tools; panics on a malformed entry).
    pub fn allowing(entries: &[&str]) -> Self {
        Self::parse(entries).expect("valid host:port entries")
    }

    /// Whether `host:port` is one of the operator's exceptions.
    pub fn is_allowed(&self, host: &str, port: u16) -> bool {
        let host = normalise_host(host);
        self.allowed
            .iter()
            .any(|t| t.host == host && t.port == port)
    }

    /// Whether `name` is an exception on some port: the resolver then keeps its private
    /// addresses (the port was checked against the URL before, by [`Self::check_url`]).
    pub fn is_allowed_name(&self, name: &str) -> bool {
        let name = normalise_host(name);
        self.allowed.iter().any(|t| t.host == name)
    }

    /// Whether a connection to `ip`, found for `host:port`, may be made.
    pub fn permits(&self, host: &str, port: u16, ip: IpAddr) -> bool {
        is_public_ip(ip) || self.is_allowed(host, port)
    }

    /// Checks a URL a tenant set: `https` on a host that is not private (checked here for
    /// literal addresses and local names; names are checked again on every connection), or
    /// one of the exceptions, over http or https.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, TargetRefused> {
        let url = url::Url::parse(raw).map_err(|e| TargetRefused::NotAUrl(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetRefused::Credentials);
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetRefused::Scheme(url.scheme().to_owned()));
        }
        let host = url.host().ok_or(TargetRefused::NoHost)?;
        let port = url.port_or_known_default().ok_or(TargetRefused::NoHost)?;
        if self.is_allowed(&host.to_string(), port) {
            return Ok(url);
        }
        if url.scheme() == "http" {
            return Err(TargetRefused::PlainHttp);
        }
        self.check_parsed_host(&host, port)?;
        Ok(url)
    }

    /// Checks a host and port a tenant set outside a URL (an SMTP server).
    pub fn check_host(&self, host: &str, port: u16) -> Result<(), TargetRefused> {
        if self.is_allowed(host, port) {
            return Ok(());
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let parsed = match bare.parse::<Ipv6Addr>() {
            Ok(ip) => url::Host::Ipv6(ip),
            Err(_) => url::Host::parse(bare).map_err(|e| TargetRefused::NotAUrl(e.to_string()))?,
        };
        let parsed = match &parsed {
            url::Host::Domain(name) => url::Host::Domain(name.as_str()),
            url::Host::Ipv4(ip) => url::Host::Ipv4(*ip),
            url::Host::Ipv6(ip) => url::Host::Ipv6(*ip),
        };
        self.check_parsed_host(&parsed, port)
    }

    fn check_parsed_host(&self, host: &url::Host<&str>, port: u16) -> Result<(), TargetRefused> {
        match host {
            url::Host::Ipv4(ip) if !is_public_ip((*ip).into()) => {
                Err(TargetRefused::NonPublicAddress(ip.to_string()))
            }
            url::Host::Ipv6(ip) if !is_public_ip((*ip).into()) => {
                Err(TargetRefused::NonPublicAddress(ip.to_string()))
            }
            url::Host::Domain(name) => {
                let name = normalise_host(name);
                if is_local_name(&name) {
                    return Err(TargetRefused::LocalName(name));
                }
                // The resolver lets an allowed name's private addresses through whatever the
                // port, so the name is refused here on any port not listed.
                if self.is_allowed_name(&name) {
                    return Err(TargetRefused::OtherPort(format!("{name}:{port}")));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Names that never lead to the public internet.
fn is_local_name(name: &str) -> bool {
    name == "localhost"
        || !name.contains('.')
        || [
            ".localhost",
            ".local",
            ".internal",
            ".localdomain",
            ".home.arpa",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// Whether `ip` is an ordinary public unicast address. Everything else is refused:
/// loopback, private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT,
/// benchmarking, documentation, multicast, reserved, and every IPv6 form that embeds or
/// translates an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo), since the host
/// behind it could be private. IPv6 is allowed only in global unicast (2000::/3).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // "this network"
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64.0.0/10
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast (224/4), reserved (240/4) and broadcast
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Global unicast only: this leaves out ::/8 (loopback, unspecified, IPv4-mapped and
    // -compatible), 64:ff9b::/96 NAT64, 100::/64 discard, fc00::/7 unique local,
    // fe80::/10 link-local and ff00::/8 multicast.
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    // 2001::/23 (IETF assignments, Teredo 2001::/32 among them), 2001:db8::/32 (documentation).
    let special = (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8))
        || s[0] == 0x2002 // 6to4
        || (s[0] & 0xfff0) == 0x3ff0; // documentation, 3fff::/20
    global_unicast && !special
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.215.14",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
        ] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn every_special_range_is_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",      // IPv4-compatible
            "::ffff:127.0.0.1", // IPv4-mapped
            "::ffff:8.8.8.8",   // mapped, even of a public address
            "::ffff:0:7f00:1",  // IPv4-translated
            "64:ff9b::7f00:1",  // NAT64 of 127.0.0.1
            "64:ff9b:1::a00:1", // local-use NAT64
            "100::1",           // discard
            "2001::1",          // Teredo
            "2001:db8::1",      // documentation
            "2002:7f00:1::1",   // 6to4 of 127.0.0.1
            "3fff::1",          // documentation
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1", // site-local (deprecated)
            "ff02::1",
        ] {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_must_be_https_on_public_hosts() {
        let policy = OutboundPolicy::default();
        assert!(policy.check_url("https://api.twilio.com").is_ok());
        assert!(policy.check_url("https://93.184.215.14:8443/x").is_ok());
        let refused = |url: &str| policy.check_url(url).unwrap_err();
        assert_eq!(refused("http://api.twilio.com"), TargetRefused::PlainHttp);
        assert_eq!(
            refused("ftp://api.twilio.com"),
            TargetRefused::Scheme("ftp".into())
        );
        assert_eq!(
            refused("https://u:p@api.twilio.com"),
            TargetRefused::Credentials
        );
        for url in [
            "https://127.0.0.1",
            "https://127.1",
            "https://2130706433",
            "https://0x7f.0.0.1",
            "https://0177.0.0.1",
            "https://[::1]",
            "https://[::ffff:7f00:1]",
            "https://[64:ff9b::a9fe:a9fe]",
            "https://[2002:a9fe:a9fe::]",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1",
        ] {
            assert!(
                matches!(refused(url), TargetRefused::NonPublicAddress(_)),
                "{url}: {:?}",
                policy.check_url(url)
            );
        }
        for url in [
            "https://localhost",
            "https://LOCALHOST.",
            "https://api.localhost",
            "https://metadata.google.internal",
            "https://intranet",
            "https://printer.local",
        ] {
            assert!(
                matches!(refused(url), TargetRefused::LocalName(_)),
                "{url}: {:?}",
                policy.check_url(url)
            );
        }
    }

    #[test]
    fn exceptions_hold_for_their_exact_host_and_port() {
        let policy =
            OutboundPolicy::parse(&["127.0.0.1:4010", "fakes.test:80", "[::1]:9"]).unwrap();
        assert!(policy.check_url("http://127.0.0.1:4010/2010-04-01").is_ok());
        assert!(policy.check_url("https://127.0.0.1:4010").is_ok());
        assert!(policy.check_url("http://fakes.test/x").is_ok());
        assert!(policy.check_url("http://[::1]:9/").is_ok());
        assert!(policy.check_url("http://127.0.0.1:4011").is_err());
        assert!(policy.check_url("https://127.0.0.1:22").is_err());
        assert_eq!(
            policy.check_url("https://fakes.test:22").unwrap_err(),
            TargetRefused::OtherPort("fakes.test:22".into())
        );
        assert!(policy.is_allowed("0x7f.0.0.1", 4010));
        assert!(policy.is_allowed_name("FAKES.TEST."));
        assert!(!policy.is_allowed_name("other.test"));
        assert!(policy.permits("127.0.0.1", 4010, "127.0.0.1".parse().unwrap()));
        assert!(!policy.permits("127.0.0.1", 4011, "127.0.0.1".parse().unwrap()));
        assert!(OutboundPolicy::parse(&["no-port"]).is_err());
        assert!(OutboundPolicy::parse(&["host:99999"]).is_err());
        assert_eq!(
            "[::1]:9".parse::<AllowedTarget>().unwrap().to_string(),
            "[::1]:9"
        );
    }

    #[test]
    fn smtp_hosts_follow_the_same_rule() {
        let policy = OutboundPolicy::parse(&["127.0.0.1:1025"]).unwrap();
        assert!(policy.check_host("smtp.example.com", 587).is_ok());
        assert!(policy.check_host("127.0.0.1", 1025).is_ok());
        assert!(policy.check_host("127.0.0.1", 25).is_err());
        assert!(policy.check_host("localhost", 25).is_err());
        assert!(policy.check_host("[::1]", 25).is_err());
        assert!(policy.check_host("::1", 25).is_err());
        assert!(policy.check_host("10.0.0.5", 587).is_err());
    }
}
