//! The problems of the OAuth connect flows: a refused state and a flow that could not go on,
//! each a precise status and problem type (no code, token or verifier in their texts).

use crate::error::Problem;
use crate::oauth_state::StateError;
use axum::http::StatusCode;
use switchboard_adapters::channels::oauth_flow::FlowError;

/// The problem of a refused state.
pub fn state_problem(error: StateError) -> Problem {
    let detail = error.to_string();
    match error {
        StateError::Invalid => Problem::new(
            StatusCode::BAD_REQUEST,
            "oauth-state-invalid",
            "Invalid OAuth state",
            detail,
        ),
        StateError::Used => Problem::new(
            StatusCode::CONFLICT,
            "oauth-state-used",
            "OAuth state already used",
            detail,
        ),
        StateError::Expired => Problem::new(
            StatusCode::BAD_REQUEST,
            "oauth-state-expired",
            "OAuth state expired",
            detail,
        ),
        StateError::Database(e) => e.into(),
        StateError::Sealing => Problem::internal(&detail),
    }
}

/// The problem of a flow that could not go on.
pub fn flow_problem(error: FlowError) -> Problem {
    let detail = error.to_string();
    match error {
        FlowError::NotConfigured(_) | FlowError::Egress(_) => Problem::new(
            StatusCode::CONFLICT,
            "oauth-not-configured",
            "OAuth not configured",
            detail,
        ),
        FlowError::Refused(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "oauth-exchange-refused",
            "The platform refused the authorization",
            detail,
        ),
        FlowError::Unavailable(_) => {
            tracing::warn!(%detail, "OAuth platform unavailable");
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "oauth-platform-unavailable",
                "The platform could not be reached",
                detail,
            )
        }
        FlowError::Account(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "oauth-account-unavailable",
            "Account not available",
            detail,
        ),
    }
}
