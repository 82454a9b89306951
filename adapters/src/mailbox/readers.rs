//! Every connected e-mail integration's mailbox read by exactly one process: each round lists
//! the connected e-mail integrations, starts a reader for each one whose mailbox lock this
//! process takes, and stops the readers of integrations that were disconnected, changed
//! (their credentials or folder: the reader restarts on the new fields) or whose lock's
//! database session ended (so another process may take them over).
//!
//! Each running reader holds its lock's database connection, outside the pool, for as long as
//! it runs; [`ReadersSettings::max_readers`] bounds how many one process runs.

use crate::mailbox::lock::{MailboxLock, MailboxLocks};
use crate::mailbox::metrics;
use crate::mailbox::reader::{MailboxReader, MailboxTarget, ReaderParts};
use crate::mailbox::settings::MailboxSettings;
use crate::store::{IntegrationStore, StoreError};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use switchboard_domain::integration::IntegrationStatus;
use switchboard_domain::IntegrationId;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the readers are reconciled and how many run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadersSettings {
    /// The pause between two rounds.
    pub interval: Duration,
    /// The most readers this process runs.
    pub max_readers: usize,
}

impl Default for ReadersSettings {
    /// Every 30 s, at most 200 readers.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            max_readers: 200,
        }
    }
}

/// A reader this process runs.
struct Running {
    version: i64,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    lock: MailboxLock,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.lock.release().await;
    }
}

/// Runs the mailbox readers of every connected e-mail integration this process owns.
pub struct MailboxReaders {
    integrations: IntegrationStore,
    locks: MailboxLocks,
    parts: ReaderParts,
    settings: ReadersSettings,
}

impl MailboxReaders {
    /// Readers of the integrations in `integrations`, built from `parts`.
    pub fn new(
        integrations: IntegrationStore,
        parts: ReaderParts,
        settings: ReadersSettings,
    ) -> Self {
        Self {
            locks: MailboxLocks::new(integrations.pool().clone()),
            integrations,
            parts,
            settings,
        }
    }

    /// Reconciles every interval until `stop` resolves, then stops every reader (each ends
    /// after the mail it is publishing) and releases their locks.
    pub async fn run(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut running = HashMap::new();
        loop {
            self.round(&mut running).await;
            ::metrics::gauge!(metrics::READERS).set(running.len() as f64);
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(self.settings.interval) => {}
            }
        }
        for (_, reader) in running.drain() {
            reader.stop().await;
        }
        ::metrics::gauge!(metrics::READERS).set(0.0);
    }

    async fn round(&self, running: &mut HashMap<IntegrationId, Running>) {
        let wanted = match connected_mailboxes(&self.integrations).await {
            Ok(wanted) => wanted,
            Err(error) => {
                tracing::warn!(%error, "cannot list the e-mail integrations; keeping the readers as they are");
                return;
            }
        };
        let ids: Vec<IntegrationId> = running.keys().copied().collect();
        for id in ids {
            let reader = running.get_mut(&id).expect("listed");
            let keep = wanted.get(&id) == Some(&reader.version)
                && !reader.task.is_finished()
                && reader.lock.still_held().await;
            if !keep {
                if let Some(reader) = running.remove(&id) {
                    reader.stop().await;
                }
            }
        }
        for (id, version) in wanted {
            if running.contains_key(&id) || running.len() >= self.settings.max_readers {
                continue;
            }
            match self.start(id, version).await {
                Ok(Some(reader)) => {
                    running.insert(id, reader);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(integration_id = %id, %error, "cannot start the mailbox reader")
                }
            }
        }
    }

    /// Starts `id`'s reader if this process takes its lock.
    async fn start(&self, id: IntegrationId, version: i64) -> Result<Option<Running>, StoreError> {
        let Some(lock) = self.locks.try_lock(id).await? else {
            return Ok(None);
        };
        let integration = match self.integrations.load(id).await? {
            Some(i) if i.status == IntegrationStatus::Connected => i,
            _ => {
                lock.release().await;
                return Ok(None);
            }
        };
        let fields = self.integrations.open_auth(&integration, id).await?;
        let (settings, Some(workspace_id)) = (
            MailboxSettings::from_fields(&fields),
            integration.workspace_id.clone(),
        ) else {
            lock.release().await;
            return Ok(None);
        };
        let settings = match settings {
            Ok(settings) => settings,
            Err(error) => {
                tracing::warn!(integration_id = %id, %error, "the integration names no readable mailbox");
                lock.release().await;
                return Ok(None);
            }
        };
        let target = MailboxTarget {
            integration_id: id,
            workspace_id,
            settings,
        };
        let reader = MailboxReader::new(target, self.parts.clone());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(async move { reader.run(stop_rx).await });
        Ok(Some(Running {
            version,
            stop,
            task,
            lock,
        }))
    }
}

/// The connected e-mail integrations and the sequence of their last event.
async fn connected_mailboxes(
    integrations: &IntegrationStore,
) -> Result<HashMap<IntegrationId, i64>, StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, last_sequence FROM integration_states
          WHERE status = 'connected' AND channel = $1",
    )
    .bind(crate::channels::email::KIND)
    .fetch_all(integrations.pool())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, version)| Some((id.parse().ok()?, version)))
        .collect())
}
