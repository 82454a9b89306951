//! Zalo against the documented example payloads, plus the shared compliance checks, the
//! replay window over the signed `timestamp` and the account check (every event must name the
//! integration's OA).

use super::{ZaloWebhook, APP_ID, KIND, OA_ID, OA_SECRET_KEY, SIGNATURE_HEADER};
use crate::channels::compliance::{
    arbitrary_json, assert_account_mismatch, assert_parser_total, assert_signature_contract,
    assert_unattributed, counting, fixture, parse_as, receive, secrets_of,
};
use crate::channels::webhook::{
    OwnAccount, RawWebhook, ReplayWindow, WebhookChannel, WebhookError, WebhookSecrets,
    DEFAULT_TOLERANCE, TOLERANCE_SETTING,
};
use chrono::DateTime;
use http::HeaderMap;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use switchboard_domain::message::{
    Attachment, AttachmentKind, InboundDraft, InboundEvent, InboundKind, MessageContent,
};
use switchboard_domain::{ChannelKind, IntegrationId};

const FIXTURES: [&str; 10] = [
    "text",
    "image",
    "location",
    "sticker",
    "file",
    "link",
    "oa_send_text",
    "user_received_message",
    "user_seen_message",
    "follow",
];
const USER: &str = "246845883529197922";
/// The OA of the integration under test, as the fixtures name it.
const OA: &str = "388613280878808645";
/// Another OA of the same Zalo app.
const OTHER_OA: &str = "388613280878800000";
/// The pinned clock of these tests, in Unix seconds: between the fixtures' timestamps, which
/// span about 22 minutes.
const NOW: i64 = 1_718_181_650;

/// The webhook under test: the clock pinned at `NOW`, a window wide enough for every fixture.
fn webhook() -> ZaloWebhook {
    ZaloWebhook {
        window: ReplayWindow {
            tolerance: Duration::from_secs(15 * 60),
            now: || NOW,
        },
    }
}

/// The webhook with the default window, its clock pinned at `NOW`.
fn strict() -> ZaloWebhook {
    ZaloWebhook {
        window: ReplayWindow {
            now: || NOW,
            ..ReplayWindow::default()
        },
    }
}

/// The secrets of an integration of `OA`, on a platform whose OA secret key is `oa_secret_key`.
fn secrets(oa_secret_key: &str) -> WebhookSecrets {
    secrets_of(
        &[(OA_ID, OA)],
        &[
            (APP_ID, "360846524940903967"),
            (OA_SECRET_KEY, oa_secret_key),
        ],
    )
}

fn own() -> OwnAccount {
    OwnAccount::of([(OA_ID, OA)])
}

fn parse_body(body: &[u8]) -> Result<Vec<InboundDraft>, WebhookError> {
    parse_as(&webhook(), body, &own())
}

/// A user's text to `oa`, at `millis`.
fn user_text(oa: &str, millis: i64) -> Vec<u8> {
    json!({"app_id": "360846524940903967", "event_name": "user_send_text", "sender": {"id": USER},
        "recipient": {"id": oa}, "message": {"msg_id": "m1", "text": "hi"},
        "timestamp": millis.to_string()})
    .to_string()
    .into_bytes()
}

/// Signs the way Zalo documents it, independently of the code under test.
fn sign(body: &[u8], secrets: &WebhookSecrets) -> HeaderMap {
    let json: Value = serde_json::from_slice(body).unwrap();
    let timestamp = match &json["timestamp"] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let mut hasher = Sha256::new();
    hasher.update(secrets.get(APP_ID).unwrap().expose());
    hasher.update(body);
    hasher.update(timestamp);
    hasher.update(secrets.get(OA_SECRET_KEY).unwrap().expose());
    let mut headers = HeaderMap::new();
    let value = format!("mac={}", hex::encode(hasher.finalize()));
    headers.insert(SIGNATURE_HEADER, value.parse().unwrap());
    headers
}

fn verify(body: &[u8], headers: &HeaderMap, secrets: &WebhookSecrets) -> Result<(), WebhookError> {
    webhook()
        .verify(RawWebhook { headers, body }, secrets)
        .map(|_| ())
}

/// `body` signed with the OA secret key, received by the integration of `OA` (default window).
fn receive_signed(body: &[u8]) -> Result<Vec<InboundDraft>, WebhookError> {
    let secrets = secrets("oa-secret-key");
    receive(&strict(), &sign(body, &secrets), body, &secrets)
}

fn parse(name: &str) -> Vec<InboundDraft> {
    parse_body(&fixture(&format!("zalo/{name}.json"))).unwrap()
}

fn only(name: &str) -> InboundDraft {
    let mut drafts = parse(name);
    assert_eq!(drafts.len(), 1, "Zalo sends one event per request");
    drafts.remove(0)
}

fn received(draft: &InboundDraft) -> (&str, &MessageContent, bool) {
    match &draft.kind {
        InboundKind::MessageReceived {
            platform_message_id,
            content,
            reply_to: None,
            is_echo,
        } => (platform_message_id, content, *is_echo),
        other => panic!("expected a message, got {other:?}"),
    }
}

fn at_millis(millis: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp_millis(millis).unwrap()
}

#[test]
fn every_fixture_passes_the_signature_contract() {
    for name in FIXTURES {
        let body = fixture(&format!("zalo/{name}.json"));
        assert_signature_contract(
            &webhook(),
            &body,
            &secrets("oa-secret-key"),
            &secrets("another-key"),
            &sign,
        );
    }
}

#[test]
fn the_signature_header_may_omit_the_mac_prefix() {
    let body = fixture("zalo/text.json");
    let mut headers = sign(&body, &secrets("k"));
    let bare = headers[SIGNATURE_HEADER]
        .to_str()
        .unwrap()
        .trim_start_matches("mac=")
        .to_owned();
    headers.insert(SIGNATURE_HEADER, bare.parse().unwrap());
    assert_eq!(verify(&body, &headers, &secrets("k")), Ok(()));
}

#[test]
fn a_signature_over_another_app_id_is_refused() {
    let body = fixture("zalo/text.json");
    let other_app = secrets_of(&[(OA_ID, OA)], &[(APP_ID, "1"), (OA_SECRET_KEY, "k")]);
    let headers = sign(&body, &other_app);
    assert!(matches!(
        verify(&body, &headers, &secrets("k")),
        Err(WebhookError::Unauthorized(_))
    ));
}

#[test]
fn a_body_without_a_timestamp_is_refused() {
    let body = br#"{"event_name":"user_send_text","sender":{"id":"1"},"message":{"text":"hi"}}"#;
    let signed_as_if = br#"{"event_name":"user_send_text","timestamp":""}"#;
    let headers = sign(signed_as_if, &secrets("k"));
    for body in [&body[..], b"not json", b"[]"] {
        assert!(matches!(
            verify(body, &headers, &secrets("k")),
            Err(WebhookError::Unauthorized(_))
        ));
    }
}

#[test]
fn a_missing_credential_is_reported_rather_than_refused() {
    let body = fixture("zalo/text.json");
    let headers = sign(&body, &secrets("k"));
    let no_key = secrets_of(&[(OA_ID, OA)], &[(APP_ID, "360846524940903967")]);
    assert_eq!(
        verify(&body, &headers, &no_key),
        Err(WebhookError::MissingSecret(OA_SECRET_KEY))
    );
}

#[test]
fn a_text_message_keeps_its_text_sender_id_and_time() {
    let draft = only("text");
    let (id, content, is_echo) = received(&draft);
    assert_eq!(id, "96d3cdf3af150460909");
    assert_eq!(
        content,
        &MessageContent::Text {
            text: "Xin chào, shop còn hàng không?".into()
        }
    );
    assert!(!is_echo);
    assert_eq!(draft.contact.platform_id, USER);
    assert_eq!(draft.platform_timestamp, at_millis(1_718_181_840_312));
    assert_eq!(draft.raw["message"]["msg_id"], "96d3cdf3af150460909");
}

#[test]
fn an_image_becomes_media_captioned_with_its_text() {
    let draft = only("image");
    let (id, content, _) = received(&draft);
    assert_eq!(id, "a3c1f1b7e5e24d3f8c21");
    assert_eq!(
        content,
        &MessageContent::Media {
            attachments: vec![Attachment {
                kind: AttachmentKind::Image,
                url: Some("https://photo-stal-9.zdn.vn/zalo/6a1b2c3d4e5f.jpg".into()),
                mime_type: None,
                media_id: None,
            }],
            caption: Some("Mẫu này".into()),
        }
    );
    assert_eq!(draft.contact.platform_id, USER);
    assert_eq!(draft.platform_timestamp, at_millis(1_718_181_902_455));
}

#[test]
fn a_location_carries_its_coordinates() {
    let draft = only("location");
    let (id, content, _) = received(&draft);
    assert_eq!(id, "5b0e8c7d4e1f0a2b3c4d");
    assert_eq!(
        content,
        &MessageContent::Location {
            latitude: 10.7642473,
            longitude: 106.6564535,
            name: None,
            address: None
        }
    );
    assert_eq!(draft.platform_timestamp, at_millis(1_718_182_011_001));
}

#[test]
fn a_sticker_keeps_its_id_and_image() {
    let draft = only("sticker");
    let (id, content, _) = received(&draft);
    assert_eq!(id, "7e6d5c4b3a2918070605");
    assert_eq!(
        content,
        &MessageContent::Sticker {
            sticker_id: "bfe458bf64fa8da4d4eb".into(),
            url: Some(
                "https://zalo-api.zadn.vn/api/emoticon/sticker/webpc?eid=46991&size=130".into()
            ),
        }
    );
    assert_eq!(draft.platform_timestamp, at_millis(1_718_182_100_789));
}

#[test]
fn a_file_becomes_a_file_attachment() {
    let draft = only("file");
    let (id, content, _) = received(&draft);
    assert_eq!(id, "0f1e2d3c4b5a69788796");
    assert_eq!(
        content,
        &MessageContent::Media {
            attachments: vec![Attachment {
                kind: AttachmentKind::File,
                url: Some("https://f21-zpc.zdn.vn/3412345678901234567/bao-gia.pdf".into()),
                mime_type: None,
                media_id: None,
            }],
            caption: None,
        }
    );
    assert_eq!(
        draft.raw["message"]["attachments"][0]["payload"]["name"],
        "bao-gia.pdf"
    );
}

#[test]
fn a_link_becomes_the_text_the_user_sent() {
    let draft = only("link");
    let (id, content, _) = received(&draft);
    assert_eq!(id, "1a2b3c4d5e6f7a8b9c0d");
    assert_eq!(
        content,
        &MessageContent::Text {
            text: "https://developers.zalo.me/".into()
        }
    );
    assert_eq!(draft.platform_timestamp, at_millis(1_718_182_300_200));
}

#[test]
fn the_oas_own_send_is_an_echo_belonging_to_the_user() {
    let draft = only("oa_send_text");
    let (id, content, is_echo) = received(&draft);
    assert_eq!(id, "c0ffee0123456789abcd");
    assert_eq!(
        content,
        &MessageContent::Text {
            text: "Dạ còn hàng ạ".into()
        }
    );
    assert!(is_echo);
    assert_eq!(
        draft.contact.platform_id, USER,
        "the contact is the recipient, not the OA"
    );
    assert_eq!(draft.platform_timestamp, at_millis(1_718_181_900_000));
}

#[test]
fn a_received_receipt_lists_the_delivered_messages() {
    let draft = only("user_received_message");
    assert_eq!(
        draft.kind,
        InboundKind::MessageDelivered {
            platform_message_ids: vec!["c0ffee0123456789abcd".into()],
            watermark: None
        }
    );
    assert_eq!(draft.contact.platform_id, USER);
    assert_eq!(draft.platform_timestamp, at_millis(1_718_181_905_000));
}

#[test]
fn a_seen_receipt_lists_every_seen_message_in_one_draft() {
    let draft = only("user_seen_message");
    assert_eq!(
        draft.kind,
        InboundKind::MessageRead {
            platform_message_ids: vec![
                "c0ffee0123456789abcd".into(),
                "d00dfeed98765432abcd".into()
            ],
            watermark: None
        }
    );
    assert_eq!(draft.contact.platform_id, USER);
    assert_eq!(draft.platform_timestamp, at_millis(1_718_181_960_000));
}

#[test]
fn events_without_a_mapping_are_kept_as_unsupported_for_their_user() {
    let draft = only("follow");
    let (id, content, is_echo) = received(&draft);
    assert_eq!(
        content,
        &MessageContent::Unsupported {
            kind: "follow".into()
        }
    );
    assert_eq!(id, format!("follow:{USER}:1718181000000"));
    assert!(!is_echo);
    assert_eq!(draft.contact.platform_id, USER);
    assert_eq!(draft.raw["source"], "oa_profile");
    assert_eq!(draft.platform_timestamp, at_millis(1_718_181_000_000));
}

#[test]
fn the_same_body_parsed_twice_has_the_same_message_id_and_event_id() {
    let integration = IntegrationId::new();
    let event = |draft: InboundDraft| {
        InboundEvent::from_draft(
            integration,
            "acme".parse().unwrap(),
            ChannelKind::parse("zalo").unwrap(),
            draft,
        )
    };
    for name in FIXTURES {
        let (first, again) = (only(name), only(name));
        assert_eq!(first.kind, again.kind, "{name}");
        assert_eq!(event(first).event_id, event(again).event_id, "{name}");
    }
}

#[test]
fn timestamps_as_numbers_and_strings_agree() {
    let body = |ts: &str| {
        format!(
            r#"{{"event_name":"user_send_text","sender":{{"id":"7"}},"recipient":{{"id":"{OA}"}},"message":{{"msg_id":"m","text":"hi"}},"timestamp":{ts}}}"#
        )
    };
    let number = parse_body(body("1718181840312").as_bytes()).unwrap();
    let string = parse_body(body(r#""1718181840312""#).as_bytes()).unwrap();
    assert_eq!(number[0].platform_timestamp, at_millis(1_718_181_840_312));
    assert_eq!(number[0].platform_timestamp, string[0].platform_timestamp);
}

#[test]
fn a_numeric_timestamp_is_signed_by_its_digits() {
    let body = br#"{"event_name":"user_seen_message","recipient":{"id":"7"},"message":{"msg_ids":["m"]},"timestamp":1718181960000}"#;
    let headers = sign(body, &secrets("k"));
    assert_eq!(verify(body, &headers, &secrets("k")), Ok(()));
}

#[test]
fn kinds_without_a_mapping_become_unsupported() {
    let cases = [
        (
            r#""user_send_business_card","message":{"msg_id":"m","attachments":[{"type":"link","payload":{"url":"https://zalo.me/card"}}]}"#,
            "business_card",
        ),
        (
            r#""user_send_voice_call","message":{"msg_id":"m"}"#,
            "voice_call",
        ),
        (
            r#""user_send_text","message":{"msg_id":"m","text":""}"#,
            "text",
        ),
        (
            r#""user_send_poll","message":{"msg_id":"m","attachments":[{"type":"poll","payload":{}}]}"#,
            "poll",
        ),
        (
            r#""user_send_location","message":{"msg_id":"m","attachments":[{"type":"location","payload":{"coordinates":{"latitude":"north"}}}]}"#,
            "location",
        ),
    ];
    for (event, kind) in cases {
        let body = format!(
            r#"{{"event_name":{event},"sender":{{"id":"7"}},"recipient":{{"id":"{OA}"}},"timestamp":"1"}}"#
        );
        let drafts = parse_body(body.as_bytes()).unwrap();
        assert_eq!(
            received(&drafts[0]).1,
            &MessageContent::Unsupported { kind: kind.into() },
            "{event}"
        );
    }
}

#[test]
fn events_of_our_oa_that_name_no_user_are_kept_as_unsupported_and_counted() {
    let cases = [
        (
            json!({"event_name": "user_send_text", "recipient": {"id": OA},
                "message": {"msg_id": "m1", "text": "lost"}, "timestamp": "1"}),
            "user_send_text",
            Some("m1"),
        ),
        (
            json!({"event_name": "oa_send_text", "sender": {"id": OA}, "message": {"msg_id": "m2"},
                "timestamp": "1"}),
            "oa_send_text",
            Some("m2"),
        ),
        (
            json!({"event_name": "add_user_to_tag", "oa_id": OA, "timestamp": "1"}),
            "add_user_to_tag",
            None,
        ),
    ];
    for (body, kind, id) in cases {
        let (drafts, counts) = counting(KIND, || parse_body(body.to_string().as_bytes()).unwrap());
        assert_eq!(drafts.len(), 1, "{body}");
        assert_unattributed(&drafts[0], kind, id);
        assert_eq!(drafts[0].raw, body, "the raw event is kept");
        assert_eq!(drafts[0].platform_timestamp, at_millis(1));
        assert_eq!(counts.unattributed, 1, "{body}");
    }
}

#[test]
fn a_delivery_naming_another_oa_is_refused() {
    let at = (NOW * 1000).to_string();
    let cases = [
        json!({"event_name": "user_send_text", "sender": {"id": USER}, "recipient": {"id": OTHER_OA},
            "message": {"msg_id": "m", "text": "hi"}, "timestamp": at}),
        json!({"event_name": "oa_send_text", "sender": {"id": OTHER_OA}, "recipient": {"id": USER},
            "message": {"msg_id": "m", "text": "hi"}, "timestamp": at}),
        json!({"event_name": "user_seen_message", "sender": {"id": OTHER_OA}, "recipient": {"id": USER},
            "message": {"msg_ids": ["m"]}, "timestamp": at}),
        json!({"event_name": "follow", "oa_id": OTHER_OA, "follower": {"id": USER},
            "recipient": {"id": OA}, "timestamp": at}),
        json!({"event_name": "user_send_text", "sender": {"id": USER},
            "message": {"msg_id": "m", "text": "names no OA"}, "timestamp": at}),
    ];
    for body in cases {
        let body = body.to_string().into_bytes();
        let (result, counts) = counting(KIND, || receive_signed(&body));
        assert_account_mismatch(result);
        assert_eq!(counts.foreign, 1);
    }
    let ours = user_text(OA, NOW * 1000);
    assert_eq!(receive_signed(&ours).unwrap()[0].contact.platform_id, USER);
}

#[test]
fn an_integration_without_an_oa_id_accepts_no_delivery() {
    let body = user_text(OA, NOW * 1000);
    let unbound = secrets_of(
        &[],
        &[
            (APP_ID, "360846524940903967"),
            (OA_SECRET_KEY, "k"),
            (OA_ID, OA),
        ],
    );
    assert_eq!(
        strict()
            .verify(
                RawWebhook {
                    headers: &sign(&body, &unbound),
                    body: &body
                },
                &unbound
            )
            .err(),
        Some(WebhookError::MissingSecret(OA_ID)),
        "an OA id only the platform names binds nothing"
    );
}

#[test]
fn a_signed_timestamp_outside_the_tolerance_window_is_refused() {
    let window = DEFAULT_TOLERANCE.as_secs() as i64;
    for seconds in [NOW - window, NOW - 1, NOW, NOW + window] {
        let body = user_text(OA, seconds * 1000);
        assert!(receive_signed(&body).is_ok(), "t = now {:+}", seconds - NOW);
    }
    for millis in [
        (NOW - window - 1) * 1000,
        (NOW + window + 1) * 1000,
        0,
        1_000_000,
        -1,
    ] {
        let body = user_text(OA, millis);
        assert!(
            matches!(receive_signed(&body), Err(WebhookError::Unauthorized(_))),
            "timestamp {millis}"
        );
    }
    let not_a_time = json!({"event_name": "user_send_text", "sender": {"id": USER},
        "recipient": {"id": OA}, "timestamp": "soon"})
    .to_string()
    .into_bytes();
    assert!(matches!(
        receive_signed(&not_a_time),
        Err(WebhookError::Unauthorized(_))
    ));
}

#[test]
fn the_platform_setting_overrides_the_tolerance() {
    let strict_secrets = secrets_of(
        &[(OA_ID, OA)],
        &[
            (APP_ID, "360846524940903967"),
            (OA_SECRET_KEY, "k"),
            (TOLERANCE_SETTING, "5"),
        ],
    );
    let check = |seconds: i64| {
        let body = user_text(OA, seconds * 1000);
        let headers = sign(&body, &strict_secrets);
        receive(&strict(), &headers, &body, &strict_secrets).map(|_| ())
    };
    assert_eq!(check(NOW - 5), Ok(()));
    assert!(matches!(check(NOW - 6), Err(WebhookError::Unauthorized(_))));
}

#[test]
fn bodies_that_are_not_zalo_events_are_malformed() {
    for body in [&b"not json"[..], b"{}", b"[]", br#"{"event_name":1}"#] {
        assert!(matches!(parse_body(body), Err(WebhookError::Malformed(_))));
    }
}

#[test]
fn the_channel_registers_its_webhook() {
    let channel = super::channel();
    let webhook = channel.webhook.expect("zalo has a webhook");
    assert_eq!(webhook.signature_header(), Some(SIGNATURE_HEADER));
}

#[test]
fn no_input_makes_the_parser_panic() {
    assert_parser_total(&webhook(), &own());
}

#[test]
fn no_event_shaped_input_makes_the_parser_panic() {
    use proptest::prelude::*;
    let event = prop::sample::select(vec![
        "user_send_text",
        "user_send_image",
        "user_send_location",
        "user_send_sticker",
        "user_send_link",
        "user_send_business_card",
        "oa_send_text",
        "user_received_message",
        "user_seen_message",
        "follow",
    ]);
    let kind = prop::sample::select(vec![
        "image", "gif", "video", "audio", "file", "location", "sticker", "link", "",
    ]);
    let attachment = (kind, arbitrary_json())
        .prop_map(|(kind, payload)| serde_json::json!({"type": kind, "payload": payload}));
    let id = prop_oneof![Just(Value::from("7")), arbitrary_json()];
    let config = ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        event in event,
        user in id,
        msg_id in arbitrary_json(),
        text in arbitrary_json(),
        attachments in prop::collection::vec(attachment, 0..3),
        timestamp in arbitrary_json(),
    )| {
        let body = serde_json::json!({
            "event_name": event,
            "oa_id": OA,
            "sender": {"id": user},
            "recipient": {"id": user},
            "message": {"msg_id": msg_id, "msg_ids": [msg_id], "text": text, "attachments": attachments},
            "timestamp": timestamp,
        });
        prop_assert!(parse_body(body.to_string().as_bytes()).is_ok());
    });
}
