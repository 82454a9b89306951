//! Connecting, disconnecting and deleting an integration, the one path every way in shares
//! (the `connect` route with caller-supplied credentials, and the OAuth callback): the
//! platform is asked to confirm the account and to deliver its webhooks here before the
//! lifecycle event is recorded, and told when the integration goes away.
//!
//! Connect: the stored auth fields (opened) with the submitted ones over them prove the account
//! with the platform ([`prove`]: the id it answers must be every id the tenant typed, in
//! `account.external_id` or the channel's account field), then the platform is asked to deliver
//! its webhooks here, then `IntegrationConnected` is recorded with the platform's id and name
//! as its account, marked verified. Any failure records nothing and answers a problem naming
//! it ([`problems`]). Channels without a platform account (web chat, the internal chatbot, Google
//! Sheets) ask nothing of anyone.
//!
//! Disconnect and delete of a connected integration first tell the platform (unsubscribe,
//! delete the webhook, revoke) where it has a call for it, best-effort and bounded in time, and
//! record what happened in the event's `platform_outcome`.
//!
//! The platform hears before the event is recorded, so the order keeps the two in step: every
//! command is first checked against the integration's current state
//! ([`Integration::refusal`]: refusals happen before any platform call), and when recording
//! still fails after the platform was told, what it was told is undone where it can be
//! ([`compensation`]).

mod compensation;
mod problems;
pub(crate) mod target;

use crate::error::Problem;
use crate::platform_checks::require_verified;
use crate::state::AppState;
use crate::views::IntegrationView;
use serde_json::Value;
use std::time::Duration;
use switchboard_adapters::channels::account_lifecycle::{outcome_text, prove, AccountError};
use switchboard_adapters::store::CommandMetadata;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::{
    AccountInfo, Integration, IntegrationCommand, IntegrationError, IntegrationStatus,
};
use switchboard_domain::{ChannelCatalog, IntegrationId, WorkspaceId};

pub use problems::account_problem;

/// How long disconnect and delete wait for the platform before recording the failure.
pub const UNSUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects integration `id` of `ws` with `auth` merged over its stored fields, and shows it.
pub async fn connect_integration(
    state: &AppState,
    metadata: CommandMetadata,
    ws: &WorkspaceId,
    id: IntegrationId,
    auth: Option<AuthInput>,
    account: Option<AccountInfo>,
) -> Result<IntegrationView, Problem> {
    let integration = owned_integration(state, ws, id).await?;
    refuse_early(
        &integration,
        &IntegrationCommand::Connect {
            auth: None,
            account: None,
            account_verified: false,
        },
    )?;
    if let Some(channel) = &integration.channel {
        require_verified(state, channel)?;
    }
    let (account, account_verified) = match verifiable(state, &integration, auth.as_ref())? {
        Some(channel) => {
            let proven = prove_account(state, &integration, id, auth.as_ref(), account).await;
            match proven {
                Ok(account) => (Some(account), true),
                Err(problem) => {
                    tracing::info!(integration_id = %id, %channel, problem = %problem.problem_type, detail = %problem.detail, "the platform did not confirm the account; not connected");
                    return Err(problem);
                }
            }
        }
        None => (account, false),
    };
    let command = IntegrationCommand::Connect {
        auth: auth.clone(),
        account,
        account_verified,
    };
    if let Err(error) = state.integrations.execute(id, command, metadata).await {
        if account_verified {
            compensation::undo_connect(state, id, auth.as_ref()).await;
        }
        return Err(error.into());
    }
    // This process's webhooks see the change at once (others within `webhook_cache_ms`).
    state.webhook_targets.invalidate(id).await;
    owned(state, ws, id).await
}

/// Disconnects integration `id` of `ws` for `reason`, telling its platform first when it is
/// connected, and shows it.
pub async fn disconnect_integration(
    state: &AppState,
    metadata: CommandMetadata,
    ws: &WorkspaceId,
    id: IntegrationId,
    reason: String,
) -> Result<IntegrationView, Problem> {
    let integration = owned_integration(state, ws, id).await?;
    let command = IntegrationCommand::Disconnect {
        reason,
        platform_outcome: None,
    };
    refuse_early(&integration, &command)?;
    let IntegrationCommand::Disconnect { reason, .. } = command else {
        unreachable!("built above")
    };
    let platform_outcome = tell_platform(state, &integration, id).await?;
    let told = platform_outcome.is_some();
    let command = IntegrationCommand::Disconnect {
        reason,
        platform_outcome,
    };
    if let Err(error) = state.integrations.execute(id, command, metadata).await {
        if told {
            compensation::undo_going_away(state, id).await;
        }
        return Err(error.into());
    }
    state.webhook_targets.invalidate(id).await;
    owned(state, ws, id).await
}

/// Deletes integration `id` of `ws`, telling its platform first when it is connected.
pub async fn delete_integration(
    state: &AppState,
    metadata: CommandMetadata,
    ws: &WorkspaceId,
    id: IntegrationId,
) -> Result<(), Problem> {
    let integration = owned_integration(state, ws, id).await?;
    refuse_early(
        &integration,
        &IntegrationCommand::Delete {
            platform_outcome: None,
        },
    )?;
    let platform_outcome = tell_platform(state, &integration, id).await?;
    let told = platform_outcome.is_some();
    let command = IntegrationCommand::Delete { platform_outcome };
    if let Err(error) = state.integrations.execute(id, command, metadata).await {
        if told {
            compensation::undo_going_away(state, id).await;
        }
        return Err(error.into());
    }
    state.webhook_targets.invalidate(id).await;
    Ok(())
}

/// The refusal the integration's current state makes of `command`, as a problem, before
/// anything is asked of a platform.
fn refuse_early(integration: &Integration, command: &IntegrationCommand) -> Result<(), Problem> {
    match integration.refusal(command) {
        Some(refusal) => Err(refusal.into()),
        None => Ok(()),
    }
}

/// The channel of `integration` when connecting it with `auth` would be accepted and its
/// platform can be asked: refusals the aggregate would make anyway (unknown or incomplete
/// fields) are made here first, before the platform is called.
fn verifiable(
    state: &AppState,
    integration: &Integration,
    auth: Option<&AuthInput>,
) -> Result<Option<switchboard_domain::ChannelKind>, Problem> {
    let Some(channel) = integration.channel.clone() else {
        return Ok(None);
    };
    let Some(spec) = state.channels.spec(&channel) else {
        return Ok(None);
    };
    if let Some(input) = auth {
        spec.auth
            .validate(input)
            .map_err(IntegrationError::InvalidCredentials)?;
    }
    let missing: Vec<_> = spec
        .auth
        .fields
        .iter()
        .filter(|f| f.required)
        .filter(|f| !integration.auth.0.contains_key(f.name))
        .filter(|f| auth.is_none_or(|a| a.0.get(f.name).is_none_or(Value::is_null)))
        .map(|f| switchboard_domain::FieldProblem {
            field: f.name.to_owned(),
            problem: "required".into(),
        })
        .collect();
    if !missing.is_empty() {
        return Err(IntegrationError::IncompleteCredentials(missing).into());
    }
    Ok(state
        .account_lifecycles
        .get(&channel)
        .is_some()
        .then_some(channel))
}

/// Proves the account with the platform, makes sure no other live integration holds it, and
/// asks the platform to deliver its webhooks here: the account to record.
async fn prove_account(
    state: &AppState,
    integration: &Integration,
    id: IntegrationId,
    auth: Option<&AuthInput>,
    typed: Option<AccountInfo>,
) -> Result<AccountInfo, Problem> {
    let channel = integration.channel.clone().expect("checked by verifiable");
    let lifecycle = state
        .account_lifecycles
        .get(&channel)
        .expect("checked by verifiable")
        .clone();
    let target = target::account_target(state, integration, id, auth).await?;
    let field = state.channels.spec(&channel).and_then(|s| s.app_account);
    let claimed_field = field.and_then(|f| target.field(f).ok());
    let typed_id = typed.as_ref().and_then(|a| a.external_id.clone());
    let verified = prove(lifecycle.as_ref(), &target, &[typed_id, claimed_field])
        .await
        .map_err(account_problem)?;
    if let Some(field) = field {
        let holder = state
            .integrations
            .account_owner(&channel, field, &verified.external_id)
            .await?;
        if holder.is_some_and(|holder| holder != id) {
            return Err(IntegrationError::AccountInUse(field.to_owned()).into());
        }
    }
    lifecycle
        .subscribe(&target)
        .await
        .map_err(account_problem)?;
    tracing::info!(integration_id = %id, %channel, account = %verified.external_id, "the platform confirmed the account");
    Ok(AccountInfo {
        external_id: Some(verified.external_id),
        display_name: verified
            .display_name
            .or_else(|| typed.and_then(|a| a.display_name)),
    })
}

/// Tells the platform of a connected integration that it goes away (best-effort, bounded by
/// [`UNSUBSCRIBE_TIMEOUT`]); what happened, for the event.
async fn tell_platform(
    state: &AppState,
    integration: &Integration,
    id: IntegrationId,
) -> Result<Option<String>, Problem> {
    if integration.status != IntegrationStatus::Connected {
        return Ok(None);
    }
    let Some(channel) = integration.channel.clone() else {
        return Ok(None);
    };
    let Some(lifecycle) = state.account_lifecycles.get(&channel).cloned() else {
        return Ok(None);
    };
    let target = target::account_target(state, integration, id, None).await?;
    if let Some(field) = lifecycle.shared_subscription_field() {
        let shared = target.field(field).ok();
        if let Some(value) = shared {
            if state
                .integrations
                .others_connected_with(&channel, field, &value, id)
                .await?
            {
                tracing::info!(integration_id = %id, %channel, "subscription kept for the other integrations sharing it");
                return Ok(Some(format!(
                    "kept the subscription of {field} {value}: another connected integration uses it"
                )));
            }
        }
    }
    let outcome =
        match tokio::time::timeout(UNSUBSCRIBE_TIMEOUT, lifecycle.unsubscribe(&target)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(AccountError::unavailable(format!(
                "no answer within {} s",
                UNSUBSCRIBE_TIMEOUT.as_secs()
            ))),
        };
    let text = outcome_text(outcome);
    if let Some(text) = &text {
        tracing::info!(integration_id = %id, %channel, outcome = %text, "the platform was told the integration goes away");
    }
    Ok(text)
}

/// The integration, if it exists and belongs to `ws`: another workspace's id is a plain 404.
pub(crate) async fn owned_integration(
    state: &AppState,
    ws: &WorkspaceId,
    id: IntegrationId,
) -> Result<Integration, Problem> {
    let integration: Option<Integration> = state.integrations.load(id).await?;
    match integration {
        Some(i) if i.workspace_id.as_ref() == Some(ws) => Ok(i),
        _ => Err(Problem::not_found("integration not found")),
    }
}

/// The integration as shown, if it exists and belongs to `ws`: another workspace's id is a
/// plain 404.
pub async fn owned(
    state: &AppState,
    ws: &WorkspaceId,
    id: IntegrationId,
) -> Result<IntegrationView, Problem> {
    owned_integration(state, ws, id)
        .await
        .map(|i| IntegrationView::from(&i))
}
