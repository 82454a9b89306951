//! `kill -9` the broker under webhook load and start it again: every webhook answered 200 is on
//! `messages.received`, webhooks meanwhile get 503, `/readyz` says so, and the same `serve`
//! process answers 200 again once the broker is back, without a restart.

use super::{assert_none_lost, eventually, Service, WebhookLoad};
use crate::processes::{exclusive, KafkaNode};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_broker_loses_no_acknowledged_webhook_and_the_service_recovers_by_itself() {
    let _one_at_a_time = exclusive().await;
    let mut broker = KafkaNode::start();
    let service = Service::start(&broker, &[("SWITCHBOARD_WEBHOOK_ACK_TIMEOUT_MS", "3000")]).await;
    let integration = service.telegram_integration().await;
    let load = WebhookLoad::start(&service.base, &integration, 8, 50_000);
    eventually(
        Duration::from_secs(30),
        "webhooks acknowledged before the kill",
        || load.acknowledged_so_far() >= 200,
    )
    .await;

    broker.kill();
    let killed_at = Instant::now();
    eventually(
        Duration::from_secs(30),
        "a 503 while the broker is down",
        || load.count_so_far(503) > 0,
    )
    .await;
    assert_eq!(
        service.readiness().await,
        503,
        "not ready while deliveries fail"
    );

    broker.restart();
    let restarted_at = Instant::now();
    let acknowledged_before = load.acknowledged_so_far();
    eventually(
        Duration::from_secs(60),
        "200s again after the broker restarted",
        || load.acknowledged_so_far() >= acknowledged_before + 200,
    )
    .await;
    let outcome = load.finish().await;
    let recovered_at = outcome
        .first_200_after(restarted_at)
        .expect("a 200 after the restart");
    assert_eq!(service.readiness().await, 200, "{}", service.log_tail());

    let (on_topic, duplicates) = assert_none_lost(&broker.brokers(), &outcome).await;
    println!(
        "broker kill -9: {} webhooks answered 200 ({} 503, {} transport errors), all {} on the topic \
         ({on_topic} records, {duplicates} duplicates of 503s); broker down {:.1} s; first 200 {:.2} s after the broker served again",
        outcome.acknowledged().len(),
        outcome.count(503),
        outcome.count(0),
        outcome.acknowledged().len(),
        restarted_at.duration_since(killed_at).as_secs_f64(),
        recovered_at.duration_since(restarted_at).as_secs_f64(),
    );
}
