//! Who a request comes from, for the per-source limits: the TCP peer's address or, when the
//! peer is one of the operator's `trusted_proxies`, the client the proxies name in
//! `X-Forwarded-For`. Each proxy appends the address it was connected from, so the list is
//! read from the right, skipping trusted proxies: the first other address is the client. What
//! stands left of it was written by the client and is not believed.

use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The networks whose connections are proxies that may name the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `trusted_proxies` entry that is not a network or an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trusted_proxies: '{0}' is not a network (10.0.0.0/8) or an address")]
pub struct TrustedProxiesError(pub String);

impl TrustedProxies {
    /// Parses networks (`10.0.0.0/8`, `fd00::/8`) and addresses, separated by commas or spaces.
    pub fn parse(text: &str) -> Result<Self, TrustedProxiesError> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| TrustedProxiesError(entry.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in forwarded.into_iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(address) if self.trusts(address) => client = address,
                Ok(address) => return canonical(address),
                // An unreadable hop: nothing left of it can be believed either.
                Err(_) => return client,
            }
        }
        client
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`) as the IPv4 address it is.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The client's address; `None` when the request did not come over a connection (tests that
/// drive the router directly and name no peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientAddress>()
            .copied()
            .unwrap_or(ClientAddress(None)))
    }
}

/// Resolves every request's [`ClientAddress`] once, from its peer and the trusted proxies.
pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let client = peer.map(|peer| state.trusted_proxies.client(peer, request.headers()));
    request.extensions_mut().insert(ClientAddress(client));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let claims = forwarded(&["198.51.100.1"]);
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &claims),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.1"), &claims), ip("10.0.0.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").unwrap();
        let chain = forwarded(&["6.6.6.6, 203.0.113.9", "192.0.2.7"]);
        assert_eq!(
            proxies.client(ip("10.1.2.3"), &chain),
            ip("203.0.113.9"),
            "the forged 6.6.6.6 on the left is ignored"
        );
        let mapped = forwarded(&["::ffff:203.0.113.9"]);
        assert_eq!(proxies.client(ip("10.1.2.3"), &mapped), ip("203.0.113.9"));
        assert_eq!(
            proxies.client(ip("10.1.2.3"), &HeaderMap::new()),
            ip("10.1.2.3"),
            "a proxy that names no one is the client"
        );
        let garbage = forwarded(&["203.0.113.9, not-an-address"]);
        assert_eq!(proxies.client(ip("10.1.2.3"), &garbage), ip("10.1.2.3"));
    }

    #[test]
    fn entries_are_networks_or_addresses() {
        assert!(TrustedProxies::parse("10.0.0.0/8 ::1,fd00::/8").is_ok());
        assert_eq!(
            TrustedProxies::parse("10.0.0.0/8,proxy.internal"),
            Err(TrustedProxiesError("proxy.internal".into()))
        );
    }
}
