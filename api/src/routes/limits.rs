//! Limits every request passes before its handler: a cap on requests handled at once (more are
//! shed with 503 and `Retry-After`; health probes are exempt), a deadline for reading the body
//! (408) and one for the handler (503), and the body size limit (413).

use crate::error::Problem;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The largest body any channel's webhook accepts (WhatsApp: 3 MiB), with room to spare.
const WEBHOOK_BODY_CEILING: usize = 4 * 1024 * 1024;

/// Whether a body read failed on the length limit (as opposed to the client going away).
fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The limits.
#[derive(Clone)]
pub struct RequestLimits {
    permits: Arc<Semaphore>,
    body_read_timeout: Duration,
    handler_timeout: Duration,
    max_body_bytes: usize,
}

impl RequestLimits {
    /// The limits `config` sets.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self::new(
            config.max_concurrent_requests,
            Duration::from_millis(config.body_read_timeout_ms),
            Duration::from_millis(config.request_timeout_ms),
            config.max_body_bytes,
        )
    }

    /// At most `concurrent` requests at once, each body read within `body_read_timeout`
    /// and at most `max_body_bytes` long, each handler done within `handler_timeout`.
    pub fn new(
        concurrent: usize,
        body_read_timeout: Duration,
        handler_timeout: Duration,
        max_body_bytes: usize,
    ) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
            body_read_timeout,
            handler_timeout,
            max_body_bytes,
        }
    }
}

impl RequestLimits {
    /// The largest body accepted.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }
}

/// Applies the limits.
pub async fn enforce(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(request.uri().path(), "/healthz" | "/readyz") {
        return next.run(request).await;
    }
    let Ok(_permit) = limits.permits.clone().try_acquire_owned() else {
        metrics::counter!("switchboard_http_shed_total").increment(1);
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "Overloaded",
            "the server is handling as many requests as it may; retry shortly",
        )
        .retry_after(1)
        .into_response();
    };
    let request = match read_body(&limits, request).await {
        Ok(request) => request,
        Err(problem) => return problem.into_response(),
    };
    match tokio::time::timeout(limits.handler_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("switchboard_http_handler_timeouts_total").increment(1);
            tracing::warn!("handler ran past its deadline");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "handler-timeout",
                "Took too long",
                "the request could not be completed in time; retry it",
            )
            .retry_after(1)
            .into_response()
        }
    }
}

/// The request with its body read in full within the deadline (bodiless methods untouched).
async fn read_body(limits: &RequestLimits, request: Request) -> Result<Request, Problem> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return Ok(request);
    }
    // Webhooks read their raw body themselves, against their channel's own limit (WhatsApp's
    // is 3 MiB); here they only get the deadline, under the largest channel limit.
    let limit = if request.uri().path().starts_with("/webhooks/") {
        limits.max_body_bytes.max(WEBHOOK_BODY_CEILING)
    } else {
        limits.max_body_bytes
    };
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, limit);
    match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Ok(Err(error)) if is_length_limit(&error) => Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Body too large",
            "the request body exceeds the configured limit",
        )),
        Ok(Err(_)) => Err(Problem::bad_request("the request body could not be read")),
        Err(_) => Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            "Body not received in time",
            "the request body did not arrive within the configured time",
        )),
    }
}
