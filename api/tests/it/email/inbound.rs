//! Mail arriving in a dovecot mailbox becomes `MessageReceived` events: one per mail, the
//! same id for the same mail however often it is read, nothing lost across reader restarts
//! or an IMAP server that stops and starts again; a wrong password is refused clearly.

use super::servers::{Dovecot, ReaderRig, PASSWORD};
use crate::helpers::{read_topic, topic_len};
use serde_json::Value;
use std::time::Duration;
use switchboard_adapters::mailbox::cursor::{Cursor, MailboxCursors};
use switchboard_adapters::mailbox::{MailboxError, MailboxReader, MailboxTarget};
use switchboard_domain::IntegrationId;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The longest any one wait for mail to arrive on the topic takes.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(20);

/// A mail from `from` with `message_id` and `body`.
pub fn mail(from: &str, message_id: &str, body: &str) -> String {
    format!(
        "From: Ann Example <{from}>\nTo: support@shop.test\nSubject: Order 42\n\
         Message-ID: <{message_id}>\nDate: Tue, 1 Dec 2026 10:00:00 +0000\n\n{body}\n"
    )
}

/// A running reader and the means to stop it.
pub struct Reading {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Reading {
    pub fn start(rig: &ReaderRig, server: &Dovecot, integration_id: IntegrationId) -> Self {
        let target = MailboxTarget {
            integration_id,
            workspace_id: "acme".parse().unwrap(),
            settings: server.settings(),
        };
        let reader = MailboxReader::new(target, rig.parts(server));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(async move { reader.run(stop_rx).await });
        Self { stop, task }
    }

    pub async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the reader stops when asked")
            .unwrap();
    }
}

/// The events on the topic, once it holds `count` of them, in the order of their UIDs.
pub async fn events(rig: &ReaderRig, count: usize) -> Vec<Value> {
    let records = read_topic(
        &rig.kafka.brokers(),
        &rig.received_topic,
        count,
        ARRIVAL_LIMIT,
    )
    .await;
    assert_eq!(records.len(), count, "events on messages.received");
    let mut events: Vec<Value> = records
        .iter()
        .map(|r| serde_json::from_slice(&r.payload).unwrap())
        .collect();
    // Conversations fall in different partitions: the folder's order is the UIDs'.
    events.sort_by_key(|e| e["raw"]["uid"].as_u64());
    events
}

async fn cursor(rig: &ReaderRig, integration_id: IntegrationId) -> Option<Cursor> {
    MailboxCursors::new(rig.pool.clone())
        .load(integration_id, "INBOX")
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_mail_becomes_one_message_received_with_its_bodies_and_attachments() {
    let server = Dovecot::start().await;
    let rig = ReaderRig::new().await;
    let integration = IntegrationId::new();
    let reading = Reading::start(&rig, &server, integration);
    let raw = "From: Ann Example <Ann@Example.com>\nTo: support@shop.test\nSubject: Invoice\n\
               Message-ID: <inv-1@example.com>\nMIME-Version: 1.0\n\
               Content-Type: multipart/mixed; boundary=b1\n\n\
               --b1\nContent-Type: multipart/alternative; boundary=b2\n\n\
               --b2\nContent-Type: text/plain\n\nPlease see the invoice.\n\
               --b2\nContent-Type: text/html\n\n<p>Please see the <b>invoice</b>.</p>\n--b2--\n\
               --b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"invoice.pdf\"\n\
               Content-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfsj6IK\n--b1--\n";
    // Appended while the reader waits in IDLE: the server's news wakes it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.append(raw).await;

    let event = events(&rig, 1).await.remove(0);
    assert_eq!(event["type"], "MessageReceived");
    assert_eq!(event["channel"], "email");
    assert_eq!(event["platform_message_id"], "inv-1@example.com");
    assert!(event["contact"]["platform_id"]
        .as_str()
        .unwrap()
        .starts_with("ann@example.com#"));
    assert_eq!(event["contact"]["display_name"], "Ann Example");
    assert_eq!(event["content"]["type"], "media");
    assert_eq!(event["content"]["caption"], "Please see the invoice.");
    assert_eq!(event["raw"]["subject"], "Invoice");
    assert!(event["raw"]["html"]
        .as_str()
        .unwrap()
        .contains("<b>invoice</b>"));
    let attachment = &event["raw"]["attachments"][0];
    assert_eq!(attachment["name"], "invoice.pdf");
    assert_eq!(attachment["type"], "application/pdf");
    assert_eq!(attachment["size"], 15);
    reading.stop().await;
    assert_eq!(cursor(&rig, integration).await.unwrap().last_uid, 1);
}

#[tokio::test]
async fn the_same_mail_read_twice_or_after_a_restart_is_one_message() {
    let server = Dovecot::start_without_idle().await;
    let rig = ReaderRig::new().await;
    let integration = IntegrationId::new();
    let original = mail("ann@example.com", "dup-1@example.com", "Where is my order?");
    server.append(&original).await;
    server.append(&original).await;

    let reading = Reading::start(&rig, &server, integration);
    let twice = events(&rig, 2).await;
    assert_eq!(
        twice[0]["event_id"], twice[1]["event_id"],
        "one message id for one Message-ID"
    );
    reading.stop().await;

    // A restarted reader resumes after its cursor: nothing is read again, new mail is.
    let reading = Reading::start(&rig, &server, integration);
    server
        .append(&mail("ann@example.com", "new-1@example.com", "Any news?"))
        .await;
    let all = events(&rig, 3).await;
    assert_eq!(all[2]["platform_message_id"], "new-1@example.com");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(topic_len(&rig.kafka.brokers(), &rig.received_topic), 3);
    reading.stop().await;
    assert_eq!(cursor(&rig, integration).await.unwrap().last_uid, 3);
}

#[tokio::test]
async fn replies_thread_into_the_conversation_of_their_first_mail_per_contact() {
    let server = Dovecot::start().await;
    let rig = ReaderRig::new().await;
    let reading = Reading::start(&rig, &server, IntegrationId::new());
    server
        .append(&mail("ann@example.com", "t1@example.com", "First"))
        .await;
    server
        .append(&mail("ann@example.com", "other@example.com", "A new topic"))
        .await;
    server
        .append(
            "From: ann@example.com\nSubject: Re: Order 42\nMessage-ID: <t3@example.com>\n\
             In-Reply-To: <t2@shop.test>\nReferences: <t1@example.com> <t2@shop.test>\n\nAgain\n",
        )
        .await;
    let events = events(&rig, 3).await;
    let contact = |i: usize| {
        events[i]["contact"]["platform_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(contact(0), contact(2), "the reply joins its thread");
    assert_ne!(
        contact(0),
        contact(1),
        "a new topic is a conversation of its own"
    );
    assert_eq!(events[2]["reply_to"], "t2@shop.test");
    assert_eq!(events[2]["contact"]["thread_id"], "t1@example.com");
    reading.stop().await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_as_a_login_failure_without_the_password() {
    let server = Dovecot::start().await;
    let wrong = "not-the-password-0815";
    let error = server
        .connector()
        .connect(&server.settings_with_password(wrong))
        .await
        .expect_err("a wrong password is refused");
    assert!(
        matches!(error, MailboxError::Authentication(_)),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(text.contains("refused the login"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");
    // The connect probe says the same about the same server.
    let probe = switchboard_adapters::channels::imap_probe::ImapProbe::new(server.policy());
    let login = switchboard_adapters::channels::imap_probe::ImapLogin {
        host: "localhost",
        port: server.port,
        username: super::servers::USER,
        password: wrong,
    };
    let refused = probe.login(&login).await.unwrap_err().to_string();
    assert!(!refused.contains(wrong), "{refused}");
    let right = switchboard_adapters::channels::imap_probe::ImapLogin {
        password: PASSWORD,
        ..login
    };
    probe
        .login(&right)
        .await
        .expect("the right password logs in");
}

#[tokio::test]
async fn mail_delivered_while_the_imap_server_was_down_arrives_once_it_is_back() {
    let mut server = Dovecot::start().await;
    let rig = ReaderRig::new().await;
    let integration = IntegrationId::new();
    let reading = Reading::start(&rig, &server, integration);
    server
        .append(&mail("ann@example.com", "before@example.com", "Before"))
        .await;
    events(&rig, 1).await;

    server.stop();
    server.deliver(&mail(
        "ann@example.com",
        "during@example.com",
        "While you were away",
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.start_again().await;
    server
        .append(&mail("ann@example.com", "after@example.com", "After"))
        .await;

    let all = events(&rig, 3).await;
    let ids: Vec<&str> = all
        .iter()
        .map(|e| e["platform_message_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "before@example.com",
            "during@example.com",
            "after@example.com"
        ]
    );
    reading.stop().await;
    assert_eq!(cursor(&rig, integration).await.unwrap().last_uid, 3);
}
