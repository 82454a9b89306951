//! The HTTP clients for tenant-influenced destinations: every request is checked by the
//! [`EgressPolicy`] (scheme, IP literals, allow-listed destinations) and host names resolve
//! through it ([`PolicyResolver`]), so the connection goes to the addresses that were checked.
//!
//! The clients carry tenants' credentials, so they follow no redirects (a `3xx` is returned
//! as it is, and a `Location` can never move a bearer token elsewhere), ignore proxy
//! environment variables (a proxy would resolve the name again), and have a connect timeout
//! and a total timeout. Bodies are read with [`super::body::read_capped`].

use super::policy::{EgressError, EgressPolicy, Route};
use super::resolver::PolicyResolver;
use super::EgressDenied;
use reqwest::{Client, Method, RequestBuilder, Url};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long establishing a connection (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take in all, body included.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);

/// HTTP clients bound to one egress policy; cheap to clone (the connection pools are shared).
#[derive(Clone)]
pub struct EgressHttp {
    inner: Arc<Inner>,
}

struct Inner {
    policy: EgressPolicy,
    /// Resolves through the policy; every request not allow-listed by `host:port`.
    checked: Result<Client, String>,
    /// Leaves allow-listed hosts' addresses unfiltered; only for allow-listed `host:port`s.
    listed: Result<Client, String>,
}

impl EgressHttp {
    /// Clients enforcing `policy`.
    pub fn new(policy: EgressPolicy) -> Self {
        let checked = build(PolicyResolver::new(policy.clone()));
        let listed = build(PolicyResolver::for_listed_destinations(policy.clone()));
        Self {
            inner: Arc::new(Inner {
                policy,
                checked,
                listed,
            }),
        }
    }

    /// The clients of the default policy (nothing allow-listed), built once per process.
    pub fn shared_default() -> Self {
        static DEFAULT: OnceLock<EgressHttp> = OnceLock::new();
        DEFAULT
            .get_or_init(|| EgressHttp::new(EgressPolicy::default()))
            .clone()
    }

    /// The policy enforced.
    pub fn policy(&self) -> &EgressPolicy {
        &self.inner.policy
    }

    /// The client that may fetch `url`, or why none may.
    pub fn client_for(&self, url: &Url) -> Result<&Client, EgressError> {
        let client = match self.inner.policy.check_url(url)? {
            Route::Checked => &self.inner.checked,
            Route::AllowListed => &self.inner.listed,
        };
        client.as_ref().map_err(|e| EgressError::Setup(e.clone()))
    }

    /// A `method` request to `url`, after the policy's checks.
    pub fn request(
        &self,
        method: Method,
        url: impl AsRef<str>,
    ) -> Result<RequestBuilder, EgressError> {
        let url = Url::parse(url.as_ref())
            .map_err(|_| EgressDenied::new("the destination is not a valid URL"))?;
        Ok(self.client_for(&url)?.request(method, url))
    }

    /// A `POST` to `url`, after the policy's checks.
    pub fn post(&self, url: impl AsRef<str>) -> Result<RequestBuilder, EgressError> {
        self.request(Method::POST, url)
    }

    /// The client for host names resolved through the policy. Requests made on it directly
    /// skip [`EgressPolicy::check_url`], so an IP-literal URL is not checked: use
    /// [`EgressHttp::request`] for tenant-influenced destinations.
    pub fn checked_client(&self) -> Option<&Client> {
        self.inner.checked.as_ref().ok()
    }
}

impl Default for EgressHttp {
    fn default() -> Self {
        Self::shared_default()
    }
}

impl std::fmt::Debug for EgressHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressHttp")
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

fn build(resolver: PolicyResolver) -> Result<Client, String> {
    Client::builder()
        .dns_resolver(Arc::new(resolver))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .user_agent("switchboard")
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::lookup::StaticLookup;
    use std::net::IpAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A listener on 127.0.0.1 that answers every connection with `answer` and counts them.
    async fn server(answer: String) -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    let _ = socket.read(&mut buffer).await;
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        (port, count)
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

    #[tokio::test]
    async fn a_name_resolving_to_an_allowed_loopback_address_is_fetched() {
        let (port, count) = server(OK.into()).await;
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let policy = EgressPolicy::parse("127.0.0.1/32")
            .unwrap()
            .with_lookup(Arc::new(
                StaticLookup::default().with("fake.test", &[loopback]),
            ));
        let http = EgressHttp::new(policy);
        let answer = http
            .request(Method::GET, format!("https://fake.test:{port}/"))
            .unwrap()
            .send()
            .await;
        // The fake speaks plain HTTP, so the TLS handshake fails, but it was connected to.
        assert!(answer.is_err());
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let plain = http
            .request(Method::GET, format!("http://127.0.0.1:{port}/"))
            .unwrap()
            .send()
            .await
            .unwrap();
        assert_eq!(plain.text().await.unwrap(), "ok");
    }

    #[tokio::test]
    async fn a_listed_destination_is_fetched_over_plain_http_whatever_its_address() {
        let (port, count) = server(OK.into()).await;
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let policy = EgressPolicy::parse(&format!("fake.test:{port}"))
            .unwrap()
            .with_lookup(Arc::new(
                StaticLookup::default().with("fake.test", &[loopback]),
            ));
        let http = EgressHttp::new(policy);
        let answer = http
            .request(Method::GET, format!("http://fake.test:{port}/"))
            .unwrap()
            .send()
            .await
            .unwrap();
        assert_eq!(answer.text().await.unwrap(), "ok");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let other_port = http.request(Method::GET, format!("https://fake.test:{}/", port ^ 1));
        let refused = other_port.unwrap().send().await.unwrap_err();
        let reason = crate::egress::denial_in(&refused).expect("refused by the policy");
        assert!(reason.reason().contains("loopback"), "{reason}");
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_name_is_never_connected_to() {
        let (port, count) = server(OK.into()).await;
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        // The allowed address first: a policy that checked only the first answer, or none,
        // would connect to the local listener (and never reach the second address).
        let table = StaticLookup::default().with("rebind.test", &[loopback, metadata]);
        let policy = EgressPolicy::parse("127.0.0.1/32")
            .unwrap()
            .with_lookup(Arc::new(table));
        let error = EgressHttp::new(policy)
            .request(Method::GET, format!("https://rebind.test:{port}/"))
            .unwrap()
            .send()
            .await
            .unwrap_err();
        let denied = crate::egress::denial_in(&error).expect("refused by the policy");
        assert!(
            denied.reason().contains("169.254.169.254 is link-local"),
            "{denied}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn redirects_are_returned_not_followed() {
        let (target_port, followed) = server(OK.into()).await;
        let redirect = format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{target_port}/stolen\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let (port, _) = server(redirect).await;
        let http = EgressHttp::new(EgressPolicy::parse("127.0.0.1/32").unwrap());
        let answer = http
            .post(format!("http://127.0.0.1:{port}/"))
            .unwrap()
            .bearer_auth("tenant-token")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::FOUND);
        assert_eq!(followed.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn requests_to_refused_literals_are_not_even_built() {
        let http = EgressHttp::new(EgressPolicy::default());
        for url in [
            "http://127.0.0.1:1/",
            "https://[::1]/",
            "https://10.0.0.1/",
            "nonsense",
        ] {
            assert!(
                matches!(http.post(url), Err(EgressError::Denied(_))),
                "{url}"
            );
        }
        assert!(http
            .post("https://api.telegram.org/bot1/sendMessage")
            .is_ok());
    }
}
