//! The channel registry: one folder per platform, one line per channel below. Nothing else in
//! the codebase lists channels: routes, the auth JSON Schema and settings derive from here.

pub mod chatbotx;
pub mod email;
pub mod google_sheets;
pub mod messenger;
pub mod smtp;
pub mod telegram;
pub mod tiktok;
pub mod webchat;
pub mod whatsapp;
pub mod zalo;

pub mod account_lifecycle;
pub mod action;
#[cfg(test)]
mod action_compliance;
pub mod action_schema;
pub mod app_webhook;
#[cfg(test)]
pub mod compliance;
#[cfg(test)]
mod egress_contract;
#[cfg(test)]
pub mod fake_platform;
pub mod first_contact;
pub mod graph_account;
pub mod graph_api;
pub mod imap_probe;
pub mod mail_probe;
pub mod meta;
pub mod meta_app;
pub mod oauth_flow;
pub mod opened_auth;
pub mod platform_app;
pub mod platform_credentials;
pub mod sender;
pub mod webhook;

use crate::egress::{EgressHttp, EgressPolicy};
use action::ChannelAction;
use platform_app::PlatformAppSpec;
use sender::ChannelSender;
use std::sync::Arc;
use switchboard_domain::{AuthSpec, ChannelCatalog, ChannelKind, ChannelSpec};
use webhook::WebhookChannel;

/// One channel as the registry knows it: its declaration and the parts it implements.
#[derive(Clone)]
pub struct RegisteredChannel {
    /// What it is and what auth it needs.
    pub spec: ChannelSpec,
    /// Its inbound webhook, when the platform pushes to us.
    pub webhook: Option<Arc<dyn WebhookChannel>>,
    /// Its outbound sender, when we can send on it.
    pub sender: Option<Arc<dyn ChannelSender>>,
}

/// Every channel this build knows, in display order.
#[derive(Clone)]
pub struct ChannelRegistry {
    channels: Vec<RegisteredChannel>,
    platform_apps: Vec<(ChannelKind, PlatformAppSpec)>,
    actions: Vec<(ChannelKind, Vec<Arc<dyn ChannelAction>>)>,
}

impl ChannelRegistry {
    /// The registry of all built-in channels, sending under the default egress policy (public
    /// addresses over https only). Enough for what does not send (validation, the channel
    /// list); the outbound engine is given [`ChannelRegistry::with_egress`].
    pub fn builtin() -> Self {
        Self::with_egress_http(&EgressHttp::shared_default())
    }

    /// The registry of all built-in channels, whose senders reach only the destinations
    /// `policy` permits (the operator's `egress_allow` list: see [`crate::egress`]).
    pub fn with_egress(policy: &EgressPolicy) -> Self {
        Self::with_egress_http(&EgressHttp::new(policy.clone()))
    }

    /// The registry of all built-in channels, their senders sharing the clients of `egress`.
    pub fn with_egress_http(egress: &EgressHttp) -> Self {
        let kind = |name: &str| ChannelKind::parse(name).expect("valid channel name");
        let mut platform_apps = vec![
            (
                kind(messenger::KIND),
                messenger::platform_app::platform_app(egress),
            ),
            (
                kind(whatsapp::KIND),
                whatsapp::platform_app::platform_app(egress),
            ),
            (kind(zalo::KIND), zalo::platform_app::platform_app()),
            (
                kind(tiktok::KIND),
                tiktok::platform_app::platform_app(egress),
            ),
            (
                kind(google_sheets::KIND),
                google_sheets::platform_app::platform_app(egress),
            ),
        ];
        let registry = Self::new(vec![
            messenger::channel_with(egress),
            whatsapp::channel_with(egress),
            zalo::channel_with(egress),
            tiktok::channel_with(egress),
            telegram::channel_with(egress),
            webchat::channel(),
            email::channel(),
            smtp::channel_with(egress),
            google_sheets::channel_with(egress),
            chatbotx::channel_with(egress),
        ]);
        let actions = vec![
            (kind(smtp::KIND), smtp::actions(egress)),
            (kind(email::KIND), email::actions(egress)),
            (kind(google_sheets::KIND), google_sheets::actions(egress)),
        ];
        // The others have platform settings only: API base overrides (a local Bot API server,
        // a test's fake platform).
        for channel in &registry.channels {
            if !platform_apps.iter().any(|(k, _)| k == &channel.spec.kind) {
                platform_apps.push((
                    channel.spec.kind.clone(),
                    PlatformAppSpec::new(vec![], None),
                ));
            }
        }
        Self {
            platform_apps,
            actions,
            ..registry
        }
    }

    /// A registry of `channels`, none with a platform app.
    pub fn new(channels: Vec<RegisteredChannel>) -> Self {
        Self {
            channels,
            platform_apps: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// This registry with `actions` declared for channel `kind` (tests' registries).
    pub fn with_actions(mut self, kind: ChannelKind, actions: Vec<Arc<dyn ChannelAction>>) -> Self {
        self.actions.retain(|(k, _)| k != &kind);
        self.actions.push((kind, actions));
        self
    }

    /// The actions of channel `kind`, in declaration order (none for most channels).
    pub fn actions(&self, kind: &ChannelKind) -> &[Arc<dyn ChannelAction>] {
        self.actions
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(&[], |(_, actions)| actions.as_slice())
    }

    /// The action `name` of channel `kind`.
    pub fn action(&self, kind: &ChannelKind, name: &str) -> Option<&Arc<dyn ChannelAction>> {
        self.actions(kind)
            .iter()
            .find(|a| a.spec().name.as_str() == name)
    }

    /// The platform app of a channel that has one.
    pub fn platform_app(&self, kind: &ChannelKind) -> Option<&PlatformAppSpec> {
        self.platform_apps
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, app)| app)
    }

    /// The webhook of a known channel that has one.
    pub fn webhook(&self, kind: &ChannelKind) -> Option<&Arc<dyn WebhookChannel>> {
        self.channels
            .iter()
            .find(|c| &c.spec.kind == kind)?
            .webhook
            .as_ref()
    }

    /// This registry with `sender` as the sender of channel `kind`: for a sender that needs what
    /// only its process has (the database: the e-mail replies' threads, the web chat's
    /// notifications).
    pub fn with_sender(mut self, kind: &ChannelKind, sender: Arc<dyn ChannelSender>) -> Self {
        if let Some(channel) = self.channels.iter_mut().find(|c| &c.spec.kind == kind) {
            channel.sender = Some(sender);
        }
        self
    }

    /// The sender of a known channel that has one.
    pub fn sender(&self, kind: &ChannelKind) -> Option<&Arc<dyn ChannelSender>> {
        self.channels
            .iter()
            .find(|c| &c.spec.kind == kind)?
            .sender
            .as_ref()
    }
}

impl ChannelCatalog for ChannelRegistry {
    fn spec(&self, kind: &ChannelKind) -> Option<&ChannelSpec> {
        self.channels
            .iter()
            .map(|c| &c.spec)
            .find(|s| &s.kind == kind)
    }

    fn all(&self) -> Vec<&ChannelSpec> {
        self.channels.iter().map(|c| &c.spec).collect()
    }

    fn platform_fields(&self, kind: &ChannelKind) -> Option<&AuthSpec> {
        self.platform_app(kind).map(|app| &app.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use switchboard_domain::AuthFieldKind;

    #[test]
    fn channel_names_are_unique_and_resolvable() {
        let registry = ChannelRegistry::builtin();
        let names: HashSet<_> = registry.all().iter().map(|s| s.kind.clone()).collect();
        assert_eq!(names.len(), registry.all().len());
        for kind in names {
            assert_eq!(registry.spec(&kind).map(|s| &s.kind), Some(&kind));
        }
    }

    #[test]
    fn every_channel_declares_at_least_one_required_field_and_unique_field_names() {
        for spec in ChannelRegistry::builtin().all() {
            assert!(spec.auth.fields.iter().any(|f| f.required), "{}", spec.kind);
            let names: HashSet<_> = spec.auth.fields.iter().map(|f| f.name).collect();
            assert_eq!(names.len(), spec.auth.fields.len(), "{}", spec.kind);
        }
    }

    #[test]
    fn exactly_the_channels_needing_platform_credentials_require_platform_fields() {
        let registry = ChannelRegistry::builtin();
        for spec in registry.all() {
            let app = registry.platform_app(&spec.kind);
            if let Some(app) = app {
                let requires = app.fields.fields.iter().any(|f| f.required);
                assert_eq!(requires, spec.needs_platform_credentials, "{}", spec.kind);
                for field in &app.fields.fields {
                    let looks_secret = ["token", "secret", "key"]
                        .iter()
                        .any(|w| field.name.contains(w) && field.name != "client_key");
                    if looks_secret {
                        assert_eq!(
                            field.kind,
                            AuthFieldKind::Secret,
                            "{}.{}",
                            spec.kind,
                            field.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn credentials_with_tokens_are_declared_secret() {
        for spec in ChannelRegistry::builtin().all() {
            for field in &spec.auth.fields {
                // A token's expiry time is not the token.
                let looks_secret = ["token", "password", "secret", "api_key"]
                    .iter()
                    .any(|w| field.name.contains(w))
                    && !field.name.ends_with("_expires_at");
                if looks_secret {
                    assert_eq!(
                        field.kind,
                        AuthFieldKind::Secret,
                        "{}.{}",
                        spec.kind,
                        field.name
                    );
                }
            }
        }
    }
}
