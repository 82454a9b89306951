//! Messenger against the documented example payloads, plus the shared compliance checks.

use super::MessengerWebhook;
use crate::channels::compliance::{
    assert_parser_total, assert_signature_contract, fixture, parse_trusted,
};
use crate::channels::meta::{APP_SECRET, SIGNATURE_HEADER, VERIFY_TOKEN};
use crate::channels::webhook::{hmac_sha256, WebhookSecrets};
use chrono::DateTime;
use http::HeaderMap;
use switchboard_domain::message::{
    Attachment, AttachmentKind, InboundDraft, InboundKind, MessageContent,
};
use switchboard_domain::SecretString;

fn secrets(app_secret: &str) -> WebhookSecrets {
    WebhookSecrets::new(
        Default::default(),
        [
            (APP_SECRET.to_owned(), SecretString::new(app_secret)),
            (VERIFY_TOKEN.to_owned(), SecretString::new("verify-me")),
        ]
        .into(),
    )
}

fn sign(body: &[u8], secrets: &WebhookSecrets) -> HeaderMap {
    let key = secrets
        .get(APP_SECRET)
        .unwrap()
        .expose()
        .as_bytes()
        .to_vec();
    let signature = format!("sha256={}", hex::encode(hmac_sha256(&key, &[body])));
    let mut headers = HeaderMap::new();
    headers.insert(SIGNATURE_HEADER, signature.parse().unwrap());
    headers
}

fn parse(name: &str) -> Vec<InboundDraft> {
    parse_trusted(
        &MessengerWebhook,
        &fixture(&format!("messenger/{name}.json")),
    )
    .unwrap()
}

fn received(draft: &InboundDraft) -> (&str, &MessageContent, Option<&str>, bool) {
    match &draft.kind {
        InboundKind::MessageReceived {
            platform_message_id,
            content,
            reply_to,
            is_echo,
        } => (platform_message_id, content, reply_to.as_deref(), *is_echo),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn every_fixture_passes_the_signature_contract() {
    for name in [
        "text_quick_reply",
        "attachment",
        "echo",
        "delivery_and_read",
    ] {
        let body = fixture(&format!("messenger/{name}.json"));
        assert_signature_contract(
            &MessengerWebhook,
            &body,
            &secrets("app-secret"),
            &secrets("another-secret"),
            &sign,
        );
    }
}

#[test]
fn a_text_with_a_quick_reply_keeps_its_payload_and_text() {
    let drafts = parse("text_quick_reply");
    assert_eq!(drafts.len(), 1);
    let (id, content, reply_to, is_echo) = received(&drafts[0]);
    assert_eq!(id, "mid.1457764197618:41d102a3e1ae206a38");
    assert_eq!(
        content,
        &MessageContent::QuickReply {
            payload: "<DEVELOPER_DEFINED_PAYLOAD>".into(),
            text: Some("hello, world!".into())
        }
    );
    assert_eq!((reply_to, is_echo), (None, false));
    assert_eq!(drafts[0].contact.platform_id, "6543210987654321");
    assert_eq!(
        drafts[0].platform_timestamp,
        DateTime::from_timestamp_millis(1_458_692_752_478).unwrap()
    );
    assert_eq!(drafts[0].raw["message"]["text"], "hello, world!");
}

#[test]
fn a_reply_names_the_message_it_answers() {
    let drafts = parse("reply");
    let (_, content, reply_to, _) = received(&drafts[0]);
    assert_eq!(
        content,
        &MessageContent::Text {
            text: "hello, world!".into()
        }
    );
    assert_eq!(reply_to, Some("m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"));
}

#[test]
fn attachments_become_media() {
    let drafts = parse("attachment");
    let (id, content, _, _) = received(&drafts[0]);
    assert_eq!(id, "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c");
    assert_eq!(
        content,
        &MessageContent::Media {
            attachments: vec![Attachment {
                kind: AttachmentKind::Image,
                url: Some("https://scontent.xx.fbcdn.net/v/t1.15752-9/attachment.png".into()),
                mime_type: None,
                media_id: None,
            }],
            caption: None
        }
    );
}

#[test]
fn postbacks_carry_payload_and_title() {
    let drafts = parse("postback");
    let (id, content, _, _) = received(&drafts[0]);
    assert_eq!(id, "m_MESSAGE-ID");
    assert_eq!(
        content,
        &MessageContent::Postback {
            payload: "GET_STARTED_PAYLOAD".into(),
            title: Some("Get Started".into())
        }
    );
}

#[test]
fn echoes_are_marked_and_belong_to_the_recipient() {
    let drafts = parse("echo");
    let (_, _, _, is_echo) = received(&drafts[0]);
    assert!(is_echo);
    assert_eq!(drafts[0].contact.platform_id, "6543210987654321");
}

#[test]
fn deliveries_and_reads_become_receipts_with_watermarks() {
    let drafts = parse("delivery_and_read");
    let watermark = DateTime::from_timestamp_millis(1_458_668_856_253);
    assert_eq!(
        drafts[0].kind,
        InboundKind::MessageDelivered {
            platform_message_ids: vec!["mid.1458668856218:ed81099e15d3f4f233".into()],
            watermark
        }
    );
    assert_eq!(
        drafts[1].kind,
        InboundKind::MessageRead {
            platform_message_ids: vec![],
            watermark
        }
    );
}

#[test]
fn a_bad_item_never_drops_its_siblings() {
    let drafts = parse("batch_with_bad_item");
    let contacts: Vec<&str> = drafts
        .iter()
        .map(|d| d.contact.platform_id.as_str())
        .collect();
    assert_eq!(
        contacts,
        ["111", "222", "333"],
        "the item without a sender is skipped alone"
    );
    assert_eq!(
        received(&drafts[1]).1,
        &MessageContent::Unsupported {
            kind: "reaction".into()
        }
    );
    assert!(
        matches!(received(&drafts[2]).1, MessageContent::Location { latitude, .. } if (*latitude - 10.7769).abs() < 1e-9)
    );
}

#[test]
fn bodies_that_are_not_page_webhooks_are_malformed() {
    for body in [&b"not json"[..], b"{}", br#"{"object":"page"}"#, b"[]"] {
        assert!(parse_trusted(&MessengerWebhook, body).is_err());
    }
}

#[test]
fn no_input_makes_the_parser_panic() {
    assert_parser_total(&MessengerWebhook);
}
