//! What every handler can reach.

use crate::auth::rate_limit::{KeyedLimit, VerificationFailures};
use crate::auth::Authenticator;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::sync::Arc;
use switchboard_adapters::channels::platform_credentials::LivePlatformCredentials;
use switchboard_adapters::channels::ChannelRegistry;
use switchboard_adapters::inbound::{AccountOwners, InboundPublisher, WebhookTargets};
use switchboard_adapters::kafka::{EventProducer, Topics};
use switchboard_adapters::store::IntegrationStore;

/// What every handler can reach, behind one `Arc`: axum clones the state for each request,
/// and a clone of the handles themselves (topic names and all) was a few percent of a
/// webhook's CPU.
#[derive(Clone)]
pub struct AppState(Arc<Handles>);

impl AppState {
    /// Shares `handles` with every handler.
    pub fn new(handles: Handles) -> Self {
        Self(Arc::new(handles))
    }

    /// A copy of the handles, to build a state that differs in some (tests of outages).
    pub fn handles(&self) -> Handles {
        Handles::clone(&self.0)
    }
}

impl std::ops::Deref for AppState {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0
    }
}

/// The shared handles.
#[derive(Clone)]
pub struct Handles {
    /// Integration commands and reads.
    pub integrations: IntegrationStore,
    /// Known channels.
    pub channels: Arc<ChannelRegistry>,
    /// PostgreSQL, for readiness.
    pub pool: PgPool,
    /// Kafka, for readiness (and, later, ingest).
    pub producer: EventProducer,
    /// The platform apps' credentials in force (client ids and secrets, webhook secrets).
    pub platform_credentials: LivePlatformCredentials,
    /// The URL platforms and browsers reach this service at, without a trailing slash.
    pub public_base_url: Option<String>,
    /// Each channel's platform credentials, as the operator manages them.
    pub platform_apps: switchboard_adapters::store::PlatformAppStore,
    /// Integrations as webhooks see them.
    pub webhook_targets: WebhookTargets,
    /// Which integration records a platform account (deliveries to a platform app's shared URL).
    pub account_owners: AccountOwners,
    /// Publishes verified webhook items.
    pub inbound: InboundPublisher,
    /// Topic names (send commands go to `outbound`, agents' actions to `activity`).
    pub topics: Topics,
    /// Prometheus rendering.
    pub metrics: PrometheusHandle,
    /// Credential checks.
    pub auth: Authenticator,
    /// Requests per credential.
    pub caller_limit: KeyedLimit<String>,
    /// Failed webhook verifications per source address.
    pub webhook_failures: VerificationFailures,
    /// Failed credential checks (401s) per client address.
    pub credential_failures: VerificationFailures,
    /// The proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::client_address::TrustedProxies,
    /// Whether the platform apps' shared webhook URLs (`/webhooks/{channel}`) are served.
    pub shared_webhook_routes: bool,
    /// OAuth connect flows in progress (signed, single-use states).
    pub oauth_states: crate::oauth_state::OAuthStates,
    /// The egress-checked client the OAuth flows reach the platforms with.
    pub oauth_http: switchboard_adapters::egress::EgressHttp,
    /// Where the browser is sent after an OAuth callback, with the outcome.
    pub oauth_return_url: Option<String>,
    /// What connecting, disconnecting and deleting ask of each channel's platform (through the
    /// egress policy).
    pub account_lifecycles: switchboard_adapters::channels::account_lifecycle::AccountLifecycles,
    /// The web chat widget's sessions, sites and sockets.
    pub webchat: crate::webchat::Webchat,
}
