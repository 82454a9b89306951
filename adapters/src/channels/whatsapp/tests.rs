//! WhatsApp against the documented example payloads, plus the shared compliance checks.

use super::{channel, WhatsappWebhook};
use crate::channels::compliance::{
    arbitrary_json, assert_parser_total, assert_signature_contract, fixture, parse_trusted,
};
use crate::channels::meta::{APP_SECRET, SIGNATURE_HEADER, VERIFY_TOKEN};
use crate::channels::webhook::{hmac_sha256, WebhookChannel, WebhookError, WebhookSecrets};
use chrono::DateTime;
use http::HeaderMap;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use switchboard_domain::message::{
    Attachment, AttachmentKind, InboundDraft, InboundKind, MessageContent, PlatformError,
};
use switchboard_domain::SecretString;

const SHEENA: &str = "16505551234";
const JORDAN: &str = "16505559876";
const OUTGOING: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=";

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
    parse_trusted(&WhatsappWebhook, &fixture(&format!("whatsapp/{name}.json"))).unwrap()
}

/// One `messages` change holding `messages`, as the platform would send it.
fn envelope(messages: Value) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "messages": messages
        }}]}]
    })
    .to_string()
    .into_bytes()
}

fn parse_messages(messages: Value) -> Vec<InboundDraft> {
    parse_trusted(&WhatsappWebhook, &envelope(messages)).unwrap()
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
    let drafts = parse("batch_with_bad_item");
    let contacts: Vec<&str> = drafts
        .iter()
        .map(|d| d.contact.platform_id.as_str())
        .collect();
    assert_eq!(
        contacts,
        [SHEENA, SHEENA, JORDAN, SHEENA, JORDAN, SHEENA],
        "the message without a sender is skipped alone"
    );
    assert_eq!(received(&drafts[0]).0, "wamid.BATCH_TEXT");
    assert_eq!(
        received(&drafts[1]).1,
        &MessageContent::Unsupported {
            kind: "reaction".into()
        }
    );
    assert_eq!(drafts[1].raw["reaction"]["emoji"], "\u{1f44d}");
    assert_eq!(
        received(&drafts[2]).1,
        &MessageContent::Unsupported {
            kind: "unsupported".into()
        }
    );
    assert_eq!(
        drafts[2].contact.display_name.as_deref(),
        Some("Jordan Rivera")
    );
    assert_eq!(drafts[2].raw["errors"][0]["code"], 131051);
    assert!(matches!(
        drafts[3].kind,
        InboundKind::MessageDelivered { .. }
    ));
    assert!(
        matches!(received(&drafts[4]).1, MessageContent::Location { latitude, .. }
        if (*latitude - 37.442_214_965_82).abs() < 1e-9)
    );
    assert!(matches!(drafts[5].kind, InboundKind::MessageRead { .. }));
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
fn statuses_we_cannot_attribute_or_do_not_track_are_skipped_alone() {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"statuses": [
            {"id": "wamid.NO_RECIPIENT", "status": "read", "timestamp": "1750030121"},
            {"recipient_id": SHEENA, "status": "read", "timestamp": "1750030121"},
            {"id": "wamid.PLAYED", "status": "played", "timestamp": "1750030121", "recipient_id": SHEENA},
            {"id": "wamid.KEPT", "status": "sent", "timestamp": "1750030121", "recipient_id": SHEENA}
        ]}}
    ]}]});
    let drafts = parse_trusted(&WhatsappWebhook, body.to_string().as_bytes()).unwrap();
    assert_eq!(drafts.len(), 1);
    assert_eq!(
        drafts[0].kind,
        InboundKind::MessageSent {
            platform_message_ids: vec!["wamid.KEPT".into()]
        }
    );
}

#[test]
fn changes_for_other_fields_carry_no_drafts() {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "account_update", "value": {"messages": [
            {"from": SHEENA, "id": "wamid.X", "timestamp": "1", "type": "text", "text": {"body": "no"}}
        ]}}
    ]}]});
    let drafts = parse_trusted(&WhatsappWebhook, body.to_string().as_bytes()).unwrap();
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
        assert!(matches!(
            parse_trusted(&WhatsappWebhook, body),
            Err(WebhookError::Malformed(_))
        ));
    }
}

#[test]
fn no_input_makes_the_parser_panic() {
    assert_parser_total(&WhatsappWebhook);
}

#[test]
fn no_item_inside_a_valid_envelope_makes_the_parser_panic() {
    let config = ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    };
    proptest!(config, |(items in prop::collection::vec(arbitrary_json(), 0..4), contacts in arbitrary_json())| {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {"contacts": contacts, "messages": items, "statuses": items}}
        ]}]});
        prop_assert!(parse_trusted(&WhatsappWebhook, body.to_string().as_bytes()).is_ok());
    });
}
