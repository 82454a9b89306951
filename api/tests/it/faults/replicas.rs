//! Two of each on one Apache Kafka node and one database: two `serve` replicas taking webhooks
//! (each relaying the outbox and projecting the inbox), two `switchboard adapters` processes
//! sending and two `switchboard analytics` counting. One of each is killed with SIGKILL under
//! load. Every webhook either replica answered 200 is on `messages.received` and in the inbox
//! exactly once, the surviving replica's relay publishes what is committed after the death,
//! every send command is sent and reported sent by the surviving adapters, and the surviving
//! analytics counts every update once; the platform calls made twice are counted and
//! reported.

use super::{
    assert_none_lost, eventually, eventually_explained, publish_sends, sending_settings,
    sent_message_ids, slow_graph, updates_on_topic, LoadOutcome, Service, WebhookLoad,
};
use crate::helpers::{read_topic, topic_len};
use crate::outbound::fake_graph::calls;
use crate::processes::{exclusive, KafkaNode};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const COMMANDS: usize = 800;
const RECIPIENTS: usize = 20;
/// Update ids of the load on the second replica start here, so the two loads never collide.
const SECOND_LOAD_FROM: u64 = 1_000_000;

/// The inbound messages the analytics projection counted.
async fn analytics_inbound(database_url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let counted = sqlx::query_scalar(
        "SELECT COALESCE(SUM(inbound), 0)::bigint FROM analytics.hourly_messages",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or(0);
    pool.close().await;
    counted
}

/// Inbound rows in the inbox, and how many distinct platform message ids they carry.
async fn inbox_rows(database_url: &str) -> (i64, i64) {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let counts = sqlx::query_as(
        "SELECT count(*), count(DISTINCT platform_message_id) FROM inbox.messages
          WHERE direction = 'inbound'",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or((0, 0));
    pool.close().await;
    counts
}

/// Reads with `read` every 500 ms until `enough` holds of what it read, for at most 90 s;
/// the last reading either way.
async fn read_until<T, F: std::future::Future<Output = T>>(
    read: impl Fn() -> F,
    enough: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let reading = read().await;
        if enough(&reading) || Instant::now() > deadline {
            return reading;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn merged(first: LoadOutcome, second: LoadOutcome) -> LoadOutcome {
    let mut answers = first.answers;
    answers.extend(second.answers);
    LoadOutcome { answers }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_each_lose_nothing_when_one_of_each_is_killed() {
    let _one_at_a_time = exclusive().await;
    let broker = KafkaNode::start();
    let (fake, credentials) = slow_graph(RECIPIENTS, Duration::from_millis(100)).await;
    let mut first = Service::start(&broker, &sending_settings(&credentials)).await;
    let second = first.replica();
    first.await_available("messenger").await;
    let telegram = first.telegram_integration().await;
    let messenger = first.messenger_integration().await;
    let database_url = second
        .env
        .iter()
        .find(|(key, _)| *key == "DATABASE_URL")
        .map(|(_, value)| value.clone())
        .unwrap();

    let mut doomed_analytics = first.analytics("first");
    let _surviving_analytics = first.analytics("second");

    let to_first = WebhookLoad::numbered_from(&first.base, &telegram, 4, 1, 50_000);
    let to_second =
        WebhookLoad::numbered_from(&second.base, &telegram, 4, SECOND_LOAD_FROM, 50_000);
    eventually(Duration::from_secs(90), "both replicas answering", || {
        to_first.acknowledged_so_far() >= 300 && to_second.acknowledged_so_far() >= 300
    })
    .await;
    publish_sends(&broker.brokers(), &messenger, COMMANDS, RECIPIENTS).await;
    let mut doomed_adapters = first.adapters("first");
    let _surviving_adapters = first.adapters("second");
    eventually(
        Duration::from_secs(90),
        "a quarter of the sends made",
        || calls(&fake).len() >= COMMANDS / 4,
    )
    .await;

    first.process.take().unwrap().kill();
    doomed_adapters.kill();
    doomed_analytics.kill();
    let killed_at = Instant::now();
    let sends_at_kill = calls(&fake).len();
    assert!(
        sends_at_kill < COMMANDS,
        "the adapters were killed mid-send"
    );
    let second_before = to_second.acknowledged_so_far();
    eventually(
        Duration::from_secs(60),
        "the surviving replica still answering 200",
        || to_second.acknowledged_so_far() >= second_before + 300,
    )
    .await;
    let outcome = merged(to_first.finish().await, to_second.finish().await);
    assert!(outcome.count(0) > 0, "the kill cut requests off");
    let (on_topic, duplicates) = assert_none_lost(&broker.brokers(), &outcome).await;

    // The surviving replica's projector took the dead one's partitions over: every distinct
    // update on the topic is in the inbox, once.
    let distinct: BTreeSet<u64> = updates_on_topic(&broker.brokers())
        .await
        .into_iter()
        .collect();
    let (rows, distinct_rows) = read_until(
        || inbox_rows(&database_url),
        |counts| counts.0 as usize >= distinct.len(),
    )
    .await;
    assert_eq!(
        rows as usize,
        distinct.len(),
        "one inbox row per update on the topic"
    );
    assert_eq!(rows, distinct_rows, "no message twice in the inbox");

    // The surviving analytics process took the dead one's partitions over: each update
    // counted once.
    let counted = read_until(
        || analytics_inbound(&database_url),
        |counted| *counted as usize >= distinct.len(),
    )
    .await;
    assert_eq!(
        counted as usize,
        distinct.len(),
        "analytics counts every update on the topic once"
    );

    // What is committed now reaches the topic through the surviving replica's relay.
    let lifecycle_before = topic_len(&broker.brokers(), "integrations.lifecycle");
    let renamed = second
        .client
        .patch(format!(
            "{}/v1/workspaces/acme/integrations/{telegram}",
            second.base
        ))
        .json(&json!({"name": "Renamed after the kill"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200, "{}", second.log_tail());
    let committed_at = Instant::now();
    eventually(
        Duration::from_secs(30),
        "the rename relayed by the surviving replica",
        || topic_len(&broker.brokers(), "integrations.lifecycle") > lifecycle_before,
    )
    .await;
    let relayed_in = committed_at.elapsed();
    let relayed = read_topic(
        &broker.brokers(),
        "integrations.lifecycle",
        lifecycle_before + 1,
        Duration::from_secs(10),
    )
    .await;
    assert!(
        relayed.iter().any(|r| r
            .header("ce_type")
            .is_some_and(|t| t == "switchboard.integration.SettingsUpdated.v1")),
        "the rename is on the lifecycle topic"
    );

    // The surviving adapters took the dead one's partitions over.
    let distinct_texts = || {
        calls(&fake)
            .iter()
            .map(|call| call.text.clone())
            .collect::<BTreeSet<_>>()
            .len()
    };
    eventually_explained(
        Duration::from_secs(120),
        "every command sent by the surviving adapters",
        || distinct_texts() == COMMANDS,
        || {
            let texts: BTreeSet<String> = calls(&fake).into_iter().map(|c| c.text).collect();
            let missing: Vec<usize> = (0..COMMANDS)
                .filter(|n| !texts.contains(&format!("send {n}")))
                .collect();
            format!(
                "{} of {COMMANDS} sent ({} calls, {sends_at_kill} at the kill); not sent: {missing:?}\n\
                 surviving adapters' log:\n{}",
                texts.len(),
                calls(&fake).len(),
                first.adapters_log_tail("second"),
            )
        },
    )
    .await;
    let sent = sent_message_ids(&broker.brokers(), COMMANDS).await;
    assert_eq!(sent.len(), COMMANDS, "every command has its MessageSent");
    let total_calls = calls(&fake).len();
    println!(
        "two of each, one of each killed: {} webhooks answered 200 by the two replicas, all on the topic \
         ({on_topic} records, {duplicates} duplicates) and {rows} inbox rows, one per distinct update, \
         each counted once by analytics; a rename relayed {relayed_in:?} after it was committed; adapters killed after {sends_at_kill} \
         platform calls, all {COMMANDS} commands sent, {} repeated calls; {:?} from the kills to the end",
        outcome.acknowledged().len(),
        total_calls - COMMANDS,
        killed_at.elapsed(),
    );
}
