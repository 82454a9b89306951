//! Account claims on a real PostgreSQL (see `test_db`): proven claims only, committed with the
//! connect that proved them, freed by a disconnect or a delete, dropped by a credential change
//! to an unproven account, one live claimant per account (also when two connects race), written
//! back with a folded row, and backfilled by the migrations.

use crate::store::integrations::test_db::{sealer, services, TestDb};
use crate::store::{CommandMetadata, IntegrationStore, StoreError};
use std::collections::BTreeMap;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::{
    AccountInfo, Integration, IntegrationCommand, IntegrationError,
};
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

/// A connect (with `page` as new credentials, if any) whose platform proved `proven`.
fn connect(page: Option<&str>, proven: &str) -> IntegrationCommand {
    IntegrationCommand::Connect {
        auth: page.map(page_auth),
        account: Some(AccountInfo {
            external_id: Some(proven.into()),
            display_name: None,
        }),
        account_verified: true,
    }
}

/// A connect whose account nobody proved.
fn unproven_connect(page: &str) -> IntegrationCommand {
    IntegrationCommand::Connect {
        auth: Some(page_auth(page)),
        account: Some(AccountInfo {
            external_id: Some(page.into()),
            display_name: None,
        }),
        account_verified: false,
    }
}

fn disconnect() -> IntegrationCommand {
    IntegrationCommand::Disconnect {
        reason: "test".into(),
        platform_outcome: None,
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
    run(&store, id, create(id, "acme", Some(page_auth("111"))))
        .await
        .unwrap();
    assert_eq!(owner(&store, "111").await, None, "created: unproven");
    run(&store, id, connect(Some(" 111 "), "111"))
        .await
        .unwrap();
    assert_eq!(owner(&store, "111").await, Some(id), "at once, trimmed");
    assert_eq!(owner(&store, "222").await, None);
    let refresh = IntegrationCommand::RefreshCredentials {
        auth: page_auth("222"),
    };
    run(&store, id, refresh).await.unwrap();
    assert_eq!(
        owner(&store, "111").await,
        None,
        "the field names another page"
    );
    assert_eq!(owner(&store, "222").await, None, "which nobody proved");
    run(&store, id, disconnect()).await.unwrap();
    run(&store, id, connect(None, "222")).await.unwrap();
    assert_eq!(
        owner(&store, "222").await,
        Some(id),
        "a reconnect that proves it claims it"
    );
    run(&store, id, disconnect()).await.unwrap();
    assert_eq!(owner(&store, "222").await, None, "a disconnect frees it");
    run(&store, id, connect(None, "222")).await.unwrap();
    run(
        &store,
        id,
        IntegrationCommand::Delete {
            platform_outcome: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(owner(&store, "222").await, None, "a delete frees it");
    let other_channel = store
        .account_owner(&ChannelKind::parse("whatsapp").unwrap(), "page_id", "222")
        .await
        .unwrap();
    assert_eq!(other_channel, None);
    db.drop_database().await;
}

#[tokio::test]
async fn a_typed_account_claims_nothing_until_the_platform_proves_it() {
    let db = TestDb::new().await;
    let store = IntegrationStore::new(db.pool.clone(), services(sealer()));
    let (id, other) = (IntegrationId::new(), IntegrationId::new());
    run(&store, id, create(id, "acme", None)).await.unwrap();
    run(&store, id, unproven_connect("111")).await.unwrap();
    assert_eq!(owner(&store, "111").await, None);
    run(&store, other, create(other, "globex", None))
        .await
        .unwrap();
    run(&store, other, connect(Some("111"), "999"))
        .await
        .unwrap();
    assert_eq!(
        owner(&store, "111").await,
        None,
        "the platform proved another account than the field names"
    );
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
    run(&store, first, connect(None, "111")).await.unwrap();
    run(
        &store,
        second,
        create(second, "globex", Some(page_auth("111"))),
    )
    .await
    .expect("a created integration claims nothing yet");
    assert_in_use(run(&store, second, connect(None, "111")).await);
    let refused = store.load(second).await.unwrap().unwrap();
    assert_eq!(refused.version, 1, "the refused connect committed nothing");
    assert_eq!(owner(&store, "111").await, Some(first));

    run(&store, first, disconnect()).await.unwrap();
    run(&store, second, connect(None, "111")).await.unwrap();
    assert_eq!(owner(&store, "111").await, Some(second));
    assert_in_use(run(&store, first, connect(None, "111")).await);
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
    let outcomes = futures::future::join_all(
        ids.iter()
            .map(|id| run(&store, *id, connect(Some("777"), "777"))),
    )
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
    for command in [
        create(id, "acme", Some(page_auth("111"))),
        connect(None, "111"),
    ] {
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
async fn the_migrations_keep_only_the_proven_claims_of_live_rows() {
    let db = TestDb::new().await;
    let store = IntegrationStore::new(db.pool.clone(), services(sealer()));
    let (live, gone, typed) = (
        IntegrationId::new(),
        IntegrationId::new(),
        IntegrationId::new(),
    );
    run(&store, live, create(live, "acme", Some(page_auth("111"))))
        .await
        .unwrap();
    run(&store, live, connect(None, "111")).await.unwrap();
    run(&store, gone, create(gone, "acme", Some(page_auth("222"))))
        .await
        .unwrap();
    run(&store, gone, connect(None, "222")).await.unwrap();
    run(&store, gone, disconnect()).await.unwrap();
    run(&store, typed, create(typed, "acme", None))
        .await
        .unwrap();
    run(&store, typed, unproven_connect("333")).await.unwrap();
    sqlx::query("DELETE FROM integration_accounts")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(owner(&store, "111").await, None);
    // The first backfill claimed every live row's typed id; the second keeps the proven ones.
    let backfill = include_str!("../../../../../migrations/0006_integration_accounts.sql");
    sqlx::raw_sql(backfill).execute(&db.pool).await.unwrap();
    assert_eq!(owner(&store, "333").await, Some(typed));
    let proven = include_str!("../../../../../migrations/0009_proven_account_claims.sql");
    sqlx::raw_sql(proven).execute(&db.pool).await.unwrap();
    assert_eq!(owner(&store, "111").await, Some(live));
    assert_eq!(owner(&store, "222").await, None, "disconnected: no claim");
    assert_eq!(
        owner(&store, "333").await,
        None,
        "typed, never proven: no claim"
    );
    db.drop_database().await;
}
