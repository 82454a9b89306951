//! The contract of a read model: its name and version, the topics it reads, its tables, and
//! how a batch of records changes them.

use async_trait::async_trait;
use sqlx::PgConnection;
use switchboard_adapters::kafka::{ConsumedRecord, Topics};

/// Why a batch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// PostgreSQL failed; the batch is retried.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Kafka failed; the batch is retried.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The live schema is older than this build's projection: it must be rebuilt.
    #[error("projection {name} is at version {live}, this build needs {wanted}: run `switchboard replay {name}`")]
    Outdated {
        /// The projection.
        name: &'static str,
        /// Version of the live tables.
        live: i32,
        /// Version this build writes.
        wanted: i32,
    },
}

/// A read model built from events.
///
/// Its tables live in a PostgreSQL schema of its own (named after it); [`Projection::ddl`]
/// and [`Projection::apply`] run with that schema first on the `search_path`, so they use
/// unqualified table names and the same code builds the live tables and a rebuild's.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Its name: the schema of its live tables, its consumer group, the `replay` argument.
    fn name(&self) -> &'static str;

    /// The version of its tables; a change ships as a new version, rebuilt by replay.
    fn version(&self) -> i32;

    /// The topics it reads.
    fn topics(&self, topics: &Topics) -> Vec<String>;

    /// Creates its tables (unqualified names).
    fn ddl(&self) -> &'static str;

    /// Creates the indexes only its readers use (`IF NOT EXISTS`; none of its own writes
    /// looks rows up by them). Live tables get them with [`Projection::ddl`]; a rebuild
    /// creates them once it has caught up, instead of maintaining them row by row while it
    /// replays history.
    fn read_indexes_ddl(&self) -> &'static str {
        ""
    }

    /// Applies records (in offset order per partition, already de-duplicated by offset) in
    /// the caller's transaction. Applying the same event id twice must change nothing.
    async fn apply(
        &self,
        tx: &mut PgConnection,
        topics: &Topics,
        records: &[ConsumedRecord],
    ) -> Result<(), ProjectionError>;
}
