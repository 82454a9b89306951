//! `kill -9` `serve` while its inbox projection catches up on a backlog: after a restart the
//! inbox equals an uninterrupted run (`switchboard replay inbox` over the same history), its
//! counters agree with its rows, and no message is missing or doubled.

use super::{eventually, updates_on_topic, Service, WebhookLoad};
use crate::processes::{exclusive, switchboard, KafkaNode};
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// The inbox's rows that do not depend on when they were projected, in a fixed order.
async fn inbox_snapshot(pool: &PgPool) -> (Vec<String>, Vec<String>) {
    let conversations = sqlx::query_scalar(
        "SELECT concat_ws('|', id, unread_count, message_count, last_message_at, last_message_preview, status)
           FROM inbox.conversations ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let messages = sqlx::query_scalar(
        "SELECT concat_ws('|', id, conversation_id, direction, platform_message_id, content::text, sent_at, status)
           FROM inbox.messages ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (conversations, messages)
}

async fn inbound_rows(pool: &PgPool) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inbox.messages")
        .fetch_one(pool)
        .await
        .unwrap_or(0) as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_catch_up_ends_equal_to_an_uninterrupted_run() {
    let _one_at_a_time = exclusive().await;
    let broker = KafkaNode::start();
    let mut service = Service::start(&broker, &[("SWITCHBOARD_PROJECTIONS", "false")]).await;
    let integration = service.telegram_integration().await;
    let total = 6_000;
    let load = WebhookLoad::start(&service.base, &integration, 8, total);
    eventually(Duration::from_secs(120), "the backlog published", || {
        load.acknowledged_so_far() as u64 >= total
    })
    .await;
    load.finish().await;
    let on_topic = updates_on_topic(&broker.brokers()).await.len();

    // The same service with its projections: killed while the inbox catches up.
    service.process.take().unwrap().kill();
    for (key, value) in service.env.iter_mut() {
        if *key == "SWITCHBOARD_PROJECTIONS" {
            *value = "true".into();
        }
    }
    let database_url = service
        .env
        .iter()
        .find(|(k, _)| *k == "DATABASE_URL")
        .unwrap()
        .1
        .clone();
    let pool = PgPool::connect(&database_url).await.unwrap();
    service.launch();
    let deadline = Instant::now() + Duration::from_secs(60);
    let at_kill = loop {
        let rows = inbound_rows(&pool).await;
        if rows > 0 || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    service.process.take().unwrap().kill();
    assert!(
        at_kill < on_topic,
        "killed before the catch-up ended ({at_kill} of {on_topic})"
    );

    service.launch();
    let deadline = Instant::now() + Duration::from_secs(120);
    while inbound_rows(&pool).await < on_topic {
        assert!(
            Instant::now() < deadline,
            "the inbox caught up after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let process = service.process.as_mut().unwrap();
    process.terminate();
    assert!(process.wait_exit(Duration::from_secs(30)).is_some());
    let doubled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inbox.conversations c
          WHERE c.message_count <> (SELECT count(*) FROM inbox.messages m WHERE m.conversation_id = c.id)
             OR c.unread_count <> (SELECT count(*) FROM inbox.messages m WHERE m.conversation_id = c.id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        doubled, 0,
        "counters agree with the rows: nothing applied twice"
    );
    let interrupted = inbox_snapshot(&pool).await;
    assert_eq!(interrupted.1.len(), on_topic);

    let replay = switchboard(&service.env)
        .args(["replay", "inbox"])
        .output()
        .unwrap();
    assert!(replay.status.success(), "{replay:?}");
    let uninterrupted = inbox_snapshot(&pool).await;
    assert!(
        interrupted == uninterrupted,
        "the inbox after a kill equals a replay of the same history"
    );
    println!(
        "projector kill -9: killed at {at_kill} of {on_topic} messages; after the restart {} conversations and {} messages, \
         equal to an uninterrupted replay, counters agree",
        interrupted.0.len(),
        interrupted.1.len()
    );
}
