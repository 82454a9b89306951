//! What the platform said, as RFC 9457 problems: refused credentials and an account that is not
//! the claimed one are the caller's to fix (422), a platform that cannot be reached is worth
//! retrying (503 with `Retry-After`), a mail server names the stage that failed. Details come
//! from the platform's answer, never from the request.

use crate::error::Problem;
use axum::http::StatusCode;
use switchboard_adapters::channels::account_lifecycle::{AccountError, MailStage};
use switchboard_domain::FieldProblem;

/// `Retry-After` when the platform named no delay, in seconds.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 5;
/// The longest `Retry-After` passed on, in seconds.
pub const MAX_RETRY_AFTER_SECS: u64 = 300;

/// The problem `error` is.
pub fn account_problem(error: AccountError) -> Problem {
    let detail = error.to_string();
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    match error {
        AccountError::RefusedCredentials(_) => Problem::new(
            unprocessable,
            "platform-refused-credentials",
            "The platform refused the credentials",
            detail,
        ),
        AccountError::Mismatch { .. } => Problem::new(
            unprocessable,
            "account-mismatch",
            "The credentials belong to another account",
            detail,
        ),
        AccountError::Refused(_) => Problem::new(
            unprocessable,
            "platform-refused",
            "The platform refused the request",
            detail,
        ),
        AccountError::EgressRefused(_) => Problem::new(
            unprocessable,
            "egress-refused",
            "Destination not permitted",
            detail,
        ),
        AccountError::MissingField(field) => {
            Problem::invalid(detail).with_errors(vec![FieldProblem {
                field: field.to_owned(),
                problem: "required".into(),
            }])
        }
        AccountError::NoPublicUrl => Problem::new(
            StatusCode::CONFLICT,
            "public-url-not-configured",
            "Public URL not configured",
            "public_base_url is not configured, so the platform cannot be given this integration's webhook URL",
        ),
        AccountError::Unavailable { retry_after, .. } => {
            let wait = retry_after
                .map(|d| d.as_secs().clamp(1, MAX_RETRY_AFTER_SECS))
                .unwrap_or(DEFAULT_RETRY_AFTER_SECS);
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "platform-unavailable",
                "The platform is unavailable",
                detail,
            )
            .retry_after(wait)
        }
        AccountError::Mail { stage, .. } => match stage {
            MailStage::Dns => Problem::new(
                StatusCode::BAD_GATEWAY,
                "mail-dns-failed",
                "The mail server's name did not resolve",
                detail,
            )
            .retry_after(DEFAULT_RETRY_AFTER_SECS),
            MailStage::Tcp => Problem::new(
                StatusCode::BAD_GATEWAY,
                "mail-tcp-failed",
                "The mail server could not be reached",
                detail,
            )
            .retry_after(DEFAULT_RETRY_AFTER_SECS),
            MailStage::Tls => Problem::new(
                unprocessable,
                "mail-tls-failed",
                "TLS with the mail server failed",
                detail,
            ),
            MailStage::Authentication => Problem::new(
                unprocessable,
                "mail-authentication-failed",
                "The mail server refused the login",
                detail,
            ),
            MailStage::Protocol => Problem::new(
                StatusCode::BAD_GATEWAY,
                "mail-protocol-error",
                "The mail server answered unexpectedly",
                detail,
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_failure_has_its_own_type_and_status() {
        let cases = [
            (
                AccountError::RefusedCredentials("190".into()),
                422,
                "platform-refused-credentials",
            ),
            (
                AccountError::Mismatch {
                    claimed: "1".into(),
                    actual: "2".into(),
                },
                422,
                "account-mismatch",
            ),
            (AccountError::NoPublicUrl, 409, "public-url-not-configured"),
            (
                AccountError::unavailable("HTTP 503"),
                503,
                "platform-unavailable",
            ),
        ];
        for (error, status, slug) in cases {
            let problem = account_problem(error);
            assert_eq!(problem.status, status);
            assert_eq!(problem.problem_type, format!("/problems/{slug}"));
        }
        let stages = [
            (MailStage::Dns, "mail-dns-failed"),
            (MailStage::Tcp, "mail-tcp-failed"),
            (MailStage::Tls, "mail-tls-failed"),
            (MailStage::Authentication, "mail-authentication-failed"),
        ];
        for (stage, slug) in stages {
            let problem = account_problem(AccountError::Mail {
                protocol: "SMTP",
                stage,
                detail: "x".into(),
            });
            assert_eq!(problem.problem_type, format!("/problems/{slug}"));
        }
    }

    #[test]
    fn the_platforms_delay_is_passed_on_within_bounds() {
        let problem = account_problem(AccountError::Unavailable {
            retry_after: Some(Duration::from_secs(86_400)),
            detail: "throttled".into(),
        });
        let response = axum::response::IntoResponse::into_response(problem);
        assert_eq!(response.headers()["retry-after"], "300");
    }
}
