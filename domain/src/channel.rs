//! Channels as the domain sees them: a kind (its registry name) and a specification. The
//! registry itself lives with the adapters; the aggregate reaches it through [`ChannelCatalog`].

use crate::auth::AuthSpec;
use crate::message::ReplyWindow;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A channel's registry name (`messenger`, `whatsapp`, `smtp`…). Lowercase `[a-z0-9-]`.
///
/// Whether a kind is *known* is the registry's business: see [`ChannelCatalog::spec`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelKind(String);

impl ChannelKind {
    /// A kind from its registry name; `None` when the text cannot be a channel name.
    pub fn parse(name: &str) -> Option<Self> {
        let valid = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then(|| Self(name.to_owned()))
    }

    /// The registry name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the rest of the system needs to know about a channel, declared once in its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Registry name.
    pub kind: ChannelKind,
    /// Human name for settings pages.
    pub display_name: &'static str,
    /// Its credentials.
    pub auth: AuthSpec,
    /// Whether it uses the platform's shared OAuth app (app id/secret), configured once.
    pub needs_platform_credentials: bool,
    /// The auth field naming the platform account (page, phone number, Official Account,
    /// business) that the platform's shared app addresses its deliveries to, when the app has
    /// one callback URL for every integration: deliveries to `/webhooks/{channel}` are routed
    /// to the integration recording that account, and two live integrations of the channel
    /// cannot record the same one. `None`: the channel has no app-level webhook.
    pub app_account: Option<&'static str>,
    /// When the business may message a contact, on platforms that restrict it.
    pub reply_window: Option<ReplyWindow>,
}

/// The set of channels this build knows.
pub trait ChannelCatalog: Send + Sync {
    /// The spec of a known channel.
    fn spec(&self, kind: &ChannelKind) -> Option<&ChannelSpec>;
    /// Every known channel, in registry order.
    fn all(&self) -> Vec<&ChannelSpec>;
    /// The fields of a channel's platform credentials (its platform app), when it uses one.
    fn platform_fields(&self, _kind: &ChannelKind) -> Option<&AuthSpec> {
        None
    }
}
