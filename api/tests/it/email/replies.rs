//! Replies to an e-mail conversation reach the customer threaded: the SMTP server receives
//! them with `In-Reply-To` and `References` naming the mail they answer, under `Re: …`.

use super::inbound::{events, Reading};
use super::servers::{Dovecot, ReaderRig, Smtpd, PASSWORD, USER};
use crate::helpers::TEST_EGRESS_ALLOW;
use std::collections::BTreeMap;
use switchboard_adapters::channels::email::EmailReplySender;
use switchboard_adapters::channels::sender::{ChannelSender, SendTarget};
use switchboard_adapters::channels::webhook::WebhookSecrets;
use switchboard_adapters::egress::EgressPolicy;
use switchboard_adapters::mailbox::MailboxThreads;
use switchboard_domain::message::{OutboundContent, SendMessage};
use switchboard_domain::{ChannelKind, IntegrationId, SecretString};

/// The integration's SMTP side, as its auth fields name it.
fn target(integration_id: IntegrationId, smtp: &Smtpd) -> SendTarget {
    let fields: BTreeMap<String, SecretString> = [
        ("smtp_host", "localhost".to_owned()),
        ("smtp_port", smtp.port.to_string()),
        ("smtp_starttls", "false".to_owned()),
        ("username", USER.to_owned()),
        ("password", PASSWORD.to_owned()),
        ("address", "support@shop.test".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), SecretString::new(v)))
    .collect();
    SendTarget {
        integration_id,
        workspace_id: "acme".parse().unwrap(),
        channel: ChannelKind::parse("email").unwrap(),
        version: 2,
        api_base: String::new(),
        secrets: WebhookSecrets::new(fields, BTreeMap::new()),
    }
}

fn reply(integration_id: IntegrationId, contact: &str, text: &str) -> SendMessage {
    SendMessage {
        message_id: uuid::Uuid::new_v4(),
        integration_id,
        workspace_id: "acme".parse().unwrap(),
        channel: ChannelKind::parse("email").unwrap(),
        conversation_key: format!("{integration_id}:{contact}"),
        recipient: contact.to_owned(),
        content: OutboundContent {
            text: Some(text.to_owned()),
            ..OutboundContent::default()
        },
        idempotency_key: None,
        requested_at: chrono::Utc::now(),
    }
}

/// One header's value in a received message, unfolded.
pub(super) fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\r\n\r\n").next().unwrap_or_default();
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

#[tokio::test]
async fn a_reply_reaches_the_smtp_server_threaded_under_the_mail_it_answers() {
    let imap = Dovecot::start().await;
    let smtp = Smtpd::start().await;
    let rig = ReaderRig::new().await;
    let integration = IntegrationId::new();
    let reading = Reading::start(&rig, &imap, integration);
    imap.append(
        "From: Ann <ann@example.com>\nSubject: Order 42\nMessage-ID: <q2@example.com>\n\
         References: <q1@example.com>\nIn-Reply-To: <q1@example.com>\n\nWhere is it?\n",
    )
    .await;
    let event = events(&rig, 1).await.remove(0);
    let contact = event["contact"]["platform_id"].as_str().unwrap().to_owned();

    let sender = EmailReplySender::new(
        EgressPolicy::from_config(Some(TEST_EGRESS_ALLOW)).unwrap(),
        MailboxThreads::new(rig.pool.clone()),
    );
    let target = target(integration, &smtp);
    let sent = sender
        .send(&target, &reply(integration, &contact, "It left today."))
        .await
        .expect("the reply is accepted");
    let second = sender
        .send(
            &target,
            &reply(integration, &contact, "And arrives tomorrow."),
        )
        .await
        .expect("the second reply is accepted");

    let received = smtp.received(2).await;
    assert_eq!(received.len(), 2);
    let first = &received[0];
    assert_eq!(header(first, "To").unwrap(), "ann@example.com");
    assert_eq!(header(first, "Subject").unwrap(), "Re: Order 42");
    assert_eq!(header(first, "In-Reply-To").unwrap(), "<q2@example.com>");
    assert_eq!(
        header(first, "References").unwrap(),
        "<q1@example.com> <q2@example.com>"
    );
    assert_eq!(
        header(first, "Message-ID").unwrap(),
        sent.platform_message_id
    );
    assert!(first.contains("It left today."));
    // The next reply answers the first one, keeping the chain.
    let next = &received[1];
    assert_eq!(
        header(next, "In-Reply-To").unwrap(),
        sent.platform_message_id
    );
    assert!(header(next, "References")
        .unwrap()
        .ends_with(&format!("<q2@example.com> {}", sent.platform_message_id)));
    assert_eq!(
        header(next, "Message-ID").unwrap(),
        second.platform_message_id
    );
    reading.stop().await;
}
