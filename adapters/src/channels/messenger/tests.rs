//! Messenger against the documented example payloads, plus the shared compliance checks and
//! the account check (every entry must name the integration's page).

use super::{MessengerWebhook, KIND, PAGE_ID};
use crate::channels::compliance::{
    assert_account_mismatch, assert_parser_total, assert_signature_contract, assert_unattributed,
    counting, fixture, parse_as, parse_trusted, receive, secrets_of, ItemCounts,
};
use crate::channels::meta::{APP_SECRET, SIGNATURE_HEADER, VERIFY_TOKEN};
use crate::channels::webhook::{
    hmac_sha256, OwnAccount, WebhookChannel, WebhookError, WebhookSecrets, UNATTRIBUTED_CONTACT,
};
use chrono::DateTime;
use http::HeaderMap;
use serde_json::{json, Value};
use std::collections::HashMap;
use switchboard_domain::message::{
    Attachment, AttachmentKind, InboundDraft, InboundKind, MessageContent,
};

/// The page of the integration under test, as most fixtures name it.
const PAGE: &str = "1122334455";
/// Another page of the same Meta app.
const OTHER_PAGE: &str = "9988776655";

/// The secrets of an integration of `PAGE`, on a platform whose app secret is `app_secret`.
fn secrets(app_secret: &str) -> WebhookSecrets {
    secrets_for(Some(PAGE), app_secret)
}

fn secrets_for(page: Option<&str>, app_secret: &str) -> WebhookSecrets {
    let integration: Vec<(&str, &str)> = page.map(|page| (PAGE_ID, page)).into_iter().collect();
    secrets_of(
        &integration,
        &[(APP_SECRET, app_secret), (VERIFY_TOKEN, "verify-me")],
    )
}

fn page(id: &str) -> OwnAccount {
    OwnAccount::of([(PAGE_ID, id)])
}

/// One entry of `page` holding one text message per sender in `senders`.
fn entry(page: &str, senders: &[&str]) -> Value {
    let messaging: Vec<Value> = senders
        .iter()
        .map(|sender| {
            json!({"sender": {"id": sender}, "recipient": {"id": page}, "timestamp": 1_700_000_000_000i64,
                "message": {"mid": format!("m_{sender}"), "text": "hi"}})
        })
        .collect();
    json!({"id": page, "time": 1_700_000_000_000i64, "messaging": messaging})
}

fn delivery(entries: Vec<Value>) -> Vec<u8> {
    json!({"object": "page", "entry": entries})
        .to_string()
        .into_bytes()
}

/// `body` signed with the app secret, received by the integration of `PAGE`.
fn receive_signed(body: &[u8]) -> (Result<Vec<InboundDraft>, WebhookError>, ItemCounts) {
    let secrets = secrets("app-secret");
    counting(KIND, || {
        receive(&MessengerWebhook, &sign(body, &secrets), body, &secrets)
    })
}

fn contacts(drafts: &[InboundDraft]) -> Vec<&str> {
    drafts
        .iter()
        .map(|d| d.contact.platform_id.as_str())
        .collect()
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
    parse_for(PAGE, name)
}

/// The fixture `name`, verified for an integration of the page `id`.
fn parse_for(id: &str, name: &str) -> Vec<InboundDraft> {
    parse_as(
        &MessengerWebhook,
        &fixture(&format!("messenger/{name}.json")),
        &page(id),
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
    let body: Value = serde_json::from_slice(&fixture("messenger/attachment.json")).unwrap();
    let drafts = parse_for(body["entry"][0]["id"].as_str().unwrap(), "attachment");
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
    let (drafts, counts) = counting(KIND, || parse("batch_with_bad_item"));
    assert_eq!(
        contacts(&drafts),
        ["111", UNATTRIBUTED_CONTACT, "222", "333"],
        "the item without a sender is kept alone, in its place"
    );
    assert_eq!(
        received(&drafts[2]).1,
        &MessageContent::Unsupported {
            kind: "reaction".into()
        }
    );
    assert!(
        matches!(received(&drafts[3]).1, MessageContent::Location { latitude, .. } if (*latitude - 10.7769).abs() < 1e-9)
    );
    assert_eq!(
        counts,
        ItemCounts {
            foreign: 0,
            unattributed: 1
        }
    );
}

#[test]
fn an_item_without_a_sender_is_kept_as_unsupported_and_counted() {
    let drafts = parse("batch_with_bad_item");
    assert_unattributed(&drafts[1], "message", Some("m_no_sender"));
    assert_eq!(
        drafts[1].raw["message"]["text"], "lost",
        "the raw item is kept"
    );
    assert_eq!(
        drafts[1].platform_timestamp,
        DateTime::from_timestamp_millis(1_458_692_752_479).unwrap()
    );
    let echo_without_recipient = json!({"sender": {"id": PAGE}, "timestamp": 1_700_000_000_000i64,
        "message": {"is_echo": true, "text": "sent from the inbox"}});
    let body = delivery(vec![
        json!({"id": PAGE, "messaging": [echo_without_recipient]}),
    ]);
    let ((first, again), counts) = counting(KIND, || {
        let first = parse_as(&MessengerWebhook, &body, &page(PAGE)).unwrap();
        (
            first,
            parse_as(&MessengerWebhook, &body, &page(PAGE)).unwrap(),
        )
    });
    assert_eq!(first.len(), 1);
    assert_unattributed(&first[0], "message", None);
    assert_eq!(first, again, "a redelivery gets the same message id");
    assert_eq!(counts.unattributed, 2);
}

#[test]
fn a_delivery_signed_with_the_app_secret_but_naming_another_page_is_refused() {
    let body = delivery(vec![entry(OTHER_PAGE, &["42", "43"])]);
    let (result, counts) = receive_signed(&body);
    assert_account_mismatch(result);
    assert_eq!(
        counts,
        ItemCounts {
            foreign: 2,
            unattributed: 0
        }
    );
}

#[test]
fn a_mixed_batch_keeps_only_the_items_of_our_page() {
    let body = delivery(vec![
        entry(PAGE, &["1", "2"]),
        entry(OTHER_PAGE, &["3"]),
        entry(PAGE, &["4"]),
        json!({"time": 1, "messaging": [{"sender": {"id": "5"}, "message": {"text": "no page"}}]}),
    ]);
    let (drafts, counts) = receive_signed(&body);
    assert_eq!(contacts(&drafts.unwrap()), ["1", "2", "4"]);
    assert_eq!(
        counts,
        ItemCounts {
            foreign: 2,
            unattributed: 0
        },
        "the other page's item and the item of an entry naming no page"
    );
}

#[test]
fn an_integration_without_a_page_id_accepts_no_delivery_but_answers_the_handshake() {
    let body = delivery(vec![entry(PAGE, &["1"])]);
    let platform_page = secrets_of(
        &[],
        &[
            (APP_SECRET, "app-secret"),
            (VERIFY_TOKEN, "verify-me"),
            (PAGE_ID, PAGE),
        ],
    );
    for unbound in [
        secrets_for(None, "app-secret"),
        secrets_for(Some(" "), "app-secret"),
        platform_page,
    ] {
        let headers = sign(&body, &unbound);
        assert_eq!(
            receive(&MessengerWebhook, &headers, &body, &unbound).err(),
            Some(WebhookError::MissingSecret(PAGE_ID)),
            "a page id only the platform names binds nothing"
        );
        let query: HashMap<String, String> = [
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "verify-me"),
            ("hub.challenge", "7"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(MessengerWebhook.handshake(&query, &unbound).unwrap(), "7");
    }
    let wrong = sign(&body, &secrets("another-secret"));
    assert!(
        matches!(
            receive(
                &MessengerWebhook,
                &wrong,
                &body,
                &secrets_for(None, "app-secret")
            ),
            Err(WebhookError::Unauthorized(_))
        ),
        "the signature is checked first"
    );
}

#[test]
fn a_body_verified_without_an_account_is_not_parsed() {
    let body = delivery(vec![entry(PAGE, &["1"])]);
    assert_eq!(
        parse_trusted(&MessengerWebhook, &body).err(),
        Some(WebhookError::MissingSecret(PAGE_ID))
    );
}

#[test]
fn bodies_that_are_not_page_webhooks_are_malformed() {
    for body in [&b"not json"[..], b"{}", br#"{"object":"page"}"#, b"[]"] {
        assert!(matches!(
            parse_as(&MessengerWebhook, body, &page(PAGE)),
            Err(WebhookError::Malformed(_))
        ));
    }
}

#[test]
fn no_input_makes_the_parser_panic() {
    assert_parser_total(&MessengerWebhook, &page(PAGE));
}

#[test]
fn entries_and_items_of_other_shapes_are_passed_over_and_each_draft_keeps_its_item_as_sent() {
    let good = json!({"sender": {"id": "111"}, "recipient": {"id": PAGE}, "timestamp": 1_700_000_000_000_i64,
        "message": {"mid": "m1", "text": "hi"}});
    let body = json!({"object": "page", "entry": [
        5, "x", [1], {"id": PAGE, "messaging": 5}, {"id": PAGE},
        {"id": PAGE, "messaging": [7, good.clone()]},
    ]});
    let drafts = parse_as(&MessengerWebhook, body.to_string().as_bytes(), &page(PAGE)).unwrap();
    assert_eq!(contacts(&drafts), [UNATTRIBUTED_CONTACT, "111"]);
    assert_eq!(drafts[0].raw, json!(7));
    assert_eq!(drafts[1].raw, good);
}
