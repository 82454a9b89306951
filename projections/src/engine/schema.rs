//! A projection's schema: created with its tables, its offsets table and its version; read
//! back to tell whether the live tables are what this build writes.

use crate::engine::projection::{Projection, ProjectionError};
use sqlx::Executor;
use sqlx::PgPool;

/// What the live schema of a projection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// It did not exist and was created empty now.
    Created,
    /// It exists at this build's version.
    Current,
}

/// The tables every projection schema has beside its own.
const ENGINE_DDL: &str = "
CREATE TABLE IF NOT EXISTS projection_offsets (
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS projection_rejects (
    topic       text        NOT NULL,
    partition   int         NOT NULL,
    \"offset\"    bigint      NOT NULL,
    event_id    text,
    error       text        NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, \"offset\")
);
CREATE TABLE IF NOT EXISTS projection_meta (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    int         NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);";

/// Which indexes a new schema gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexes {
    /// All of them: live tables.
    All,
    /// Only those the projection's writes use: a rebuild, which adds the others with
    /// [`create_read_indexes`] once it has caught up.
    WritesOnly,
}

/// Creates schema `schema` with the projection's tables at its version; a schema that already
/// has them (a live one, or a rebuild being resumed) is left as it is.
pub fn create_schema<'a>(
    pool: &'a PgPool,
    projection: &'a dyn Projection,
    schema: &'a str,
    indexes: Indexes,
) -> futures::future::BoxFuture<'a, Result<(), ProjectionError>> {
    Box::pin(create_schema_inner(pool, projection, schema, indexes))
}

async fn create_schema_inner(
    pool: &PgPool,
    projection: &dyn Projection,
    schema: &str,
    indexes: Indexes,
) -> Result<(), ProjectionError> {
    if live_version(pool, schema).await?.is_some() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    lock_schema(&mut tx, schema).await?;
    // Another process may have created it while this one waited for the lock.
    let created: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                        WHERE table_schema = $1 AND table_name = 'projection_meta')",
    )
    .bind(schema)
    .fetch_one(&mut *tx)
    .await?;
    if created {
        return Ok(());
    }
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("SET LOCAL search_path TO \"{schema}\""))
        .execute(&mut *tx)
        .await?;
    (&mut *tx).execute(ENGINE_DDL).await?;
    (&mut *tx).execute(projection.ddl()).await?;
    if indexes == Indexes::All && !projection.read_indexes_ddl().is_empty() {
        (&mut *tx).execute(projection.read_indexes_ddl()).await?;
    }
    sqlx::query("INSERT INTO projection_meta (version) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(projection.version())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates the projection's read indexes in `schema` (those it lacks).
pub async fn create_read_indexes(
    pool: &PgPool,
    projection: &dyn Projection,
    schema: &str,
) -> Result<(), ProjectionError> {
    if projection.read_indexes_ddl().is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    lock_schema(&mut tx, schema).await?;
    sqlx::query(&format!("SET LOCAL search_path TO \"{schema}\""))
        .execute(&mut *tx)
        .await?;
    (&mut *tx).execute(projection.read_indexes_ddl()).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds the engine's tables a schema made by an older build lacks (they are all
/// `IF NOT EXISTS`, so this changes nothing on a current schema).
async fn ensure_engine_tables(pool: &PgPool, schema: &str) -> Result<(), ProjectionError> {
    let mut tx = pool.begin().await?;
    lock_schema(&mut tx, schema).await?;
    sqlx::query(&format!("SET LOCAL search_path TO \"{schema}\""))
        .execute(&mut *tx)
        .await?;
    (&mut *tx).execute(ENGINE_DDL).await?;
    tx.commit().await?;
    Ok(())
}

/// Serialises DDL on `schema` across processes until the transaction ends: PostgreSQL's
/// `CREATE … IF NOT EXISTS` is not safe against a concurrent creation (two replicas starting at
/// once failed on `pg_namespace_nspname_index`).
async fn lock_schema(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    schema: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('switchboard-projection-schema:' || $1))")
        .bind(schema)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The version of the live tables, `None` when there are none.
pub async fn live_version(pool: &PgPool, schema: &str) -> Result<Option<i32>, ProjectionError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                        WHERE table_schema = $1 AND table_name = 'projection_meta')",
    )
    .bind(schema)
    .fetch_one(pool)
    .await?;
    if !exists {
        return Ok(None);
    }
    let version = sqlx::query_scalar(&format!("SELECT version FROM \"{schema}\".projection_meta"))
        .fetch_optional(pool)
        .await?;
    Ok(version)
}

/// Makes sure the live tables exist at this build's version: creates them when absent,
/// refuses ([`ProjectionError::Outdated`]) when they are older, so a rebuild is run instead.
pub async fn ensure_live_schema(
    pool: &PgPool,
    projection: &dyn Projection,
) -> Result<SchemaState, ProjectionError> {
    match live_version(pool, projection.name()).await? {
        None => {
            create_schema(pool, projection, projection.name(), Indexes::All).await?;
            Ok(SchemaState::Created)
        }
        Some(live) if live == projection.version() => {
            ensure_engine_tables(pool, projection.name()).await?;
            Ok(SchemaState::Current)
        }
        Some(live) => Err(ProjectionError::Outdated {
            name: projection.name(),
            live,
            wanted: projection.version(),
        }),
    }
}

/// Vacuums and analyzes every table of `schema`: a rebuild updates each conversation row many
/// times, and a table swapped in with its dead rows and no statistics would serve its first
/// queries from bitmap scans over them (seen: 13 ms instead of 0.03 ms for a page) until
/// autovacuum came round.
pub async fn vacuum_analyze(pool: &PgPool, schema: &str) -> Result<(), sqlx::Error> {
    maintain(pool, schema, "VACUUM (ANALYZE)").await
}

/// Refreshes the planner's statistics of every table of `schema`. A rebuild fills fresh
/// tables faster than autovacuum samples them, and without statistics the conversation upsert
/// was planned 4x slower (750 ms instead of 180 ms a batch) until autovacuum's first analyze.
pub async fn analyze(pool: &PgPool, schema: &str) -> Result<(), sqlx::Error> {
    maintain(pool, schema, "ANALYZE").await
}

async fn maintain(pool: &PgPool, schema: &str, command: &str) -> Result<(), sqlx::Error> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename FROM pg_tables WHERE schemaname = $1")
            .bind(schema)
            .fetch_all(pool)
            .await?;
    for table in tables {
        // Neither may run in a transaction block: a plain statement on a pooled connection.
        pool.execute(format!("{command} \"{schema}\".\"{table}\"").as_str())
            .await?;
    }
    Ok(())
}
