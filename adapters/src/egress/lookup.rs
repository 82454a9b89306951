//! Turning a host name into IP addresses for the egress policy: the system resolver in
//! production, a fixed table in tests (so no test depends on, or leaks to, real DNS).
//!
//! The policy calls a lookup exactly once per connection attempt and hands the checked
//! answer to the connection itself, so a name cannot resolve to one address when checked and
//! to another when connected (DNS rebinding).

use async_trait::async_trait;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

/// A host-name resolver.
#[async_trait]
pub trait Lookup: Send + Sync + 'static {
    /// Every address `host` (a DNS name, never an IP literal) resolves to.
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

#[async_trait]
impl Lookup for SystemLookup {
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let addresses = tokio::net::lookup_host((host, 0)).await?;
        Ok(addresses.map(|a| a.ip()).collect())
    }
}

/// A fixed table of names; any other name does not resolve.
#[derive(Debug, Clone, Default)]
pub struct StaticLookup {
    names: HashMap<String, Vec<IpAddr>>,
}

impl StaticLookup {
    /// The same table with `host` resolving to `addresses` (in that order).
    pub fn with(mut self, host: &str, addresses: &[IpAddr]) -> Self {
        self.names
            .insert(host.to_ascii_lowercase(), addresses.to_vec());
        self
    }
}

#[async_trait]
impl Lookup for StaticLookup {
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        self.names
            .get(&host.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_static_table_answers_its_names_only() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let table = StaticLookup::default().with("Api.Example", &[ip]);
        assert_eq!(table.lookup("api.example").await.unwrap(), vec![ip]);
        let missing = table.lookup("other.example").await.unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn the_system_resolver_resolves_localhost_to_loopback() {
        let addresses = SystemLookup.lookup("localhost").await.unwrap();
        assert!(!addresses.is_empty());
        assert!(addresses.iter().all(IpAddr::is_loopback), "{addresses:?}");
    }
}
