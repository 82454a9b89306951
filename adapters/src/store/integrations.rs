//! The Integration aggregate on PostgreSQL: commands through cqrs-es with bounded retries on
//! optimistic-lock conflicts, and consistent reads of each integration's current-state row.
//!
//! # Guarantees
//! A command's events, their outbox rows (written by a trigger), the integration's state row
//! (`integration_states`) and its platform account claim (`integration_accounts`, module
//! `accounts`) commit in one transaction or not at all (module `event_store`). One platform
//! account has at most one live integration: a command that would give it a second is refused
//! with [`IntegrationError::AccountInUse`]. Two
//! commands racing on one integration never lose an event: the loser sees a conflict on
//! `(aggregate_type, aggregate_id, sequence)`, reloads and decides again.
//!
//! # Reads
//! [`IntegrationStore::load`] and [`IntegrationStore::list`] read state rows (plus any event
//! after a row, see module `state`), not whole histories. An integration created before the state
//! table existed is folded from its events on its first read, and that fold is written back
//! as its row (as is the state after its next command), so it is folded once.

mod accounts;
mod event_store;
mod state;
#[cfg(test)]
pub(crate) mod test_db;
#[cfg(test)]
mod tests;

use super::data_keys::DataKeyError;
use super::envelope_sealer::{EnvelopeSealer, KeyHold};
use cqrs_es::{AggregateError, CqrsFramework};
use event_store::IntegrationEventStore;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::integration::{
    Integration, IntegrationCommand, IntegrationError, IntegrationServices, IntegrationStatus,
};
use switchboard_domain::{ChannelCatalog, ChannelKind, IntegrationId, SecretSealer, WorkspaceId};

/// How many times a command is re-decided after losing a race before the caller is told.
pub const DEFAULT_CONFLICT_RETRIES: u32 = 24;
/// Upper bound of the random pause before a retry, so racing writers spread out.
const CONFLICT_JITTER_MAX: Duration = Duration::from_millis(20);

/// Who asked and within which trace, recorded in every event's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandMetadata {
    /// The HTTP request id.
    pub request_id: Option<String>,
    /// The caller (API key name, `adapter:<channel>`, …).
    pub actor: Option<String>,
    /// W3C trace context of the request, carried on to Kafka by the outbox relay.
    pub traceparent: Option<String>,
}

impl CommandMetadata {
    pub(crate) fn into_map(self) -> HashMap<String, String> {
        [
            ("request_id", self.request_id),
            ("actor", self.actor),
            ("traceparent", self.traceparent),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| (key.to_owned(), v)))
        .collect()
    }
}

/// Why a command or a read did not complete.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The aggregate refused the command.
    #[error(transparent)]
    Rejected(#[from] IntegrationError),
    /// Concurrent commands kept winning the race.
    #[error("the integration kept changing concurrently ({0} attempts)")]
    Conflict(u32),
    /// PostgreSQL could not be reached or did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored events could not be read back.
    #[error("stored events are unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the same call may succeed later without change.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict(_) | Self::Unavailable(_))
    }
}

impl From<DataKeyError> for StoreError {
    fn from(error: DataKeyError) -> Self {
        match error {
            DataKeyError::Database(error) => error.into(),
            unwrap @ DataKeyError::Unwrap { .. } => Self::Corrupt(unwrap.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_connectivity(&error) {
            Self::Unavailable(error.to_string())
        } else {
            Self::Corrupt(error.to_string())
        }
    }
}

/// Whether a sqlx error means "the database is not reachable", as opposed to a bad query.
pub fn is_connectivity(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
    )
}

/// Commands and reads for integrations.
#[derive(Clone)]
pub struct IntegrationStore {
    cqrs: Arc<CqrsFramework<Integration, IntegrationEventStore>>,
    pool: PgPool,
    channels: Arc<dyn ChannelCatalog>,
    /// What seals the aggregate's secrets (and opens them for readers of this store).
    sealer: Arc<dyn SecretSealer>,
    /// The same sealer when it seals with per-owner data keys, which commands and readers
    /// hold around sealing and opening.
    envelope: Option<Arc<EnvelopeSealer>>,
    conflict_retries: u32,
    /// Commands committed through this store and its clones.
    commits: Arc<AtomicU64>,
    /// The token refresh locks on this store's database, shared by its clones: every refresher
    /// and send path of the process takes them here, so their cap on held connections is one.
    refresh_locks: crate::refresh::RefreshLocks,
}

impl IntegrationStore {
    /// A store on `pool` (migrated) with the aggregate's services.
    pub fn new(pool: PgPool, services: IntegrationServices) -> Self {
        let channels = services.channels.clone();
        let sealer = services.sealer.clone();
        let store = IntegrationEventStore::new(pool.clone(), channels.clone());
        let cqrs = Arc::new(CqrsFramework::new(store, vec![], services));
        Self {
            cqrs,
            refresh_locks: crate::refresh::RefreshLocks::new(pool.clone()),
            pool,
            channels,
            sealer,
            envelope: None,
            conflict_retries: DEFAULT_CONFLICT_RETRIES,
            commits: Arc::default(),
        }
    }

    /// A store whose integrations' secrets are sealed with their own data keys (`envelope`
    /// replaces `services.sealer`): each command that carries credentials holds its
    /// integration's key, and a Delete shreds it (see module `envelope_sealer`).
    pub fn with_data_keys(
        pool: PgPool,
        mut services: IntegrationServices,
        envelope: Arc<EnvelopeSealer>,
    ) -> Self {
        services.sealer = envelope.clone();
        Self {
            envelope: Some(envelope),
            ..Self::new(pool, services)
        }
    }

    /// The token refresh locks on this store's database, one set for the store and all its
    /// clones (so for the process, which builds one store).
    pub fn refresh_locks(&self) -> &crate::refresh::RefreshLocks {
        &self.refresh_locks
    }

    /// The sealer of this store's secrets: what opens the auth fields of what it loads (after
    /// [`IntegrationStore::hold_keys`]).
    pub fn sealer(&self) -> Arc<dyn SecretSealer> {
        self.sealer.clone()
    }

    /// Holds the data key of integration `id` for opening its auth fields, read afresh from
    /// the database (a key another process destroyed is not used); keep it only while
    /// opening. `None` when this store's sealer has no data keys.
    pub async fn hold_keys(&self, id: IntegrationId) -> Result<Option<KeyHold>, StoreError> {
        match &self.envelope {
            Some(envelope) => Ok(Some(envelope.hold_for_opening(&id.to_string()).await?)),
            None => Ok(None),
        }
    }

    /// Seals `secret` for `context` under integration `id`'s data key (made when it has none
    /// yet): for its secrets held outside its events, such as a pending OAuth outcome.
    pub async fn seal_for(
        &self,
        id: IntegrationId,
        secret: &switchboard_domain::SecretString,
        context: &str,
    ) -> Result<switchboard_domain::SealedSecret, StoreError> {
        let _key = match &self.envelope {
            Some(envelope) => Some(envelope.hold_for_sealing(&id.to_string()).await?),
            None => None,
        };
        self.sealer
            .seal(secret, context)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Opens what [`Self::seal_for`] sealed for integration `id` and `context`.
    pub async fn open_for(
        &self,
        id: IntegrationId,
        sealed: &switchboard_domain::SealedSecret,
        context: &str,
    ) -> Result<switchboard_domain::SecretString, StoreError> {
        let _key = self.hold_keys(id).await?;
        self.sealer
            .open(sealed, context)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The scalar auth fields of `integration` (integration `id`) as text, sealed ones opened
    /// under its data key, held only while opening (see
    /// [`crate::channels::opened_auth::open_auth_fields`]).
    pub async fn open_auth(
        &self,
        integration: &Integration,
        id: IntegrationId,
    ) -> Result<std::collections::BTreeMap<String, switchboard_domain::SecretString>, StoreError>
    {
        let _key = self.hold_keys(id).await?;
        Ok(crate::channels::opened_auth::open_auth_fields(
            integration,
            id,
            self.sealer.as_ref(),
        ))
    }

    /// The database the store reads and writes.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How many commands were committed through this store and its clones: a cache of what
    /// commands change compares it to notice that something may have.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    /// Counts a command another process committed (heard on the lifecycle topic), so the
    /// caches that compare [`IntegrationStore::commits`] read again.
    pub fn note_commit_elsewhere(&self) {
        self.commits.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether a connected integration of `channel` other than `except` records `value` in its
    /// plain auth field `field` (several numbers of one WhatsApp business account, say).
    pub async fn others_connected_with(
        &self,
        channel: &ChannelKind,
        field: &str,
        value: &str,
        except: IntegrationId,
    ) -> Result<bool, StoreError> {
        let found = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM integration_states
              WHERE channel = $1 AND status = 'connected' AND aggregate_id <> $2
                AND state->'auth'->$3->>'plain' = $4)",
        )
        .bind(channel.as_str())
        .bind(except.to_string())
        .bind(field)
        .bind(value)
        .fetch_one(&self.pool)
        .await?;
        Ok(found)
    }

    /// The live (created or connected) integration of `channel` that records `account` in its
    /// auth field `field` (the channel's `ChannelSpec::app_account`), read from the claims
    /// committed with the integrations' states, so a just-committed Connect is found.
    pub async fn account_owner(
        &self,
        channel: &ChannelKind,
        field: &str,
        account: &str,
    ) -> Result<Option<IntegrationId>, StoreError> {
        let Some(id) = accounts::owner(&self.pool, channel, field, account).await? else {
            return Ok(None);
        };
        id.parse()
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("integration id {id:?} is not a UUID")))
    }

    /// Runs a command, re-deciding it after a lost race up to the retry bound.
    pub async fn execute(
        &self,
        id: IntegrationId,
        command: IntegrationCommand,
        metadata: CommandMetadata,
    ) -> Result<(), StoreError> {
        let metadata = metadata.into_map();
        let aggregate_id = id.to_string();
        let name = command.name();
        let _key = match &self.envelope {
            Some(envelope) if carries_credentials(&command) => {
                Some(envelope.hold_for_sealing(&aggregate_id).await?)
            }
            _ => None,
        };
        for attempt in 1..=self.conflict_retries {
            let outcome = self
                .cqrs
                .execute_with_metadata(&aggregate_id, command.clone(), metadata.clone())
                .await;
            match outcome {
                Ok(()) => {
                    if let (IntegrationCommand::Delete { .. }, Some(envelope)) =
                        (&command, &self.envelope)
                    {
                        // The commit destroyed the data key (migration 0007's trigger).
                        envelope.forget(&aggregate_id);
                    }
                    self.commits.fetch_add(1, Ordering::SeqCst);
                    tracing::info!(integration_id = %id, command = name, attempt, "integration command committed");
                    return Ok(());
                }
                Err(AggregateError::AggregateConflict) => {
                    metrics::counter!("switchboard_aggregate_conflicts_total").increment(1);
                    tracing::debug!(attempt, integration_id = %id, "aggregate conflict, retrying");
                    let jitter = rand::random::<f64>() * CONFLICT_JITTER_MAX.as_secs_f64();
                    tokio::time::sleep(Duration::from_secs_f64(jitter)).await;
                }
                Err(error) => {
                    let error = classify(error);
                    tracing::info!(integration_id = %id, command = name, %error, "integration command refused");
                    return Err(error);
                }
            }
        }
        Err(StoreError::Conflict(self.conflict_retries))
    }

    /// The current state of one integration, `None` when it never existed.
    pub async fn load(&self, id: IntegrationId) -> Result<Option<Integration>, StoreError> {
        let Some(folded) = state::read_one(&self.pool, &id.to_string()).await? else {
            return Ok(None);
        };
        if folded.row_behind {
            state::backfill(
                &self.pool,
                std::slice::from_ref(&folded),
                self.channels.as_ref(),
            )
            .await;
        }
        Ok(Some(folded.state))
    }

    /// Writes the state row (and account claim) of every integration that has none yet, those
    /// created before migration 0004, so deliveries to a platform app's shared URL find them
    /// from the start. Run once at start-up; returns how many were written.
    pub async fn backfill_rowless(&self) -> Result<u64, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT c.aggregate_id FROM events c
              WHERE c.aggregate_type = $1 AND c.event_type = 'IntegrationCreated'
                AND NOT EXISTS (SELECT 1 FROM integration_states s
                                 WHERE s.aggregate_id = c.aggregate_id)",
        )
        .bind(<Integration as cqrs_es::Aggregate>::TYPE)
        .fetch_all(&self.pool)
        .await?;
        let mut written = 0;
        for id in &ids {
            if let Some(folded) = state::read_one(&self.pool, id).await? {
                written += state::backfill(
                    &self.pool,
                    std::slice::from_ref(&folded),
                    self.channels.as_ref(),
                )
                .await;
            }
        }
        if written > 0 {
            tracing::info!(written, "state rows written for integrations that had none");
        }
        Ok(written)
    }

    /// The live (not deleted) integrations of a workspace, optionally of one channel, oldest first.
    pub async fn list(
        &self,
        workspace: &WorkspaceId,
        channel: Option<&ChannelKind>,
    ) -> Result<Vec<Integration>, StoreError> {
        let folds = state::read_workspace(&self.pool, workspace, channel).await?;
        if folds.iter().any(|f| f.row_behind) {
            state::backfill(&self.pool, &folds, self.channels.as_ref()).await;
        }
        let mut integrations: Vec<Integration> = folds
            .into_iter()
            .map(|f| f.state)
            .filter(|i| i.status != IntegrationStatus::Deleted)
            .collect();
        integrations.sort_by_key(|i| (i.created_at, i.integration_id));
        Ok(integrations)
    }
}

/// Whether deciding `command` may seal secrets.
fn carries_credentials(command: &IntegrationCommand) -> bool {
    match command {
        IntegrationCommand::Create { auth, .. } | IntegrationCommand::Connect { auth, .. } => {
            auth.is_some()
        }
        IntegrationCommand::RefreshCredentials { .. } => true,
        IntegrationCommand::UpdateSettings { .. }
        | IntegrationCommand::Disconnect { .. }
        | IntegrationCommand::Delete { .. } => false,
    }
}

fn classify(error: AggregateError<IntegrationError>) -> StoreError {
    match error {
        AggregateError::UserError(rejected) => StoreError::Rejected(rejected),
        AggregateError::AggregateConflict => StoreError::Conflict(1),
        AggregateError::DatabaseConnectionError(e) => StoreError::Unavailable(e.to_string()),
        AggregateError::DeserializationError(e) => StoreError::Corrupt(e.to_string()),
        AggregateError::UnexpectedError(e) => match e.downcast_ref::<sqlx::Error>() {
            Some(sql) if is_connectivity(sql) => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Corrupt(e.to_string()),
        },
    }
}
