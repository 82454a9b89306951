//! The mailbox readers of a service: every connected e-mail integration's mailbox is read by
//! one reader however many processes run readers, another process takes a mailbox over when
//! its reader's process stops, and a disconnected one is read no more.

use super::servers::{Dovecot, ReaderRig};
use crate::helpers::{read_topic, topic_len};
use serde_json::Value;
use std::time::Duration;
use switchboard_adapters::mailbox::{MailboxReaders, ReadersSettings};
use switchboard_adapters::store::CommandMetadata;
use switchboard_domain::integration::IntegrationCommand;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Rounds quick enough for a test.
const SETTINGS: ReadersSettings = ReadersSettings {
    interval: Duration::from_millis(200),
    max_readers: 10,
};

/// One process's reader set on `rig`'s integrations, reading `server`, running until `stop`.
fn reader_set(rig: &ReaderRig, server: &Dovecot, stop: &watch::Receiver<bool>) -> JoinHandle<()> {
    let readers = MailboxReaders::new(rig.integrations(), rig.parts(server), SETTINGS);
    let mut stop = stop.clone();
    tokio::spawn(async move {
        readers
            .run(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
    })
}

/// Waits for `set` to end after its stop was sent.
async fn stopped(set: JoinHandle<()>) {
    tokio::time::timeout(Duration::from_secs(10), set)
        .await
        .expect("the readers stop when asked")
        .unwrap();
}

fn mail(message_id: &str) -> String {
    format!("From: ann@example.com\nSubject: Hello\nMessage-ID: <{message_id}>\n\nHello\n")
}

#[tokio::test]
async fn two_processes_read_a_connected_mailbox_once_and_stop_when_it_is_disconnected() {
    let server = Dovecot::start().await;
    let rig = ReaderRig::new().await;
    let id = rig.connected_mailbox(&server).await;
    let (stop, stop_rx) = watch::channel(false);
    let processes = [
        reader_set(&rig, &server, &stop_rx),
        reader_set(&rig, &server, &stop_rx),
    ];

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
        stopped(process).await;
    }
}

#[tokio::test]
async fn when_the_reading_process_stops_another_takes_the_mailbox_over() {
    let server = Dovecot::start().await;
    let rig = ReaderRig::new().await;
    rig.connected_mailbox(&server).await;
    let brokers = rig.kafka.brokers();
    let (stop_first, first_stop) = watch::channel(false);
    let first = reader_set(&rig, &server, &first_stop);
    server.append(&mail("one@example.com")).await;
    let read = read_topic(&brokers, &rig.received_topic, 1, Duration::from_secs(20)).await;
    assert_eq!(read.len(), 1, "the first process reads the mailbox");

    // The first process holds the mailbox: the second one, started now, waits.
    let (stop_second, second_stop) = watch::channel(false);
    let second = reader_set(&rig, &server, &second_stop);
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.append(&mail("two@example.com")).await;
    let read = read_topic(&brokers, &rig.received_topic, 2, Duration::from_secs(20)).await;
    assert_eq!(read.len(), 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        topic_len(&brokers, &rig.received_topic),
        2,
        "one mail, one event, with two processes"
    );

    stop_first.send(true).unwrap();
    stopped(first).await;
    server.append(&mail("three@example.com")).await;
    let read = read_topic(&brokers, &rig.received_topic, 3, Duration::from_secs(20)).await;
    assert_eq!(read.len(), 3, "the second process took the mailbox over");
    let ids: Vec<Value> = read
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.payload).unwrap()["platform_message_id"].clone()
        })
        .collect();
    assert!(ids.contains(&Value::from("three@example.com")), "{ids:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(topic_len(&brokers, &rig.received_topic), 3);

    stop_second.send(true).unwrap();
    stopped(second).await;
}
