//! The operator extractor for platform-wide routes (API keys, metrics): only the operator
//! credential from the configuration passes; a valid workspace credential gets 403, anything
//! else 401 (counted against the client address, as in the workspace guard). With no operator
//! credential configured these routes are closed.

use super::authenticator::Principal;
use super::rate_limit::CREDENTIALS;
use crate::client_address::ClientAddress;
use crate::error::Problem;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;

/// Proof that the operator is calling.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let client = parts
            .extensions
            .get::<ClientAddress>()
            .and_then(|client| client.0);
        match state.auth.authenticate(&parts.headers).await {
            Ok(Principal::Operator) => Ok(Operator),
            Ok(Principal::Workspace(_)) => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "operator-only",
                "Operator only",
                "this route needs the operator credential",
            )),
            // A request without any credential guesses nothing: only a refused one counts.
            Err(problem) if parts.headers.contains_key(AUTHORIZATION) => Err(state
                .credential_failures
                .refused(client, CREDENTIALS, problem)),
            Err(problem) => Err(problem),
        }
    }
}
