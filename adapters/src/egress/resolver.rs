//! The DNS resolver of the egress HTTP clients: reqwest asks it for a host name's addresses
//! and connects to exactly what it answers, so the addresses the policy checked are the ones
//! connected to. A name with any refused address fails to resolve, with the
//! [`EgressDenied`](super::EgressDenied) reason as the error's source.
//!
//! IP-literal URLs never reach a resolver: [`EgressPolicy::check_url`] checks those before
//! the request is made.

use super::policy::{EgressError, EgressPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;

/// A reqwest resolver that resolves through an [`EgressPolicy`].
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: EgressPolicy,
    trust_listed_hosts: bool,
}

impl PolicyResolver {
    /// Resolves through `policy`, refusing names with any refused address.
    pub fn new(policy: EgressPolicy) -> Self {
        Self {
            policy,
            trust_listed_hosts: false,
        }
    }

    /// Resolves through `policy`, leaving the addresses of the hosts its allow-list names as
    /// `host:port` unfiltered. Only for requests whose `host:port` was found on the list
    /// ([`super::Route::AllowListed`]): the resolver itself never learns the port.
    pub fn for_listed_destinations(policy: EgressPolicy) -> Self {
        Self {
            policy,
            trust_listed_hosts: true,
        }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let trusted = self.trust_listed_hosts && policy.allow_list().names_host(name.as_str());
        Box::pin(async move {
            let host = name.as_str();
            match policy.lookup_checked(host, trusted).await {
                Ok(addresses) => {
                    let addrs: Addrs = Box::new(
                        addresses
                            .into_iter()
                            .map(|ip| SocketAddr::new(ip, 0))
                            .collect::<Vec<_>>()
                            .into_iter(),
                    );
                    Ok(addrs)
                }
                Err(EgressError::Denied(denied)) => Err(Box::new(denied) as _),
                Err(unresolved) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    unresolved.to_string(),
                )) as _),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::lookup::StaticLookup;
    use crate::egress::EgressDenied;
    use std::net::IpAddr;
    use std::sync::Arc;

    fn policy(allow: &str) -> EgressPolicy {
        let private: IpAddr = "10.9.8.7".parse().unwrap();
        let public: IpAddr = "93.184.215.14".parse().unwrap();
        let table = StaticLookup::default()
            .with("internal.example", &[private])
            .with("public.example", &[public]);
        EgressPolicy::parse(allow)
            .unwrap()
            .with_lookup(Arc::new(table))
    }

    async fn resolve(resolver: &PolicyResolver, name: &str) -> Result<Vec<SocketAddr>, String> {
        match resolver.resolve(name.parse().unwrap()).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(error) => Err(match error.downcast_ref::<EgressDenied>() {
                Some(denied) => format!("denied: {denied}"),
                None => format!("other: {error}"),
            }),
        }
    }

    #[tokio::test]
    async fn refused_addresses_fail_resolution_with_the_policy_reason() {
        let resolver = PolicyResolver::new(policy(""));
        let refused = resolve(&resolver, "internal.example").await.unwrap_err();
        assert_eq!(
            refused,
            "denied: host internal.example resolves to address 10.9.8.7 is private and not in the egress allow-list"
        );
        assert_eq!(
            resolve(&resolver, "public.example").await.unwrap(),
            vec!["93.184.215.14:0".parse::<SocketAddr>().unwrap()]
        );
        let missing = resolve(&resolver, "missing.example").await.unwrap_err();
        assert!(missing.starts_with("other:"), "{missing}");
    }

    #[tokio::test]
    async fn only_the_listed_destinations_resolver_trusts_listed_hosts() {
        let allow = "internal.example:8443";
        let strict = PolicyResolver::new(policy(allow));
        assert!(resolve(&strict, "internal.example").await.is_err());
        let listed = PolicyResolver::for_listed_destinations(policy(allow));
        assert_eq!(
            resolve(&listed, "internal.example").await.unwrap(),
            vec!["10.9.8.7:0".parse::<SocketAddr>().unwrap()]
        );
        let unlisted = PolicyResolver::for_listed_destinations(policy(""));
        assert!(resolve(&unlisted, "internal.example").await.is_err());
    }
}
