//! WhatsApp Cloud API: its declaration in the channel registry its inbound webhook and its
//! sender.

mod account;
mod inbound;
pub mod oauth;
pub(crate) mod outbound;
pub mod platform_app;
pub mod templates;
#[cfg(test)]
mod tests;

pub use account::WhatsappAccount;
pub use inbound::WhatsappWebhook;
pub use outbound::WhatsappSender;

use crate::channels::RegisteredChannel;
use std::sync::Arc;
use switchboard_domain::message::ReplyWindow;
use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "whatsapp";
/// Integration auth field: the business phone number every delivery must name
/// (`entry[].changes[].value.metadata.phone_number_id`).
pub const PHONE_NUMBER_ID: &str = "phone_number_id";
/// Integration auth field: the WhatsApp Business Account every delivery must name, when recorded
/// (`entry[].id`).
pub const BUSINESS_ACCOUNT_ID: &str = "business_account_id";

/// What WhatsApp Cloud API needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "WhatsApp Cloud API",
        auth: AuthSpec {
            scheme: AuthScheme::Oauth2,
            fields: vec![
                AuthField::required(
                    PHONE_NUMBER_ID,
                    AuthFieldKind::Text,
                    "The business phone number id.",
                ),
                AuthField::required(
                    BUSINESS_ACCOUNT_ID,
                    AuthFieldKind::Text,
                    "The WhatsApp business account id.",
                ),
                AuthField::required(
                    "access_token",
                    AuthFieldKind::Secret,
                    "System-user or OAuth access token.",
                ),
                AuthField::optional(
                    "display_phone_number",
                    AuthFieldKind::Text,
                    "The number as shown to customers.",
                ),
            ],
        },
        needs_platform_credentials: true,
        app_account: Some(PHONE_NUMBER_ID),
        reply_window: Some(ReplyWindow {
            hours: 24,
            max_messages: None,
            rule: "WhatsApp 24-hour customer service window",
        }),
    }
}

/// The registry entry, sending under the default egress policy.
pub fn channel() -> RegisteredChannel {
    channel_with(&crate::egress::EgressHttp::shared_default())
}

/// The registry entry, sending through `egress` (and its policy).
pub fn channel_with(egress: &crate::egress::EgressHttp) -> RegisteredChannel {
    RegisteredChannel {
        spec: spec(),
        webhook: Some(Arc::new(WhatsappWebhook)),
        sender: Some(Arc::new(WhatsappSender::new(egress.clone()))),
    }
}
