//! The account-owner cache: bounded, single-flight, forgetting every answer once a command
//! commits, and through the real store a Connect routed at once despite a cached absence.

use super::*;
use crate::store::integrations::test_db::{sealer, services, TestDb};
use crate::store::CommandMetadata;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::IntegrationCommand;

/// Owners in memory; counts reads, each taking `delay`.
#[derive(Default)]
struct Counting {
    owners: Mutex<HashMap<String, IntegrationId>>,
    commits: AtomicU64,
    reads: AtomicUsize,
    delay: Duration,
    fail_next: AtomicBool,
}

impl Counting {
    /// Records `owner` for `account` (or frees it) and counts a commit.
    fn commit(&self, account: &str, owner: Option<IntegrationId>) {
        let mut owners = self.owners.lock().unwrap();
        match owner {
            Some(owner) => owners.insert(account.to_owned(), owner),
            None => owners.remove(account),
        };
        self.commits.fetch_add(1, Ordering::SeqCst);
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl OwnerSource for Counting {
    async fn owner(
        &self,
        _: &ChannelKind,
        _: &str,
        account: &str,
    ) -> Result<Option<IntegrationId>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let found = self.owners.lock().unwrap().get(account).copied();
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Unavailable("down".into()));
        }
        Ok(found)
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const PRODUCTION: u64 = MAX_CACHED_OWNERS;

fn messenger() -> ChannelKind {
    ChannelKind::parse("messenger").unwrap()
}

fn owners(source: &Arc<Counting>, ttl: Duration, capacity: u64) -> AccountOwners {
    AccountOwners::with_source(source.clone(), ttl, capacity)
}

async fn owner_of(owners: &AccountOwners, account: &str) -> Option<IntegrationId> {
    owners
        .owner(&messenger(), "page_id", account)
        .await
        .unwrap()
}

#[tokio::test]
async fn answers_are_cached_until_a_command_commits() {
    let source = Arc::new(Counting::default());
    let id = IntegrationId::new();
    source.commit("111", Some(id));
    let owners = owners(&source, MINUTE, PRODUCTION);
    assert_eq!(owner_of(&owners, "111").await, Some(id));
    assert_eq!(owner_of(&owners, " 111 ").await, Some(id), "trimmed");
    assert_eq!(owner_of(&owners, "222").await, None);
    assert_eq!(owner_of(&owners, "222").await, None);
    assert_eq!(
        source.reads(),
        3,
        "one read for the owned account, one per absence"
    );
    let other = IntegrationId::new();
    source.commit("222", Some(other));
    source.commit("111", None);
    assert_eq!(
        owner_of(&owners, "222").await,
        Some(other),
        "a commit: read again"
    );
    assert_eq!(owner_of(&owners, "111").await, None);
    assert_eq!(source.reads(), 5);
    assert_eq!(owner_of(&owners, "222").await, Some(other));
    assert_eq!(source.reads(), 5, "the new owner is cached");
}

#[tokio::test]
async fn concurrent_misses_of_one_account_read_it_once() {
    let source = Arc::new(Counting {
        delay: Duration::from_millis(50),
        ..Counting::default()
    });
    let id = IntegrationId::new();
    source.commit("111", Some(id));
    let owners = owners(&source, MINUTE, PRODUCTION);
    let lookups = |account: &'static str| {
        futures::future::join_all((0..20).map(|_| {
            let owners = owners.clone();
            tokio::spawn(async move { owner_of(&owners, account).await })
        }))
    };
    for found in lookups("111").await {
        assert_eq!(found.unwrap(), Some(id));
    }
    assert_eq!(source.reads(), 1, "twenty concurrent misses, one read");
    for found in lookups("999").await {
        assert_eq!(found.unwrap(), None);
    }
    assert_eq!(source.reads(), 2, "also for an account nobody records");
}

#[tokio::test]
async fn a_flood_of_unowned_accounts_does_not_evict_an_owned_one() {
    let source = Arc::new(Counting::default());
    let id = IntegrationId::new();
    source.commit("111", Some(id));
    let owners = owners(&source, MINUTE, 100);
    assert_eq!(owner_of(&owners, "111").await, Some(id));
    for n in 0..1_000 {
        assert_eq!(owner_of(&owners, &format!("x{n}")).await, None);
    }
    assert_eq!(owner_of(&owners, "111").await, Some(id));
    assert_eq!(source.reads(), 1_001, "the owned one was not read again");
    assert_eq!(owner_of(&owners, "x1").await, None);
    assert_eq!(
        source.reads(),
        1_002,
        "an absence is read again, never remembered"
    );
}

#[tokio::test]
async fn failed_reads_are_not_cached_and_a_zero_ttl_reads_every_time() {
    let source = Arc::new(Counting::default());
    let owners_cached = owners(&source, MINUTE, PRODUCTION);
    source.fail_next.store(true, Ordering::SeqCst);
    let error = owners_cached
        .owner(&messenger(), "page_id", "111")
        .await
        .unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(owner_of(&owners_cached, "111").await, None);
    assert_eq!(source.reads(), 2, "the failure was not remembered");
    let uncached = owners(&source, Duration::ZERO, PRODUCTION);
    owner_of(&uncached, "111").await;
    owner_of(&uncached, "111").await;
    assert_eq!(source.reads(), 4);
}

#[tokio::test]
async fn through_the_store_a_connect_is_routed_at_once_after_an_absence() {
    let db = TestDb::new().await;
    let store = IntegrationStore::new(db.pool.clone(), services(sealer()));
    let owners = AccountOwners::new(store.clone(), MINUTE);
    let id = IntegrationId::new();
    assert_eq!(owner_of(&owners, "111").await, None, "nobody owns it yet");
    let run = |command| store.execute(id, command, CommandMetadata::default());
    run(IntegrationCommand::Create {
        integration_id: id,
        workspace_id: "acme".parse().unwrap(),
        channel: messenger(),
        name: "Inbox".into(),
        auth: None,
    })
    .await
    .unwrap();
    run(IntegrationCommand::Connect {
        auth: Some(AuthInput(BTreeMap::from([
            ("page_id".into(), "111".into()),
            ("page_access_token".into(), "EAAB".into()),
        ]))),
        account: Some(switchboard_domain::integration::AccountInfo {
            external_id: Some("111".into()),
            display_name: None,
        }),
        account_verified: true,
    })
    .await
    .unwrap();
    assert_eq!(owner_of(&owners, "111").await, Some(id));
    run(IntegrationCommand::Disconnect {
        reason: "test".into(),
        platform_outcome: None,
    })
    .await
    .unwrap();
    assert_eq!(owner_of(&owners, "111").await, None, "and freed at once");
    db.drop_database().await;
}
