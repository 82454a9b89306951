//! Test scaffolding: a fresh, migrated PostgreSQL database per test, and the aggregate's
//! production services. The server is `SWITCHBOARD_TEST_DATABASE_URL` (an admin connection),
//! by default the local one.

use crate::channels::ChannelRegistry;
use crate::store::{migrate, XChaChaSealer};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard_domain::integration::services::SystemClock;
use switchboard_domain::integration::IntegrationServices;
use switchboard_domain::SecretSealer;
use tokio::sync::OnceCell;

/// Databases of this prefix are this module's; ones older than this are leftovers of runs
/// that did not finish, dropped by the next run.
const PREFIX: &str = "sb_adapters_test_";
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

fn admin_url() -> String {
    std::env::var("SWITCHBOARD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A database of its own for one test.
pub(crate) struct TestDb {
    /// Connected to it, migrated.
    pub pool: PgPool,
    name: String,
}

impl TestDb {
    /// Creates and migrates a database.
    pub async fn new() -> Self {
        static CLEANED: OnceCell<()> = OnceCell::const_new();
        let admin = PgPool::connect(&admin_url())
            .await
            .expect("test PostgreSQL is reachable");
        CLEANED
            .get_or_init(|| async {
                let names: Vec<String> =
                    sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
                        .bind(format!("{PREFIX}%"))
                        .fetch_all(&admin)
                        .await
                        .unwrap_or_default();
                let cutoff = now_secs().saturating_sub(LEFTOVER_AGE.as_secs());
                for name in names {
                    let created = name[PREFIX.len()..]
                        .split('_')
                        .next()
                        .and_then(|s| s.parse::<u64>().ok());
                    if created.is_some_and(|at| at < cutoff) {
                        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                            .execute(&admin)
                            .await;
                    }
                }
            })
            .await;
        let name = format!("{PREFIX}{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&admin)
            .await
            .expect("test database created");
        admin.close().await;
        let base = admin_url();
        let prefix = base.rsplit_once('/').map_or(base.as_str(), |(p, _)| p);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect(&format!("{prefix}/{name}"))
            .await
            .expect("test database reachable");
        migrate(&pool).await.expect("migrations apply");
        Self { pool, name }
    }

    /// Closes the pool and drops the database (a test that panics leaves it to a later run).
    pub async fn drop_database(self) {
        self.pool.close().await;
        if let Ok(admin) = PgPool::connect(&admin_url()).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{}\"", self.name))
                .execute(&admin)
                .await;
            admin.close().await;
        }
    }
}

/// A sealer with a fresh key.
pub(crate) fn sealer() -> Arc<dyn SecretSealer> {
    Arc::new(XChaChaSealer::from_config(&XChaChaSealer::generate_entry("t")).expect("test key"))
}

/// The aggregate's services as production wires them, sealing with `sealer`.
pub(crate) fn services(sealer: Arc<dyn SecretSealer>) -> IntegrationServices {
    IntegrationServices {
        channels: Arc::new(ChannelRegistry::builtin()),
        sealer,
        clock: Arc::new(SystemClock),
    }
}
