//! The mailbox readers of a service: every connected e-mail integration's mailbox is read by
//! one reader however many processes run readers, and a disconnected one is read no more.

use super::servers::{Dovecot, ReaderRig};
use crate::helpers::{read_topic, topic_len};
use serde_json::Value;
use std::time::Duration;
use switchboard_adapters::mailbox::{MailboxReaders, ReadersSettings};
use switchboard_adapters::store::CommandMetadata;
use switchboard_domain::integration::IntegrationCommand;
use tokio::sync::watch;

/// Rounds quick enough for a test.
const SETTINGS: ReadersSettings = ReadersSettings {
    interval: Duration::from_millis(200),
    max_readers: 10,
};

fn mail(message_id: &str) -> String {
    format!("From: ann@example.com\nSubject: Hello\nMessage-ID: <{message_id}>\n\nHello\n")
}

#[tokio::test]
async fn two_processes_read_a_connected_mailbox_once_and_stop_when_it_is_disconnected() {
    let server = Dovecot::start().await;
    let rig = ReaderRig::new().await;
    let id = rig.connected_mailbox(&server).await;
    let (stop, stop_rx) = watch::channel(false);
    let processes: Vec<_> = (0..2)
        .map(|_| {
            let readers = MailboxReaders::new(rig.integrations(), rig.parts(&server), SETTINGS);
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                readers
                    .run(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    server.append(&mail("one@example.com")).await;
    let records = read_topic(
        &rig.kafka.brokers(),
        &rig.received_topic,
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(records.len(), 1);
    let event: Value = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(event["integration_id"], id.to_string());
    assert_eq!(event["workspace_id"], "acme");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let brokers = rig.kafka.brokers();
    assert_eq!(
        topic_len(&brokers, &rig.received_topic),
        1,
        "one reader, one event"
    );

    let disconnect = IntegrationCommand::Disconnect {
        reason: "test".into(),
        platform_outcome: None,
    };
    rig.integrations()
        .execute(id, disconnect, CommandMetadata::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.append(&mail("two@example.com")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        topic_len(&brokers, &rig.received_topic),
        1,
        "a disconnected mailbox is not read"
    );

    stop.send(true).unwrap();
    for process in processes {
        tokio::time::timeout(Duration::from_secs(10), process)
            .await
            .expect("the readers stop when asked")
            .unwrap();
    }
}
