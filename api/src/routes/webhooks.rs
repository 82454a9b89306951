//! `/webhooks/{channel}/{integration_id}`: platforms' verification handshakes (GET) and their
//! event deliveries (POST), for one integration: verified with its own secrets first (then the
//! platform's), every item checked against its own account. A platform app shared by every
//! workspace (Meta's, Zalo's, TikTok's) posts to its one URL `/webhooks/{channel}` instead,
//! routed item by item to the integration recording the account it names: see
//! [`super::app_webhooks`].
//!
//! # Guarantees
//! A POST is answered 200 only after every event it carried was acknowledged by the broker;
//! otherwise 503 with `Retry-After`, so the platform redelivers (and the deterministic event
//! ids let consumers drop the duplicates). Refusals, in order: unknown channel or integration
//! 404, disconnected or deleted integration 410, missing signature 401, body over the
//! channel's limit 413, bad signature 401, unreadable body 400, every item naming another
//! account than the integration's 403 (foreign items among ours are dropped and counted). The body is read once, raw,
//! and parsed only after its signature checked out. A source address whose deliveries or
//! handshakes keep failing verification (401/403) is answered 429 for a while
//! (`webhook_failures_per_minute`).

use crate::client_address::ClientAddress;
use crate::error::Problem;
use crate::extract::Path;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::collections::HashMap;
use std::sync::Arc;
use switchboard_adapters::channels::webhook::{RawWebhook, WebhookChannel, WebhookError};
use switchboard_adapters::inbound::{InboundPublisher, WebhookTarget};
use switchboard_adapters::kafka::trace_context::current_traceparent;
use switchboard_domain::{ChannelKind, IntegrationId};

/// The webhook routes.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/webhooks/{channel}/{integration_id}",
        get(handshake).post(receive),
    )
}

/// Answers a platform's verification handshake with its challenge, as plain text.
#[utoipa::path(get, path = "/webhooks/{channel}/{integration_id}", tag = "webhooks",
    params(("channel" = String, Path), ("integration_id" = String, Path)),
    responses((status = 200, body = String), (status = 403, body = Problem), (status = 404, body = Problem), (status = 405, body = Problem), (status = 410, body = Problem), (status = 429, body = Problem)))]
pub async fn handshake(
    State(state): State<AppState>,
    peer: ClientAddress,
    Path((channel, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let url = failure_key(&channel, &id);
    state.webhook_failures.admit(peer.0, &url)?;
    answer_handshake(&state, &channel, &id, &query)
        .await
        .map_err(|problem| counted_failure(&state, peer, &url, problem))
}

async fn answer_handshake(
    state: &AppState,
    channel: &str,
    id: &str,
    query: &HashMap<String, String>,
) -> Result<Response, Problem> {
    let (webhook, target) = resolve(state, channel, id).await?;
    let challenge = webhook.handshake(query, &target.secrets)?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        challenge,
    )
        .into_response())
}

/// Verifies a platform's delivery and publishes one event per item to `messages.received`.
#[utoipa::path(post, path = "/webhooks/{channel}/{integration_id}", tag = "webhooks",
    params(("channel" = String, Path), ("integration_id" = String, Path)),
    request_body(content = String, description = "The platform's payload, exactly as sent"),
    responses((status = 200, description = "Every event is stored"), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 410, body = Problem), (status = 413, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn receive(
    State(state): State<AppState>,
    peer: ClientAddress,
    Path((channel, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let url = failure_key(&channel, &id);
    state.webhook_failures.admit(peer.0, &url)?;
    store_delivery(&state, channel, &id, &headers, body)
        .await
        .map_err(|problem| counted_failure(&state, peer, &url, problem))
}

/// The URL a failure counts against, with the id in its one canonical spelling (a UUID has
/// several: upper case, without hyphens, braced), so respelling it opens no fresh bucket.
fn failure_key(channel: &str, id: &str) -> String {
    match id.parse::<IntegrationId>() {
        Ok(id) => format!("{channel}/{id}"),
        Err(_) => format!("{channel}/?"),
    }
}

/// A failed verification (bad signature or token, refused handshake) counts against the
/// source address on this URL, which past its quota gets 429. A delivery that verified but
/// names other accounts does not count: it proves the sender holds the secret.
pub(crate) fn counted_failure(
    state: &AppState,
    peer: ClientAddress,
    url: &str,
    problem: Problem,
) -> Problem {
    let failed_verification =
        problem.status == 401 || problem.problem_type == "/problems/handshake-refused";
    if failed_verification {
        state.webhook_failures.failed(peer.0, url, problem)
    } else {
        problem
    }
}

async fn store_delivery(
    state: &AppState,
    channel: String,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let (webhook, target) = resolve(state, &channel, id).await?;
    if let Some(name) = webhook.signature_header() {
        if !headers.contains_key(name) {
            return Err(WebhookError::Unauthorized("the signature header is missing").into());
        }
    }
    let bytes = read_body(headers, body, webhook.max_body_bytes()).await?;
    let verified = webhook.verify(
        RawWebhook {
            headers,
            body: &bytes,
        },
        &target.secrets,
    )?;
    let drafts = webhook.parse(&verified)?;
    let events = InboundPublisher::events(&target, drafts);
    state
        .inbound
        .publish(&events, current_traceparent())
        .await?;
    metrics::counter!("switchboard_webhook_events_total", "channel" => channel)
        .increment(events.len() as u64);
    tracing::debug!(integration_id = %target.integration_id, events = events.len(), "webhook stored");
    let stored = Stored {
        events: events.len(),
    };
    Ok((StatusCode::OK, axum::Json(stored)).into_response())
}

/// The answer to a stored delivery: how many events it became.
#[derive(serde::Serialize)]
struct Stored {
    events: usize,
}

/// The channel's webhook and the integration, or the 404/410 that refuses the request.
async fn resolve(
    state: &AppState,
    channel: &str,
    id: &str,
) -> Result<(Arc<dyn WebhookChannel>, Arc<WebhookTarget>), Problem> {
    let kind = ChannelKind::parse(channel).ok_or_else(|| Problem::not_found("no such channel"))?;
    let webhook = state
        .channels
        .webhook(&kind)
        .cloned()
        .ok_or_else(|| Problem::not_found("no such channel, or it receives no webhooks"))?;
    let id: IntegrationId = id
        .parse()
        .map_err(|_| Problem::not_found("no such integration"))?;
    let target = state
        .webhook_targets
        .get(id)
        .await?
        .filter(|t| t.channel == kind)
        .ok_or_else(|| Problem::not_found("no such integration on this channel"))?;
    if !target.accepts_webhooks() {
        return Err(Problem::new(
            StatusCode::GONE,
            "integration-inactive",
            "Integration disconnected or deleted",
            "this integration no longer accepts webhooks",
        ));
    }
    Ok((webhook, target))
}

/// Reads the raw body, refusing it with 413 past `limit` bytes.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, Problem> {
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Body too large",
            format!("this channel accepts bodies up to {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(too_large()),
        Err(_) => Err(Problem::bad_request("the request body could not be read")),
    }
}
