//! The egress policy: whether Switchboard may open a connection to (or hand a platform) a
//! destination that a tenant or its configuration chose.
//!
//! A destination passes when
//! 1. its scheme is `https` (the SMTP channel speaks its own protocol and skips this rule),
//!    unless the allow-list permits the destination;
//! 2. every address its host resolves to is an ordinary public address, or inside a network
//!    of the allow-list; one special-purpose address among the answers refuses it all (see
//!    [`super::address`]). A `host:port` entry of the allow-list permits that destination
//!    whatever its addresses.
//!
//! Checking and connecting use the same answer: [`EgressPolicy::resolve`] returns the checked
//! socket addresses to connect to, and the HTTP clients resolve through the policy itself
//! ([`super::resolver`]), so there is no second lookup that DNS rebinding could change.

use super::address::special_use;
use super::allow_list::{normalize_host, AllowList, AllowListError};
use super::lookup::{Lookup, SystemLookup};
use super::mail_tls::MailTls;
use reqwest::Url;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

/// The egress rules with the operator's allow-list; cheap to clone. The default policy has an
/// empty allow-list: only public addresses, only https.
#[derive(Clone)]
pub struct EgressPolicy {
    allow: Arc<AllowList>,
    lookup: Arc<dyn Lookup>,
    mail_tls: MailTls,
}

/// A destination the policy refuses, for good: the text says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct EgressDenied {
    reason: String,
}

impl EgressDenied {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// Why the destination is refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Why a destination could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The policy refuses it (permanent).
    #[error(transparent)]
    Denied(#[from] EgressDenied),
    /// Its host name did not resolve (perhaps temporarily).
    #[error("host {host} could not be resolved: {detail}")]
    Unresolved {
        /// The host name.
        host: String,
        /// The resolver's words.
        detail: String,
    },
    /// The HTTP client could not be built (a TLS backend failure).
    #[error("the egress HTTP client could not be set up: {0}")]
    Setup(String),
}

/// The policy's refusal somewhere in `error`'s chain of sources (a reqwest error whose
/// resolver refused the name), if it is there.
pub fn denial_in<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e EgressDenied> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(denied) = error.downcast_ref::<EgressDenied>() {
            return Some(denied);
        }
        current = error.source();
    }
    None
}

/// How a URL that passed [`EgressPolicy::check_url`] must be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Through a client that resolves through the policy (IP literals were checked already).
    Checked,
    /// The allow-list names this `host:port`: its addresses are not filtered.
    AllowListed,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            allow: Arc::new(AllowList::default()),
            lookup: Arc::new(SystemLookup),
            mail_tls: MailTls::default(),
        }
    }
}

impl std::fmt::Debug for EgressPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressPolicy")
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl FromStr for EgressPolicy {
    type Err = AllowListError;

    fn from_str(allow: &str) -> Result<Self, Self::Err> {
        Self::parse(allow)
    }
}

impl EgressPolicy {
    /// The policy with the allow-list `allow`, e.g. `"127.0.0.0/8,[::1]/128,mail.example:2525"`
    /// (see [`super::allow_list`] for the syntax).
    pub fn parse(allow: &str) -> Result<Self, AllowListError> {
        Ok(Self::with_allow_list(AllowList::parse(allow)?))
    }

    /// The policy for an optional configured allow-list (`None`: the default policy).
    pub fn from_config(allow: Option<&str>) -> Result<Self, AllowListError> {
        allow.map_or_else(|| Ok(Self::default()), Self::parse)
    }

    /// The policy with `allow` as its allow-list.
    pub fn with_allow_list(allow: AllowList) -> Self {
        Self {
            allow: Arc::new(allow),
            ..Self::default()
        }
    }

    /// The same policy resolving host names through `lookup` (tests, custom resolvers).
    pub fn with_lookup(self, lookup: Arc<dyn Lookup>) -> Self {
        Self { lookup, ..self }
    }

    /// The same policy verifying mail servers' certificates against `mail_tls`.
    pub fn with_mail_tls(self, mail_tls: MailTls) -> Self {
        Self { mail_tls, ..self }
    }

    /// The roots mail servers' certificates are verified against.
    pub fn mail_tls(&self) -> &MailTls {
        &self.mail_tls
    }

    /// The allow-list.
    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    /// Whether `ip` may be connected to: allow-listed, or an ordinary public address.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), EgressDenied> {
        if self.allow.permits_address(ip) {
            return Ok(());
        }
        match special_use(ip) {
            Some(class) => Err(EgressDenied::new(format!(
                "address {ip} is {class} and not in the egress allow-list"
            ))),
            None => Ok(()),
        }
    }

    /// The checks an HTTP(S) URL can pass before any lookup: its scheme, an IP-literal host
    /// (which no resolver sees) and the allow-listed destinations. A host name's addresses are
    /// checked when it is resolved, on the [`Route::Checked`] route.
    pub fn check_url(&self, url: &Url) -> Result<Route, EgressDenied> {
        let scheme = url.scheme();
        if scheme != "https" && scheme != "http" {
            return Err(EgressDenied::new(format!(
                "scheme {scheme} is not allowed: only https"
            )));
        }
        let host = url
            .host_str()
            .map(normalize_host)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| EgressDenied::new("the URL has no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| EgressDenied::new("the URL has no port"))?;
        if self.allow.permits_destination(&host, port) {
            return Ok(Route::AllowListed);
        }
        // The URL parser already turned every IPv4 spelling (`2130706433`, `0x7f.1`) into
        // dotted decimal, so a literal is recognised here whatever its spelling.
        let literal = host.parse::<IpAddr>().ok();
        if let Some(ip) = literal {
            self.check_ip(ip)?;
        }
        let allow_listed_literal = literal.is_some_and(|ip| self.allow.permits_address(ip));
        if scheme == "http" && !allow_listed_literal {
            return Err(EgressDenied::new(format!(
                "plain http to {host} is not allowed: only https, unless the egress \
                 allow-list permits the destination"
            )));
        }
        Ok(Route::Checked)
    }

    /// The addresses of `host` on `port` that may be connected to, all checked: an IP
    /// literal is checked as it is, a name is resolved once and refused if any of its
    /// addresses is. Connect to what this returns, never to `host` again.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
        let host = normalize_host(host);
        if host.is_empty() {
            return Err(EgressDenied::new("the destination has no host").into());
        }
        let listed = self.allow.permits_destination(&host, port);
        let addresses = match host.parse::<IpAddr>() {
            Ok(ip) if listed => vec![ip],
            Ok(ip) => {
                self.check_ip(ip)?;
                vec![ip]
            }
            Err(_) => self.lookup_checked(&host, listed).await?,
        };
        Ok(addresses
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }

    /// Checks a URL that is handed on rather than fetched here (an attachment a platform
    /// will download): the same rules, with its host name resolved now.
    pub async fn check_handed_on(&self, url: &str) -> Result<(), EgressError> {
        let url = Url::parse(url.trim())
            .map_err(|_| EgressDenied::new("the attachment URL is not a valid URL"))?;
        if self.check_url(&url)? == Route::AllowListed {
            return Ok(());
        }
        let host = url.host_str().map(normalize_host).unwrap_or_default();
        if host.parse::<IpAddr>().is_err() {
            let port = url.port_or_known_default().unwrap_or(443);
            self.resolve(&host, port).await?;
        }
        Ok(())
    }

    /// Resolves the name `host` and, unless `trusted`, refuses the answer if any address is
    /// refused.
    pub(crate) async fn lookup_checked(
        &self,
        host: &str,
        trusted: bool,
    ) -> Result<Vec<IpAddr>, EgressError> {
        let unresolved = |detail: String| EgressError::Unresolved {
            host: host.to_owned(),
            detail,
        };
        let addresses = self
            .lookup
            .lookup(host)
            .await
            .map_err(|e| unresolved(e.to_string()))?;
        if addresses.is_empty() {
            return Err(unresolved("no addresses".into()));
        }
        if !trusted {
            for ip in &addresses {
                self.check_ip(*ip).map_err(|denied| {
                    EgressDenied::new(format!("host {host} resolves to {denied}"))
                })?;
            }
        }
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::lookup::StaticLookup;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn with_names(policy: EgressPolicy) -> EgressPolicy {
        let table = StaticLookup::default()
            .with("public.example", &[ip("93.184.215.14"), ip("2606:2800::1")])
            .with("mixed.example", &[ip("93.184.215.14"), ip("10.0.0.8")])
            .with("metadata.example", &[ip("169.254.169.254")])
            .with("loopback.example", &[ip("127.0.0.1")]);
        policy.with_lookup(Arc::new(table))
    }

    #[test]
    fn the_default_policy_refuses_special_addresses_with_the_reason() {
        let policy = EgressPolicy::default();
        assert_eq!(
            policy.check_ip(ip("127.0.0.1")).unwrap_err().to_string(),
            "address 127.0.0.1 is loopback and not in the egress allow-list"
        );
        let metadata = policy.check_ip(ip("169.254.169.254")).unwrap_err();
        assert!(metadata.reason().contains("link-local"), "{metadata}");
        let mapped = policy.check_ip(ip("::ffff:10.0.0.1")).unwrap_err();
        assert!(mapped.reason().contains("private"), "{mapped}");
        assert!(policy.check_ip(ip("8.8.8.8")).is_ok());
    }

    #[test]
    fn the_allow_list_permits_its_networks() {
        let policy = EgressPolicy::parse("127.0.0.0/8,[::1]/128").unwrap();
        assert!(policy.check_ip(ip("127.0.0.1")).is_ok());
        assert!(policy.check_ip(ip("::1")).is_ok());
        assert!(policy.check_ip(ip("::ffff:127.0.0.1")).is_ok());
        assert!(policy.check_ip(ip("10.0.0.1")).is_err());
        assert!(EgressPolicy::from_config(None)
            .unwrap()
            .allow_list()
            .is_empty());
        assert!(EgressPolicy::from_config(Some("nonsense")).is_err());
        assert!("10.0.0.0/8".parse::<EgressPolicy>().is_ok());
    }

    #[test]
    fn urls_need_https_unless_allow_listed() {
        let policy = EgressPolicy::parse("127.0.0.1/32,fake.internal:9000").unwrap();
        assert_eq!(
            policy.check_url(&url("https://api.example/x")),
            Ok(Route::Checked)
        );
        let http = policy.check_url(&url("http://api.example/x")).unwrap_err();
        assert!(http.reason().contains("plain http"), "{http}");
        assert!(policy
            .check_url(&url("http://8.8.8.8/"))
            .unwrap_err()
            .reason()
            .contains("only https"));
        assert_eq!(
            policy.check_url(&url("http://127.0.0.1:8080/")),
            Ok(Route::Checked)
        );
        assert_eq!(
            policy.check_url(&url("http://fake.internal:9000/")),
            Ok(Route::AllowListed)
        );
        assert!(policy
            .check_url(&url("http://fake.internal:9001/"))
            .is_err());
        assert!(policy
            .check_url(&url("ftp://api.example/"))
            .unwrap_err()
            .reason()
            .contains("scheme ftp"));
        assert!(policy.check_url(&url("file:///etc/passwd")).is_err());
    }

    #[test]
    fn ip_literal_urls_are_checked_before_any_resolver() {
        let policy = EgressPolicy::default();
        for literal in [
            "https://127.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fd00::1]/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://10.1/",
        ] {
            let denied = policy.check_url(&url(literal)).unwrap_err();
            assert!(
                denied.reason().contains("not in the egress allow-list"),
                "{literal}: {denied}"
            );
        }
        assert_eq!(
            policy.check_url(&url("https://8.8.8.8/")),
            Ok(Route::Checked)
        );
    }

    #[tokio::test]
    async fn resolving_refuses_a_name_if_any_address_is_refused() {
        let policy = with_names(EgressPolicy::default());
        let public = policy.resolve("public.example", 443).await.unwrap();
        assert_eq!(
            public,
            vec![
                SocketAddr::new(ip("93.184.215.14"), 443),
                SocketAddr::new(ip("2606:2800::1"), 443)
            ]
        );
        let mixed = policy.resolve("mixed.example", 443).await.unwrap_err();
        assert_eq!(
            mixed.to_string(),
            "host mixed.example resolves to address 10.0.0.8 is private and not in the egress allow-list"
        );
        assert!(matches!(mixed, EgressError::Denied(_)));
        let missing = policy.resolve("nowhere.example", 443).await.unwrap_err();
        assert!(
            matches!(missing, EgressError::Unresolved { .. }),
            "{missing}"
        );
    }

    #[tokio::test]
    async fn resolving_checks_literals_and_honours_the_allow_list() {
        let strict = with_names(EgressPolicy::default());
        assert!(strict.resolve("127.0.0.1", 25).await.is_err());
        assert!(strict.resolve("[::1]", 25).await.is_err());
        assert!(strict.resolve("loopback.example", 25).await.is_err());
        assert!(strict.resolve("", 25).await.is_err());
        let open = with_names(EgressPolicy::parse("127.0.0.0/8,metadata.example:2525").unwrap());
        assert_eq!(
            open.resolve("127.0.0.1", 25).await.unwrap(),
            vec![SocketAddr::new(ip("127.0.0.1"), 25)]
        );
        assert!(open.resolve("loopback.example", 25).await.is_ok());
        assert!(open.resolve("metadata.example", 2525).await.is_ok());
        assert!(open.resolve("metadata.example", 25).await.is_err());
    }

    #[tokio::test]
    async fn handed_on_urls_are_resolved_and_checked() {
        let policy = with_names(EgressPolicy::default());
        assert!(policy
            .check_handed_on("https://public.example/cat.png")
            .await
            .is_ok());
        for refused in [
            "http://169.254.169.254/",
            "https://169.254.169.254/latest/meta-data/",
            "https://metadata.example/x",
            "http://public.example/cat.png",
            "not a url",
        ] {
            let error = policy.check_handed_on(refused).await.unwrap_err();
            assert!(
                matches!(error, EgressError::Denied(_)),
                "{refused}: {error}"
            );
        }
    }
}
