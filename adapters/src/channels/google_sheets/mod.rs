//! Google Sheets: its declaration in the channel registry and its sender, which appends each
//! outbound message to a spreadsheet as a row.

mod account;
pub mod actions;
pub mod oauth;
mod outbound;
pub mod platform_app;

pub use account::GoogleSheetsAccount;
pub use outbound::GoogleSheetsSender;

use crate::channels::action::{typed, ChannelAction};
use crate::channels::RegisteredChannel;
use std::sync::Arc;
use switchboard_domain::{
    AuthField, AuthFieldKind, AuthScheme, AuthSpec, ChannelKind, ChannelSpec,
};

/// The registry name of this channel.
pub const KIND: &str = "google-sheets";

/// What Google Sheets needs from a workspace to connect.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::parse(KIND).expect("valid channel name"),
        display_name: "Google Sheets",
        auth: AuthSpec {
            scheme: AuthScheme::Oauth2,
            fields: vec![
                AuthField::required(
                    "spreadsheet_id",
                    AuthFieldKind::Text,
                    "The spreadsheet to append rows to.",
                ),
                AuthField::required("access_token", AuthFieldKind::Secret, "OAuth access token."),
                AuthField::required(
                    "refresh_token",
                    AuthFieldKind::Secret,
                    "OAuth refresh token.",
                ),
            ]
            .into_iter()
            .chain(crate::refresh::expiry::expiry_fields())
            .collect(),
        },
        needs_platform_credentials: true,
        app_account: None,
        reply_window: None,
    }
}

/// The actions of this channel: `append_row`, `read_range`, `update_range`.
pub fn actions(egress: &crate::egress::EgressHttp) -> Vec<Arc<dyn ChannelAction>> {
    vec![
        typed(actions::AppendRow::new(egress.clone())),
        typed(actions::ReadRange::new(egress.clone())),
        typed(actions::UpdateRange::new(egress.clone())),
    ]
}

/// The registry entry, sending under the default egress policy.
pub fn channel() -> RegisteredChannel {
    channel_with(&crate::egress::EgressHttp::shared_default())
}

/// The registry entry, sending through `egress` (and its policy).
pub fn channel_with(egress: &crate::egress::EgressHttp) -> RegisteredChannel {
    RegisteredChannel {
        spec: spec(),
        webhook: None,
        sender: Some(Arc::new(GoogleSheetsSender::new(egress.clone()))),
    }
}
