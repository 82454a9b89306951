//! Telegram against updates shaped like the Bot API's documented examples, plus the shared
//! compliance checks.
//!
//! The secret token authenticates the sender, not the body, so the shared signature contract's
//! tampered-body step cannot hold for this channel; `assert_token_contract` runs every other
//! step of it, and a separate test pins down that the tampered-body step is the only one that
//! fails.

use super::{TelegramWebhook, KIND, SECRET_HEADER, WEBHOOK_SECRET};
use crate::channels::compliance::{
    self, assert_parser_total, assert_unattributed, counting, fixture, parse_trusted, secrets_of,
};
use crate::channels::webhook::{
    OwnAccount, RawWebhook, WebhookChannel, WebhookError, WebhookSecrets,
};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use std::collections::HashSet;
use switchboard_domain::message::{
    Attachment, AttachmentKind, InboundDraft, InboundEvent, InboundKind, MessageContent,
};
use switchboard_domain::{ChannelKind, IntegrationId, SecretString};

const FIXTURES: &[&str] = &[
    "text",
    "reply",
    "photo_caption",
    "callback_query",
    "edited_message",
    "sticker",
    "location",
    "document",
    "voice",
    "inline_query",
];

fn secrets(token: &str) -> WebhookSecrets {
    WebhookSecrets::new(
        [(WEBHOOK_SECRET.to_owned(), SecretString::new(token))].into(),
        Default::default(),
    )
}

fn sign(_body: &[u8], secrets: &WebhookSecrets) -> HeaderMap {
    let token = secrets.get(WEBHOOK_SECRET).unwrap().expose();
    let mut headers = HeaderMap::new();
    headers.insert(SECRET_HEADER, token.parse().unwrap());
    headers
}

fn verifies(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &WebhookSecrets,
) -> Result<(), WebhookError> {
    TelegramWebhook
        .verify(RawWebhook { headers, body }, secrets)
        .map(|_| ())
}

fn unauthorized(headers: &HeaderMap, body: &[u8]) -> bool {
    matches!(
        verifies(headers, body, &secrets("s3cr3t-token_A")),
        Err(WebhookError::Unauthorized(_))
    )
}

/// The shared contract of token-authenticated channels.
fn assert_token_contract(body: &[u8]) {
    compliance::assert_token_contract(
        &TelegramWebhook,
        body,
        &secrets("s3cr3t-token_A"),
        &secrets("s3cr3t-token_B"),
        &sign,
    );
}

fn parse(name: &str) -> Vec<InboundDraft> {
    parse_trusted(&TelegramWebhook, &fixture(&format!("telegram/{name}.json"))).unwrap()
}

fn only(name: &str) -> InboundDraft {
    let mut drafts = parse(name);
    assert_eq!(drafts.len(), 1, "{name} is one update");
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

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

fn event(integration: IntegrationId, draft: InboundDraft) -> InboundEvent {
    let channel = ChannelKind::parse(super::KIND).unwrap();
    InboundEvent::from_draft(integration, "acme".parse().unwrap(), channel, draft)
}

#[test]
fn every_fixture_passes_the_token_contract() {
    for name in FIXTURES {
        assert_token_contract(&fixture(&format!("telegram/{name}.json")));
    }
}

#[test]
fn a_token_that_differs_only_in_case_or_length_is_refused() {
    let body = fixture("telegram/text.json");
    for token in ["S3CR3T-TOKEN_A", "s3cr3t-token_", "s3cr3t-token_AA", ""] {
        let mut headers = HeaderMap::new();
        headers.insert(SECRET_HEADER, token.parse().unwrap());
        assert!(unauthorized(&headers, &body), "{token:?} must be refused");
    }
}

#[test]
fn an_integration_without_a_webhook_secret_cannot_verify_anything() {
    let body = fixture("telegram/text.json");
    let headers = sign(&body, &secrets("s3cr3t-token_A"));
    for unconfigured in [WebhookSecrets::default(), secrets("")] {
        assert_eq!(
            verifies(&headers, &body, &unconfigured),
            Err(WebhookError::MissingSecret(WEBHOOK_SECRET))
        );
    }
}

#[test]
fn a_text_message_is_identified_by_its_chat_and_message_id() {
    let draft = only("text");
    let (id, content, reply_to, is_echo) = received(&draft);
    assert_eq!(id, "1111111:1365");
    assert_eq!(
        content,
        &MessageContent::Text {
            text: "/start".into()
        }
    );
    assert_eq!((reply_to, is_echo), (None, false));
    assert_eq!(draft.contact.platform_id, "1111111");
    assert_eq!(draft.contact.display_name.as_deref(), Some("Test Lastname"));
    assert_eq!(draft.platform_timestamp, at(1_441_645_532));
    assert_eq!(draft.raw["update_id"], 10000);
    assert_eq!(draft.raw["message"]["text"], "/start");
}

#[test]
fn a_reply_points_at_the_id_the_answered_message_was_given() {
    let draft = only("reply");
    let (id, content, reply_to, _) = received(&draft);
    assert_eq!(id, "1111111:1366");
    assert_eq!(
        content,
        &MessageContent::Text {
            text: "Yes, that one".into()
        }
    );
    assert_eq!(reply_to, Some("1111111:1334"));
    assert_eq!(draft.platform_timestamp, at(1_441_645_540));
}

#[test]
fn a_photo_becomes_its_largest_size_with_the_caption() {
    let draft = only("photo_caption");
    let (id, content, _, _) = received(&draft);
    assert_eq!(id, "1111111:1367");
    assert_eq!(
        content,
        &MessageContent::Media {
            attachments: vec![Attachment {
                kind: AttachmentKind::Image,
                url: None,
                mime_type: None,
                media_id: Some("AgACAgQAAxkBAAIFW2Storefront-x".into()),
            }],
            caption: Some("Our new storefront".into()),
        }
    );
    assert_eq!(draft.platform_timestamp, at(1_441_645_560));
}

#[test]
fn a_button_press_is_a_postback_from_the_presser_answering_the_buttons_message() {
    let before = Utc::now();
    let draft = only("callback_query");
    let (id, content, reply_to, is_echo) = received(&draft);
    assert_eq!(id, "update:10003");
    assert_eq!(
        content,
        &MessageContent::Postback {
            payload: "plan:pro".into(),
            title: None
        }
    );
    assert_eq!((reply_to, is_echo), (Some("1111111:1368"), false));
    assert_eq!(draft.contact.platform_id, "1111111");
    assert_eq!(draft.contact.display_name.as_deref(), Some("Test Lastname"));
    assert!(
        draft.platform_timestamp >= before,
        "a press has no date, so it is stamped on arrival"
    );
    assert_eq!(draft.raw["callback_query"]["data"], "plan:pro");
}

#[test]
fn an_edit_is_unsupported_and_never_collides_with_the_message_it_edits() {
    let draft = only("edited_message");
    let (id, content, reply_to, _) = received(&draft);
    assert_eq!(id, "update:10004");
    assert_ne!(
        id,
        received(&only("text")).0,
        "the edit of 1365 is not a redelivery of it"
    );
    assert_eq!(
        content,
        &MessageContent::Unsupported {
            kind: "edited_message".into()
        }
    );
    assert_eq!(reply_to, None);
    assert_eq!(draft.contact.platform_id, "1111111");
    assert_eq!(
        draft.platform_timestamp,
        at(1_441_646_600),
        "an edit is dated by edit_date"
    );
    assert_eq!(draft.raw["edited_message"]["text"], "Edited text");
}

#[test]
fn a_sticker_is_identified_by_its_file_id() {
    let draft = only("sticker");
    let (id, content, _, _) = received(&draft);
    assert_eq!(id, "2222222:1369");
    assert_eq!(
        content,
        &MessageContent::Sticker {
            sticker_id: "CAACAgIAAxkBAAIFXWZHotCherryThumbsUp".into(),
            url: None
        }
    );
    assert_eq!(draft.contact.display_name.as_deref(), Some("Mai"));
}

#[test]
fn a_location_in_a_group_comes_from_the_sender_and_is_identified_in_the_group() {
    let draft = only("location");
    let (id, content, _, _) = received(&draft);
    assert_eq!(id, "-1001234567890:412");
    assert_eq!(
        content,
        &MessageContent::Location {
            latitude: 10.776889,
            longitude: 106.700806,
            name: None,
            address: None
        }
    );
    assert_eq!(draft.contact.platform_id, "3333333");
    assert_eq!(
        draft.contact.display_name.as_deref(),
        Some("ng_tran"),
        "no name: the username"
    );
    assert_eq!(draft.platform_timestamp, at(1_441_645_800));
}

#[test]
fn documents_and_voice_notes_keep_their_file_id_and_mime_type() {
    let cases = [
        (
            "document",
            AttachmentKind::File,
            "application/pdf",
            "BQACAgQAAxkBAAIFXmTestfilePdf",
            Some("The invoice"),
        ),
        (
            "voice",
            AttachmentKind::Audio,
            "audio/ogg",
            "AwACAgQAAxkBAAIFX2VoiceNote",
            None,
        ),
    ];
    for (name, kind, mime_type, file_id, caption) in cases {
        let draft = only(name);
        assert_eq!(
            received(&draft).1,
            &MessageContent::Media {
                attachments: vec![Attachment {
                    kind,
                    url: None,
                    mime_type: Some(mime_type.into()),
                    media_id: Some(file_id.into()),
                }],
                caption: caption.map(str::to_owned),
            },
            "{name}"
        );
    }
}

#[test]
fn an_unknown_update_kind_is_kept_as_unsupported_under_its_field_name() {
    let draft = only("inline_query");
    let (id, content, _, _) = received(&draft);
    assert_eq!(id, "update:10009");
    assert_eq!(
        content,
        &MessageContent::Unsupported {
            kind: "inline_query".into()
        }
    );
    assert_eq!(draft.contact.platform_id, "1111111");
    assert_eq!(draft.raw["inline_query"]["query"], "inline query");
}

#[test]
fn redelivering_the_same_update_yields_the_same_ids() {
    let integration = IntegrationId::new();
    for name in FIXTURES {
        let (first, again) = (only(name), only(name));
        assert_eq!(received(&first).0, received(&again).0, "{name}");
        assert_eq!(
            event(integration, first).event_id,
            event(integration, again).event_id,
            "{name}"
        );
    }
}

#[test]
fn different_updates_get_different_ids() {
    let ids: HashSet<String> = FIXTURES
        .iter()
        .map(|name| received(&only(name)).0.to_owned())
        .collect();
    assert_eq!(ids.len(), FIXTURES.len(), "{ids:?}");
}

#[test]
fn other_message_contents_are_unsupported_under_their_field_name() {
    let body = br#"{"update_id":7,"message":{"message_id":9,"date":1441645532,
        "from":{"id":5,"first_name":"Ann"},"chat":{"id":5,"type":"private"},
        "contact":{"phone_number":"+84901234567","first_name":"Bao"}}}"#;
    let drafts = parse_trusted(&TelegramWebhook, body).unwrap();
    assert_eq!(
        received(&drafts[0]).1,
        &MessageContent::Unsupported {
            kind: "contact".into()
        }
    );
}

#[test]
fn a_venue_is_a_location_with_its_name_and_address() {
    let body = br#"{"update_id":8,"message":{"message_id":10,"date":1441645532,
        "from":{"id":5},"chat":{"id":5,"type":"private"},
        "location":{"latitude":48.8584,"longitude":2.2945},
        "venue":{"location":{"latitude":48.8584,"longitude":2.2945},"title":"Eiffel Tower","address":"Champ de Mars"}}}"#;
    let drafts = parse_trusted(&TelegramWebhook, body).unwrap();
    assert_eq!(
        received(&drafts[0]).1,
        &MessageContent::Location {
            latitude: 48.8584,
            longitude: 2.2945,
            name: Some("Eiffel Tower".into()),
            address: Some("Champ de Mars".into())
        }
    );
}

#[test]
fn a_channel_post_comes_from_the_channel() {
    let body = br#"{"update_id":9,"channel_post":{"message_id":77,"date":1441645532,
        "sender_chat":{"id":-1009876543210,"title":"Deals","type":"channel"},
        "chat":{"id":-1009876543210,"title":"Deals","type":"channel"},"text":"Sale!"}}"#;
    let draft = parse_trusted(&TelegramWebhook, body).unwrap().remove(0);
    assert_eq!(received(&draft).0, "-1009876543210:77");
    assert_eq!(draft.contact.platform_id, "-1009876543210");
    assert_eq!(draft.contact.display_name.as_deref(), Some("Deals"));
}

#[test]
fn an_update_without_an_item_yields_no_draft() {
    assert_eq!(
        parse_trusted(&TelegramWebhook, br#"{"update_id":11}"#).unwrap(),
        vec![]
    );
}

#[test]
fn an_update_whose_item_names_nobody_is_kept_as_unsupported_and_counted() {
    let cases = [
        (
            &br#"{"update_id":12,"poll":{"id":"5","question":"?","options":[]}}"#[..],
            "poll",
            "update:12",
        ),
        (
            br#"{"update_id":13,"message":{"message_id":1,"text":"orphan","date":1700000000}}"#,
            "message",
            "update:13",
        ),
    ];
    for (body, kind, id) in cases {
        let (drafts, counts) = counting(KIND, || parse_trusted(&TelegramWebhook, body).unwrap());
        assert_eq!(drafts.len(), 1, "{kind}");
        assert_unattributed(&drafts[0], kind, Some(id));
        assert_eq!(
            drafts[0].raw["update_id"],
            12 + u64::from(kind == "message")
        );
        assert_eq!(counts.unattributed, 1, "{kind}");
    }
}

#[test]
fn a_platform_wide_secret_token_authenticates_no_integration() {
    let body = fixture("telegram/text.json");
    let headers = sign(&body, &secrets("shared-token"));
    let platform_only = secrets_of(&[], &[(WEBHOOK_SECRET, "shared-token")]);
    assert_eq!(
        verifies(&headers, &body, &platform_only),
        Err(WebhookError::MissingSecret(WEBHOOK_SECRET)),
        "only the integration's own token binds a delivery to it"
    );
    let with_own = secrets_of(
        &[(WEBHOOK_SECRET, "s3cr3t-token_A")],
        &[(WEBHOOK_SECRET, "shared-token")],
    );
    assert!(matches!(
        verifies(&headers, &body, &with_own),
        Err(WebhookError::Unauthorized(_))
    ));
}

#[test]
fn another_integrations_token_is_refused() {
    let body = fixture("telegram/text.json");
    let theirs = sign(&body, &secrets("their-token"));
    assert!(matches!(
        verifies(&theirs, &body, &secrets("s3cr3t-token_A")),
        Err(WebhookError::Unauthorized(_))
    ));
}

#[test]
fn bodies_that_are_not_updates_are_malformed() {
    for body in [
        &b"not json"[..],
        b"{}",
        b"[]",
        br#"{"update_id":"ten"}"#,
        br#"{"message":{"message_id":1}}"#,
    ] {
        assert!(matches!(
            parse_trusted(&TelegramWebhook, body),
            Err(WebhookError::Malformed(_))
        ));
    }
}

#[test]
fn no_input_makes_the_parser_panic() {
    assert_parser_total(&TelegramWebhook, &OwnAccount::default());
}

#[test]
fn the_secret_the_webhook_reads_is_a_secret_field_of_the_spec() {
    let spec = super::spec();
    let field = spec
        .auth
        .fields
        .iter()
        .find(|f| f.name == WEBHOOK_SECRET)
        .unwrap();
    assert_eq!(field.kind, switchboard_domain::AuthFieldKind::Secret);
}
