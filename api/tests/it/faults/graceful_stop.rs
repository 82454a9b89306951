//! SIGTERM: `serve` drains what is in flight and exits 0 within its grace period, also when
//! the broker is gone and every request and background task would wait on it.

use super::{assert_none_lost, eventually, Service, WebhookLoad};
use crate::processes::{exclusive, KafkaNode};
use std::time::{Duration, Instant};

const GRACE_MS: &str = "6000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_and_exits_within_the_grace_period() {
    let _one_at_a_time = exclusive().await;
    let broker = KafkaNode::start();
    let mut service = Service::start(&broker, &[("SWITCHBOARD_SHUTDOWN_GRACE_MS", GRACE_MS)]).await;
    let integration = service.telegram_integration().await;
    let load = WebhookLoad::start(&service.base, &integration, 8, 50_000);
    eventually(Duration::from_secs(30), "webhooks acknowledged", || {
        load.acknowledged_so_far() >= 300
    })
    .await;
    let process = service.process.as_mut().unwrap();
    process.terminate();
    let signalled = Instant::now();
    let status = process
        .wait_exit(Duration::from_secs(15))
        .expect("serve exits after SIGTERM");
    let took = signalled.elapsed();
    let outcome = load.finish().await;
    assert!(
        status.success(),
        "exit status {status}: {}",
        service.log_tail()
    );
    assert!(
        outcome.count(500) == 0,
        "no request was failed by the shutdown"
    );
    let (on_topic, _) = assert_none_lost(&broker.brokers(), &outcome).await;
    println!(
        "SIGTERM under load: exited 0 after {:.2} s; {} answered 200, all on the topic ({on_topic} records)",
        took.as_secs_f64(),
        outcome.acknowledged().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_broker_gone_still_exits_within_the_grace_period() {
    let _one_at_a_time = exclusive().await;
    let mut broker = KafkaNode::start();
    let mut service = Service::start(
        &broker,
        &[
            ("SWITCHBOARD_SHUTDOWN_GRACE_MS", GRACE_MS),
            ("SWITCHBOARD_WEBHOOK_ACK_TIMEOUT_MS", "30000"),
            ("SWITCHBOARD_KAFKA_DELIVERY_TIMEOUT_MS", "30000"),
        ],
    )
    .await;
    let integration = service.telegram_integration().await;
    let load = WebhookLoad::start(&service.base, &integration, 4, 50_000);
    eventually(Duration::from_secs(30), "webhooks acknowledged", || {
        load.acknowledged_so_far() >= 100
    })
    .await;
    broker.kill();
    // Requests now wait on acknowledgements that cannot come within the grace period.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let process = service.process.as_mut().unwrap();
    process.terminate();
    let signalled = Instant::now();
    let grace = Duration::from_millis(GRACE_MS.parse().unwrap());
    let status = process
        .wait_exit(grace + Duration::from_secs(5))
        .expect("serve exits within the grace period and a margin");
    let took = signalled.elapsed();
    load.finish().await;
    assert!(
        status.success(),
        "exit status {status}: {}",
        service.log_tail()
    );
    println!(
        "SIGTERM with the broker killed: exited after {:.2} s (grace {} ms)",
        took.as_secs_f64(),
        GRACE_MS
    );
}
