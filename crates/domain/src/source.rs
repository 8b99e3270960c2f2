//! Where a request comes from, as limits and lockouts count it.

use std::net::{IpAddr, Ipv6Addr};

/// The key a client address is counted under: an IPv4 address as it is, an
/// IPv6 address by its /64 (a subscriber usually holds a whole /64, so a
/// per-/128 count would be no limit at all). Anything unparsable is its own key.
pub fn source_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::source_key;

    #[test]
    fn sources_table() {
        let table = [
            ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
            ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
            ("::ffff:203.0.113.5", "203.0.113.5"),
            ("203.0.113.5", "203.0.113.5"),
            ("unknown", "unknown"),
        ];
        for (ip, key) in table {
            assert_eq!(source_key(ip), key, "{ip}");
        }
    }
}
