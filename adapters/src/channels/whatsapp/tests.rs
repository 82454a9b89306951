//! WhatsApp against the documented example payloads, plus the shared compliance checks and
//! the account check (every change must name the integration's phone number and business
//! account).

use super::{channel, WhatsappWebhook, BUSINESS_ACCOUNT_ID, KIND, PHONE_NUMBER_ID};
use crate::channels::compliance::{
    arbitrary_json, assert_account_mismatch, assert_parser_total, assert_signature_contract,
    assert_unattributed, counting, fixture, parse_as, receive, secrets_of, ItemCounts,
};
use crate::channels::meta::{APP_SECRET, SIGNATURE_HEADER, VERIFY_TOKEN};
use crate::channels::webhook::{
    hmac_sha256, OwnAccount, WebhookChannel, WebhookError, WebhookSecrets, UNATTRIBUTED_CONTACT,
};
use chrono::DateTime;
use http::HeaderMap;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use switchboard_domain::message::{
    Attachment, AttachmentKind, InboundDraft, InboundKind, MessageContent, PlatformError,
};

const SHEENA: &str = "16505551234";
const JORDAN: &str = "16505559876";
const OUTGOING: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=";
/// The phone number and business account of the integration under test, as the fixtures name
/// them.
const PHONE: &str = "106540352242922";
const WABA: &str = "102290129340398";
/// Another phone number and business account of the same Meta app.
const OTHER_PHONE: &str = "106540352249999";
const OTHER_WABA: &str = "102290129349999";

/// The secrets of an integration of `PHONE` and `WABA`, on a platform whose app secret is
/// `app_secret`.
fn secrets(app_secret: &str) -> WebhookSecrets {
    secrets_of(
        &[(PHONE_NUMBER_ID, PHONE), (BUSINESS_ACCOUNT_ID, WABA)],
        &[(APP_SECRET, app_secret), (VERIFY_TOKEN, "verify-me")],
    )
}

fn own() -> OwnAccount {
    OwnAccount::of([(PHONE_NUMBER_ID, PHONE), (BUSINESS_ACCOUNT_ID, WABA)])
}

fn parse_body(body: &[u8]) -> Result<Vec<InboundDraft>, WebhookError> {
    parse_as(&WhatsappWebhook, body, &own())
}

/// One `messages` change of the phone number `phone` holding `value`'s items.
fn change(phone: &str, mut value: Value) -> Value {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550783881", "phone_number_id": phone});
    json!({"field": "messages", "value": value})
}

/// A delivery of the business account `waba` carrying `changes`.
fn delivery(waba: &str, changes: Vec<Value>) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": waba, "changes": changes}]})
        .to_string()
        .into_bytes()
}

/// A text message from `from`.
fn text_from(from: &str) -> Value {
    json!({"from": from, "id": format!("wamid.{from}"), "timestamp": "1749416383", "type": "text",
        "text": {"body": "hi"}})
}

/// `body` signed with the app secret, received by an integration holding `secrets`.
fn receive_signed(
    body: &[u8],
    secrets: &WebhookSecrets,
) -> (Result<Vec<InboundDraft>, WebhookError>, ItemCounts) {
    counting(KIND, || {
        receive(&WhatsappWebhook, &sign(body, secrets), body, secrets)
    })
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
    parse_body(&fixture(&format!("whatsapp/{name}.json"))).unwrap()
}

/// One `messages` change of our phone number holding `messages`, as the platform would send it.
fn envelope(messages: Value) -> Vec<u8> {
    delivery(WABA, vec![change(PHONE, json!({"messages": messages}))])
}

fn parse_messages(messages: Value) -> Vec<InboundDraft> {
    parse_body(&envelope(messages)).unwrap()
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

fn content_of(message: Value) -> MessageContent {
    let drafts = parse_messages(json!([message]));
    assert_eq!(drafts.len(), 1);
    received(&drafts[0]).1.clone()
}

#[test]
fn every_fixture_passes_the_signature_contract() {
    for name in [
        "text",
        "image",
        "location",
        "interactive_list_reply",
        "interactive_button_reply",
        "quick_reply_button",
        "status_sent",
        "status_delivered",
        "status_read",
        "status_failed",
        "batch_with_bad_item",
    ] {
        let body = fixture(&format!("whatsapp/{name}.json"));
        assert_signature_contract(
            &WhatsappWebhook,
            &body,
            &secrets("app-secret"),
            &secrets("another-secret"),
            &sign,
        );
    }
}

#[test]
fn the_channel_speaks_metas_webhook_dialect_with_a_three_megabyte_limit() {
    assert_eq!(
        WhatsappWebhook.signature_header(),
        Some("x-hub-signature-256")
    );
    assert_eq!(WhatsappWebhook.max_body_bytes(), 3 * 1024 * 1024);
    let query: HashMap<String, String> = [
        ("hub.mode", "subscribe"),
        ("hub.verify_token", "verify-me"),
        ("hub.challenge", "1158201444"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(
        WhatsappWebhook.handshake(&query, &secrets("s")).unwrap(),
        "1158201444"
    );
    assert!(
        channel().webhook.is_some(),
        "the registry entry exposes the webhook"
    );
}

#[test]
fn a_text_message_names_its_sender_and_their_profile_name() {
    let drafts = parse("text");
    assert_eq!(drafts.len(), 1);
    let (id, content, reply_to, is_echo) = received(&drafts[0]);
    assert_eq!(
        id,
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    );
    assert_eq!(
        content,
        &MessageContent::Text {
            text: "Does it come in another color?".into()
        }
    );
    assert_eq!((reply_to, is_echo), (None, false));
    assert_eq!(drafts[0].contact.platform_id, SHEENA);
    assert_eq!(
        drafts[0].contact.display_name.as_deref(),
        Some("Sheena Nelson")
    );
    assert_eq!(
        drafts[0].platform_timestamp,
        DateTime::from_timestamp(1_749_416_383, 0).unwrap()
    );
    assert_eq!(
        drafts[0].raw["text"]["body"],
        "Does it come in another color?"
    );
}

#[test]
fn an_image_keeps_its_media_id_mime_type_url_and_caption() {
    let drafts = parse("image");
    let (_, content, _, _) = received(&drafts[0]);
    assert_eq!(
        content,
        &MessageContent::Media {
            attachments: vec![Attachment {
                kind: AttachmentKind::Image,
                url: Some(
                    "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1003383421387256"
                        .into()
                ),
                mime_type: Some("image/jpeg".into()),
                media_id: Some("1003383421387256".into()),
            }],
            caption: Some("Taj Mahal".into())
        }
    );
    assert_eq!(
        drafts[0].platform_timestamp,
        DateTime::from_timestamp(1_744_344_496, 0).unwrap()
    );
}

#[test]
fn a_location_keeps_its_coordinates_name_and_address() {
    let drafts = parse("location");
    let (id, content, _, _) = received(&drafts[0]);
    assert_eq!(id, OUTGOING);
    assert_eq!(
        content,
        &MessageContent::Location {
            latitude: 37.44221496582,
            longitude: -122.16165924072,
            name: Some("Philz Coffee".into()),
            address: Some("101 Forest Ave, Palo Alto, CA 94301".into()),
        }
    );
}

#[test]
fn a_list_reply_becomes_a_postback_answering_the_list() {
    let drafts = parse("interactive_list_reply");
    let (_, content, reply_to, _) = received(&drafts[0]);
    assert_eq!(
        content,
        &MessageContent::Postback {
            payload: "priority_express".into(),
            title: Some("Priority Mail Express".into())
        }
    );
    assert_eq!(
        reply_to,
        Some("wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=")
    );
}

#[test]
fn a_button_reply_becomes_a_postback_with_its_id_and_title() {
    let drafts = parse("interactive_button_reply");
    let (id, content, reply_to, _) = received(&drafts[0]);
    assert_eq!(
        id,
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA="
    );
    assert_eq!(
        content,
        &MessageContent::Postback {
            payload: "cancel-button".into(),
            title: Some("Cancel".into())
        }
    );
    assert_eq!(
        reply_to,
        Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA")
    );
}

#[test]
fn a_template_quick_reply_button_keeps_its_payload_and_text() {
    let drafts = parse("quick_reply_button");
    let (_, content, reply_to, _) = received(&drafts[0]);
    assert_eq!(
        content,
        &MessageContent::QuickReply {
            payload: "Unsubscribe".into(),
            text: Some("Unsubscribe".into())
        }
    );
    assert!(reply_to.is_some());
}

#[test]
fn video_audio_documents_and_stickers_keep_their_media_ids() {
    let video = content_of(
        json!({"from": SHEENA, "id": "wamid.V", "timestamp": "1744344496",
        "type": "video", "video": {"id": "2001", "mime_type": "video/mp4", "caption": "Unboxing"}}),
    );
    assert_eq!(
        video,
        MessageContent::Media {
            attachments: vec![Attachment {
                kind: AttachmentKind::Video,
                url: None,
                mime_type: Some("video/mp4".into()),
                media_id: Some("2001".into()),
            }],
            caption: Some("Unboxing".into())
        }
    );
    let voice = content_of(
        json!({"from": SHEENA, "id": "wamid.A", "timestamp": "1744344496",
        "type": "audio", "audio": {"id": "2002", "mime_type": "audio/ogg; codecs=opus", "voice": true}}),
    );
    assert!(
        matches!(&voice, MessageContent::Media { attachments, caption: None }
        if attachments[0].kind == AttachmentKind::Audio && attachments[0].media_id.as_deref() == Some("2002"))
    );
    let document = content_of(
        json!({"from": SHEENA, "id": "wamid.D", "timestamp": "1744344496",
        "type": "document", "document": {"id": "2003", "filename": "invoice.pdf", "mime_type": "application/pdf"}}),
    );
    assert!(
        matches!(&document, MessageContent::Media { attachments, .. }
        if attachments[0].kind == AttachmentKind::File && attachments[0].mime_type.as_deref() == Some("application/pdf"))
    );
    let sticker = content_of(
        json!({"from": SHEENA, "id": "wamid.S", "timestamp": "1744344496",
        "type": "sticker", "sticker": {"id": "2004", "mime_type": "image/webp", "animated": false}}),
    );
    assert_eq!(
        sticker,
        MessageContent::Sticker {
            sticker_id: "2004".into(),
            url: None
        }
    );
}

#[test]
fn sent_delivered_and_read_statuses_become_receipts_for_the_recipient() {
    let sent = parse("status_sent");
    assert_eq!(
        sent[0].kind,
        InboundKind::MessageSent {
            platform_message_ids: vec![OUTGOING.into()]
        }
    );
    assert_eq!(sent[0].contact.platform_id, SHEENA);
    assert_eq!(sent[0].contact.display_name, None);
    assert_eq!(
        sent[0].platform_timestamp,
        DateTime::from_timestamp(1_750_030_073, 0).unwrap()
    );
    let delivered = parse("status_delivered");
    assert_eq!(
        delivered[0].kind,
        InboundKind::MessageDelivered {
            platform_message_ids: vec![
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA".into()
            ],
            watermark: None
        }
    );
    assert_eq!(delivered[0].raw["pricing"]["category"], "service");
    let read = parse("status_read");
    assert_eq!(
        read[0].kind,
        InboundKind::MessageRead {
            platform_message_ids: vec![OUTGOING.into()],
            watermark: None
        }
    );
    assert_eq!(read[0].contact.platform_id, SHEENA);
}

#[test]
fn a_failed_status_keeps_its_errors() {
    let drafts = parse("status_failed");
    assert_eq!(drafts.len(), 1);
    assert_eq!(
        drafts[0].kind,
        InboundKind::MessageFailed {
            platform_message_ids: vec![
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA".into()
            ],
            errors: vec![PlatformError {
                code: "131049".into(),
                title: Some(
                    "This message was not delivered to maintain healthy ecosystem engagement."
                        .into()
                ),
            }]
        }
    );
    assert_eq!(drafts[0].contact.platform_id, SHEENA);
    assert_eq!(
        drafts[0].platform_timestamp,
        DateTime::from_timestamp(1_751_142_888, 0).unwrap()
    );
}

#[test]
fn a_bad_item_never_drops_its_siblings() {
    let (drafts, counts) = counting(KIND, || parse("batch_with_bad_item"));
    let contacts: Vec<&str> = drafts
        .iter()
        .map(|d| d.contact.platform_id.as_str())
        .collect();
    assert_eq!(
        contacts,
        [
            SHEENA,
            UNATTRIBUTED_CONTACT,
            SHEENA,
            JORDAN,
            SHEENA,
            JORDAN,
            SHEENA
        ],
        "the message without a sender is kept alone, in its place"
    );
    assert_eq!(received(&drafts[0]).0, "wamid.BATCH_TEXT");
    assert_unattributed(&drafts[1], "text", Some("wamid.BATCH_NO_SENDER"));
    assert_eq!(
        drafts[1].raw["text"]["body"], "lost",
        "the raw item is kept"
    );
    assert_eq!(
        received(&drafts[2]).1,
        &MessageContent::Unsupported {
            kind: "reaction".into()
        }
    );
    assert_eq!(drafts[2].raw["reaction"]["emoji"], "\u{1f44d}");
    assert_eq!(
        received(&drafts[3]).1,
        &MessageContent::Unsupported {
            kind: "unsupported".into()
        }
    );
    assert_eq!(
        drafts[3].contact.display_name.as_deref(),
        Some("Jordan Rivera")
    );
    assert_eq!(drafts[3].raw["errors"][0]["code"], 131051);
    assert!(matches!(
        drafts[4].kind,
        InboundKind::MessageDelivered { .. }
    ));
    assert!(
        matches!(received(&drafts[5]).1, MessageContent::Location { latitude, .. }
        if (*latitude - 37.442_214_965_82).abs() < 1e-9)
    );
    assert!(matches!(drafts[6].kind, InboundKind::MessageRead { .. }));
    assert_eq!(
        counts,
        ItemCounts {
            foreign: 0,
            unattributed: 1
        }
    );
}

#[test]
fn a_delivery_naming_another_phone_number_is_refused() {
    let body = delivery(
        WABA,
        vec![change(
            OTHER_PHONE,
            json!({"messages": [text_from(SHEENA)]}),
        )],
    );
    let (result, counts) = receive_signed(&body, &secrets("app-secret"));
    assert_account_mismatch(result);
    assert_eq!(counts.foreign, 1);
}

#[test]
fn a_delivery_naming_another_business_account_is_refused() {
    let body = delivery(
        OTHER_WABA,
        vec![change(PHONE, json!({"messages": [text_from(SHEENA)]}))],
    );
    let (result, counts) = receive_signed(&body, &secrets("app-secret"));
    assert_account_mismatch(result);
    assert_eq!(counts.foreign, 1);
}

#[test]
fn without_a_recorded_business_account_the_phone_number_alone_is_compared() {
    let phone_only = secrets_of(
        &[(PHONE_NUMBER_ID, PHONE)],
        &[(APP_SECRET, "app-secret"), (VERIFY_TOKEN, "verify-me")],
    );
    let ours = delivery(
        OTHER_WABA,
        vec![change(PHONE, json!({"messages": [text_from(SHEENA)]}))],
    );
    let (drafts, _) = receive_signed(&ours, &phone_only);
    assert_eq!(drafts.unwrap()[0].contact.platform_id, SHEENA);
    let theirs = delivery(
        WABA,
        vec![change(
            OTHER_PHONE,
            json!({"messages": [text_from(SHEENA)]}),
        )],
    );
    assert_account_mismatch(receive_signed(&theirs, &phone_only).0);
    let no_phone = secrets_of(
        &[(BUSINESS_ACCOUNT_ID, WABA)],
        &[(APP_SECRET, "app-secret")],
    );
    assert_eq!(
        receive_signed(&ours, &no_phone).0.err(),
        Some(WebhookError::MissingSecret(PHONE_NUMBER_ID)),
        "an integration without its phone number accepts no delivery"
    );
}

#[test]
fn a_mixed_batch_keeps_only_the_changes_of_our_phone_number() {
    let status = json!({"id": OUTGOING, "status": "read", "timestamp": "1750030121", "recipient_id": JORDAN});
    let body = delivery(
        WABA,
        vec![
            change(PHONE, json!({"messages": [text_from(SHEENA)]})),
            change(
                OTHER_PHONE,
                json!({"messages": [text_from(JORDAN)], "statuses": [status.clone()]}),
            ),
            change(PHONE, json!({"statuses": [status]})),
            json!({"field": "messages", "value": {"messages": [text_from(JORDAN)]}}),
        ],
    );
    let (drafts, counts) = receive_signed(&body, &secrets("app-secret"));
    let drafts = drafts.unwrap();
    assert_eq!(drafts.len(), 2);
    assert_eq!(received(&drafts[0]).0, format!("wamid.{SHEENA}"));
    assert!(matches!(drafts[1].kind, InboundKind::MessageRead { .. }));
    assert_eq!(
        counts,
        ItemCounts {
            foreign: 3,
            unattributed: 0
        },
        "two items of the other number, one of a change naming none"
    );
}

#[test]
fn known_types_missing_their_bodies_become_unsupported() {
    for (kind, body) in [
        ("text", json!({})),
        ("image", json!({"caption": "no media"})),
        ("location", json!({"name": "nowhere", "latitude": 1.0})),
        ("interactive", json!({"type": "nfm_reply", "nfm_reply": {}})),
        ("button", json!({"text": "no payload"})),
        ("sticker", json!({"mime_type": "image/webp"})),
    ] {
        let message = json!({"from": SHEENA, "id": "wamid.X", "timestamp": "1744344496",
            "type": kind, kind: body});
        assert!(message[kind].is_object(), "the body sits under its type");
        let content = content_of(message);
        assert_eq!(content, MessageContent::Unsupported { kind: kind.into() });
    }
}

#[test]
fn a_message_without_an_id_gets_one_that_is_stable_across_redeliveries() {
    let message =
        json!({"from": SHEENA, "timestamp": "1744344496", "type": "text", "text": {"body": "hi"}});
    let first = parse_messages(json!([message.clone()]));
    let again = parse_messages(json!([message]));
    assert_eq!(received(&first[0]).0, received(&again[0]).0);
    assert!(received(&first[0]).0.contains(SHEENA));
}

#[test]
fn statuses_without_a_recipient_are_kept_unattributed_and_those_we_do_not_track_skipped() {
    let body = delivery(
        WABA,
        vec![change(
            PHONE,
            json!({"statuses": [
                {"id": "wamid.NO_RECIPIENT", "status": "read", "timestamp": "1750030121"},
                {"recipient_id": SHEENA, "status": "read", "timestamp": "1750030121"},
                {"id": "wamid.PLAYED", "status": "played", "timestamp": "1750030121", "recipient_id": SHEENA},
                {"id": "wamid.KEPT", "status": "sent", "timestamp": "1750030121", "recipient_id": SHEENA}
            ]}),
        )],
    );
    let (drafts, counts) = counting(KIND, || parse_body(&body).unwrap());
    assert_eq!(drafts.len(), 2);
    assert_unattributed(&drafts[0], "status", None);
    assert_eq!(drafts[0].raw["id"], "wamid.NO_RECIPIENT");
    assert_eq!(
        drafts[1].kind,
        InboundKind::MessageSent {
            platform_message_ids: vec!["wamid.KEPT".into()]
        }
    );
    assert_eq!(counts.unattributed, 1);
}

#[test]
fn changes_for_other_fields_carry_no_drafts() {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [
        {"field": "account_update", "value": {"messages": [
            {"from": SHEENA, "id": "wamid.X", "timestamp": "1", "type": "text", "text": {"body": "no"}}
        ]}}
    ]}]});
    let drafts = parse_body(body.to_string().as_bytes()).unwrap();
    assert!(drafts.is_empty());
}

#[test]
fn bodies_that_are_not_whatsapp_webhooks_are_malformed() {
    for body in [
        &b"not json"[..],
        b"{}",
        b"[]",
        br#"{"object":"page","entry":[]}"#,
        br#"{"object":"whatsapp_business_account"}"#,
        br#"{"object":"whatsapp_business_account","entry":{}}"#,
    ] {
        assert!(matches!(parse_body(body), Err(WebhookError::Malformed(_))));
    }
}

#[test]
fn no_input_makes_the_parser_panic() {
    assert_parser_total(&WhatsappWebhook, &own());
}

#[test]
fn no_item_inside_a_valid_envelope_makes_the_parser_panic() {
    let config = ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    };
    proptest!(config, |(items in prop::collection::vec(arbitrary_json(), 0..4), contacts in arbitrary_json())| {
        let body = delivery(
            WABA,
            vec![change(PHONE, json!({"contacts": contacts, "messages": items, "statuses": items}))],
        );
        prop_assert!(parse_body(&body).is_ok());
    });
}
