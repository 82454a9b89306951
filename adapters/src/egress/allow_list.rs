//! The operator's egress allow-list: the destinations that may be reached although the
//! address rules would refuse them (a relay on the private network, a staging fake on
//! loopback).
//!
//! It is written as entries separated by commas (or whitespace):
//!
//! - a network in CIDR notation, `127.0.0.0/8`, `10.20.0.0/16`, `[::1]/128` or `fd00::/8`
//!   (brackets optional), or a single address, `127.0.0.1` or `[::1]`: every address inside
//!   may be connected to, on any port;
//! - a destination `host:port`, `smtp.internal:2525`, `127.0.0.1:9000` or `[::1]:8080`: that
//!   exact host name (case-insensitive) on that port may be reached whatever its addresses.
//!
//! An allow-listed destination is also exempt from the https-only rule: plain `http` may go to
//! an IP literal inside an allowed network, or to a listed `host:port`. A host name without a
//! port is refused as an entry, so that a name is never trusted on every port by accident.

use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// A parsed allow-list; the default is empty and permits nothing special.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    networks: Vec<IpNet>,
    destinations: Vec<(String, u16)>,
}

/// An allow-list entry that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid egress allow-list entry '{entry}': {reason}")]
pub struct AllowListError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl AllowList {
    /// Parses `text` (see the module documentation); blank text is the empty list.
    pub fn parse(text: &str) -> Result<Self, AllowListError> {
        let mut list = Self::default();
        for entry in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            let error = |reason| AllowListError {
                entry: entry.to_owned(),
                reason,
            };
            match parse_entry(entry).map_err(error)? {
                Entry::Network(network) => list.networks.push(network),
                Entry::Destination(host, port) => list.destinations.push((host, port)),
            }
        }
        Ok(list)
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.destinations.is_empty()
    }

    /// Whether `ip` (or, for an IPv4-mapped IPv6 address, its IPv4 form) is inside a listed
    /// network.
    pub fn permits_address(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.networks
            .iter()
            .any(|n| n.contains(&ip) || n.contains(&canonical))
    }

    /// Whether `host` on `port` is a listed destination.
    pub fn permits_destination(&self, host: &str, port: u16) -> bool {
        let host = normalize_host(host);
        self.destinations
            .iter()
            .any(|(listed, listed_port)| *listed == host && *listed_port == port)
    }

    /// Whether `host` is a listed destination on some port.
    pub fn names_host(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.destinations.iter().any(|(listed, _)| *listed == host)
    }
}

impl FromStr for AllowList {
    type Err = AllowListError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// A host as compared: lower case, without IPv6 brackets or a trailing dot, IP literals in
/// their canonical text.
pub(crate) fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    }
}

enum Entry {
    Network(IpNet),
    Destination(String, u16),
}

fn parse_entry(entry: &str) -> Result<Entry, &'static str> {
    if let Some((address, prefix)) = entry.split_once('/') {
        let address = unbracket(address);
        let network: IpNet = format!("{address}/{prefix}")
            .parse()
            .map_err(|_| "not a network in CIDR notation (e.g. 10.0.0.0/8 or [fd00::]/8)")?;
        return Ok(Entry::Network(network.trunc()));
    }
    if let Ok(ip) = unbracket(entry).parse::<IpAddr>() {
        return Ok(Entry::Network(IpNet::from(ip)));
    }
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (address, port) = rest
            .split_once("]:")
            .ok_or("an IPv6 destination is written [address]:port")?;
        address
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| "not an IPv6 address inside the brackets")?;
        (address, port)
    } else {
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or("a host name needs a port (host:port), or give a network (CIDR)")?;
        if host.contains(':') {
            return Err("write an IPv6 destination in brackets: [address]:port");
        }
        if host.parse::<std::net::Ipv4Addr>().is_err() && !is_host_name(host) {
            return Err("not a host name");
        }
        (host, port)
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or("not a port number (1-65535)")?;
    Ok(Entry::Destination(normalize_host(host), port))
}

fn unbracket(text: &str) -> &str {
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text)
}

/// A DNS name: dot-separated labels of letters, digits, `-` and `_`, a trailing dot allowed.
fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_empty_list_permits_nothing() {
        for list in [AllowList::default(), AllowList::parse(" , ").unwrap()] {
            assert!(list.is_empty());
            assert!(!list.permits_address(ip("127.0.0.1")));
            assert!(!list.permits_destination("localhost", 25));
        }
    }

    #[test]
    fn networks_and_single_addresses_permit_what_they_contain() {
        let list =
            AllowList::parse("127.0.0.0/8, [::1]/128,10.20.0.0/16 192.168.1.7 [fd00::5]").unwrap();
        for inside in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "10.20.255.1",
            "192.168.1.7",
            "fd00::5",
        ] {
            assert!(list.permits_address(ip(inside)), "{inside}");
        }
        for outside in [
            "10.21.0.1",
            "192.168.1.8",
            "::2",
            "fd00::6",
            "169.254.169.254",
        ] {
            assert!(!list.permits_address(ip(outside)), "{outside}");
        }
    }

    #[test]
    fn an_ipv4_network_also_covers_the_ipv4_mapped_form() {
        let list = AllowList::parse("127.0.0.0/8").unwrap();
        assert!(list.permits_address(ip("::ffff:127.0.0.1")));
        assert!(!list.permits_address(ip("::ffff:10.0.0.1")));
    }

    #[test]
    fn host_bits_of_a_network_are_ignored() {
        let list = AllowList::parse("10.1.2.3/8").unwrap();
        assert!(list.permits_address(ip("10.200.0.1")));
    }

    #[test]
    fn destinations_permit_their_host_on_their_port_only() {
        let list = AllowList::parse("SMTP.Internal.:2525,127.0.0.1:9000,[::1]:8080").unwrap();
        assert!(list.permits_destination("smtp.internal", 2525));
        assert!(list.permits_destination("smtp.INTERNAL.", 2525));
        assert!(!list.permits_destination("smtp.internal", 25));
        assert!(!list.permits_destination("other.internal", 2525));
        assert!(list.permits_destination("127.0.0.1", 9000));
        assert!(list.permits_destination("[::1]", 8080));
        assert!(list.permits_destination("0:0:0:0:0:0:0:1", 8080));
        assert!(list.names_host("smtp.internal"));
        assert!(!list.names_host("127.0.0.2"));
        assert!(
            !list.permits_address(ip("127.0.0.1")),
            "a destination is not a network"
        );
    }

    #[test]
    fn malformed_entries_are_refused_with_the_entry_named() {
        for (entry, reason) in [
            ("10.0.0.0/33", "CIDR"),
            ("[::1]/129", "CIDR"),
            ("smtp.internal", "needs a port"),
            ("smtp.internal:0", "port"),
            ("smtp.internal:99999", "port"),
            ("smtp.internal:smtp", "port"),
            ("::1:25x", "brackets"),
            ("[::1]25", "[address]:port"),
            ("[nope]:25", "IPv6"),
            ("bad_host!:25", "host name"),
            ("-bad.example:25", "host name"),
        ] {
            let error = AllowList::parse(&format!("127.0.0.1,{entry}")).unwrap_err();
            assert_eq!(error.entry, entry);
            assert!(error.reason.contains(reason), "{entry}: {error}");
            assert!(error.to_string().contains(entry), "{error}");
        }
    }
}
