//! One error type at the HTTP edge: every failure becomes an RFC 9457 problem+json body with a
//! precise status. Details never echo submitted values, so no secret can leak through them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_adapters::channels::webhook::WebhookError;
use switchboard_adapters::inbound::IngestError;
use switchboard_adapters::store::StoreError;
use switchboard_domain::integration::IntegrationError;
use switchboard_domain::FieldProblem;
use utoipa::ToSchema;

/// Seconds a client should wait before retrying when a dependency is down.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;
/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem; see README.md, "Errors".
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short, fixed summary of the kind.
    pub title: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// Per-field problems, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldProblem>,
    /// Response headers beside the content type (`Retry-After`, `WWW-Authenticate`).
    #[serde(skip)]
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem of kind `slug` with `status`.
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            problem_type: format!("/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Adds per-field problems.
    pub fn with_errors(mut self, errors: Vec<FieldProblem>) -> Self {
        self.errors = errors;
        self
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(self, seconds: u64) -> Self {
        self.with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// Adds a response header (e.g. `WWW-Authenticate`).
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// 404 for a route or resource that does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 400 for a request that cannot be read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
            detail,
        )
    }

    /// 422 for a well-formed request that breaks a rule.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid request",
            detail,
        )
    }

    /// 503 when a dependency is down; the client should retry.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
        .retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
    }

    /// 500 for our own failure; the detail is logged, not returned.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed; see its logs",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let extra = std::mem::take(&mut self.headers);
        let mut response = (status, axum::Json(self)).into_response();
        let headers = response.headers_mut();
        for (name, value) in extra {
            headers.insert(name, value);
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Rejected(rejected) => rejected.into(),
            StoreError::Conflict(_) => Problem::new(
                StatusCode::CONFLICT,
                "concurrent-modification",
                "Concurrent modification",
                error.to_string(),
            )
            .retry_after(1),
            StoreError::Unavailable(_) => {
                tracing::warn!(%error, "database unavailable");
                Problem::unavailable("the database is unavailable")
            }
            StoreError::Corrupt(_) => Problem::internal(&error),
        }
    }
}

impl From<IntegrationError> for Problem {
    fn from(error: IntegrationError) -> Self {
        use IntegrationError as E;
        let detail = error.to_string();
        match error {
            E::NotFound => Problem::not_found(detail),
            E::AlreadyExists => Problem::new(
                StatusCode::CONFLICT,
                "already-exists",
                "Already exists",
                detail,
            ),
            E::Deleted => Problem::new(StatusCode::GONE, "deleted", "Integration deleted", detail),
            E::AccountInUse(_) => Problem::new(
                StatusCode::CONFLICT,
                "account-in-use",
                "Account already connected",
                detail,
            ),
            E::AlreadyConnected | E::NeverConnected => Problem::new(
                StatusCode::CONFLICT,
                "lifecycle-conflict",
                "Not allowed in this state",
                detail,
            ),
            E::UnknownChannel(_) | E::InvalidName | E::InvalidSettings => Problem::invalid(detail),
            E::InvalidCredentials(problems) | E::IncompleteCredentials(problems) => {
                Problem::invalid(detail).with_errors(problems)
            }
            E::Sealing(_) => Problem::internal(&detail),
        }
    }
}

impl From<WebhookError> for Problem {
    fn from(error: WebhookError) -> Self {
        let detail = error.to_string();
        match error {
            WebhookError::Unauthorized(_) => Problem::new(
                StatusCode::UNAUTHORIZED,
                "bad-signature",
                "Webhook signature missing or invalid",
                detail,
            ),
            WebhookError::HandshakeRefused(_) => Problem::new(
                StatusCode::FORBIDDEN,
                "handshake-refused",
                "Verification handshake refused",
                detail,
            ),
            WebhookError::NoHandshake => Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                detail,
            ),
            WebhookError::AccountMismatch => Problem::new(
                StatusCode::FORBIDDEN,
                "webhook-account-mismatch",
                "Delivery for another account",
                detail,
            ),
            WebhookError::Malformed(_) => Problem::bad_request(detail),
            WebhookError::MissingSecret(name) => {
                tracing::error!(secret = name, "a webhook secret is not configured");
                Problem::unavailable(detail)
            }
        }
    }
}

impl From<IngestError> for Problem {
    fn from(error: IngestError) -> Self {
        tracing::warn!(%error, "webhook events not acknowledged by the broker");
        Problem::unavailable("the message broker did not acknowledge the events; retry later")
    }
}

impl From<sqlx::Error> for Problem {
    /// A read-model query that failed: 503 when PostgreSQL is unreachable, else our own bug.
    fn from(error: sqlx::Error) -> Self {
        if switchboard_adapters::store::integrations::is_connectivity(&error) {
            Problem::unavailable("the database is unavailable")
        } else {
            Problem::internal(&error)
        }
    }
}
