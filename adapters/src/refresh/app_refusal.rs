//! A platform refused our own app's credentials (app id, client key or secret) while a token
//! was being refreshed: the operator's mistake, not the tenant's. No integration is
//! disconnected for it; the refusal is logged and counted
//! (`switchboard_platform_app_refusals_total{channel}`) for the operator, and the channel's
//! platform credentials, if they were verified, are recorded as refused
//! (`PlatformCredentialsRefused`), which takes them out of the refresher's rounds and keeps new
//! connects of the channel out until the operator puts and verifies them again.

use crate::store::{CommandMetadata, PlatformAppStore};
use switchboard_domain::platform::{PlatformCommand, PlatformStatus, VerificationOutcome};
use switchboard_domain::ChannelKind;

/// The actor recorded on the refusals the refresher records.
pub const REFRESHER_ACTOR: &str = "token-refresher";

/// Logs and counts the refusal, and records it on `channel`'s credentials when they were
/// verified (failures to record are logged: the next refusal records it).
pub async fn record(apps: Option<&PlatformAppStore>, channel: &ChannelKind, detail: &str) {
    metrics::counter!("switchboard_platform_app_refusals_total", "channel" => channel.to_string())
        .increment(1);
    tracing::error!(%channel, %detail, "the platform refused the app's own credentials while refreshing a token: no integration is disconnected; the operator must fix the platform credentials");
    let Some(apps) = apps else {
        return;
    };
    let app = match apps.load(channel).await {
        Ok(app) => app,
        Err(error) => {
            tracing::warn!(%channel, %error, "cannot read the platform credentials to record their refusal");
            return;
        }
    };
    if app.status != PlatformStatus::Verified {
        return;
    }
    let command = PlatformCommand::RecordVerification {
        checked_version: app.version,
        outcome: VerificationOutcome::Refused(detail.to_owned()),
    };
    let metadata = CommandMetadata {
        actor: Some(REFRESHER_ACTOR.to_owned()),
        ..CommandMetadata::default()
    };
    if let Err(error) = apps.execute(channel, command, metadata).await {
        tracing::warn!(%channel, %error, "the platform credentials' refusal could not be recorded");
    }
}
