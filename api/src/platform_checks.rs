//! What platform credentials decide beyond their routes: checking a channel's stored
//! credentials with the platform (the verify route, and `serve` at start for configured ones),
//! and the gate that keeps integrations of a channel out until its credentials are verified
//! (create, connect, authorize).

use crate::error::Problem;
use crate::state::AppState;
use axum::http::StatusCode;
use switchboard_adapters::channels::platform_app::VerificationError;
use switchboard_adapters::store::CommandMetadata;
use switchboard_domain::platform::{
    PlatformCommand, PlatformError, PlatformStatus, VerificationCheck, VerificationOutcome,
};
use switchboard_domain::{ChannelCatalog, ChannelKind};

/// The actor recorded for the operator's commands.
pub const OPERATOR_ACTOR: &str = "operator";

/// Checks `channel`'s stored credentials and records what was found (nothing when the
/// platform could not be asked: that is an error).
pub async fn verify_channel(
    state: &AppState,
    channel: &ChannelKind,
) -> Result<VerificationOutcome, Problem> {
    let (app, opened) = state.platform_apps.load_opened(channel).await?;
    if app.status == PlatformStatus::Absent {
        return Err(PlatformError::NotFound.into());
    }
    let verifier = state
        .channels
        .platform_app(channel)
        .and_then(|a| a.verifier.clone());
    let outcome = match verifier {
        None => VerificationOutcome::Verified(VerificationCheck::FieldsOnly),
        Some(verifier) => match verifier.verify(&opened).await {
            Ok(()) => VerificationOutcome::Verified(VerificationCheck::Platform),
            Err(VerificationError::Refused(words)) => VerificationOutcome::Refused(words),
            Err(VerificationError::Unavailable(cause)) => {
                tracing::warn!(%channel, %cause, "platform credentials could not be verified");
                return Err(Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "platform-unavailable",
                    "Platform unavailable",
                    format!("the platform could not be asked: {cause}"),
                )
                .retry_after(30));
            }
        },
    };
    let command = PlatformCommand::RecordVerification {
        checked_version: app.version,
        outcome: outcome.clone(),
    };
    state
        .platform_apps
        .execute(channel, command, operator_metadata())
        .await?;
    tracing::info!(%channel, verified = matches!(outcome, VerificationOutcome::Verified(_)), "platform credentials checked");
    Ok(outcome)
}

/// 409 `platform-credentials-missing` unless `channel` needs no platform credentials or has
/// verified ones.
pub fn require_verified(state: &AppState, channel: &ChannelKind) -> Result<(), Problem> {
    let needs = state
        .channels
        .spec(channel)
        .is_some_and(|spec| spec.needs_platform_credentials);
    if !needs || state.platform_credentials.current().is_verified(channel) {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::CONFLICT,
        "platform-credentials-missing",
        "Platform credentials missing",
        format!("the operator has not set and verified the platform credentials of '{channel}'"),
    ))
}

/// The metadata of an operator's command: the request, its trace, the operator as actor.
pub fn operator_metadata() -> CommandMetadata {
    CommandMetadata {
        request_id: crate::routes::middleware::current_request_id(),
        actor: Some(OPERATOR_ACTOR.to_owned()),
        traceparent: switchboard_adapters::kafka::trace_context::current_traceparent(),
    }
}
