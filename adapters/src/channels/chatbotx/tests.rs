//! chatbotx against its documented body format, plus the shared compliance checks.
//!
//! The bearer key authenticates the caller, not the body, so the shared signature contract's
//! tampered-body step cannot hold for this channel; `assert_key_contract` runs every other step
//! of it, and a separate test pins down that the tampered-body step is the only one that fails.

use super::{ChatbotxWebhook, API_KEY, AUTHORIZATION_HEADER, KIND};
use crate::channels::compliance::{
    self, assert_parser_total, assert_unattributed, counting, fixture, parse_trusted, secrets_of,
};
use crate::channels::webhook::{
    OwnAccount, RawWebhook, WebhookChannel, WebhookError, WebhookSecrets, UNATTRIBUTED_CONTACT,
};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use switchboard_domain::message::{
    Attachment, AttachmentKind, InboundDraft, InboundEvent, InboundKind, MessageContent,
};
use switchboard_domain::{ChannelKind, IntegrationId, SecretString};

const FIXTURES: &[&str] = &["text", "batch"];

fn secrets(key: &str) -> WebhookSecrets {
    WebhookSecrets::new(
        [
            (API_KEY.to_owned(), SecretString::new(key)),
            ("bot_id".to_owned(), SecretString::new("bot-1")),
        ]
        .into(),
        Default::default(),
    )
}

fn authorization(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION_HEADER, value.parse().unwrap());
    headers
}

fn sign(_body: &[u8], secrets: &WebhookSecrets) -> HeaderMap {
    authorization(&format!(
        "Bearer {}",
        secrets.get(API_KEY).unwrap().expose()
    ))
}

fn verifies(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &WebhookSecrets,
) -> Result<(), WebhookError> {
    ChatbotxWebhook
        .verify(RawWebhook { headers, body }, secrets)
        .map(|_| ())
}

fn unauthorized(headers: &HeaderMap, body: &[u8]) -> bool {
    matches!(
        verifies(headers, body, &secrets("cbx_live_key_A")),
        Err(WebhookError::Unauthorized(_))
    )
}

/// The shared contract of token-authenticated channels.
fn assert_key_contract(body: &[u8]) {
    compliance::assert_token_contract(
        &ChatbotxWebhook,
        body,
        &secrets("cbx_live_key_A"),
        &secrets("cbx_live_key_B"),
        &sign,
    );
}

fn parse(name: &str) -> Vec<InboundDraft> {
    parse_trusted(&ChatbotxWebhook, &fixture(&format!("chatbotx/{name}.json"))).unwrap()
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

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

fn parse_one(element: &str) -> InboundDraft {
    let body = format!(r#"{{"messages":[{element}]}}"#);
    let mut drafts = parse_trusted(&ChatbotxWebhook, body.as_bytes()).unwrap();
    assert_eq!(drafts.len(), 1, "{element}");
    drafts.remove(0)
}

#[test]
fn every_fixture_passes_the_key_contract() {
    for name in FIXTURES {
        assert_key_contract(&fixture(&format!("chatbotx/{name}.json")));
    }
}

#[test]
fn the_bearer_scheme_is_case_insensitive_but_the_key_is_exact() {
    let body = fixture("chatbotx/text.json");
    let ours = secrets("cbx_live_key_A");
    assert_eq!(
        verifies(&authorization("bearer cbx_live_key_A"), &body, &ours),
        Ok(())
    );
    for value in [
        "cbx_live_key_A",
        "Basic cbx_live_key_A",
        "Bearer CBX_LIVE_KEY_A",
        "Bearer cbx_live_key_",
        "Bearer cbx_live_key_AA",
        "Bearer ",
    ] {
        assert!(
            unauthorized(&authorization(value), &body),
            "{value:?} must be refused"
        );
    }
}

#[test]
fn an_integration_without_an_api_key_cannot_verify_anything() {
    let body = fixture("chatbotx/text.json");
    let headers = sign(&body, &secrets("cbx_live_key_A"));
    for unconfigured in [WebhookSecrets::default(), secrets("")] {
        assert_eq!(
            verifies(&headers, &body, &unconfigured),
            Err(WebhookError::MissingSecret(API_KEY))
        );
    }
}

#[test]
fn a_text_message_keeps_its_id_contact_and_timestamp() {
    let drafts = parse("text");
    assert_eq!(drafts.len(), 1);
    let (id, content, reply_to, is_echo) = received(&drafts[0]);
    assert_eq!(id, "cbx_msg_01HZX4K2T9");
    assert_eq!(
        content,
        &MessageContent::Text {
            text: "Hello from the test console".into()
        }
    );
    assert_eq!((reply_to, is_echo), (None, false));
    assert_eq!(drafts[0].contact.platform_id, "console-user-42");
    assert_eq!(
        drafts[0].contact.display_name.as_deref(),
        Some("QA Console")
    );
    assert_eq!(drafts[0].platform_timestamp, at("2024-05-14T02:30:12.250Z"));
    assert_eq!(drafts[0].raw["id"], "cbx_msg_01HZX4K2T9");
}

#[test]
fn a_bad_element_is_kept_alone_and_its_siblings_are_kept_in_order() {
    let drafts = parse("batch");
    let ids: Vec<&str> = drafts.iter().map(|d| received(d).0).collect();
    assert_eq!(
        ids,
        [
            "cbx_msg_01HZX4M001",
            "cbx_msg_01HZX4M002",
            "cbx_msg_01HZX4M003",
            "cbx_msg_01HZX4M004"
        ],
    );
    assert_unattributed(&drafts[1], "message", Some("cbx_msg_01HZX4M002"));
    for draft in [&drafts[0], &drafts[2], &drafts[3]] {
        assert_eq!(draft.contact.platform_id, "visitor-7");
    }
}

#[test]
fn attachments_become_media_captioned_by_the_text() {
    let draft = &parse("batch")[0];
    let (_, content, reply_to, is_echo) = received(draft);
    let file = |kind, url: &str, mime_type: &str| Attachment {
        kind,
        url: Some(url.into()),
        mime_type: Some(mime_type.into()),
        media_id: None,
    };
    assert_eq!(
        content,
        &MessageContent::Media {
            attachments: vec![
                file(
                    AttachmentKind::Image,
                    "https://files.example.com/uploads/front.jpg",
                    "image/jpeg"
                ),
                file(
                    AttachmentKind::File,
                    "https://files.example.com/uploads/receipt.pdf",
                    "application/pdf"
                ),
            ],
            caption: Some("Here are the photos and the receipt".into()),
        }
    );
    assert_eq!((reply_to, is_echo), (Some("cbx_msg_01HZX4K000"), false));
    assert_eq!(draft.contact.display_name, None);
    assert_eq!(draft.platform_timestamp, at("2024-05-14T02:31:00Z"));
}

#[test]
fn a_postback_carries_its_payload_and_title() {
    let draft = &parse("batch")[2];
    assert_eq!(
        received(draft).1,
        &MessageContent::Postback {
            payload: "ORDER_STATUS".into(),
            title: Some("Where is my order?".into())
        }
    );
    assert_eq!(draft.contact.display_name.as_deref(), Some("Visitor Seven"));
    assert_eq!(draft.raw["postback"]["payload"], "ORDER_STATUS");
}

#[test]
fn an_echo_is_marked_as_the_bots_own_message() {
    let draft = &parse("batch")[3];
    let (_, content, _, is_echo) = received(draft);
    assert!(is_echo);
    assert_eq!(
        content,
        &MessageContent::Text {
            text: "Your order ships tomorrow.".into()
        }
    );
}

#[test]
fn redelivering_the_same_body_yields_the_same_ids() {
    let integration = IntegrationId::new();
    let channel = ChannelKind::parse(super::KIND).unwrap();
    for name in FIXTURES {
        for (first, again) in parse(name).into_iter().zip(parse(name)) {
            assert_eq!(received(&first).0, received(&again).0);
            let event = |draft| {
                InboundEvent::from_draft(
                    integration,
                    "acme".parse().unwrap(),
                    channel.clone(),
                    draft,
                )
            };
            assert_eq!(event(first).event_id, event(again).event_id, "{name}");
        }
    }
}

#[test]
fn a_missing_or_unreadable_timestamp_is_replaced_by_the_time_of_arrival() {
    let before = Utc::now();
    for element in [
        r#"{"id":"m1","contact":{"id":"c1"},"text":"hi"}"#,
        r#"{"id":"m1","contact":{"id":"c1"},"text":"hi","timestamp":"yesterday"}"#,
        r#"{"id":"m1","contact":{"id":"c1"},"text":"hi","timestamp":1715650000}"#,
    ] {
        assert!(parse_one(element).platform_timestamp >= before, "{element}");
    }
}

#[test]
fn elements_with_nothing_understandable_are_kept_as_unsupported() {
    let cases = [
        (r#"{"id":"m1","contact":{"id":"c1"}}"#, "message"),
        (
            r#"{"id":"m1","contact":{"id":"c1"},"postback":{"title":"no payload"}}"#,
            "postback",
        ),
        (
            r#"{"id":"m1","contact":{"id":"c1"},"text":"x","attachments":[{"type":"hologram"}]}"#,
            "attachment",
        ),
    ];
    for (element, kind) in cases {
        assert_eq!(
            received(&parse_one(element)).1,
            &MessageContent::Unsupported { kind: kind.into() },
            "{element}"
        );
    }
}

#[test]
fn elements_without_an_id_are_skipped_and_without_a_contact_id_kept_unattributed() {
    let body = br#"{"messages":[
        {"contact":{"id":"c1"},"text":"no id"},
        {"id":"","contact":{"id":"c1"},"text":"empty id"},
        {"id":"m3","text":"no contact"},
        {"id":"m4","contact":{"id":7},"text":"numeric contact id"},
        "not an object",
        {"id":"m6","contact":{"id":"c1"},"text":"kept"}
    ]}"#;
    let (drafts, counts) = counting(KIND, || parse_trusted(&ChatbotxWebhook, body).unwrap());
    let ids: Vec<&str> = drafts.iter().map(|d| received(d).0).collect();
    assert_eq!(ids, ["m3", "m4", "m6"]);
    assert_unattributed(&drafts[0], "message", Some("m3"));
    assert_unattributed(&drafts[1], "message", Some("m4"));
    assert_eq!(drafts[1].raw["text"], "numeric contact id");
    assert_eq!(drafts[2].contact.platform_id, "c1");
    assert_ne!(drafts[2].contact.platform_id, UNATTRIBUTED_CONTACT);
    assert_eq!(counts.unattributed, 2);
}

#[test]
fn a_platform_wide_api_key_authenticates_no_integration() {
    let body = fixture("chatbotx/text.json");
    let headers = sign(&body, &secrets("shared-key"));
    let platform_only = secrets_of(&[], &[(API_KEY, "shared-key")]);
    assert_eq!(
        verifies(&headers, &body, &platform_only),
        Err(WebhookError::MissingSecret(API_KEY)),
        "only the integration's own key binds a delivery to it"
    );
    let theirs = sign(&body, &secrets("their-key"));
    assert!(matches!(
        verifies(&theirs, &body, &secrets("cbx_live_key_A")),
        Err(WebhookError::Unauthorized(_))
    ));
}

#[test]
fn bodies_that_are_not_a_messages_list_are_malformed() {
    for body in [
        &b"not json"[..],
        b"{}",
        b"[]",
        br#"{"messages":{}}"#,
        br#"{"messages":null}"#,
        br#"[{"messages":[]}]"#,
    ] {
        assert!(matches!(
            parse_trusted(&ChatbotxWebhook, body),
            Err(WebhookError::Malformed(_))
        ));
    }
    assert_eq!(
        parse_trusted(&ChatbotxWebhook, br#"{"messages":[]}"#).unwrap(),
        vec![]
    );
}

#[test]
fn no_input_makes_the_parser_panic() {
    assert_parser_total(&ChatbotxWebhook, &OwnAccount::default());
}

#[test]
fn the_key_the_webhook_reads_is_a_secret_field_of_the_spec() {
    let spec = super::spec();
    let field = spec.auth.fields.iter().find(|f| f.name == API_KEY).unwrap();
    assert_eq!(field.kind, switchboard_domain::AuthFieldKind::Secret);
}
