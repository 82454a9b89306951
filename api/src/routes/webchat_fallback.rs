//! The web chat fallback for widgets that cannot open the WebSocket (a proxy in the way):
//! `GET /webchat/{integration_id}/events` is a Server-Sent Events stream of the frames the
//! socket would carry, and `POST /webchat/{integration_id}/frames` takes one frame the widget
//! would have sent on it.
//!
//! # Guarantees
//! The same rules as the socket, through the same code (`webchat::visitor` acts on frames,
//! `webchat::hub` fans out): every request is refused unless the widget is live and the
//! page's origin is on its allow-list (404, 410, 403, in that order; `Origin`, or for a
//! same-origin `GET` that browsers send without one, the origin of its `Referer`); a stream
//! counts as one of the visitor's connections (429 `too-many-connections` past the limit); a
//! frame is at most `MAX_FRAME_BYTES` (413); a `send` is answered 200 `accepted` only after
//! the broker's acknowledgement, dedups by client id, and takes from the same rate limit
//! (429 with `Retry-After`). The stream starts with `ready` (the visitor's token, renewed,
//! or a new visitor's when the token does not verify) and resumes after the `sent_at` in
//! `after` or in `Last-Event-ID` (each message event's id is its `sent_at`). The token is a
//! query parameter of the stream (EventSource cannot send headers) and a field of each POST
//! (a `text/plain` body, so browsers send it without a CORS preflight); neither is logged.

use crate::error::Problem;
use crate::extract::{Path, Query};
use crate::routes::webchat::admit;
use crate::state::AppState;
use crate::webchat::hub::{HubEvent, JoinError, Membership};
use crate::webchat::limits::MAX_FRAME_BYTES;
use crate::webchat::visitor;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;
use switchboard_adapters::channels::webchat::session::VisitorSession;
use switchboard_adapters::channels::webchat::wire::{ClientFrame, ServerFrame};
use switchboard_domain::IntegrationId;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

/// How often an idle stream sends a comment, so proxies keep it open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events buffered for a stream whose reader is slow.
const STREAM_QUEUE: usize = 64;

/// The fallback routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webchat/{integration_id}/events", get(events))
        .route("/webchat/{integration_id}/frames", post(frame))
}

/// Who is listening, and from where.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The visitor's session token (empty or absent: a new visitor).
    #[serde(default)]
    pub token: String,
    /// The `sent_at` of the latest message the widget shows.
    pub after: Option<DateTime<Utc>>,
}

/// One frame from the widget, with its session.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FrameRequest {
    /// The visitor's session token.
    pub token: String,
    /// The frame, as on the socket (`send`, `ack` or `typing`).
    #[schema(value_type = Object)]
    pub frame: serde_json::Value,
}

/// The answer to a `send`: stored, the widget may forget its copy.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedFrame {
    /// `accepted`.
    #[serde(rename = "type")]
    #[schema(pattern = "^accepted$")]
    pub kind: String,
    /// The widget's id for the message.
    pub client_id: String,
    /// The message's id in the conversation.
    pub message_id: String,
}

/// The frames the socket would carry, as Server-Sent Events.
#[utoipa::path(get, path = "/webchat/{integration_id}/events", tag = "webchat",
    params(("integration_id" = String, Path, description = "The web chat integration"), EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received (a message's sent_at)")),
    responses(
        (status = 200, description = "A stream of frames (`ready`, `message`, `typing`, `seen`, `error`), one JSON object per event", content_type = "text/event-stream", body = String),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 410, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (site, origin) = admit(&state, &id, page_origin(&headers)).await?;
    let resumed_from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|at| at.with_timezone(&Utc));
    let after = query.after.max(resumed_from);
    let (session, after) = visitor::open_session(&state, site.integration_id, &query.token, after);
    let visitor = session.visitor.contact_id();
    let membership = state
        .webchat
        .hub
        .join(
            site.integration_id,
            visitor.clone(),
            state.webchat.limits.max_sockets,
        )
        .await
        .map_err(|error| match error {
            JoinError::TooMany => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-connections",
                "Too many connections",
                "this visitor has as many connections open as allowed",
            )
            .retry_after(5),
            JoinError::Database(_) => Problem::unavailable("the database is unavailable"),
        })?;
    let (first, latest) = visitor::resume(&state, site.integration_id, &visitor, after).await?;
    let (tx, rx) = mpsc::channel::<Event>(STREAM_QUEUE);
    let mut opening = vec![visitor::ready(&state, &session)];
    opening.extend(first);
    let stream = EventStream {
        state,
        integration_id: site.integration_id,
        visitor,
        latest,
        tx,
    };
    tokio::spawn(stream.run(opening, membership));
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), rx))
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    allow_origin(&mut response, &origin);
    Ok(response)
}

/// One open stream: the hub's frames for its visitor, until the reader goes away.
struct EventStream {
    state: AppState,
    integration_id: IntegrationId,
    visitor: String,
    latest: Option<DateTime<Utc>>,
    tx: mpsc::Sender<Event>,
}

impl EventStream {
    async fn run(mut self, opening: Vec<ServerFrame>, mut membership: Membership) {
        for frame in opening {
            if !self.push(&frame).await {
                return;
            }
        }
        loop {
            let event = tokio::select! {
                event = membership.events.recv() => event,
                () = self.tx.closed() => return,
            };
            match event {
                Some(HubEvent::Frame(frame)) => {
                    if !self.push(&frame).await {
                        return;
                    }
                }
                Some(HubEvent::Resync) => {
                    let resumed = visitor::resume(
                        &self.state,
                        self.integration_id,
                        &self.visitor,
                        self.latest,
                    )
                    .await;
                    let Ok((frames, _)) = resumed else {
                        return;
                    };
                    for frame in frames {
                        if !self.push(&frame).await {
                            return;
                        }
                    }
                }
                // Fell behind: ending the stream makes the widget reconnect and resume.
                None => return,
            }
        }
    }

    /// Sends `frame`; false once the reader is gone.
    async fn push(&mut self, frame: &ServerFrame) -> bool {
        let Ok(data) = serde_json::to_string(frame) else {
            return false;
        };
        let mut event = Event::default().data(data);
        if let ServerFrame::Message { message } = frame {
            self.latest = self.latest.max(Some(message.sent_at));
            event = event.id(message.sent_at.to_rfc3339());
        }
        self.tx.send(event).await.is_ok()
    }
}

/// Takes one frame the widget would have sent on its socket; answers what the socket would
/// have (`accepted`), nothing (204), or the refusal as a problem.
#[utoipa::path(post, path = "/webchat/{integration_id}/frames", tag = "webchat",
    params(("integration_id" = String, Path, description = "The web chat integration")),
    request_body(content = FrameRequest, content_type = "text/plain", description = "JSON, sent as text/plain"),
    responses(
        (status = 200, description = "The answer frame", body = AcceptedFrame),
        (status = 204, description = "Taken; nothing to answer (`ack`, `typing`)"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 410, body = Problem), (status = 413, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn frame(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let (site, origin) = admit(&state, &id, page_origin(&headers)).await?;
    let answer = async {
        if body.len() > MAX_FRAME_BYTES {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Frame too large",
                format!("a frame is at most {MAX_FRAME_BYTES} bytes"),
            ));
        }
        let request: FrameRequest = serde_json::from_slice(&body).map_err(|_| malformed())?;
        let frame: ClientFrame = serde_json::from_value(request.frame).map_err(|_| malformed())?;
        if matches!(frame, ClientFrame::Hello { .. }) {
            return Err(Problem::invalid(
                "hello is said by opening the event stream",
            ));
        }
        let session = verified(&state, site.integration_id, &request.token)?;
        Ok(visitor::act(&state, &site, &session, frame).await)
    }
    .await;
    let mut response = match answer {
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Ok(Some(ServerFrame::Error {
            problem, detail, ..
        })) => refusal(&problem, detail).into_response(),
        Ok(Some(frame)) => axum::Json(frame).into_response(),
        Err(problem) => problem.into_response(),
    };
    allow_origin(&mut response, &origin);
    Ok(response)
}

/// The session `token` names, or 401.
fn verified(
    state: &AppState,
    integration_id: IntegrationId,
    token: &str,
) -> Result<VisitorSession, Problem> {
    state
        .webchat
        .keys
        .verify(integration_id, token, Utc::now())
        .map_err(|refused| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "session-invalid",
                "Session not valid",
                format!("{refused}; open the event stream for a new session"),
            )
        })
}

fn malformed() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "malformed-frame",
        "Malformed frame",
        "the body must be {\"token\": ..., \"frame\": {...}} with a frame of the web chat protocol",
    )
}

/// The HTTP problem of an `error` frame's problem type.
fn refusal(problem: &str, detail: String) -> Problem {
    let slug = problem.trim_start_matches("/problems/");
    match slug {
        "rate-limited" => Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many messages",
            detail,
        )
        .retry_after(1),
        "unavailable" => Problem::unavailable(detail),
        "validation" => Problem::invalid(detail),
        _ => Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-frame",
            "Malformed frame",
            detail,
        ),
    }
}

/// The page's origin: `Origin`, else (a same-origin `GET`) the origin of `Referer`.
fn page_origin(headers: &HeaderMap) -> Option<String> {
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(origin) = header_text(header::ORIGIN) {
        return Some(origin.to_owned());
    }
    let referer = reqwest::Url::parse(header_text(header::REFERER)?).ok()?;
    let origin = referer.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Lets the page at `origin` (already on the allow-list) read the answer.
fn allow_origin(response: &mut Response, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}
