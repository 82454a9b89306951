//! The web chat's service side: who may use a widget ([`sites`]), the visitor sessions'
//! keys, the sockets this replica holds and the fan-out of replies to them ([`hub`]), the
//! history a reconnecting widget resumes from ([`history`], with the messages announced
//! lately: [`recent`]), the visitor limits
//! ([`limits`]) and what a visitor's frames do on any transport ([`visitor`]). The routes
//! are `routes::webchat`, `routes::webchat_socket` and `routes::webchat_fallback`.

pub mod history;
pub mod hub;
pub mod limits;
pub mod recent;
pub mod sites;
pub mod visitor;

use switchboard_adapters::channels::webchat::session::SessionKeys;
use switchboard_adapters::store::IntegrationStore;

/// What the web chat routes share.
#[derive(Clone)]
pub struct Webchat {
    /// Signs and verifies visitor tokens.
    pub keys: SessionKeys,
    /// Web chat integrations as visitors see them.
    pub sites: sites::Sites,
    /// The sockets of this replica, and the replies announced to every replica.
    pub hub: hub::Hub,
    /// Messages and sockets per visitor.
    pub limits: limits::VisitorLimits,
}

impl Webchat {
    /// The web chat of `integrations` (and their database), tokens signed from `secret`.
    pub fn new(integrations: IntegrationStore, secret: &[u8]) -> Self {
        let pool = integrations.pool().clone();
        Self {
            keys: SessionKeys::new(secret),
            sites: sites::Sites::new(integrations),
            hub: hub::Hub::new(pool),
            limits: limits::VisitorLimits::default(),
        }
    }
}

/// The web chat of `config`: tokens signed from `oauth_state_key` when set (the one value
/// every replica shares), else from the secret keyring.
pub fn from_config(
    config: &crate::config::Config,
    integrations: IntegrationStore,
) -> anyhow::Result<Webchat> {
    use anyhow::Context;
    let secret = match &config.oauth_state_key {
        Some(key) if !key.expose().is_empty() => key.expose().as_bytes().to_vec(),
        _ => config
            .secret_keys
            .as_ref()
            .context("SWITCHBOARD_SECRET_KEYS is not set")?
            .expose()
            .as_bytes()
            .to_vec(),
    };
    Ok(Webchat::new(integrations, &secret))
}
