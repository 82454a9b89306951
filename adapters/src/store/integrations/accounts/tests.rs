//! Account claims on a real PostgreSQL (see `test_db`): committed with the command, freed by a
//! disconnect or a delete, moved by a credential change, one live claimant per account (also
//! when two connects race), written back with a folded row, and backfilled by the migration.

use crate::store::integrations::test_db::{sealer, services, TestDb};
use crate::store::{CommandMetadata, IntegrationStore, StoreError};
use std::collections::BTreeMap;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::{Integration, IntegrationCommand, IntegrationError};
use switchboard_domain::{ChannelKind, IntegrationId};

fn messenger() -> ChannelKind {
    ChannelKind::parse("messenger").unwrap()
}

fn page_auth(page: &str) -> AuthInput {
    AuthInput(BTreeMap::from([
        ("page_id".into(), page.into()),
        ("page_access_token".into(), "EAAB".into()),
    ]))
}

fn create(id: IntegrationId, workspace: &str, auth: Option<AuthInput>) -> IntegrationCommand {
    IntegrationCommand::Create {
        integration_id: id,
        workspace_id: workspace.parse().unwrap(),
        channel: messenger(),
        name: "Inbox".into(),
        auth,
    }
}

fn connect(page: Option<&str>) -> IntegrationCommand {
    IntegrationCommand::Connect {
        auth: page.map(page_auth),
        account: None,
    }
}

fn disconnect() -> IntegrationCommand {
    IntegrationCommand::Disconnect {
        reason: "test".into(),
    }
}

async fn run(
    store: &IntegrationStore,
    id: IntegrationId,
    command: IntegrationCommand,
) -> Result<(), StoreError> {
    store.execute(id, command, CommandMetadata::default()).await
}

async fn owner(store: &IntegrationStore, page: &str) -> Option<IntegrationId> {
    store
        .account_owner(&messenger(), "page_id", page)
        .await
        .unwrap()
}

fn assert_in_use(result: Result<(), StoreError>) {
    match result {
        Err(StoreError::Rejected(IntegrationError::AccountInUse(field))) => {
            assert_eq!(field, "page_id")
        }
        other => panic!("expected AccountInUse, got {other:?}"),
    }
}

#[tokio::test]
async fn a_claim_follows_the_lifecycle_and_the_credentials() {
    let db = TestDb::new().await;
    let store = IntegrationStore::new(db.pool.clone(), services(sealer()));
    let id = IntegrationId::new();
    run(&store, id, create(id, "acme", None)).await.unwrap();
    run(&store, id, connect(Some(" 111 "))).await.unwrap();
    assert_eq!(owner(&store, "111").await, Some(id), "at once, trimmed");
    assert_eq!(owner(&store, "222").await, None);
    let refresh = IntegrationCommand::RefreshCredentials {
        auth: page_auth("222"),
    };
    run(&store, id, refresh).await.unwrap();
    assert_eq!(owner(&store, "111").await, None, "moved");
    assert_eq!(owner(&store, "222").await, Some(id));
    run(&store, id, disconnect()).await.unwrap();
    assert_eq!(owner(&store, "222").await, None, "a disconnect frees it");
    run(&store, id, connect(None)).await.unwrap();
    assert_eq!(
        owner(&store, "222").await,
        Some(id),
        "a reconnect claims it"
    );
    run(&store, id, IntegrationCommand::Delete).await.unwrap();
    assert_eq!(owner(&store, "222").await, None, "a delete frees it");
    let other_channel = store
        .account_owner(&ChannelKind::parse("whatsapp").unwrap(), "page_id", "222")
        .await
        .unwrap();
    assert_eq!(other_channel, None);
    db.drop_database().await;
}

#[tokio::test]
async fn an_account_has_one_live_integration() {
    let db = TestDb::new().await;
    let store = IntegrationStore::new(db.pool.clone(), services(sealer()));
    let (first, second) = (IntegrationId::new(), IntegrationId::new());
    run(&store, first, create(first, "acme", Some(page_auth("111"))))
        .await
        .unwrap();
    run(&store, first, connect(None)).await.unwrap();
    assert_in_use(
        run(
            &store,
            second,
            create(second, "globex", Some(page_auth("111"))),
        )
        .await,
    );
    assert!(
        store.load(second).await.unwrap().is_none(),
        "the refused create committed nothing"
    );
    run(&store, second, create(second, "globex", None))
        .await
        .unwrap();
    assert_in_use(run(&store, second, connect(Some("111"))).await);
    let refused = store.load(second).await.unwrap().unwrap();
    assert_eq!(refused.version, 1, "the refused connect committed nothing");
    assert_eq!(owner(&store, "111").await, Some(first));

    run(&store, first, disconnect()).await.unwrap();
    run(&store, second, connect(Some("111"))).await.unwrap();
    assert_eq!(owner(&store, "111").await, Some(second));
    assert_in_use(run(&store, first, connect(None)).await);
    db.drop_database().await;
}

#[tokio::test]
async fn of_two_racing_connects_of_one_account_exactly_one_wins() {
    let db = TestDb::new().await;
    let store = IntegrationStore::new(db.pool.clone(), services(sealer()));
    let ids: Vec<IntegrationId> = (0..6).map(|_| IntegrationId::new()).collect();
    for (n, id) in ids.iter().enumerate() {
        run(&store, *id, create(*id, &format!("ws{n}"), None))
            .await
            .unwrap();
    }
    let outcomes =
        futures::future::join_all(ids.iter().map(|id| run(&store, *id, connect(Some("777")))))
            .await;
    let winners: Vec<IntegrationId> = ids
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_ok())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for outcome in outcomes.into_iter().filter(Result::is_err) {
        assert_in_use(outcome);
    }
    assert_eq!(owner(&store, "777").await, Some(winners[0]));
    db.drop_database().await;
}

#[tokio::test]
async fn a_folded_row_written_back_brings_its_claim() {
    let db = TestDb::new().await;
    let old =
        postgres_es::postgres_cqrs::<Integration>(db.pool.clone(), vec![], services(sealer()));
    let store = IntegrationStore::new(db.pool.clone(), services(sealer()));
    let id = IntegrationId::new();
    for command in [create(id, "acme", Some(page_auth("111"))), connect(None)] {
        old.execute(&id.to_string(), command).await.unwrap();
    }
    assert_eq!(owner(&store, "111").await, None, "events only, no row yet");
    store.load(id).await.unwrap().unwrap();
    assert_eq!(
        owner(&store, "111").await,
        Some(id),
        "written back with the row"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn the_migration_backfills_the_claims_of_live_rows() {
    let db = TestDb::new().await;
    let store = IntegrationStore::new(db.pool.clone(), services(sealer()));
    let (live, gone) = (IntegrationId::new(), IntegrationId::new());
    run(&store, live, create(live, "acme", Some(page_auth("111"))))
        .await
        .unwrap();
    run(&store, gone, create(gone, "acme", Some(page_auth("222"))))
        .await
        .unwrap();
    run(&store, gone, connect(None)).await.unwrap();
    run(&store, gone, disconnect()).await.unwrap();
    sqlx::query("DELETE FROM integration_accounts")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(owner(&store, "111").await, None);
    let migration = include_str!("../../../../../migrations/0006_integration_accounts.sql");
    sqlx::raw_sql(migration).execute(&db.pool).await.unwrap();
    assert_eq!(owner(&store, "111").await, Some(live));
    assert_eq!(owner(&store, "222").await, None, "disconnected: no claim");
    db.drop_database().await;
}
