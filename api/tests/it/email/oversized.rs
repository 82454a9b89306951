//! A mail over the size cap is recorded without its body: the reader reads its size first,
//! then only its header and structure, publishes it with a note in place of the text and its
//! attachments as metadata, and reads on past it.

use super::inbound::{events, mail};
use super::servers::{Dovecot, ReaderRig};
use std::time::Duration;
use switchboard_adapters::mailbox::cursor::MailboxCursors;
use switchboard_adapters::mailbox::oversized::body_note;
use switchboard_adapters::mailbox::{MailboxReader, MailboxTarget};
use switchboard_domain::IntegrationId;
use tokio::sync::watch;

/// The cap of this test's reader.
const CAP_BYTES: u32 = 4 * 1024;

/// A mail with a 12 KiB (base64) PDF attachment, well over [`CAP_BYTES`].
fn large_mail() -> String {
    let line = "JVBERi0xLjQKJcfsj6IKJVBERi0xLjQKJcfsj6IKJVBERi0xLjQKJcfsj6IKJVBERi0xLjQK\n";
    format!(
        "From: Ann Example <ann@example.com>\nTo: support@shop.test\nSubject: Scans\n\
         Message-ID: <big-1@example.com>\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=b1\n\n\
         --b1\nContent-Type: text/plain\n\nThe scans you asked for.\n\
         --b1\nContent-Type: application/pdf; name=\"scan.pdf\"\n\
         Content-Disposition: attachment; filename=\"scan.pdf\"\n\
         Content-Transfer-Encoding: base64\n\n{}--b1--\n",
        line.repeat(170)
    )
}

#[tokio::test]
async fn a_mail_over_the_cap_is_recorded_without_its_body_and_the_reader_reads_on() {
    let server = Dovecot::start_without_idle().await;
    let rig = ReaderRig::new().await;
    let integration = IntegrationId::new();
    server
        .append(&mail("ann@example.com", "small-1@example.com", "Hello"))
        .await;
    server.append(&large_mail()).await;
    server
        .append(&mail(
            "ann@example.com",
            "small-2@example.com",
            "Hello again",
        ))
        .await;
    let mut parts = rig.parts(&server);
    parts.max_mail_bytes = CAP_BYTES;
    let target = MailboxTarget {
        integration_id: integration,
        workspace_id: "acme".parse().unwrap(),
        settings: server.settings(),
    };
    let reader = MailboxReader::new(target, parts);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move { reader.run(stop_rx).await });

    let events = events(&rig, 3).await;
    assert_eq!(events[0]["platform_message_id"], "small-1@example.com");
    assert_eq!(events[2]["platform_message_id"], "small-2@example.com");
    assert_eq!(events[2]["content"]["text"], "Hello again");
    let large = &events[1];
    assert_eq!(large["platform_message_id"], "big-1@example.com");
    assert_eq!(large["raw"]["subject"], "Scans");
    assert_eq!(large["raw"]["body_too_large"], true);
    let size = large["raw"]["size"].as_u64().unwrap();
    assert!(size > u64::from(CAP_BYTES), "{size}");
    let note = body_note(size as u32);
    assert_eq!(large["raw"]["text"], note.as_str());
    assert_eq!(large["content"]["type"], "media");
    assert_eq!(large["content"]["caption"], note.as_str());
    let attachment = &large["raw"]["attachments"][0];
    assert_eq!(attachment["name"], "scan.pdf");
    assert_eq!(attachment["type"], "application/pdf");
    assert!(
        attachment["size"].as_u64().unwrap() > 10_000,
        "{attachment}"
    );
    assert!(
        !large.to_string().contains("JVBERi0x"),
        "no byte of the body was fetched"
    );

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the reader stops when asked")
        .unwrap();
    let cursor = MailboxCursors::new(rig.pool.clone())
        .load(integration, "INBOX")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cursor.last_uid, 3, "the cursor moved past every mail");
}
