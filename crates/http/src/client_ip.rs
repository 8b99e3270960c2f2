//! The client's address. Proxy headers are believed only when the peer is a
//! trusted proxy (`TRUSTED_PROXIES`), and then only as far as the chain of
//! trusted proxies goes: the client is the right-most `X-Forwarded-For` hop
//! that is not itself a trusted proxy. Whatever a client writes further left
//! is ignored, and a hop that is not an IP address ends the walk, so neither
//! a chosen rate-limit key nor garbage (a URL, SQL, a 3,000-character string)
//! can become "the client address".

use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// Networks whose connections may speak for a client through proxy headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    /// 127.0.0.0/8 and ::1: what the deprecated `TRUST_PROXY_HEADERS=true` means.
    pub fn loopback() -> Self {
        let nets = ["127.0.0.0/8", "::1/128"].iter().filter_map(|n| IpNet::from_str(n).ok()).collect();
        Self(nets)
    }

    /// A comma-separated list of CIDRs or single addresses.
    pub fn parse_list(raw: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let net = IpNet::from_str(item)
                .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
                .map_err(|_| format!("not an address or CIDR: {item:?}"))?;
            nets.push(net.trunc());
        }
        Ok(Self(nets))
    }

    pub fn extend(&mut self, other: TrustedProxies) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// `::ffff:a.b.c.d` is the IPv4 client a.b.c.d.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One hop as proxies write it: `a.b.c.d`, `a.b.c.d:port`, `2001:db8::1`,
/// `[2001:db8::1]:port`, optionally quoted (RFC 7239). Anything else is `None`.
pub fn parse_hop(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (addr, tail) = rest.split_once(']')?;
        if !(tail.is_empty() || tail.strip_prefix(':').is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit())))
        {
            return None;
        }
        return IpAddr::from_str(addr).ok().map(canonical);
    }
    if let Ok(ip) = IpAddr::from_str(s) {
        return Some(canonical(ip));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    IpAddr::from_str(host).ok().map(canonical)
}

/// The `for=` values of `Forwarded` headers, in order.
fn forwarded_for(values: &[&str]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim().to_owned())
            })
        })
        .collect()
}

/// The client address of a request from `peer` carrying these proxy headers
/// (`X-Forwarded-For` values first; `Forwarded` only when there is none).
pub fn resolve(
    peer: Option<IpAddr>,
    x_forwarded_for: &[&str],
    forwarded: &[&str],
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let hops: Vec<String> = if x_forwarded_for.is_empty() {
        forwarded_for(forwarded)
    } else {
        x_forwarded_for.iter().flat_map(|v| v.split(',')).map(str::to_owned).collect()
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hops_are_parsed_strictly() {
        let table: &[(&str, Option<&str>)] = &[
            ("203.0.113.5", Some("203.0.113.5")),
            (" 203.0.113.5:4711 ", Some("203.0.113.5")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("\"[2001:db8::1]\"", Some("2001:db8::1")),
            ("::ffff:198.51.100.2", Some("198.51.100.2")),
            ("unknown", None),
            ("http://evil.example/", None),
            ("1.2.3.4'; DROP TABLE users;--", None),
            ("1.2.3.4:80x", None),
            ("[::1]garbage", None),
            ("", None),
        ];
        for (raw, expected) in table {
            assert_eq!(parse_hop(raw), expected.map(ip), "{raw:?}");
        }
        assert_eq!(parse_hop(&"1".repeat(3000)), None);
    }

    #[test]
    fn resolution_table() {
        let proxies = TrustedProxies::parse_list("127.0.0.1, 10.0.0.0/8").unwrap();
        let none = TrustedProxies::default();
        type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a TrustedProxies, &'a str);
        let cases: &[Case] = &[
            // An untrusted peer's headers are ignored.
            ("198.51.100.9", &["203.0.113.5"], &[], &proxies, "198.51.100.9"),
            ("127.0.0.1", &["203.0.113.5"], &[], &none, "127.0.0.1"),
            // The right-most untrusted hop is the client; what it wrote on the left is ignored.
            ("127.0.0.1", &["1.1.1.1, 203.0.113.5"], &[], &proxies, "203.0.113.5"),
            ("127.0.0.1", &["1.1.1.1", "203.0.113.5"], &[], &proxies, "203.0.113.5"),
            // Trusted hops are skipped.
            ("127.0.0.1", &["203.0.113.5, 10.1.2.3"], &[], &proxies, "203.0.113.5"),
            // Garbage ends the walk at the last trusted hop.
            ("127.0.0.1", &["' OR 1=1 --"], &[], &proxies, "127.0.0.1"),
            ("127.0.0.1", &["203.0.113.5, http://x/, 10.1.2.3"], &[], &proxies, "10.1.2.3"),
            // No header: the peer.
            ("127.0.0.1", &[], &[], &proxies, "127.0.0.1"),
            // Forwarded (RFC 7239) when there is no X-Forwarded-For.
            (
                "127.0.0.1",
                &[],
                &["for=1.1.1.1, for=\"[2001:db8::7]:80\";proto=https"],
                &proxies,
                "2001:db8::7",
            ),
            // An IPv4-mapped peer is its IPv4 address.
            ("::ffff:127.0.0.1", &["203.0.113.5"], &[], &proxies, "203.0.113.5"),
        ];
        for (peer, xff, fwd, trusted, expected) in cases {
            assert_eq!(
                resolve(Some(ip(peer)), xff, fwd, trusted),
                Some(ip(expected)),
                "{peer} {xff:?} {fwd:?}"
            );
        }
        assert_eq!(resolve(None, &["203.0.113.5"], &[], &proxies), None);
    }

    #[test]
    fn lists_are_validated() {
        assert!(TrustedProxies::parse_list("10.0.0.0/8, ::1").unwrap().contains(ip("10.9.9.9")));
        assert!(TrustedProxies::parse_list("").unwrap().is_empty());
        assert!(TrustedProxies::parse_list("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse_list("proxy.internal").is_err());
        assert!(TrustedProxies::loopback().contains(ip("127.8.8.8")));
        assert!(TrustedProxies::loopback().contains(ip("::1")));
    }
}
