//! TikTok against payloads built from the documented envelope and event content, plus the
//! shared compliance checks and the account check (every event must name the integration's
//! business account).

use super::{TikTokWebhook, BUSINESS_ID, CLIENT_SECRET, DEFAULT_TOLERANCE, KIND, SIGNATURE_HEADER};
use crate::channels::compliance::{
    arbitrary_json, assert_account_mismatch, assert_parser_total, assert_signature_contract,
    assert_unattributed, counting, fixture, parse_as, receive, secrets_of,
};
use crate::channels::webhook::{
    hmac_sha256, OwnAccount, RawWebhook, ReplayWindow, WebhookChannel, WebhookError, WebhookSecrets,
};
use chrono::DateTime;
use http::HeaderMap;
use serde_json::json;
use switchboard_domain::message::{
    Attachment, AttachmentKind, InboundDraft, InboundEvent, InboundKind, MessageContent,
};
use switchboard_domain::{ChannelKind, IntegrationId};

/// The pinned clock of these tests, in Unix seconds.
const NOW: i64 = 1_719_447_331;
const USER: &str = "-000aT7uKcNn2m1pQ4rS5vW8xY0zB3dE6fGh";
/// The business account of the integration under test, as the fixtures name it.
const BUSINESS: &str = "-000bX2dLq0QkK5k7U9Hn3Qz1r8sVhXyTbA";
/// Another business account using the same TikTok app.
const OTHER_BUSINESS: &str = "-000bOtherBusinessAccount0000000000";
const FIXTURES: [&str; 6] = [
    "receive_text",
    "receive_image",
    "receive_share_post",
    "send_text",
    "mark_read",
    "receive_msg_eu",
];

fn webhook() -> TikTokWebhook {
    TikTokWebhook {
        window: ReplayWindow {
            now: || NOW,
            ..ReplayWindow::default()
        },
    }
}

/// The secrets of an integration of `BUSINESS`, on a platform whose client secret is
/// `client_secret`.
fn secrets(client_secret: &str) -> WebhookSecrets {
    secrets_of(
        &[(BUSINESS_ID, BUSINESS)],
        &[(CLIENT_SECRET, client_secret)],
    )
}

fn own() -> OwnAccount {
    OwnAccount::of([(BUSINESS_ID, BUSINESS)])
}

fn parse_body(body: &[u8]) -> Result<Vec<InboundDraft>, WebhookError> {
    parse_as(&webhook(), body, &own())
}

/// `body` signed now with the client secret, received by the integration of `BUSINESS`.
fn receive_signed(body: &[u8]) -> Result<Vec<InboundDraft>, WebhookError> {
    let secrets = secrets("client-secret");
    receive(&webhook(), &sign(body, &secrets), body, &secrets)
}

/// Signs the way TikTok documents it, at time `t`.
fn sign_at(t: i64, body: &[u8], secrets: &WebhookSecrets) -> HeaderMap {
    let key = secrets
        .get(CLIENT_SECRET)
        .unwrap()
        .expose()
        .as_bytes()
        .to_vec();
    let digest = hmac_sha256(&key, &[t.to_string().as_bytes(), b".", body]);
    let mut headers = HeaderMap::new();
    let value = format!("t={t},s={}", hex::encode(digest));
    headers.insert(SIGNATURE_HEADER, value.parse().unwrap());
    headers
}

fn sign(body: &[u8], secrets: &WebhookSecrets) -> HeaderMap {
    sign_at(NOW, body, secrets)
}

fn verify(webhook: &TikTokWebhook, body: &[u8], headers: &HeaderMap) -> Result<(), WebhookError> {
    webhook
        .verify(RawWebhook { headers, body }, &secrets("client-secret"))
        .map(|_| ())
}

fn only(name: &str) -> InboundDraft {
    let mut drafts = parse_body(&fixture(&format!("tiktok/{name}.json"))).unwrap();
    assert_eq!(drafts.len(), 1, "TikTok sends one event per request");
    drafts.remove(0)
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

fn at_millis(millis: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp_millis(millis).unwrap()
}

#[test]
fn every_fixture_passes_the_signature_contract() {
    for name in FIXTURES {
        let body = fixture(&format!("tiktok/{name}.json"));
        assert_signature_contract(
            &webhook(),
            &body,
            &secrets("client-secret"),
            &secrets("another-secret"),
            &sign,
        );
    }
}

#[test]
fn a_signature_inside_the_tolerance_window_is_accepted() {
    let body = fixture("tiktok/receive_text.json");
    let window = DEFAULT_TOLERANCE.as_secs() as i64;
    for t in [NOW - window, NOW - 1, NOW, NOW + 1, NOW + window] {
        let headers = sign_at(t, &body, &secrets("client-secret"));
        assert_eq!(
            verify(&webhook(), &body, &headers),
            Ok(()),
            "t = now {:+}",
            t - NOW
        );
    }
}

#[test]
fn a_signature_outside_the_tolerance_window_is_refused() {
    let body = fixture("tiktok/receive_text.json");
    let window = DEFAULT_TOLERANCE.as_secs() as i64;
    for t in [NOW - window - 1, NOW + window + 1, 0, i64::MIN, i64::MAX] {
        let headers = sign_at(t, &body, &secrets("client-secret"));
        assert!(
            matches!(
                verify(&webhook(), &body, &headers),
                Err(WebhookError::Unauthorized(_))
            ),
            "t = {t}"
        );
    }
}

#[test]
fn the_tolerance_window_is_configurable() {
    let body = fixture("tiktok/receive_text.json");
    let strict = TikTokWebhook {
        window: ReplayWindow {
            tolerance: std::time::Duration::from_secs(5),
            now: || NOW,
        },
    };
    assert_eq!(
        verify(
            &strict,
            &body,
            &sign_at(NOW - 5, &body, &secrets("client-secret"))
        ),
        Ok(())
    );
    let late = sign_at(NOW - 6, &body, &secrets("client-secret"));
    assert!(matches!(
        verify(&strict, &body, &late),
        Err(WebhookError::Unauthorized(_))
    ));
}

#[test]
fn the_platform_setting_overrides_the_tolerance() {
    let body = fixture("tiktok/receive_text.json");
    let strict = secrets_of(
        &[(BUSINESS_ID, BUSINESS)],
        &[
            ("client_secret", "client-secret"),
            ("signature_tolerance_secs", "5"),
        ],
    );
    let check = |t: i64| {
        let headers = sign_at(t, &body, &strict);
        webhook()
            .verify(
                RawWebhook {
                    headers: &headers,
                    body: &body,
                },
                &strict,
            )
            .map(|_| ())
    };
    assert_eq!(check(NOW - 5), Ok(()));
    assert!(matches!(check(NOW - 6), Err(WebhookError::Unauthorized(_))));
}

#[test]
fn malformed_signature_headers_are_refused() {
    let body = fixture("tiktok/receive_text.json");
    let good = sign(&body, &secrets("client-secret"));
    let good = good[SIGNATURE_HEADER].to_str().unwrap();
    let signature = good.split_once(",s=").unwrap().1;
    for header in [
        String::new(),
        format!("s={signature}"),
        format!("t={NOW}"),
        format!("t={NOW},t={NOW},s={signature}"),
        format!("t={NOW},s={signature},s={signature}"),
        format!("t={NOW};s={signature}"),
        format!("t=soon,s={signature}"),
        "t=1,s=zz".to_owned(),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, header.parse().unwrap());
        assert!(
            matches!(
                verify(&webhook(), &body, &headers),
                Err(WebhookError::Unauthorized(_))
            ),
            "{header:?}"
        );
    }
}

#[test]
fn a_missing_client_secret_is_reported_rather_than_refused() {
    let body = fixture("tiktok/receive_text.json");
    let headers = sign(&body, &secrets("client-secret"));
    let none = WebhookSecrets::default();
    assert_eq!(
        webhook()
            .verify(
                RawWebhook {
                    headers: &headers,
                    body: &body
                },
                &none
            )
            .err(),
        Some(WebhookError::MissingSecret(CLIENT_SECRET))
    );
}

#[test]
fn a_received_text_keeps_its_text_ids_user_and_time() {
    let draft = only("receive_text");
    let (id, content, reply_to, is_echo) = received(&draft);
    assert_eq!(id, "u5Buqc6lAghuOelnHUZV88DK2A==");
    assert_eq!(
        content,
        &MessageContent::Text {
            text: "Hi! Do you ship to Hanoi?".into()
        }
    );
    assert_eq!((reply_to, is_echo), (None, false));
    assert_eq!(draft.contact.platform_id, USER);
    assert_eq!(draft.contact.display_name.as_deref(), Some("jane.doe"));
    assert_eq!(
        draft.contact.thread_id.as_deref(),
        Some("u5JhpselBAhoPOlnH0tZ9y07kg=="),
        "replies are addressed to the conversation"
    );
    assert_eq!(draft.platform_timestamp, at_millis(1_719_447_205_701));
    assert_eq!(draft.raw["event"], "im_receive_msg");
    assert!(draft.raw["content"]
        .as_str()
        .unwrap()
        .contains("u5JhpselBAhoPOlnH0tZ9y07kg=="));
}

#[test]
fn a_received_image_is_media_known_by_its_media_id() {
    let draft = only("receive_image");
    let (id, content, _, _) = received(&draft);
    assert_eq!(id, "u5Buqc6lAghuOelnHUZV88DK3B==");
    assert_eq!(
        content,
        &MessageContent::Media {
            attachments: vec![Attachment {
                kind: AttachmentKind::Image,
                url: None,
                mime_type: None,
                media_id: Some("v0f025gc0000cpt1k1nog65ldqdmu8dg".into()),
            }],
            caption: None,
        }
    );
    assert_eq!(draft.contact.platform_id, USER);
    assert_eq!(draft.platform_timestamp, at_millis(1_719_447_261_930));
}

#[test]
fn a_shared_post_is_unsupported_but_kept() {
    let draft = only("receive_share_post");
    let (id, content, _, _) = received(&draft);
    assert_eq!(id, "u5Buqc6lAghuOelnHUZV88DK4C==");
    assert_eq!(
        content,
        &MessageContent::Unsupported {
            kind: "share_post".into()
        }
    );
    assert_eq!(draft.contact.platform_id, USER);
    assert!(draft.raw["content"]
        .as_str()
        .unwrap()
        .contains("7384520197345678123"));
}

#[test]
fn the_business_own_send_is_an_echo_belonging_to_the_user() {
    let draft = only("send_text");
    let (id, content, reply_to, is_echo) = received(&draft);
    assert_eq!(id, "u5Buqc6lAghuOelnHUZV88DK5D==");
    assert_eq!(
        content,
        &MessageContent::Text {
            text: "Yes, we deliver nationwide within 3 days.".into()
        }
    );
    assert_eq!(reply_to, Some("u5Buqc6lAghuOelnHUZV88DK2A=="));
    assert!(is_echo);
    assert_eq!(
        draft.contact.platform_id, USER,
        "the contact is the user, not the business"
    );
    assert_eq!(draft.contact.display_name.as_deref(), Some("jane.doe"));
    assert_eq!(draft.platform_timestamp, at_millis(1_719_447_330_876));
}

#[test]
fn a_read_mark_is_a_read_receipt_up_to_its_watermark() {
    let draft = only("mark_read");
    assert_eq!(
        draft.kind,
        InboundKind::MessageRead {
            platform_message_ids: vec![],
            watermark: Some(at_millis(1_719_447_330_876)),
        }
    );
    assert_eq!(draft.contact.platform_id, USER);
    assert_eq!(draft.platform_timestamp, at_millis(1_719_447_399_120));
}

#[test]
fn a_stripped_eu_message_names_no_user_and_is_kept_as_unsupported() {
    let (draft, counts) = counting(KIND, || only("receive_msg_eu"));
    assert_unattributed(&draft, "im_receive_msg_eu", None);
    assert_eq!(draft.raw["event"], "im_receive_msg_eu");
    assert_eq!(draft.platform_timestamp, at_millis(1_719_447_499_640));
    assert_eq!(counts.unattributed, 1);
    assert_eq!(
        only("receive_msg_eu"),
        draft,
        "a redelivery gets the same id"
    );
}

#[test]
fn a_delivery_signed_with_the_client_secret_but_naming_another_business_is_refused() {
    let content = |business: &str| {
        json!({"from_user": {"id": USER, "role": "personal_account"},
            "to_user": {"id": business, "role": "business_account"},
            "message_id": "m1", "timestamp": NOW * 1000, "type": "text", "text": {"body": "hi"}})
        .to_string()
    };
    let cases = [
        json!({"event": "im_receive_msg", "create_time": NOW, "user_openid": OTHER_BUSINESS,
            "content": content(OTHER_BUSINESS)}),
        json!({"event": "im_receive_msg", "create_time": NOW, "user_openid": OTHER_BUSINESS,
            "content": content(BUSINESS)}),
        json!({"event": "im_receive_msg", "create_time": NOW, "content": content(OTHER_BUSINESS)}),
        json!({"event": "im_receive_msg", "create_time": NOW,
            "content": json!({"from_user": {"id": USER}, "type": "text"}).to_string()}),
    ];
    for body in cases {
        let body = body.to_string().into_bytes();
        let (result, counts) = counting(KIND, || receive_signed(&body));
        assert_account_mismatch(result);
        assert_eq!(counts.foreign, 1);
    }
    let fixture = fixture("tiktok/receive_text.json");
    assert_eq!(
        receive_signed(&fixture).unwrap()[0].contact.platform_id,
        USER
    );
    let by_role =
        json!({"event": "im_receive_msg", "create_time": NOW, "content": content(BUSINESS)});
    let drafts = receive_signed(by_role.to_string().as_bytes()).unwrap();
    assert_eq!(
        drafts[0].contact.platform_id, USER,
        "without user_openid, the business side names the account"
    );
}

#[test]
fn an_integration_without_a_business_id_accepts_no_delivery() {
    let body = fixture("tiktok/receive_text.json");
    let unbound = secrets_of(
        &[],
        &[(CLIENT_SECRET, "client-secret"), (BUSINESS_ID, BUSINESS)],
    );
    assert_eq!(
        receive(&webhook(), &sign(&body, &unbound), &body, &unbound).err(),
        Some(WebhookError::MissingSecret(BUSINESS_ID))
    );
}

#[test]
fn the_same_body_parsed_twice_has_the_same_event_id() {
    let integration = IntegrationId::new();
    let event = |draft: InboundDraft| {
        let channel = ChannelKind::parse("tiktok").unwrap();
        InboundEvent::from_draft(integration, "acme".parse().unwrap(), channel, draft)
    };
    for name in ["receive_text", "receive_image", "send_text", "mark_read"] {
        assert_eq!(
            event(only(name)).event_id,
            event(only(name)).event_id,
            "{name}"
        );
    }
}

#[test]
fn other_types_and_events_become_unsupported_for_their_user() {
    let cases = [
        (
            "im_receive_msg",
            r#"{"type":"sticker","sticker":{"url":"https://p16.tiktokcdn.com/s.webp"}}"#,
            "sticker",
        ),
        ("im_receive_msg", r#"{"type":"text","text":{}}"#, "text"),
        ("im_receive_msg", r#"{"type":"image","image":{}}"#, "image"),
        ("im_receive_msg", r#"{}"#, "message"),
        (
            "im_referral_msg",
            r#"{"referral":{"source":"short_link"}}"#,
            "im_referral_msg",
        ),
    ];
    for (event, extra, kind) in cases {
        let mut content: serde_json::Value = serde_json::from_str(extra).unwrap();
        content["from_user"] = serde_json::json!({"id": "u1", "role": "personal_account"});
        content["timestamp"] = 1_719_447_205_701i64.into();
        let body = serde_json::json!({"event": event, "create_time": 1, "user_openid": BUSINESS,
            "content": content.to_string()});
        let drafts = parse_body(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            received(&drafts[0]).1,
            &MessageContent::Unsupported { kind: kind.into() },
            "{extra}"
        );
        assert_eq!(drafts[0].contact.platform_id, "u1");
    }
}

#[test]
fn an_event_without_a_message_id_gets_a_stable_one() {
    let body = json!({"event": "im_referral_msg", "create_time": 1719447206, "user_openid": BUSINESS,
        "content": json!({"unique_identifier": "u1"}).to_string()});
    let drafts = parse_body(body.to_string().as_bytes()).unwrap();
    assert_eq!(received(&drafts[0]).0, "im_referral_msg:u1:1719447206");
    assert_eq!(
        drafts[0].platform_timestamp,
        DateTime::from_timestamp(1_719_447_206, 0).unwrap()
    );
}

#[test]
fn content_that_is_not_json_names_no_user_and_is_kept_as_unsupported() {
    for content in [r#""not json""#, "42", "null", r#""[1,2]""#] {
        let body = format!(
            r#"{{"event":"im_receive_msg","user_openid":"{BUSINESS}","content":{content}}}"#
        );
        let drafts = parse_body(body.as_bytes()).unwrap();
        assert_eq!(drafts.len(), 1, "{content}");
        assert_unattributed(&drafts[0], "im_receive_msg", None);
    }
}

#[test]
fn bodies_that_are_not_tiktok_events_are_malformed() {
    for body in [&b"not json"[..], b"{}", b"[]", br#"{"event":7}"#] {
        assert!(matches!(parse_body(body), Err(WebhookError::Malformed(_))));
    }
}

#[test]
fn the_channel_registers_its_webhook() {
    let channel = super::channel();
    let webhook = channel.webhook.expect("tiktok has a webhook");
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
        "im_receive_msg",
        "im_send_msg",
        "im_mark_read_msg",
        "im_referral_msg",
    ]);
    let kind = prop::sample::select(vec!["text", "image", "video", "share_post", ""]);
    let role = prop::sample::select(vec!["personal_account", "business_account", ""]);
    let id = prop_oneof![Just(serde_json::Value::from("u1")), arbitrary_json()];
    let config = ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        event in event,
        kind in kind,
        role in role,
        user in id,
        block in arbitrary_json(),
        message_id in arbitrary_json(),
        timestamp in arbitrary_json(),
        create_time in arbitrary_json(),
    )| {
        let content = serde_json::json!({
            "from_user": {"id": user, "role": role},
            "to_user": {"id": user},
            "unique_identifier": user,
            "message_id": message_id,
            "type": kind,
            kind: block,
            "referenced_message_info": {"referenced_message_id": message_id},
            "read": {"last_read_timestamp": timestamp},
            "timestamp": timestamp,
        });
        let body = serde_json::json!({"event": event, "create_time": create_time,
            "user_openid": BUSINESS, "content": content.to_string()});
        prop_assert!(parse_body(body.to_string().as_bytes()).is_ok());
    });
}
