//! The refresh lock on a real PostgreSQL: exclusive across connections (as across processes),
//! released explicitly or by the end of its session, and the same lock the send path takes.

use crate::channels::platform_credentials::PlatformCredentials;
use crate::channels::ChannelRegistry;
use crate::outbound::targets::{SendTargets, StoreSendTargets};
use crate::refresh::RefreshLocks;
use crate::store::integrations::test_db::{sealer, services, TestDb};
use crate::store::IntegrationStore;
use std::sync::Arc;
use switchboard_domain::IntegrationId;

/// Two lockers on separate pools behave as two processes would.
async fn second_pool(db: &TestDb) -> sqlx::PgPool {
    let options = db.pool.connect_options();
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with((*options).clone())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_held_lock_is_refused_elsewhere_until_released() {
    let db = TestDb::new().await;
    let other_pool = second_pool(&db).await;
    let here = RefreshLocks::new(db.pool.clone());
    let elsewhere = RefreshLocks::new(other_pool.clone());
    let id = IntegrationId::new();
    let other_id = IntegrationId::new();

    let held = here.try_lock(id).await.unwrap().expect("free at first");
    assert!(elsewhere.try_lock(id).await.unwrap().is_none());
    let other = elsewhere.try_lock(other_id).await.unwrap();
    assert!(other.is_some(), "another integration's lock is independent");
    other.unwrap().release().await;

    held.release().await;
    let taken = elsewhere
        .try_lock(id)
        .await
        .unwrap()
        .expect("free after release");
    assert!(here.try_lock(id).await.unwrap().is_none());
    // Dropped unreleased (a cancelled task): its session ends, and so does the lock.
    drop(taken);
    let again = here.lock(id).await.expect("free once its session ended");
    again.release().await;
    other_pool.close().await;
    db.drop_database().await;
}

#[tokio::test]
async fn the_send_path_takes_the_refreshers_lock() {
    let db = TestDb::new().await;
    let store = IntegrationStore::new(db.pool.clone(), services(sealer()));
    let targets = StoreSendTargets::new(
        store,
        PlatformCredentials::default(),
        Arc::new(ChannelRegistry::builtin()),
    );
    let id = IntegrationId::new();
    let lock = targets
        .refresh_lock(id)
        .await
        .unwrap()
        .expect("a real lock");
    let refresher = RefreshLocks::new(second_pool(&db).await);
    assert!(refresher.try_lock(id).await.unwrap().is_none());
    lock.release().await;
    let taken = refresher.try_lock(id).await.unwrap();
    assert!(taken.is_some());
    taken.unwrap().release().await;
    db.drop_database().await;
}

/// A pool of `size` connections to `db`.
async fn pool_of(db: &TestDb, size: u32) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(size)
        .connect_with((*db.pool.connect_options()).clone())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_cap_on_held_locks_is_one_for_every_user_of_the_store() {
    let db = TestDb::new().await;
    // Half of four connections: two locks at once, whoever takes them.
    let store = IntegrationStore::new(pool_of(&db, 4).await, services(sealer()));
    let registry = Arc::new(ChannelRegistry::builtin());
    let sender_side = StoreSendTargets::new(
        store.clone(),
        PlatformCredentials::default(),
        registry.clone(),
    );
    let refresher_side =
        StoreSendTargets::new(store.clone(), PlatformCredentials::default(), registry);
    let first = sender_side
        .refresh_lock(IntegrationId::new())
        .await
        .unwrap()
        .unwrap();
    let second = store
        .refresh_locks()
        .try_lock(IntegrationId::new())
        .await
        .unwrap()
        .unwrap();
    let third = refresher_side.refresh_lock(IntegrationId::new());
    tokio::pin!(third);
    let waited = tokio::time::timeout(std::time::Duration::from_millis(300), &mut third).await;
    assert!(
        waited.is_err(),
        "a third lock was taken past the store's cap of two"
    );
    first.release().await;
    let third = tokio::time::timeout(std::time::Duration::from_secs(5), third)
        .await
        .expect("taken once a slot is free")
        .unwrap()
        .unwrap();
    second.release().await;
    third.release().await;
    db.drop_database().await;
}
