//! The checks every webhook channel must pass, shared by each channel's tests: a correct
//! signature verifies; a missing one, one made with another secret, and a tampered body are
//! refused with `Unauthorized`; and no input, however odd, makes the parser panic.

use crate::channels::webhook::{
    RawWebhook, VerifiedWebhook, WebhookChannel, WebhookError, WebhookSecrets,
};
use http::HeaderMap;
use proptest::prelude::*;
use serde_json::Value;
use switchboard_domain::message::InboundDraft;

/// Signs `body` with the secrets a test chose, the way the platform would.
pub type Signer<'s> = &'s dyn Fn(&[u8], &WebhookSecrets) -> HeaderMap;

/// Asserts the signature contract on `body`: `sign` with `secrets` passes; without headers,
/// with `other_secrets`, or over a tampered body it fails as `Unauthorized`.
pub fn assert_signature_contract(
    channel: &dyn WebhookChannel,
    body: &[u8],
    secrets: &WebhookSecrets,
    other_secrets: &WebhookSecrets,
    sign: Signer<'_>,
) {
    assert_token_contract(channel, body, secrets, other_secrets, sign);
    let headers = sign(body, secrets);
    let mut tampered = body.to_vec();
    let last = tampered.len() - 1;
    tampered.insert(last, b' ');
    tampered.insert(1, b'\n');
    assert!(
        matches!(
            channel.verify(
                RawWebhook {
                    headers: &headers,
                    body: &tampered
                },
                secrets
            ),
            Err(WebhookError::Unauthorized(_))
        ),
        "a tampered body must be refused"
    );
}

/// The contract of channels authenticated by a shared token rather than a body signature
/// (Telegram's secret token, the internal API's bearer key): the right token passes; none, or
/// another secret's, fails as `Unauthorized`. The body is not covered, by the platform's design.
pub fn assert_token_contract(
    channel: &dyn WebhookChannel,
    body: &[u8],
    secrets: &WebhookSecrets,
    other_secrets: &WebhookSecrets,
    sign: Signer<'_>,
) {
    let headers = sign(body, secrets);
    assert!(
        channel
            .verify(
                RawWebhook {
                    headers: &headers,
                    body
                },
                secrets
            )
            .is_ok(),
        "a correctly signed body must verify"
    );
    if let Some(name) = channel.signature_header() {
        assert!(headers.contains_key(name), "the signer must set {name}");
    }
    let unauthorized = |headers: &HeaderMap, body: &[u8]| {
        matches!(
            channel.verify(RawWebhook { headers, body }, secrets),
            Err(WebhookError::Unauthorized(_))
        )
    };
    assert!(
        unauthorized(&HeaderMap::new(), body),
        "a missing signature must be refused"
    );
    assert!(
        unauthorized(&sign(body, other_secrets), body),
        "a signature made with another secret must be refused"
    );
}

/// Parses `body` as if it had been verified.
pub fn parse_trusted(
    channel: &dyn WebhookChannel,
    body: &[u8],
) -> Result<Vec<InboundDraft>, WebhookError> {
    let headers = HeaderMap::new();
    let verified: VerifiedWebhook<'_> = RawWebhook {
        headers: &headers,
        body,
    }
    .verify_with(|_| Ok(()))
    .expect("no check");
    channel.parse(&verified)
}

/// Reads a fixture under `adapters/tests/fixtures/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {full}: {e}"))
}

/// Field names the channels' payloads use, so generated bodies reach deep into parsers.
const WEBHOOK_KEYS: &[&str] = &[
    "object",
    "entry",
    "messaging",
    "changes",
    "field",
    "value",
    "messages",
    "statuses",
    "contacts",
    "profile",
    "name",
    "wa_id",
    "status",
    "recipient_id",
    "errors",
    "code",
    "context",
    "interactive",
    "button_reply",
    "message",
    "sender",
    "recipient",
    "id",
    "mid",
    "timestamp",
    "watermark",
    "mids",
    "delivery",
    "read",
    "postback",
    "quick_reply",
    "is_echo",
    "text",
    "body",
    "event_name",
    "app_id",
    "msg_id",
    "msg_ids",
    "event",
    "content",
    "user_openid",
    "create_time",
    "from_user",
    "to_user",
    "role",
    "message_id",
    "type",
    "update_id",
    "from",
    "chat",
    "date",
    "callback_query",
    "data",
    "photo",
    "file_id",
    "caption",
    "location",
    "latitude",
    "longitude",
    "attachments",
    "payload",
    "url",
    "coordinates",
    "lat",
    "long",
    "echo",
];

/// String values that select a parser's branches.
const WEBHOOK_VALUES: &[&str] = &[
    "page",
    "whatsapp_business_account",
    "messages",
    "text",
    "image",
    "location",
    "interactive",
    "button",
    "sent",
    "delivered",
    "read",
    "failed",
    "user_send_text",
    "user_send_image",
    "user_send_location",
    "user_seen_message",
    "user_received_message",
    "oa_send_text",
    "im_receive_msg",
    "im_send_msg",
    "im_mark_read_msg",
    "personal_account",
    "business_account",
    "{\"message_id\":\"m\",\"type\":\"text\"}",
];

/// Arbitrary JSON, biased towards the shapes webhook parsers look into.
pub fn arbitrary_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        4 => prop::sample::select(WEBHOOK_KEYS).prop_map(str::to_owned),
        1 => "[a-z_]{1,10}",
    ];
    let text = prop_oneof![
        2 => prop::sample::select(WEBHOOK_VALUES).prop_map(str::to_owned),
        1 => ".{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (0i64..4_000_000_000_000).prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Asserts that parsing arbitrary JSON and arbitrary bytes returns (ok or an error) without
/// panicking.
pub fn assert_parser_total(channel: &dyn WebhookChannel) {
    let config = ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    };
    proptest!(config, |(value in arbitrary_json())| {
        let _ = parse_trusted(channel, value.to_string().as_bytes());
    });
    proptest!(config, |(bytes in prop::collection::vec(any::<u8>(), 0..256))| {
        let _ = parse_trusted(channel, &bytes);
    });
}
