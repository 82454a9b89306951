//! One visitor socket, from its hello to its close.
//!
//! # Guarantees
//! The first frame must be a `hello` within `HELLO_TIMEOUT`: its token, if it verifies for
//! this integration, keeps the visitor (renewed); otherwise a new visitor is issued. Every
//! later frame acts for that visitor only: nothing a widget sends names a visitor or a
//! conversation. A `send` is answered `accepted` only after the broker acknowledged its
//! `MessageReceived` (the same client id gives the same event id, so a resend after a
//! reconnect is one message); an `error` with `/problems/unavailable` means it may be resent
//! (what each frame does is `webchat::visitor`'s, shared with the fallback transport).
//! Before each frame is acted on the integration is looked up again: a disconnected
//! integration or an origin taken off the allow-list closes the socket. History since the
//! widget's latest message follows the hello, then the live frames (see `webchat::hub`).

use crate::state::AppState;
use crate::webchat::hub::{HubEvent, JoinError};
use crate::webchat::limits::HELLO_TIMEOUT;
use crate::webchat::sites::Site;
use crate::webchat::visitor::{self, Refusal};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use switchboard_adapters::channels::webchat::session::VisitorSession;
use switchboard_adapters::channels::webchat::wire::{ClientFrame, ServerFrame};

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
        self.send(&visitor::ready(&self.state, &session)).await?;
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
        Ok(visitor::open_session(
            &self.state,
            self.site.integration_id,
            &token,
            after,
        ))
    }

    /// Sends the history since `after` and the agents' read mark; returns the time of the
    /// latest message sent.
    async fn resume(
        &mut self,
        visitor: &str,
        after: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>, Closing> {
        let (frames, latest) =
            visitor::resume(&self.state, self.site.integration_id, visitor, after)
                .await
                .map_err(|error| {
                    tracing::warn!(%error, "web chat history unavailable");
                    Closing(CLOSE_TRY_AGAIN, "unavailable")
                })?;
        for frame in &frames {
            self.send(frame).await?;
        }
        Ok(latest)
    }

    async fn on_frame(&mut self, session: &VisitorSession, text: &str) -> Result<(), Closing> {
        let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
            metrics::counter!("switchboard_webchat_frames_total", "type" => "malformed")
                .increment(1);
            return self
                .problem(
                    None,
                    "malformed-frame",
                    "not a frame of the web chat protocol",
                )
                .await;
        };
        self.still_admitted().await?;
        match visitor::act(&self.state, &self.site, session, frame).await {
            Some(answer) => self.send(&answer).await,
            None => Ok(()),
        }
    }
}

impl VisitorSocket {
    /// Closes the socket when the integration went away or its origin is no longer allowed.
    async fn still_admitted(&mut self) -> Result<(), Closing> {
        match visitor::admitted(&self.state, self.site.integration_id, &self.origin).await {
            Ok(site) => {
                self.site = site;
                Ok(())
            }
            Err(Refusal::Unavailable) => Err(Closing(CLOSE_TRY_AGAIN, "unavailable")),
            Err(Refusal::NotAllowed) => {
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

    async fn problem(
        &mut self,
        client_id: Option<String>,
        slug: &str,
        detail: &str,
    ) -> Result<(), Closing> {
        self.send(&visitor::problem(client_id, slug, detail)).await
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Closing> {
        let text = serde_json::to_string(frame).map_err(|_| Closing(1011, "internal"))?;
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| Closing(1001, "gone"))
    }
}
