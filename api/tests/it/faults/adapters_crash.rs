//! `kill -9` `switchboard adapters` while it sends to a (fake, slow) platform: after a restart
//! every command has been sent and has its `MessageSent` outcome; the platform calls made twice
//! (in flight or uncommitted at the kill) are counted and reported.

use super::{eventually, publish_sends, sending_settings, sent_message_ids, slow_graph, Service};
use crate::outbound::fake_graph::calls;
use crate::processes::{exclusive, KafkaNode};
use std::collections::BTreeSet;
use std::time::Duration;

const COMMANDS: usize = 600;
const RECIPIENTS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_adapters_lose_no_command_and_count_what_they_sent_twice() {
    let _one_at_a_time = exclusive().await;
    let broker = KafkaNode::start();
    let (fake, credentials) = slow_graph(RECIPIENTS, Duration::from_millis(100)).await;
    let service = Service::start(&broker, &sending_settings(&credentials)).await;
    service.await_available("messenger").await;
    let integration = service.messenger_integration().await;

    publish_sends(&broker.brokers(), &integration, COMMANDS, RECIPIENTS).await;

    let mut first = service.adapters("first");
    eventually(
        Duration::from_secs(60),
        "a quarter of the sends made",
        || calls(&fake).len() >= COMMANDS / 2,
    )
    .await;
    first.kill();
    let at_kill = calls(&fake).len();
    let _second = service.adapters("second");
    let distinct_texts = || {
        calls(&fake)
            .iter()
            .map(|call| call.text.clone())
            .collect::<BTreeSet<_>>()
            .len()
    };
    eventually(
        Duration::from_secs(90),
        "every command sent after the restart",
        || distinct_texts() == COMMANDS,
    )
    .await;

    let sent_ids = sent_message_ids(&broker.brokers(), COMMANDS).await;
    assert_eq!(
        sent_ids.len(),
        COMMANDS,
        "every command has its MessageSent"
    );
    let total_calls = calls(&fake).len();
    println!(
        "adapters kill -9: killed after {at_kill} platform calls; all {COMMANDS} commands sent and reported sent; \
         {} platform calls in all, {} of them repeats of a send cut off by the kill",
        total_calls,
        total_calls - COMMANDS
    );
}
