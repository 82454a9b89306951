//! What a visitor's frames do, whatever carries them: the WebSocket
//! (`routes::webchat_socket`) or the fallback's plain requests (`routes::webchat_fallback`).
//! Both transports hand a parsed frame here and pass the answer back in their own way, so
//! the rules are the same on both.
//!
//! # Guarantees
//! A `send` is answered `accepted` only after the broker acknowledged its `MessageReceived`
//! (the same client id gives the same event id, so a resend is one message); an `error`
//! with `/problems/unavailable` means it may be sent again. Sends take from the visitor's
//! rate limit; typing notices past one per `TYPING_INTERVAL` are dropped without an answer.
//! Acknowledgements become status events on `messages.status`, answered after the broker's
//! acknowledgement too. The caller has checked, for this frame, that the integration is live
//! and the origin still allowed ([`admitted`]).

use crate::state::AppState;
use crate::webchat::sites::Site;
use crate::webchat::{history, recent};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use switchboard_adapters::activity::activity_record;
use switchboard_adapters::channels::webchat::inbound::{self, VisitorInputError};
use switchboard_adapters::channels::webchat::outbound::announce;
use switchboard_adapters::channels::webchat::session::{VisitorId, VisitorSession};
use switchboard_adapters::channels::webchat::wire::{
    AckStatus, Author, ChatMessage, ClientFrame, Delivery, Push, ServerFrame,
};
use switchboard_adapters::inbound::{InboundPublisher, WebhookTarget};
use switchboard_adapters::kafka::trace_context::current_traceparent;
use switchboard_adapters::outbound::status_record::status_record;
use switchboard_domain::message::{
    conversation_key, ConversationAction, ConversationActivity, InboundDraft, InboundEvent,
};
use switchboard_domain::IntegrationId;
use tracing::Instrument;

/// Why a frame may not be acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The integration went away, or the origin is no longer on its allow-list.
    NotAllowed,
    /// The integration could not be looked up (the database is down).
    Unavailable,
}

/// The integration `integration_id` as it is now, if it is live and admits `origin`.
pub async fn admitted(
    state: &AppState,
    integration_id: IntegrationId,
    origin: &str,
) -> Result<Arc<Site>, Refusal> {
    let site = state
        .webchat
        .sites
        .get(integration_id)
        .await
        .map_err(|_| Refusal::Unavailable)?;
    match site {
        Some(site) if site.live && site.origins.admits(Some(origin)) => Ok(site),
        _ => Err(Refusal::NotAllowed),
    }
}

/// The session `token` names on `integration_id`, with the `after` the widget resumes from;
/// when the token does not verify, a new visitor's session, resuming from the start.
pub fn open_session(
    state: &AppState,
    integration_id: IntegrationId,
    token: &str,
    after: Option<DateTime<Utc>>,
) -> (VisitorSession, Option<DateTime<Utc>>) {
    let now = Utc::now();
    let keys = &state.webchat.keys;
    match keys.verify(integration_id, token, now) {
        Ok(session) => (session, after),
        Err(refused) => {
            if !token.is_empty() {
                tracing::debug!(%refused, "web chat token refused; a new visitor is issued");
            }
            let (_, session) = keys.issue(integration_id, VisitorId::new(), now);
            (session, None)
        }
    }
}

/// The `ready` frame of `session`: the visitor and their token, renewed.
pub fn ready(state: &AppState, session: &VisitorSession) -> ServerFrame {
    let (token, renewed) =
        state
            .webchat
            .keys
            .issue(session.integration_id, session.visitor, Utc::now());
    ServerFrame::Ready {
        visitor: session.visitor.contact_id(),
        token,
        expires_at: renewed.expires_at,
    }
}

/// The frames a widget resumes with: `visitor`'s messages since `after` (history, and those
/// announced lately that history does not have yet), then the agents' read mark; and the time of the latest message among them (`after` when none).
pub async fn resume(
    state: &AppState,
    integration_id: IntegrationId,
    visitor: &str,
    after: Option<DateTime<Utc>>,
) -> Result<(Vec<ServerFrame>, Option<DateTime<Utc>>), sqlx::Error> {
    let stored = history::since(&state.pool, integration_id, visitor, after).await?;
    let announced = state
        .webchat
        .hub
        .recent_since(integration_id, visitor, after);
    let messages = recent::merged(stored, announced);
    let latest = messages
        .iter()
        .map(|m| Some(m.sent_at))
        .fold(after, Option::max);
    let mut frames: Vec<ServerFrame> = messages
        .into_iter()
        .map(|message| ServerFrame::Message { message })
        .collect();
    if let Some(up_to) = history::seen_up_to(&state.pool, integration_id, visitor).await? {
        frames.push(ServerFrame::Seen { up_to });
    }
    Ok((frames, latest))
}

/// An `error` frame of problem type `/problems/{slug}`.
pub fn problem(client_id: Option<String>, slug: &str, detail: &str) -> ServerFrame {
    ServerFrame::Error {
        client_id,
        problem: format!("/problems/{slug}"),
        detail: detail.to_owned(),
    }
}

/// Acts on `frame` of `session`'s visitor on `site`; the frame to answer with, if any.
pub async fn act(
    state: &AppState,
    site: &Site,
    session: &VisitorSession,
    frame: ClientFrame,
) -> Option<ServerFrame> {
    let kind = match &frame {
        ClientFrame::Hello { .. } => "hello",
        ClientFrame::Send { .. } => "send",
        ClientFrame::Ack { .. } => "ack",
        ClientFrame::Typing => "typing",
    };
    metrics::counter!("switchboard_webchat_frames_total", "type" => kind).increment(1);
    let span = tracing::info_span!(
        "webchat.frame",
        frame = kind,
        integration_id = %site.integration_id,
    );
    async {
        match frame {
            ClientFrame::Hello { .. } => {
                Some(problem(None, "malformed-frame", "hello was already said"))
            }
            ClientFrame::Send { client_id, text } => {
                Some(send(state, site, session, client_id, &text).await)
            }
            ClientFrame::Ack {
                message_ids,
                status,
            } => acknowledge(state, site, session, &message_ids, status).await,
            ClientFrame::Typing => typing(state, site, session).await,
        }
    }
    .instrument(span)
    .await
}

async fn send(
    state: &AppState,
    site: &Site,
    session: &VisitorSession,
    client_id: String,
    text: &str,
) -> ServerFrame {
    let visitor = session.visitor.contact_id();
    if let Err(wait) = state.webchat.limits.message(site.integration_id, &visitor) {
        let detail = format!("too many messages; wait {} ms", wait.as_millis().max(1));
        return problem(Some(client_id), "rate-limited", &detail);
    }
    let draft = match inbound::visitor_message(session, &client_id, text, Utc::now()) {
        Ok(draft) => draft,
        Err(refused) => return invalid(Some(client_id), refused),
    };
    let Some(event) = publish(state, site, draft).await else {
        let detail = "the message broker did not acknowledge; send it again";
        return problem(Some(client_id), "unavailable", detail);
    };
    echo_to_other_tabs(state, site, &visitor, &event, client_id.clone(), text).await;
    ServerFrame::Accepted {
        client_id,
        message_id: event.event_id.to_string(),
    }
}

async fn acknowledge(
    state: &AppState,
    site: &Site,
    session: &VisitorSession,
    message_ids: &[String],
    status: AckStatus,
) -> Option<ServerFrame> {
    let updates =
        match inbound::receipts(session, &site.workspace_id, message_ids, status, Utc::now()) {
            Ok(updates) => updates,
            Err(refused) => return Some(invalid(None, refused)),
        };
    let source = format!(
        "switchboard/adapters/{}",
        switchboard_adapters::channels::webchat::KIND
    );
    let records: Vec<_> = updates
        .iter()
        .map(|update| {
            status_record(
                update,
                &state.topics.status,
                source.clone(),
                current_traceparent(),
            )
        })
        .collect();
    let stored = state.producer.publish_all(&records).await;
    if let Some(error) = stored.into_iter().find_map(Result::err) {
        tracing::warn!(%error, "web chat acknowledgement not acknowledged by the broker");
        let detail = "the acknowledgement was not stored; send it again";
        return Some(problem(None, "unavailable", detail));
    }
    None
}

async fn typing(state: &AppState, site: &Site, session: &VisitorSession) -> Option<ServerFrame> {
    let visitor = session.visitor.contact_id();
    if !state.webchat.limits.typing(site.integration_id, &visitor) {
        return None;
    }
    let activity = ConversationActivity {
        event_id: uuid::Uuid::new_v4(),
        workspace_id: site.workspace_id.clone(),
        conversation_key: conversation_key(site.integration_id, &visitor),
        at: Utc::now(),
        action: ConversationAction::ContactTyping,
    };
    let record = activity_record(&activity, &state.topics.activity, current_traceparent());
    if let Err(error) = state.producer.publish(&record).await {
        // A typing notice is worth nothing later: it is not resent.
        tracing::debug!(%error, "web chat typing notice not published");
    }
    None
}

fn invalid(client_id: Option<String>, refused: VisitorInputError) -> ServerFrame {
    problem(client_id, "validation", &refused.to_string())
}

/// Publishes `draft` for `site`, returning its event once the broker acknowledged it.
async fn publish(state: &AppState, site: &Site, draft: InboundDraft) -> Option<InboundEvent> {
    let target = WebhookTarget {
        integration_id: site.integration_id,
        workspace_id: site.workspace_id.clone(),
        channel: switchboard_domain::ChannelKind::parse(
            switchboard_adapters::channels::webchat::KIND,
        )
        .expect("valid channel name"),
        status: switchboard_domain::integration::IntegrationStatus::Connected,
        secrets: Default::default(),
    };
    let events = InboundPublisher::events(&target, vec![draft]);
    match state.inbound.publish(&events, current_traceparent()).await {
        Ok(()) => events.into_iter().next(),
        Err(error) => {
            tracing::warn!(%error, "web chat frame not acknowledged by the broker");
            None
        }
    }
}

/// The visitor's own message, to their other tabs (best-effort: history has it too).
async fn echo_to_other_tabs(
    state: &AppState,
    site: &Site,
    visitor: &str,
    event: &InboundEvent,
    client_id: String,
    text: &str,
) {
    let delivery = Delivery {
        integration_id: site.integration_id,
        visitor: visitor.to_owned(),
        push: Push::Message(ChatMessage {
            id: event.event_id.to_string(),
            author: Author::Visitor,
            text: Some(text.to_owned()),
            extras: serde_json::Value::Null,
            sent_at: event.platform_timestamp,
            client_id: Some(client_id),
        }),
    };
    if let Err(error) = announce(&state.pool, &delivery).await {
        tracing::debug!(%error, "visitor message not echoed to other tabs");
    }
}
