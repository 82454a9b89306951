//! Undoing what the platform was told when the event that should follow could not be
//! recorded (a concurrent command won, a version race, the database down): a connect whose
//! `IntegrationConnected` failed after the webhooks were subscribed is unsubscribed, and a
//! disconnect or delete whose event failed after the unsubscribe is subscribed again.
//!
//! Best-effort and bounded in time like the calls it undoes; every attempt is logged and
//! counted in `switchboard_platform_compensations_total{channel, action, outcome}`. Only what
//! [`AccountLifecycle::subscribes`] registers is undone: a revoked grant cannot be given back
//! (logged, counted as `not_undoable`), and a grant is never revoked to undo a connect (the
//! tenant's tokens would die with it). Nothing is undone when the integration's state now says
//! another command did what ours meant (it is connected after our failed connect: that connect
//! holds the subscription), nor while another connected integration shares the subscription.

use crate::connecting::target::account_target;
use crate::state::AppState;
use std::sync::Arc;
use switchboard_adapters::channels::account_lifecycle::{AccountError, AccountLifecycle};
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::{Integration, IntegrationStatus};
use switchboard_domain::{ChannelKind, IntegrationId};

/// Undoes the subscription a connect of `id` made before its event failed to record.
pub async fn undo_connect(state: &AppState, id: IntegrationId, auth: Option<&AuthInput>) {
    let Some((integration, channel, lifecycle)) = subscribing(state, id).await else {
        return;
    };
    if integration.status == IntegrationStatus::Connected {
        tracing::info!(integration_id = %id, %channel, "connect not recorded, but the integration is connected: its subscription is kept");
        return;
    }
    let Ok(target) = account_target(state, &integration, id, auth).await else {
        count(&channel, "unsubscribe", "failed");
        return;
    };
    if shared_elsewhere(state, lifecycle.as_ref(), &target, &channel, id).await {
        count(&channel, "unsubscribe", "kept_shared");
        return;
    }
    let outcome = bounded(lifecycle.unsubscribe(&target)).await.map(|_| ());
    report(id, &channel, "unsubscribe", outcome);
}

/// Subscribes `id` again after its disconnect or delete told the platform and then failed to
/// record, while it is still connected.
pub async fn undo_going_away(state: &AppState, id: IntegrationId) {
    let Some(lifecycle_any) = lifecycle_of(state, id).await else {
        return;
    };
    let (integration, channel, lifecycle) = lifecycle_any;
    if integration.status != IntegrationStatus::Connected {
        return;
    }
    if !lifecycle.subscribes() {
        // The platform call was a revoke (or nothing): it cannot be given back.
        tracing::warn!(integration_id = %id, %channel, "going away not recorded after the platform was told; what it did cannot be undone");
        count(&channel, "resubscribe", "not_undoable");
        return;
    }
    let Ok(target) = account_target(state, &integration, id, None).await else {
        count(&channel, "resubscribe", "failed");
        return;
    };
    let outcome = bounded(lifecycle.subscribe(&target)).await;
    report(id, &channel, "resubscribe", outcome);
}

/// The integration as stored now, its channel and lifecycle, when that lifecycle subscribes.
async fn subscribing(
    state: &AppState,
    id: IntegrationId,
) -> Option<(Integration, ChannelKind, Arc<dyn AccountLifecycle>)> {
    let found = lifecycle_of(state, id).await?;
    found.2.subscribes().then_some(found)
}

async fn lifecycle_of(
    state: &AppState,
    id: IntegrationId,
) -> Option<(Integration, ChannelKind, Arc<dyn AccountLifecycle>)> {
    let integration = match state.integrations.load(id).await {
        Ok(Some(integration)) => integration,
        Ok(None) => return None,
        Err(error) => {
            tracing::warn!(integration_id = %id, %error, "cannot read the integration to undo what the platform was told");
            return None;
        }
    };
    let channel = integration.channel.clone()?;
    let lifecycle = state.account_lifecycles.get(&channel)?.clone();
    Some((integration, channel, lifecycle))
}

async fn shared_elsewhere(
    state: &AppState,
    lifecycle: &dyn AccountLifecycle,
    target: &switchboard_adapters::channels::account_lifecycle::AccountTarget,
    channel: &ChannelKind,
    id: IntegrationId,
) -> bool {
    let Some(field) = lifecycle.shared_subscription_field() else {
        return false;
    };
    let Ok(value) = target.field(field) else {
        return false;
    };
    // Unknown is shared: undoing another integration's subscription is the worse mistake.
    state
        .integrations
        .others_connected_with(channel, field, &value, id)
        .await
        .unwrap_or(true)
}

async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, AccountError>>,
) -> Result<T, AccountError> {
    let limit = crate::connecting::UNSUBSCRIBE_TIMEOUT;
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(AccountError::unavailable(format!(
            "no answer within {} s",
            limit.as_secs()
        )))
    })
}

fn report(
    id: IntegrationId,
    channel: &ChannelKind,
    action: &'static str,
    outcome: Result<(), AccountError>,
) {
    match outcome {
        Ok(()) => {
            tracing::warn!(integration_id = %id, %channel, action, "the event was not recorded; what the platform was told is undone");
            count(channel, action, "undone");
        }
        Err(error) => {
            tracing::error!(integration_id = %id, %channel, action, %error, "the event was not recorded and undoing what the platform was told failed: the platform is out of step");
            count(channel, action, "failed");
        }
    }
}

fn count(channel: &ChannelKind, action: &'static str, outcome: &'static str) {
    metrics::counter!("switchboard_platform_compensations_total",
        "channel" => channel.to_string(), "action" => action, "outcome" => outcome)
    .increment(1);
}
