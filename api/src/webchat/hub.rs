//! The visitor sockets this replica holds, and the fan-out of replies to them.
//!
//! # Guarantees
//! The sender announces each reply with PostgreSQL `NOTIFY`; every replica `LISTEN`s (one
//! connection each, opened with the first socket and kept) and pushes the reply to each
//! socket of that visitor it holds: every tab, on any replica. A socket that cannot keep up
//! (its queue of [`SOCKET_QUEUE`] frames is full) is dropped rather than skipped over, so its
//! widget reconnects and resumes from history. When the listening connection is lost,
//! notifications sent meanwhile are lost with it, so every socket is told to
//! [`HubEvent::Resync`]: it re-reads history since the latest message it pushed. A socket
//! joins only once the listener is listening, so no reply announced after a join is missed.
//! The messages announced lately are kept ([`super::recent`]) for the resumes that come
//! before the inbox has them.

use super::recent::RecentMessages;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;
use switchboard_adapters::channels::webchat::wire::{
    ChatMessage, Delivery, Push, ServerFrame, NOTIFY_CHANNEL,
};
use switchboard_domain::IntegrationId;
use tokio::sync::{mpsc, OnceCell};

/// Frames queued for one socket before it counts as stuck and is dropped.
pub const SOCKET_QUEUE: usize = 64;
/// The pause before the listener connects again after losing its connection.
pub const RELISTEN_DELAY: Duration = Duration::from_secs(1);

/// What the hub tells one socket.
#[derive(Debug, Clone)]
pub enum HubEvent {
    /// A frame to pass on.
    Frame(ServerFrame),
    /// Notifications may have been lost: re-read history.
    Resync,
}

type VisitorKey = (IntegrationId, String);

#[derive(Default)]
struct Sockets {
    by_visitor: HashMap<VisitorKey, HashMap<u64, mpsc::Sender<HubEvent>>>,
}

/// The sockets of this replica.
#[derive(Clone)]
pub struct Hub {
    pool: PgPool,
    sockets: Arc<Mutex<Sockets>>,
    next_id: Arc<AtomicU64>,
    listening: Arc<OnceCell<()>>,
    recent: Arc<Mutex<RecentMessages>>,
}

/// Why a socket could not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The visitor has as many sockets open as allowed.
    #[error("too many open connections for this visitor")]
    TooMany,
    /// The listener could not start (the database is unreachable).
    #[error("the database is unavailable: {0}")]
    Database(#[from] sqlx::Error),
}

/// One joined socket: its frames arrive on `events`; dropping it leaves the hub.
pub struct Membership {
    /// What the hub sends this socket.
    pub events: mpsc::Receiver<HubEvent>,
    key: VisitorKey,
    id: u64,
    sockets: Arc<Mutex<Sockets>>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut sockets = lock(&self.sockets);
        if let Some(open) = sockets.by_visitor.get_mut(&self.key) {
            open.remove(&self.id);
            if open.is_empty() {
                sockets.by_visitor.remove(&self.key);
            }
        }
        metrics::gauge!("switchboard_webchat_sockets").decrement(1.0);
    }
}

fn lock(sockets: &Mutex<Sockets>) -> std::sync::MutexGuard<'_, Sockets> {
    sockets
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hub {
    /// A hub listening on `pool`'s database once the first socket joins.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            sockets: Arc::default(),
            next_id: Arc::default(),
            listening: Arc::default(),
            recent: Arc::default(),
        }
    }

    /// The messages announced lately to `visitor` of `integration_id`, sent at or after
    /// `after`.
    pub fn recent_since(
        &self,
        integration_id: IntegrationId,
        visitor: &str,
        after: Option<DateTime<Utc>>,
    ) -> Vec<ChatMessage> {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.since(integration_id, visitor, after, Instant::now())
    }

    /// Joins a socket of `visitor` of `integration_id`, at most `max_sockets` per visitor.
    pub async fn join(
        &self,
        integration_id: IntegrationId,
        visitor: String,
        max_sockets: usize,
    ) -> Result<Membership, JoinError> {
        self.listening
            .get_or_try_init(|| self.start_listening())
            .await?;
        let key = (integration_id, visitor);
        let (tx, events) = mpsc::channel(SOCKET_QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut sockets = lock(&self.sockets);
            let open = sockets.by_visitor.entry(key.clone()).or_default();
            if open.len() >= max_sockets {
                return Err(JoinError::TooMany);
            }
            open.insert(id, tx);
        }
        metrics::gauge!("switchboard_webchat_sockets").increment(1.0);
        Ok(Membership {
            events,
            key,
            id,
            sockets: self.sockets.clone(),
        })
    }

    /// Pushes `delivery` (a message, a typing notice, a read mark) to every socket of its
    /// visitor held here; returns how many.
    pub fn deliver(&self, delivery: Delivery) -> usize {
        if let Push::Message(message) = &delivery.push {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            recent.remember(
                delivery.integration_id,
                &delivery.visitor,
                message.clone(),
                now,
            );
        }
        let key = (delivery.integration_id, delivery.visitor);
        let frame = HubEvent::Frame(delivery.push.frame());
        let mut sockets = lock(&self.sockets);
        let Some(open) = sockets.by_visitor.get_mut(&key) else {
            return 0;
        };
        // A full or closed queue drops the socket: its widget reconnects and resumes.
        open.retain(|_, tx| tx.try_send(frame.clone()).is_ok());
        let reached = open.len();
        if open.is_empty() {
            sockets.by_visitor.remove(&key);
        }
        metrics::counter!("switchboard_webchat_deliveries_total").increment(reached as u64);
        reached
    }

    fn resync_all(&self) {
        let mut sockets = lock(&self.sockets);
        for open in sockets.by_visitor.values_mut() {
            open.retain(|_, tx| tx.try_send(HubEvent::Resync).is_ok());
        }
        sockets.by_visitor.retain(|_, open| !open.is_empty());
    }

    /// Starts listening, returning once `LISTEN` took effect; the listener then runs for as
    /// long as the process.
    async fn start_listening(&self) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        let hub = self.clone();
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => hub.on_notification(notification.payload()),
                    Ok(None) => {
                        tracing::warn!("web chat listener reconnected; sockets resync");
                        hub.resync_all();
                    }
                    Err(error) => {
                        tracing::warn!(%error, "web chat listener failed; listening again");
                        tokio::time::sleep(RELISTEN_DELAY).await;
                        hub.resync_all();
                    }
                }
            }
        });
        Ok(())
    }

    fn on_notification(&self, payload: &str) {
        match serde_json::from_str::<Delivery>(payload) {
            Ok(delivery) => {
                let span = tracing::info_span!(
                    "webchat.delivery",
                    integration_id = %delivery.integration_id,
                );
                let _entered = span.enter();
                let reached = self.deliver(delivery);
                tracing::debug!(reached, "web chat reply pushed");
            }
            Err(error) => tracing::warn!(%error, "unreadable web chat notification dropped"),
        }
    }
}
