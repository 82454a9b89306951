//! The operator extractor for platform-wide routes (API keys, metrics): only the operator
//! credential from the configuration passes; a valid workspace credential gets 403, anything
//! else 401. With no operator credential configured these routes are closed.

use super::authenticator::Principal;
use crate::error::Problem;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;

/// Proof that the operator is calling.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        match state.auth.authenticate(&parts.headers).await {
            Ok(Principal::Operator) => Ok(Operator),
            Ok(Principal::Workspace(_)) => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "operator-only",
                "Operator only",
                "this route needs the operator credential",
            )),
            Err(problem) => Err(problem),
        }
    }
}
