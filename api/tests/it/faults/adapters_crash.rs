//! `kill -9` `switchboard adapters` while it sends to a (fake, slow) platform: after a restart
//! every command has been sent and has its `MessageSent` outcome; the platform calls made twice
//! (in flight or uncommitted at the kill) are counted and reported.

use super::{eventually, Service};
use crate::helpers::{read_topic, topic_len};
use crate::outbound::fake_graph::{calls, fake_graph};
use crate::processes::{exclusive, switchboard, KafkaNode, Running};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;
use switchboard_adapters::kafka::{EventProducer, KafkaSettings, OutgoingRecord};
use switchboard_adapters::outbound::commands::command_record;
use switchboard_domain::message::{conversation_key, OutboundContent, SendMessage};

const COMMANDS: usize = 600;
const RECIPIENTS: usize = 20;

fn adapters(service: &Service) -> Running {
    Running(
        switchboard(&service.env)
            .arg("adapters")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_adapters_lose_no_command_and_count_what_they_sent_twice() {
    let _one_at_a_time = exclusive().await;
    let broker = KafkaNode::start();
    let (fake, base) = fake_graph().await;
    for recipient in 0..RECIPIENTS {
        let mut graph = fake.lock().unwrap();
        graph
            .slow
            .insert(format!("psid-{recipient}"), Duration::from_millis(100));
    }
    let credentials =
        format!("messenger.app_id=1;messenger.app_secret=a;messenger.verify_token=v;messenger.api_base={base}");
    let service = Service::start(
        &broker,
        &[
            ("SWITCHBOARD_PLATFORM_CREDENTIALS", &credentials),
            ("SWITCHBOARD_OUTBOUND_RATE_PER_SECOND", "100000"),
            ("SWITCHBOARD_OUTBOUND_RATE_BURST", "100000"),
        ],
    )
    .await;
    service.await_available("messenger").await;
    let created = service
        .client
        .post(format!("{}/v1/workspaces/acme/integrations", service.base))
        .json(&json!({"channel": "messenger", "name": "Page",
            "auth": {"page_id": "1122334455", "page_access_token": "page-token"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let integration: String = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .into();
    let connected = service
        .client
        .post(format!(
            "{}/v1/workspaces/acme/integrations/{integration}/connect",
            service.base
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(connected.status(), 200);

    let producer = EventProducer::new(&KafkaSettings::new(broker.brokers())).unwrap();
    let integration_id = integration.parse().unwrap();
    let commands: Vec<OutgoingRecord> = (0..COMMANDS)
        .map(|n| {
            let recipient = format!("psid-{}", n % RECIPIENTS);
            let command = SendMessage {
                message_id: uuid::Uuid::new_v4(),
                integration_id,
                workspace_id: "acme".parse().unwrap(),
                channel: switchboard_domain::ChannelKind::parse("messenger").unwrap(),
                conversation_key: conversation_key(integration_id, &recipient),
                recipient,
                content: OutboundContent::text(format!("send {n}")),
                idempotency_key: None,
                requested_at: chrono::Utc::now(),
            };
            command_record(&command, "messages.outbound", None)
        })
        .collect();
    for outcome in producer.publish_all(&commands).await {
        outcome.expect("command published");
    }

    let mut first = adapters(&service);
    eventually(
        Duration::from_secs(60),
        "a quarter of the sends made",
        || calls(&fake).len() >= COMMANDS / 2,
    )
    .await;
    first.kill();
    let at_kill = calls(&fake).len();
    let _second = adapters(&service);
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

    let sent_ids: BTreeSet<String> = {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let held = topic_len(&broker.brokers(), "messages.status");
            let records = read_topic(
                &broker.brokers(),
                "messages.status",
                held,
                Duration::from_secs(30),
            )
            .await;
            let ids: BTreeSet<String> = records
                .iter()
                .filter(|r| {
                    r.header("ce_type").as_deref() == Some("switchboard.message.MessageSent.v1")
                })
                .filter_map(|r| serde_json::from_slice::<Value>(&r.payload).ok())
                .filter_map(|body| body["message_id"].as_str().map(str::to_owned))
                .collect();
            if ids.len() >= COMMANDS || std::time::Instant::now() > deadline {
                break ids;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
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
