//! The `PlatformApp` aggregate on PostgreSQL: each channel's platform credentials, as events in
//! postgres-es's `events` table (so they reach Kafka through the outbox like every event), and
//! the process's [`LivePlatformCredentials`] kept equal to what is stored.
//!
//! Every command of this store puts what it committed in force in this process at once;
//! [`PlatformAppStore::reload`] does so for what other processes committed (`serve` runs it
//! periodically). A channel's credentials serve webhook checks and senders whatever their
//! status; integrations of the channel are created and connected only once they are verified
//! ([`PlatformCredentials::is_verified`]).

use crate::channels::platform_credentials::{LivePlatformCredentials, PlatformCredentials};
use crate::store::envelope_sealer::EnvelopeSealer;
use crate::store::integrations::{is_connectivity, CommandMetadata};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, CqrsFramework, EventStore};
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_domain::integration::IntegrationServices;
use switchboard_domain::platform::{
    seal_owner, PlatformApp, PlatformCommand, PlatformError, PlatformStatus,
};
use switchboard_domain::{ChannelKind, SecretSealer, SecretString};

type Store = PersistedEventStore<PostgresEventRepository, PlatformApp>;

/// How many times a command is re-decided after losing a race.
const CONFLICT_RETRIES: u32 = 5;

/// Why a command or a read on platform credentials did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PlatformStoreError {
    /// The aggregate refused the command.
    #[error(transparent)]
    Rejected(#[from] PlatformError),
    /// Concurrent commands kept winning the race.
    #[error("the platform credentials kept changing concurrently")]
    Conflict,
    /// PostgreSQL could not be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored events could not be read back.
    #[error("stored events are unreadable: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for PlatformStoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_connectivity(&error) {
            Self::Unavailable(error.to_string())
        } else {
            Self::Corrupt(error.to_string())
        }
    }
}

impl From<crate::store::DataKeyError> for PlatformStoreError {
    fn from(error: crate::store::DataKeyError) -> Self {
        match error {
            crate::store::DataKeyError::Database(error) => error.into(),
            other => Self::Corrupt(other.to_string()),
        }
    }
}

/// Commands and reads of platform credentials.
#[derive(Clone)]
pub struct PlatformAppStore {
    cqrs: Arc<CqrsFramework<PlatformApp, Store>>,
    events: Arc<Store>,
    pool: PgPool,
    sealer: Arc<dyn SecretSealer>,
    envelope: Option<Arc<EnvelopeSealer>>,
    live: LivePlatformCredentials,
}

impl PlatformAppStore {
    /// A store on `pool` (migrated), sealing with `services.sealer` (held through `envelope`
    /// when it seals with data keys), keeping `live` up to date.
    pub fn new(
        pool: PgPool,
        services: IntegrationServices,
        envelope: Option<Arc<EnvelopeSealer>>,
        live: LivePlatformCredentials,
    ) -> Self {
        let sealer = services.sealer.clone();
        let events =
            || PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone()));
        Self {
            cqrs: Arc::new(CqrsFramework::new(events(), vec![], services)),
            events: Arc::new(events()),
            pool,
            sealer,
            envelope,
            live,
        }
    }

    /// The credentials in force in this process.
    pub fn live(&self) -> &LivePlatformCredentials {
        &self.live
    }

    /// Runs a command on `channel`'s credentials, then puts the result in force here.
    pub async fn execute(
        &self,
        channel: &ChannelKind,
        command: PlatformCommand,
        metadata: CommandMetadata,
    ) -> Result<(), PlatformStoreError> {
        let _key = match &self.envelope {
            Some(envelope) => Some(envelope.hold_for_sealing(&seal_owner(channel)).await?),
            None => None,
        };
        let name = command.name();
        let metadata = metadata.into_map();
        for _ in 0..CONFLICT_RETRIES {
            let outcome = self
                .cqrs
                .execute_with_metadata(channel.as_str(), command.clone(), metadata.clone())
                .await;
            match outcome {
                Ok(()) => {
                    tracing::info!(%channel, command = name, "platform credentials command committed");
                    drop(_key);
                    // Committed either way: a failed reload is caught up by the periodic one.
                    if let Err(error) = self.reload().await {
                        tracing::warn!(%channel, %error, "platform credentials committed, not yet reloaded");
                    }
                    return Ok(());
                }
                Err(AggregateError::AggregateConflict) => continue,
                Err(error) => return Err(classify(error)),
            }
        }
        Err(PlatformStoreError::Conflict)
    }

    /// The credentials of `channel` as stored (status `Absent` when there are none).
    pub async fn load(&self, channel: &ChannelKind) -> Result<PlatformApp, PlatformStoreError> {
        let mut context = self
            .events
            .load_aggregate(channel.as_str())
            .await
            .map_err(classify)?;
        Ok(cqrs_es::AggregateContext::aggregate(&mut context).clone())
    }

    /// The credentials of `channel` as stored, and their fields opened (for checking them).
    pub async fn load_opened(
        &self,
        channel: &ChannelKind,
    ) -> Result<(PlatformApp, BTreeMap<String, SecretString>), PlatformStoreError> {
        let app = self.load(channel).await?;
        let opened = self.open_fields(channel, &app).await?;
        Ok((app, opened))
    }

    /// The fields of `app`, opened; one that does not open is left out and logged by name.
    async fn open_fields(
        &self,
        channel: &ChannelKind,
        app: &PlatformApp,
    ) -> Result<BTreeMap<String, SecretString>, PlatformStoreError> {
        let owner = seal_owner(channel);
        let _key = match &self.envelope {
            Some(envelope) => Some(envelope.hold_for_opening(&owner).await?),
            None => None,
        };
        let mut opened = BTreeMap::new();
        for name in app.fields.0.keys() {
            match app.fields.open(name, self.sealer.as_ref(), &owner) {
                Some(Ok(value)) => {
                    opened.insert(name.clone(), value);
                }
                Some(Err(error)) => {
                    tracing::error!(%channel, field = %name, %error, "cannot open a platform credential")
                }
                None => {}
            }
        }
        Ok(opened)
    }

    /// Every channel's stored credentials (deleted ones left out), by channel.
    pub async fn list(&self) -> Result<Vec<PlatformApp>, PlatformStoreError> {
        let channels: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = $1 ORDER BY 1",
        )
        .bind(<PlatformApp as cqrs_es::Aggregate>::TYPE)
        .fetch_all(&self.pool)
        .await?;
        let mut apps = Vec::new();
        for channel in channels.iter().filter_map(|c| ChannelKind::parse(c)) {
            let app = self.load(&channel).await?;
            if app.status != PlatformStatus::Absent {
                apps.push(app);
            }
        }
        Ok(apps)
    }

    /// Puts what is stored in force in this process: every channel's fields, opened.
    pub async fn reload(&self) -> Result<(), PlatformStoreError> {
        let mut credentials = PlatformCredentials::default();
        for app in self.list().await? {
            let Some(channel) = app.channel.clone() else {
                continue;
            };
            for (name, value) in self.open_fields(&channel, &app).await? {
                credentials.insert(channel.clone(), &name, value);
            }
            if app.status == PlatformStatus::Verified {
                credentials.mark_verified(channel);
            }
        }
        self.live.replace(credentials);
        Ok(())
    }
}

fn classify(error: AggregateError<PlatformError>) -> PlatformStoreError {
    match error {
        AggregateError::UserError(rejected) => PlatformStoreError::Rejected(rejected),
        AggregateError::AggregateConflict => PlatformStoreError::Conflict,
        AggregateError::DatabaseConnectionError(e) => {
            PlatformStoreError::Unavailable(e.to_string())
        }
        AggregateError::DeserializationError(e) => PlatformStoreError::Corrupt(e.to_string()),
        AggregateError::UnexpectedError(e) => match e.downcast_ref::<sqlx::Error>() {
            Some(sql) if is_connectivity(sql) => PlatformStoreError::Unavailable(e.to_string()),
            _ => PlatformStoreError::Corrupt(e.to_string()),
        },
    }
}
