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

/// Arbitrary JSON, biased towards the shapes webhook parsers look into.
pub fn arbitrary_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("object".to_owned()),
        Just("entry".to_owned()),
        Just("messaging".to_owned()),
        Just("changes".to_owned()),
        Just("value".to_owned()),
        Just("messages".to_owned()),
        Just("statuses".to_owned()),
        Just("message".to_owned()),
        Just("sender".to_owned()),
        Just("id".to_owned()),
        Just("timestamp".to_owned()),
        Just("text".to_owned()),
        Just("event_name".to_owned()),
        Just("content".to_owned()),
        Just("type".to_owned()),
        Just("update_id".to_owned()),
        Just("from".to_owned()),
        Just("attachments".to_owned()),
        Just("payload".to_owned()),
        "[a-z_]{1,10}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        prop_oneof![
            Just("page".to_owned()),
            Just("whatsapp_business_account".to_owned()),
            ".{0,12}"
        ]
        .prop_map(Value::String),
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
