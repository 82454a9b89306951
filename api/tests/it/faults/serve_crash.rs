//! `kill -9` `switchboard serve` under webhook load: every webhook it answered 200 is on
//! `messages.received` (the answer waits for the broker's acknowledgement).

use super::{assert_none_lost, eventually, Service, WebhookLoad};
use crate::processes::{exclusive, KafkaNode};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_service_loses_no_acknowledged_webhook() {
    let _one_at_a_time = exclusive().await;
    let broker = KafkaNode::start();
    let mut service = Service::start(&broker, &[]).await;
    let integration = service.telegram_integration().await;
    let load = WebhookLoad::start(&service.base, &integration, 8, 50_000);
    eventually(
        Duration::from_secs(30),
        "webhooks acknowledged before the kill",
        || load.acknowledged_so_far() >= 500,
    )
    .await;
    service.process.take().unwrap().kill();
    let outcome = load.finish().await;
    assert!(outcome.count(0) > 0, "the kill cut requests off");

    let (on_topic, duplicates) = assert_none_lost(&broker.brokers(), &outcome).await;
    println!(
        "serve kill -9: {} webhooks answered 200, all on the topic ({on_topic} records, \
         {duplicates} duplicates; {} requests cut off, some of them published before the kill)",
        outcome.acknowledged().len(),
        outcome.count(0),
    );

    // The next process serves on the same database and topics.
    service.launch();
    assert_eq!(service.readiness().await, 200, "{}", service.log_tail());
}
