//! The connection pool and the schema migrations in `migrations/`.

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;

/// How long a request waits for a connection before it is told the database is unavailable.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A pool that connects on first use, so the service starts (and reports not-ready) while the
/// database is down, instead of refusing to start.
pub fn connect_lazy(database_url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy(database_url)
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../migrations").run(pool).await
}
