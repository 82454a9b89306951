//! `send_email` on an SMTP integration through the whole path, against the fake SMTP server,
//! with an attachment fetched from a URL.

use super::Actions;
use crate::helpers::TestKafka;
use serde_json::json;
use switchboard_adapters::channels::smtp::fake_server::{FakeSmtp, Replies};

#[tokio::test]
async fn an_email_goes_to_every_recipient_with_both_bodies_and_its_attachment() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let server = FakeSmtp::start(Replies::default()).await;
    // `port` as a JSON number and `starttls` as a boolean, as the settings page submits them.
    let mailer = actions
        .app
        .connected(
            "acme",
            "smtp",
            json!({"host": "127.0.0.1", "port": server.port,
            "starttls": false, "username": "mailer", "password": "smtp-secret-pw",
            "from_address": "shop@shop.example"}),
        )
        .await;

    let attachment = format!("{}/files/invoice.pdf", actions.sheets.base);
    let id = actions
        .accepted("acme", &mailer, "send_email", json!({
            "to": ["Ada <ada@example.org>"], "cc": ["cc@example.org"], "bcc": ["audit@example.org"],
            "subject": "Your invoice", "text": "Plain words", "html": "<p>Rich words</p>",
            "reply_to": "help@shop.example",
            "attachments": [{"url": attachment}]
        }))
        .await;
    let done = actions.finished("acme", &id).await;

    assert_eq!(done["status"], "completed", "{done}");
    let message_id = format!("<{id}@shop.example>");
    assert_eq!(done["output"]["message_id"], message_id.as_str());
    assert_eq!(
        done["output"]["recipients"],
        json!(["ada@example.org", "cc@example.org", "audit@example.org"])
    );
    let session = server.session();
    assert_eq!(session.mail_from, "<shop@shop.example>");
    assert_eq!(
        session.rcpt_to,
        [
            "<ada@example.org>",
            "<cc@example.org>",
            "<audit@example.org>"
        ]
    );
    let data = session.data.replace("\r\n", "\n");
    for expected in [
        "Subject: Your invoice",
        "Reply-To: help@shop.example",
        "Cc: cc@example.org",
        &format!("Message-ID: {message_id}"),
        "Plain words",
        "Rich words",
        "invoice.pdf",
        "application/pdf",
    ] {
        assert!(data.contains(expected), "{expected} not in {data}");
    }
    assert!(!data.contains("audit@example.org"), "Bcc leaked: {data}");
    assert!(!done.to_string().contains("smtp-secret-pw"));
    actions.stop().await;
}

#[tokio::test]
async fn an_attachment_the_egress_policy_refuses_fails_the_email_for_good() {
    let kafka = TestKafka::new();
    let actions = Actions::start(&kafka).await;
    let server = FakeSmtp::start(Replies::default()).await;
    let mailer = actions
        .app
        .connected(
            "acme",
            "smtp",
            json!({"host": "127.0.0.1", "port": server.port,
            "starttls": false, "username": "mailer", "password": "smtp-secret-pw",
            "from_address": "shop@shop.example"}),
        )
        .await;

    let id = actions
        .accepted(
            "acme",
            &mailer,
            "send_email",
            json!({
                "to": ["ada@example.org"], "subject": "Hi", "text": "x",
                "attachments": [{"url": "http://169.254.169.254/latest/meta-data"}]
            }),
        )
        .await;
    let failed = actions.finished("acme", &id).await;

    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["reason"], "permanent");
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("egress policy refused"),
        "{failed}"
    );
    assert!(server.session().rcpt_to.is_empty());
    actions.stop().await;
}
