//! An e-mail conversation end to end: a customer's mail read from dovecot becomes an inbox
//! conversation; an agent's reply posted to the conversation's messages route goes through
//! `messages.outbound` and the outbound engine to the real SMTP server, threaded under the
//! customer's mail, and shows as sent; the customer's answer to it joins the same conversation.

use super::inbound::{events, Reading};
use super::replies::header;
use super::servers::{Dovecot, ReaderRig, Smtpd};
use crate::helpers::outbound_engine;
use crate::send::{conversation_of, eventually, projector};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// The message of `page` with `id`, if listed.
fn message<'a>(page: &'a Value, id: &str) -> Option<&'a Value> {
    page["items"].as_array()?.iter().find(|m| m["id"] == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_reply_reaches_the_customer_threaded_and_their_answer_joins_the_conversation() {
    let imap = Dovecot::start().await;
    let smtp = Smtpd::start().await;
    let rig = ReaderRig::new().await;
    let integration = rig.connected_mailbox_sending_to(&imap, smtp.port).await;
    let reading = Reading::start(&rig, &imap, integration);
    let inbox = projector(&rig.app);
    let engine = outbound_engine(&rig.app);
    imap.append(
        "From: Ann <ann@example.com>\nTo: support@shop.test\nSubject: Order 42\n\
         Message-ID: <q1@example.com>\n\nWhere is my order?\n",
    )
    .await;
    let contact = events(&rig, 1).await[0]["contact"]["platform_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let conversation = conversation_of(&rig.app, &contact).await;

    let messages = format!("/v1/workspaces/acme/conversations/{conversation}/messages");
    let (status, accepted) = rig
        .app
        .call("POST", &messages, Some(json!({"text": "It left today."})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let reply_id = accepted["message_id"].as_str().unwrap().to_owned();

    let received = smtp.received(1).await;
    assert_eq!(received.len(), 1, "one mail reaches the SMTP server");
    let mail = &received[0];
    assert_eq!(header(mail, "To").unwrap(), "ann@example.com");
    assert_eq!(header(mail, "Subject").unwrap(), "Re: Order 42");
    assert_eq!(header(mail, "In-Reply-To").unwrap(), "<q1@example.com>");
    assert_eq!(header(mail, "References").unwrap(), "<q1@example.com>");
    assert!(mail.contains("It left today."));
    let reply_header = header(mail, "Message-ID").unwrap();
    let page = eventually(&rig.app, &messages, |page| {
        message(page, &reply_id).is_some_and(|m| m["status"] == "sent")
    })
    .await;
    let sent = message(&page, &reply_id).unwrap();
    assert_eq!(sent["direction"], "outbound");
    assert_eq!(sent["platform_message_id"], reply_header.as_str());

    // The customer answers the reply from their mail client.
    imap.append(&format!(
        "From: Ann <ann@example.com>\nTo: support@shop.test\nSubject: Re: Order 42\n\
         Message-ID: <q2@example.com>\nIn-Reply-To: {reply_header}\n\
         References: <q1@example.com> {reply_header}\n\nThanks, it arrived.\n"
    ))
    .await;
    let answer = events(&rig, 2).await.remove(1);
    assert_eq!(answer["contact"]["platform_id"], contact.as_str());
    let page = eventually(&rig.app, &messages, |page| {
        page["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|m| m["platform_message_id"] == "q2@example.com")
        })
    })
    .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        3,
        "mail, reply and answer in one conversation: {page}"
    );
    let (_, list) = rig
        .app
        .call("GET", "/v1/workspaces/acme/conversations", None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");

    reading.stop().await;
    engine.abort();
    inbox.abort();
}
