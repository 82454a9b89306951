//! The state row against the events it folds, on a real PostgreSQL (see `test_db`).

use super::event_store::IntegrationEventStore;
use super::test_db::{sealer, services, TestDb};
use super::*;
use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, AggregateContext, EventStore};
use sqlx::Row;
use std::collections::BTreeMap;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::IntegrationEvent;

fn store(db: &TestDb) -> IntegrationStore {
    IntegrationStore::new(db.pool.clone(), services(sealer()))
}

/// The code before the state table: events only.
fn events_only(db: &TestDb) -> postgres_es::PostgresCqrs<Integration> {
    postgres_es::postgres_cqrs(db.pool.clone(), vec![], services(sealer()))
}

fn telegram() -> ChannelKind {
    ChannelKind::parse("telegram").unwrap()
}

fn create(id: IntegrationId, workspace: &str, channel: ChannelKind) -> IntegrationCommand {
    IntegrationCommand::Create {
        integration_id: id,
        workspace_id: workspace.parse().unwrap(),
        channel,
        name: "support bot".into(),
        auth: None,
    }
}

fn connect() -> IntegrationCommand {
    IntegrationCommand::Connect {
        auth: Some(AuthInput(BTreeMap::from([
            ("bot_token".into(), "123:abc".into()),
            ("webhook_secret".into(), "s3cret".into()),
        ]))),
        account: None,
        account_verified: false,
    }
}

fn rename(name: &str) -> IntegrationCommand {
    IntegrationCommand::UpdateSettings {
        name: Some(name.into()),
        settings: None,
    }
}

/// Every event of `id`, folded from nothing, and the sequence of the last one.
async fn fold_of_events(pool: &PgPool, id: IntegrationId) -> (Integration, i64) {
    let rows = sqlx::query(
        "SELECT sequence, payload::text AS payload FROM events
          WHERE aggregate_type = 'Integration' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(pool)
    .await
    .unwrap();
    let mut state = Integration::default();
    let mut last = 0;
    for (expected, row) in (1..).zip(rows) {
        let sequence: i64 = row.get("sequence");
        assert_eq!(sequence, expected, "sequences are contiguous from 1");
        let event: IntegrationEvent = serde_json::from_str(row.get("payload")).unwrap();
        state.apply(event);
        last = sequence;
    }
    (state, last)
}

/// The state row of `id`, if any: its `last_sequence` and the state it holds.
async fn row_of(pool: &PgPool, id: IntegrationId) -> Option<(i64, Integration)> {
    let row = sqlx::query(
        "SELECT last_sequence, workspace_id, channel, status, created_at, state::text AS state
           FROM integration_states WHERE aggregate_id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(pool)
    .await
    .unwrap()?;
    let state: Integration = serde_json::from_str(row.get("state")).unwrap();
    // The plain columns are copies of the state's fields.
    let workspace: String = row.get("workspace_id");
    let channel: String = row.get("channel");
    let status: String = row.get("status");
    let created_at: DateTime<Utc> = row.get("created_at");
    assert_eq!(
        Some(workspace.as_str()),
        state.workspace_id.as_ref().map(|w| w.as_str())
    );
    assert_eq!(
        Some(channel.as_str()),
        state.channel.as_ref().map(|c| c.as_str())
    );
    assert_eq!(
        serde_json::Value::String(status),
        serde_json::to_value(state.status).unwrap()
    );
    // (to the microsecond, PostgreSQL's precision)
    assert_eq!(
        Some(created_at.timestamp_micros()),
        state.created_at.map(|at| at.timestamp_micros())
    );
    Some((row.get("last_sequence"), state))
}

/// The row exists and is exactly the fold of the events.
async fn assert_row_is_fold(pool: &PgPool, id: IntegrationId) -> Integration {
    let (fold, last) = fold_of_events(pool, id).await;
    let (row_sequence, row_state) = row_of(pool, id).await.expect("a state row");
    assert_eq!(row_sequence, last, "the row folds every event");
    assert_eq!(row_state, fold, "the row is the fold of the events");
    assert_eq!(fold.version, last as u64, "each event applied once");
    fold
}

async fn row_count(pool: &PgPool, id: IntegrationId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM integration_states WHERE aggregate_id = $1")
        .bind(id.to_string())
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_row_is_the_fold_of_the_events_after_every_command() {
    let db = TestDb::new().await;
    let store = store(&db);
    let id = IntegrationId::new();
    let commands = [
        create(id, "acme", telegram()),
        connect(),
        rename("renamed"),
        IntegrationCommand::RefreshCredentials {
            auth: AuthInput(BTreeMap::from([("bot_token".into(), "456:def".into())])),
        },
        IntegrationCommand::Disconnect {
            reason: "operator".into(),
            platform_outcome: None,
        },
        // Already disconnected: no event, nothing to write.
        IntegrationCommand::Disconnect {
            reason: "again".into(),
            platform_outcome: None,
        },
        IntegrationCommand::Delete {
            platform_outcome: None,
        },
    ];
    for command in commands {
        store
            .execute(id, command, CommandMetadata::default())
            .await
            .unwrap();
        let fold = assert_row_is_fold(&db.pool, id).await;
        assert_eq!(store.load(id).await.unwrap(), Some(fold));
    }
    let (last, state) = row_of(&db.pool, id).await.unwrap();
    assert_eq!(last, 6);
    assert_eq!(state.status, IntegrationStatus::Deleted);
    assert_eq!(state.name, "renamed");
    // Every event still reached the outbox (the trigger on `events`).
    let outboxed: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE aggregate_id = $1")
        .bind(id.to_string())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(outboxed, 6);
    assert_eq!(store.load(IntegrationId::new()).await.unwrap(), None);
    db.drop_database().await;
}

#[tokio::test]
async fn a_rejected_command_writes_neither_events_nor_the_row() {
    let db = TestDb::new().await;
    let store = store(&db);
    let id = IntegrationId::new();
    let refused = store
        .execute(id, connect(), CommandMetadata::default())
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        StoreError::Rejected(IntegrationError::NotFound)
    ));
    assert_eq!(row_count(&db.pool, id).await, 0);
    store
        .execute(
            id,
            create(id, "acme", telegram()),
            CommandMetadata::default(),
        )
        .await
        .unwrap();
    let again = store
        .execute(
            id,
            create(id, "acme", telegram()),
            CommandMetadata::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        again,
        StoreError::Rejected(IntegrationError::AlreadyExists)
    ));
    assert_row_is_fold(&db.pool, id).await;
    db.drop_database().await;
}

#[tokio::test]
async fn racing_commands_keep_the_row_equal_to_the_fold() {
    let db = TestDb::new().await;
    let store = store(&db);
    let id = IntegrationId::new();
    store
        .execute(
            id,
            create(id, "acme", telegram()),
            CommandMetadata::default(),
        )
        .await
        .unwrap();
    let racers = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .execute(id, rename(&format!("name {i}")), CommandMetadata::default())
                .await
        })
    });
    for outcome in futures::future::join_all(racers).await {
        outcome.unwrap().unwrap();
    }
    let fold = assert_row_is_fold(&db.pool, id).await;
    assert_eq!(fold.version, 17, "no command lost, none applied twice");
    db.drop_database().await;
}

#[tokio::test]
async fn the_loser_of_a_race_commits_nothing() {
    let db = TestDb::new().await;
    let store = store(&db);
    let id = IntegrationId::new();
    store
        .execute(
            id,
            create(id, "acme", telegram()),
            CommandMetadata::default(),
        )
        .await
        .unwrap();
    // Two writers load the same state, both decide, both commit: the second must lose whole.
    let events = IntegrationEventStore::new(db.pool.clone(), services(sealer()).channels);
    let aggregate_id = id.to_string();
    let mut first = events.load_aggregate(&aggregate_id).await.unwrap();
    let mut second = events.load_aggregate(&aggregate_id).await.unwrap();
    let renamed = |context: &mut event_store::IntegrationContext, name: &str| {
        let state = context.aggregate();
        IntegrationEvent::SettingsUpdated {
            integration_id: id,
            workspace_id: state.workspace_id.clone().unwrap(),
            name: Some(name.into()),
            settings: None,
            at: Utc::now(),
        }
    };
    let won = renamed(&mut first, "first");
    let lost = renamed(&mut second, "second");
    events
        .commit(vec![won], first, HashMap::new())
        .await
        .unwrap();
    let conflict = events
        .commit(vec![lost], second, HashMap::new())
        .await
        .unwrap_err();
    assert!(matches!(conflict, AggregateError::AggregateConflict));
    let fold = assert_row_is_fold(&db.pool, id).await;
    assert_eq!((fold.name.as_str(), fold.version), ("first", 2));
    db.drop_database().await;
}

#[tokio::test]
async fn a_row_already_ahead_refuses_the_write_and_its_events() {
    let db = TestDb::new().await;
    let store = store(&db);
    let id = IntegrationId::new();
    store
        .execute(
            id,
            create(id, "acme", telegram()),
            CommandMetadata::default(),
        )
        .await
        .unwrap();
    let events = IntegrationEventStore::new(db.pool.clone(), services(sealer()).channels);
    let context = events.load_aggregate(&id.to_string()).await.unwrap();
    // Something wrote the row past the events (never done by this code): the guard refuses,
    // and the event appended in the same transaction is rolled back with it.
    sqlx::query("UPDATE integration_states SET last_sequence = 5 WHERE aggregate_id = $1")
        .bind(id.to_string())
        .execute(&db.pool)
        .await
        .unwrap();
    let event = IntegrationEvent::IntegrationDeleted {
        integration_id: id,
        workspace_id: "acme".parse().unwrap(),
        platform_outcome: None,
        at: Utc::now(),
    };
    let refused = events
        .commit(vec![event], context, HashMap::new())
        .await
        .unwrap_err();
    assert!(matches!(refused, AggregateError::AggregateConflict));
    assert_eq!(
        fold_of_events(&db.pool, id).await.1,
        1,
        "the event was rolled back"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn an_integration_without_a_row_is_read_by_folding_and_its_row_written_back() {
    let db = TestDb::new().await;
    let old = events_only(&db);
    let store = store(&db);
    let (read, listed, commanded) = (
        IntegrationId::new(),
        IntegrationId::new(),
        IntegrationId::new(),
    );
    for id in [read, listed, commanded] {
        old.execute(&id.to_string(), create(id, "legacy", telegram()))
            .await
            .unwrap();
        old.execute(&id.to_string(), connect()).await.unwrap();
        assert_eq!(row_count(&db.pool, id).await, 0, "written before the table");
    }

    // Read one: the fold, and the row written back.
    let (fold, _) = fold_of_events(&db.pool, read).await;
    assert_eq!(fold.status, IntegrationStatus::Connected);
    assert_eq!(store.load(read).await.unwrap(), Some(fold));
    assert_row_is_fold(&db.pool, read).await;

    // List: all three, whether or not they have a row; now each has one.
    let all = store.list(&"legacy".parse().unwrap(), None).await.unwrap();
    let ids: Vec<_> = all.iter().map(|i| i.integration_id.unwrap()).collect();
    assert_eq!(ids, [read, listed, commanded]);
    for (id, listed) in [read, listed, commanded].into_iter().zip(&all) {
        assert_eq!(listed, &assert_row_is_fold(&db.pool, id).await);
    }

    // A command on one without a row (deleted to look old again) folds it and writes the row.
    sqlx::query("DELETE FROM integration_states WHERE aggregate_id = $1")
        .bind(commanded.to_string())
        .execute(&db.pool)
        .await
        .unwrap();
    store
        .execute(commanded, rename("new name"), CommandMetadata::default())
        .await
        .unwrap();
    let fold = assert_row_is_fold(&db.pool, commanded).await;
    assert_eq!((fold.name.as_str(), fold.version), ("new name", 3));
    db.drop_database().await;
}

#[tokio::test]
async fn events_appended_after_the_row_are_applied_on_top() {
    let db = TestDb::new().await;
    let store = store(&db);
    let old = events_only(&db);
    let id = IntegrationId::new();
    store
        .execute(
            id,
            create(id, "acme", telegram()),
            CommandMetadata::default(),
        )
        .await
        .unwrap();
    // An older instance (rolling deploy) appends events without touching the row.
    old.execute(&id.to_string(), connect()).await.unwrap();
    old.execute(
        &id.to_string(),
        IntegrationCommand::Delete {
            platform_outcome: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(row_of(&db.pool, id).await.unwrap().0, 1, "the row lags");
    let listed = store.list(&"acme".parse().unwrap(), None).await.unwrap();
    assert!(listed.is_empty(), "deleted by an event after the row");
    let loaded = store.load(id).await.unwrap().unwrap();
    assert_eq!(loaded.status, IntegrationStatus::Deleted);
    assert_eq!(loaded, assert_row_is_fold(&db.pool, id).await, "caught up");
    db.drop_database().await;
}

#[tokio::test]
async fn an_unreadable_row_is_refolded_and_replaced() {
    let db = TestDb::new().await;
    let store = store(&db);
    let id = IntegrationId::new();
    store
        .execute(
            id,
            create(id, "acme", telegram()),
            CommandMetadata::default(),
        )
        .await
        .unwrap();
    store
        .execute(id, connect(), CommandMetadata::default())
        .await
        .unwrap();
    // As if `Integration` had changed shape since the row was written.
    sqlx::query("UPDATE integration_states SET state = '[]' WHERE aggregate_id = $1")
        .bind(id.to_string())
        .execute(&db.pool)
        .await
        .unwrap();
    let (fold, _) = fold_of_events(&db.pool, id).await;
    assert_eq!(store.load(id).await.unwrap(), Some(fold.clone()));
    assert_eq!(
        store.list(&"acme".parse().unwrap(), None).await.unwrap(),
        [fold]
    );
    assert_row_is_fold(&db.pool, id).await;
    // And a command on it works from the refold.
    sqlx::query("UPDATE integration_states SET state = '[]' WHERE aggregate_id = $1")
        .bind(id.to_string())
        .execute(&db.pool)
        .await
        .unwrap();
    store
        .execute(id, rename("after"), CommandMetadata::default())
        .await
        .unwrap();
    assert_eq!(assert_row_is_fold(&db.pool, id).await.version, 3);
    db.drop_database().await;
}

#[tokio::test]
async fn list_is_one_workspace_optionally_one_channel_oldest_first_without_deleted() {
    let db = TestDb::new().await;
    let store = store(&db);
    let webchat = ChannelKind::parse("webchat").unwrap();
    let mut acme_telegram = Vec::new();
    let mut acme_webchat = Vec::new();
    for i in 0..6 {
        let id = IntegrationId::new();
        let channel = if i % 2 == 0 {
            telegram()
        } else {
            webchat.clone()
        };
        store
            .execute(id, create(id, "acme", channel), CommandMetadata::default())
            .await
            .unwrap();
        if i % 2 == 0 {
            acme_telegram.push(id);
        } else {
            acme_webchat.push(id);
        }
    }
    let other = IntegrationId::new();
    store
        .execute(
            other,
            create(other, "other", telegram()),
            CommandMetadata::default(),
        )
        .await
        .unwrap();
    let deleted = acme_telegram.remove(1);
    store
        .execute(
            deleted,
            IntegrationCommand::Delete {
                platform_outcome: None,
            },
            CommandMetadata::default(),
        )
        .await
        .unwrap();

    let ids = |list: Vec<Integration>| -> Vec<IntegrationId> {
        list.into_iter()
            .map(|i| i.integration_id.unwrap())
            .collect()
    };
    let acme: WorkspaceId = "acme".parse().unwrap();
    let mut everything = [acme_telegram.clone(), acme_webchat.clone()].concat();
    let created = store.list(&acme, None).await.unwrap();
    let order: Vec<_> = created
        .iter()
        .map(|i| (i.created_at, i.integration_id))
        .collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    let mut listed = ids(created);
    listed.sort();
    everything.sort();
    assert_eq!(listed, everything);
    assert_eq!(
        ids(store.list(&acme, Some(&telegram())).await.unwrap()),
        acme_telegram
    );
    assert_eq!(
        ids(store.list(&acme, Some(&webchat)).await.unwrap()),
        acme_webchat
    );
    assert_eq!(
        ids(store.list(&"other".parse().unwrap(), None).await.unwrap()),
        [other]
    );
    assert!(store
        .list(&"nobody".parse().unwrap(), None)
        .await
        .unwrap()
        .is_empty());
    db.drop_database().await;
}

#[tokio::test]
async fn listing_a_workspace_uses_the_state_index() {
    let db = TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT aggregate_id FROM integration_states
          WHERE workspace_id = 'acme' AND channel = 'telegram' AND status <> 'deleted'
          ORDER BY created_at, aggregate_id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(
        plan.iter()
            .any(|line| line.contains("integration_states_by_workspace")),
        "{plan:#?}"
    );
    drop(conn);
    db.drop_database().await;
}

#[tokio::test]
async fn the_start_up_backfill_writes_every_missing_row_once() {
    let db = TestDb::new().await;
    let old = events_only(&db);
    let store = store(&db);
    let ids = [IntegrationId::new(), IntegrationId::new()];
    for id in ids {
        old.execute(&id.to_string(), create(id, "legacy", telegram()))
            .await
            .unwrap();
    }
    assert_eq!(store.backfill_rowless().await.unwrap(), 2);
    for id in ids {
        assert_row_is_fold(&db.pool, id).await;
    }
    assert_eq!(
        store.backfill_rowless().await.unwrap(),
        0,
        "nothing left to write"
    );
}
