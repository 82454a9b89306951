//! PostgreSQL stopped abruptly and started again while lifecycle commands and webhooks (and so
//! projection batches) run: every command answered 201 is stored and published, every webhook
//! answered 200 is on the topic, and the read models hold each message once, with counts that
//! agree with their rows.

use super::{assert_none_lost, eventually, updates_on_topic, Service, WebhookLoad};
use crate::helpers::read_topic;
use crate::processes::{exclusive, KafkaNode, PostgresServer};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Creates integrations one after another until stopped; the ids answered 201 and how many
/// attempts got 503.
fn create_integrations(
    service: &Service,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(Vec<String>, usize)> {
    let (client, base) = (service.client.clone(), service.base.clone());
    tokio::spawn(async move {
        let (mut created, mut unavailable) = (Vec::new(), 0);
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) && n < 5_000 {
            n += 1;
            let answer = client
                .post(format!("{base}/v1/workspaces/acme/integrations"))
                .json(
                    &json!({"channel": "telegram", "name": format!("Created {n}"),
                    "auth": {"bot_token": "1:x", "webhook_secret": "s"}}),
                )
                .send()
                .await;
            match answer {
                Ok(response) if response.status() == 201 => {
                    let body: serde_json::Value = response.json().await.unwrap();
                    created.push(body["id"].as_str().unwrap().to_owned());
                }
                Ok(response) => {
                    assert_eq!(response.status(), 503, "only 201 or 503");
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("the service stopped answering: {error}"),
            }
        }
        (created, unavailable)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_loses_no_command_and_applies_nothing_twice() {
    let _one_at_a_time = exclusive().await;
    let broker = KafkaNode::start();
    let mut postgres = PostgresServer::start().await;
    let admin = sqlx::PgPool::connect(&postgres.url("postgres"))
        .await
        .unwrap();
    sqlx::query("CREATE DATABASE switchboard")
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let database_url = postgres.url("switchboard");
    let service = Service::start(
        &broker,
        &[
            ("DATABASE_URL", &database_url),
            ("SWITCHBOARD_WEBHOOK_CACHE_MS", "0"),
        ],
    )
    .await;
    let integration = service.telegram_integration().await;
    let stop = Arc::new(AtomicBool::new(false));
    let commands = create_integrations(&service, stop.clone());
    let load = WebhookLoad::start(&service.base, &integration, 4, 50_000);
    eventually(Duration::from_secs(30), "webhooks acknowledged", || {
        load.acknowledged_so_far() >= 200
    })
    .await;

    postgres.stop_abruptly();
    let stopped_at = Instant::now();
    eventually(
        Duration::from_secs(30),
        "503s while the database is down",
        || load.count_so_far(503) > 0,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    postgres.restart().await;
    let down_for = stopped_at.elapsed();
    let before = load.acknowledged_so_far();
    eventually(
        Duration::from_secs(60),
        "200s again after the restart",
        || load.acknowledged_so_far() >= before + 200,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let (created, unavailable) = commands.await.unwrap();
    let outcome = load.finish().await;
    assert!(!created.is_empty());

    // Every 201 is stored (and readable) and its event reached the topic through the outbox.
    for id in &created {
        let answer = service
            .client
            .get(format!(
                "{}/v1/workspaces/acme/integrations/{id}",
                service.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            200,
            "integration {id} answered 201 is stored"
        );
    }
    let brokers = broker.brokers();
    let lifecycle = read_topic(
        &brokers,
        "integrations.lifecycle",
        created.len() * 2,
        Duration::from_secs(30),
    )
    .await;
    let published: BTreeSet<String> = lifecycle.iter().filter_map(|r| r.key.clone()).collect();
    for id in &created {
        assert!(
            published.contains(id),
            "integration {id}'s events reached the topic"
        );
    }

    let (_, _) = assert_none_lost(&brokers, &outcome).await;
    let distinct: BTreeSet<u64> = updates_on_topic(&brokers).await.into_iter().collect();

    // The inbox holds each message once, and its counts agree with its rows.
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let stored = loop {
        let stored: i64 =
            sqlx::query_scalar("SELECT count(*) FROM inbox.messages WHERE direction = 'inbound'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if stored as usize >= distinct.len() || Instant::now() > deadline {
            break stored as usize;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        stored,
        distinct.len(),
        "each message on the topic is in the inbox once"
    );
    let disagreeing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inbox.conversations c
          WHERE c.unread_count <> (SELECT count(*) FROM inbox.messages m WHERE m.conversation_id = c.id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(disagreeing, 0, "unread counts agree with the messages");
    let inboxes: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox.inboxes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        inboxes as usize > created.len(),
        "an inbox per stored integration (and the first one)"
    );
    println!(
        "PostgreSQL restart: down {:.1} s; {} integrations created (201; {unavailable} attempts got 503), all stored and published; \
         {} webhooks answered 200 ({} 503), {} distinct messages on the topic, each in the inbox once",
        down_for.as_secs_f64(),
        created.len(),
        outcome.acknowledged().len(),
        outcome.count(503),
        distinct.len()
    );
}
