//! One visitor socket, from its hello to its close.
//!
//! # Guarantees
//! The first frame must be a `hello` within `HELLO_TIMEOUT`: its token, if it verifies for
//! this integration, keeps the visitor (renewed); otherwise a new visitor is issued. Every
//! later frame acts for that visitor only: nothing a widget sends names a visitor or a
//! conversation. A `send` is answered `accepted` only after the broker acknowledged its
//! `MessageReceived` (the same client id gives the same event id, so a resend after a
//! reconnect is one message); an `error` with `/problems/unavailable` means it may be resent.
//! Before each write the integration is looked up again: a disconnected integration or an
//! origin taken off the allow-list closes the socket. History since the widget's latest
//! message follows the hello, then the live replies (see `webchat::hub`).

use crate::state::AppState;
use crate::webchat::history;
use crate::webchat::hub::{HubEvent, JoinError};
use crate::webchat::limits::HELLO_TIMEOUT;
use crate::webchat::sites::Site;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use switchboard_adapters::channels::webchat::inbound::{self, VisitorInputError};
use switchboard_adapters::channels::webchat::session::{VisitorId, VisitorSession};
use switchboard_adapters::channels::webchat::wire::{
    AckStatus, Author, ChatMessage, ClientFrame, Delivery, ServerFrame, NOTIFY_CHANNEL,
};
use switchboard_adapters::inbound::{InboundPublisher, WebhookTarget};
use switchboard_adapters::kafka::trace_context::current_traceparent;
use switchboard_domain::message::InboundDraft;
use tracing::Instrument;

/// Close code: the visitor broke a rule (bad hello, origin no longer allowed).
const CLOSE_POLICY: u16 = 1008;
/// Close code: come back later (too many sockets, database down, fell behind).
const CLOSE_TRY_AGAIN: u16 = 1013;

/// A socket of `site`'s widget, opened from `origin` (already admitted).
pub struct VisitorSocket {
    state: AppState,
    site: Arc<Site>,
    origin: String,
    socket: WebSocket,
}

/// Why a socket ends.
struct Closing(u16, &'static str);

impl VisitorSocket {
    /// The socket, upgraded.
    pub fn new(state: AppState, site: Arc<Site>, origin: String, socket: WebSocket) -> Self {
        Self {
            state,
            site,
            origin,
            socket,
        }
    }

    /// Serves the socket until either side closes it.
    pub async fn run(mut self) {
        if let Some(Closing(code, reason)) = self.serve().await.err() {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = self.socket.send(Message::Close(Some(frame))).await;
        }
    }

    async fn serve(&mut self) -> Result<(), Closing> {
        let (session, after) = self.hello().await?;
        let visitor = session.visitor.contact_id();
        let membership = self
            .state
            .webchat
            .hub
            .join(
                self.site.integration_id,
                visitor.clone(),
                self.state.webchat.limits.max_sockets,
            )
            .await;
        let mut membership = match membership {
            Ok(membership) => membership,
            Err(JoinError::TooMany) => {
                self.problem(None, "too-many-connections", "too many open connections")
                    .await?;
                return Err(Closing(CLOSE_TRY_AGAIN, "too many connections"));
            }
            Err(JoinError::Database(error)) => {
                tracing::warn!(%error, "web chat socket could not join");
                return Err(Closing(CLOSE_TRY_AGAIN, "unavailable"));
            }
        };
        let (token, renewed) =
            self.state
                .webchat
                .keys
                .issue(self.site.integration_id, session.visitor, Utc::now());
        self.send(&ServerFrame::Ready {
            visitor: visitor.clone(),
            token,
            expires_at: renewed.expires_at,
        })
        .await?;
        let mut latest = self.resume(&visitor, after).await?;
        loop {
            tokio::select! {
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => self.on_frame(&session, text.as_str()).await?,
                    Some(Ok(Message::Binary(_))) => {
                        self.problem(None, "malformed-frame", "frames are JSON text").await?;
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                    Some(Ok(_)) => {}
                },
                event = membership.events.recv() => match event {
                    Some(HubEvent::Frame(frame)) => {
                        if let ServerFrame::Message { message } = &frame {
                            latest = latest.max(Some(message.sent_at));
                        }
                        self.send(&frame).await?;
                    }
                    Some(HubEvent::Resync) => {
                        let resumed = self.resume(&visitor, latest).await?;
                        latest = latest.max(resumed);
                    }
                    None => return Err(Closing(CLOSE_TRY_AGAIN, "fell behind; reconnect")),
                },
            }
        }
    }

    /// Waits for the hello and turns it into a session (a new visitor when its token does
    /// not verify).
    async fn hello(&mut self) -> Result<(VisitorSession, Option<DateTime<Utc>>), Closing> {
        let first = tokio::time::timeout(HELLO_TIMEOUT, self.socket.recv())
            .await
            .map_err(|_| Closing(CLOSE_POLICY, "no hello"))?;
        let Some(Ok(Message::Text(text))) = first else {
            return Err(Closing(CLOSE_POLICY, "no hello"));
        };
        let Ok(ClientFrame::Hello { token, after }) = serde_json::from_str(text.as_str()) else {
            self.problem(None, "malformed-frame", "the first frame must be a hello")
                .await?;
            return Err(Closing(CLOSE_POLICY, "no hello"));
        };
        let now = Utc::now();
        let keys = &self.state.webchat.keys;
        let session = match keys.verify(self.site.integration_id, &token, now) {
            Ok(session) => session,
            Err(refused) => {
                if !token.is_empty() {
                    tracing::debug!(%refused, "web chat token refused; a new visitor is issued");
                }
                let (_, session) = keys.issue(self.site.integration_id, VisitorId::new(), now);
                return Ok((session, None));
            }
        };
        Ok((session, after))
    }

    /// Sends the history since `after`; returns the time of the latest message sent.
    async fn resume(
        &mut self,
        visitor: &str,
        after: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>, Closing> {
        let messages = history::since(&self.state.pool, self.site.integration_id, visitor, after)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "web chat history unavailable");
                Closing(CLOSE_TRY_AGAIN, "unavailable")
            })?;
        let mut latest = after;
        for message in messages {
            latest = latest.max(Some(message.sent_at));
            self.send(&ServerFrame::Message { message }).await?;
        }
        Ok(latest)
    }

    async fn on_frame(&mut self, session: &VisitorSession, text: &str) -> Result<(), Closing> {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(_) => {
                metrics::counter!("switchboard_webchat_frames_total", "type" => "malformed")
                    .increment(1);
                return self
                    .problem(
                        None,
                        "malformed-frame",
                        "not a frame of the web chat protocol",
                    )
                    .await;
            }
        };
        let kind = match &frame {
            ClientFrame::Hello { .. } => "hello",
            ClientFrame::Send { .. } => "send",
            ClientFrame::Ack { .. } => "ack",
        };
        metrics::counter!("switchboard_webchat_frames_total", "type" => kind).increment(1);
        let span = tracing::info_span!(
            "webchat.frame",
            frame = kind,
            integration_id = %self.site.integration_id,
        );
        async {
            match frame {
                ClientFrame::Hello { .. } => {
                    self.problem(None, "malformed-frame", "hello was already said")
                        .await
                }
                ClientFrame::Send { client_id, text } => {
                    self.on_send(session, client_id, &text).await
                }
                ClientFrame::Ack {
                    message_ids,
                    status,
                } => self.on_ack(session, &message_ids, status).await,
            }
        }
        .instrument(span)
        .await
    }

    async fn on_send(
        &mut self,
        session: &VisitorSession,
        client_id: String,
        text: &str,
    ) -> Result<(), Closing> {
        self.still_admitted().await?;
        let visitor = session.visitor.contact_id();
        if let Err(wait) = self
            .state
            .webchat
            .limits
            .message(self.site.integration_id, &visitor)
        {
            let detail = format!("too many messages; wait {} ms", wait.as_millis().max(1));
            return self.problem(Some(client_id), "rate-limited", &detail).await;
        }
        let draft = match inbound::visitor_message(session, &client_id, text, Utc::now()) {
            Ok(draft) => draft,
            Err(refused) => return self.refused(Some(client_id), refused).await,
        };
        let Some(event) = publish(&self.state, &self.site, draft).await else {
            let detail = "the message broker did not acknowledge; send it again";
            return self.problem(Some(client_id), "unavailable", detail).await;
        };
        self.send(&ServerFrame::Accepted {
            client_id: client_id.clone(),
            message_id: event.event_id.to_string(),
        })
        .await?;
        echo_to_other_tabs(&self.state, &self.site, &visitor, &event, client_id, text).await;
        Ok(())
    }

    async fn on_ack(
        &mut self,
        session: &VisitorSession,
        message_ids: &[String],
        status: AckStatus,
    ) -> Result<(), Closing> {
        let draft = match inbound::receipt(session, message_ids, status, Utc::now()) {
            Ok(draft) => draft,
            Err(refused) => return self.refused(None, refused).await,
        };
        if publish(&self.state, &self.site, draft).await.is_none() {
            let detail = "the acknowledgement was not stored; send it again";
            return self.problem(None, "unavailable", detail).await;
        }
        Ok(())
    }
}

/// Publishes `draft` for `site`, returning its event once the broker acknowledged it.
async fn publish(
    state: &AppState,
    site: &Site,
    draft: InboundDraft,
) -> Option<switchboard_domain::message::InboundEvent> {
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
    event: &switchboard_domain::message::InboundEvent,
    client_id: String,
    text: &str,
) {
    let delivery = Delivery {
        integration_id: site.integration_id,
        visitor: visitor.to_owned(),
        message: ChatMessage {
            id: event.event_id.to_string(),
            author: Author::Visitor,
            text: Some(text.to_owned()),
            extras: serde_json::Value::Null,
            sent_at: event.platform_timestamp,
            client_id: Some(client_id),
        },
    };
    let Ok(payload) = serde_json::to_string(&delivery) else {
        return;
    };
    if payload.len() > switchboard_adapters::channels::webchat::outbound::MAX_NOTIFY_BYTES {
        return;
    }
    let notified = sqlx::query("SELECT pg_notify($1, $2)")
        .bind(NOTIFY_CHANNEL)
        .bind(payload)
        .execute(&state.pool)
        .await;
    if let Err(error) = notified {
        tracing::debug!(%error, "visitor message not echoed to other tabs");
    }
}

impl VisitorSocket {
    /// Closes the socket when the integration went away or its origin is no longer allowed.
    async fn still_admitted(&mut self) -> Result<(), Closing> {
        let site = self
            .state
            .webchat
            .sites
            .get(self.site.integration_id)
            .await
            .map_err(|_| Closing(CLOSE_TRY_AGAIN, "unavailable"))?;
        match site {
            Some(site) if site.live && site.origins.admits(Some(&self.origin)) => {
                self.site = site;
                Ok(())
            }
            _ => {
                self.problem(
                    None,
                    "origin-refused",
                    "this widget is no longer available here",
                )
                .await?;
                Err(Closing(CLOSE_POLICY, "not allowed"))
            }
        }
    }

    async fn refused(
        &mut self,
        client_id: Option<String>,
        refused: VisitorInputError,
    ) -> Result<(), Closing> {
        self.problem(client_id, "validation", &refused.to_string())
            .await
    }

    async fn problem(
        &mut self,
        client_id: Option<String>,
        slug: &str,
        detail: &str,
    ) -> Result<(), Closing> {
        self.send(&ServerFrame::Error {
            client_id,
            problem: format!("/problems/{slug}"),
            detail: detail.to_owned(),
        })
        .await
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Closing> {
        let text = serde_json::to_string(frame).map_err(|_| Closing(1011, "internal"))?;
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| Closing(1001, "gone"))
    }
}
