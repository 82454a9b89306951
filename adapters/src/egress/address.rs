//! Which IP addresses are special-purpose, i.e. not an ordinary host on the public Internet:
//! loopback, private and unique-local networks, link-local (cloud metadata lives at
//! 169.254.169.254), shared address space (CGNAT), documentation and benchmarking ranges,
//! multicast, broadcast, unspecified and reserved space, after the IANA special-purpose
//! address registries (RFC 6890 and its updates).
//!
//! IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible,
//! NAT64 `64:ff9b::/96` and 6to4 `2002::/16`) are judged by the IPv4 address inside them, so
//! `::ffff:127.0.0.1` is as much loopback as `127.0.0.1`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of special-purpose address `ip` is (`"loopback"`, `"private"`…), or `None` for
/// an ordinary public address.
pub fn special_use(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => v4_special_use(v4).map(str::to_owned),
        IpAddr::V6(v6) => v6_special_use(v6),
    }
}

/// The special-purpose IPv4 blocks, most specific first.
fn v4_special_use(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let class = match (a, b, c) {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_broadcast() => "broadcast",
        (0, _, _) => "\"this network\" (0.0.0.0/8)",
        (127, _, _) => "loopback",
        (10, _, _) => "private",
        (172, 16..=31, _) => "private",
        (192, 168, _) => "private",
        (100, 64..=127, _) => "shared address space (CGNAT, 100.64.0.0/10)",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignment (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "reserved (6to4 relay anycast)",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved (240.0.0.0/4)",
        _ => return None,
    };
    Some(class)
}

/// The special-purpose IPv6 blocks; embedded IPv4 addresses are judged as IPv4.
fn v6_special_use(ip: Ipv6Addr) -> Option<String> {
    if let Some((v4, form)) = embedded_v4(ip) {
        return v4_special_use(v4).map(|class| format!("{class} ({form} {v4})"));
    }
    let segments = ip.segments();
    let class = match segments {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        [0, 0, 0, 0, 0, 0, _, _] => "reserved (IPv4-compatible, ::/96)",
        [0x0064, 0xff9b, 0x0001, ..] => "local-use NAT64 (64:ff9b:1::/48)",
        [0x0100, 0, 0, 0, ..] => "discard-only (100::/64)",
        [0x2001, 0x0db8, ..] => "documentation",
        [0x2001, second, ..] if second < 0x0200 => "IETF protocol assignment (2001::/23)",
        [0x3fff, second, ..] if second < 0x1000 => "documentation",
        [first, ..] if first & 0xfe00 == 0xfc00 => "private (unique local, fc00::/7)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local",
        [first, ..] if first & 0xffc0 == 0xfec0 => "reserved (site-local, fec0::/10)",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    };
    Some(class.to_owned())
}

/// The IPv4 address an IPv6 address carries, and the form it is carried in.
fn embedded_v4(ip: Ipv6Addr) -> Option<(Ipv4Addr, &'static str)> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some((low(hi, lo), "IPv4-mapped")),
        [0x0064, 0xff9b, 0, 0, 0, 0, hi, lo] => Some((low(hi, lo), "NAT64 of")),
        [0x2002, hi, lo, ..] => Some((low(hi, lo), "6to4 of")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Option<String> {
        special_use(text.parse().unwrap())
    }

    #[test]
    fn public_addresses_are_ordinary() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:82b::200e",
            "3ffe::1",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn special_purpose_ipv4_blocks_are_named() {
        let cases = [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "CGNAT"),
            ("100.127.255.254", "CGNAT"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("192.0.2.10", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("192.0.0.8", "IETF"),
            ("240.0.0.1", "reserved"),
        ];
        for (ip, expected) in cases {
            let found = class(ip).unwrap_or_else(|| panic!("{ip} is special"));
            assert!(found.contains(expected), "{ip}: {found}");
        }
    }

    #[test]
    fn special_purpose_ipv6_blocks_are_named() {
        let cases = [
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001::1", "IETF"),
            ("100::1", "discard"),
            ("::7f00:1", "IPv4-compatible"),
            ("64:ff9b:1::1", "NAT64"),
        ];
        for (ip, expected) in cases {
            let found = class(ip).unwrap_or_else(|| panic!("{ip} is special"));
            assert!(found.contains(expected), "{ip}: {found}");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_as_ipv4() {
        let mapped = class("::ffff:127.0.0.1").unwrap();
        assert!(mapped.starts_with("loopback"), "{mapped}");
        assert!(mapped.contains("IPv4-mapped 127.0.0.1"), "{mapped}");
        assert!(class("::ffff:169.254.169.254")
            .unwrap()
            .starts_with("link-local"));
        assert!(class("::ffff:10.0.0.1").unwrap().starts_with("private"));
        assert!(class("64:ff9b::a9fe:a9fe")
            .unwrap()
            .starts_with("link-local"));
        assert!(class("2002:c0a8:0101::1").unwrap().starts_with("private"));
        assert_eq!(class("::ffff:8.8.8.8"), None);
        assert_eq!(class("64:ff9b::808:808"), None);
        assert_eq!(class("2002:0808:0808::1"), None);
    }
}
