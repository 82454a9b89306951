//! The checks every webhook channel must pass, shared by each channel's tests: a correct
//! signature verifies; a missing one, one made with another secret, and a tampered body are
//! refused with `Unauthorized`; and no input, however odd, makes the parser panic. Also the
//! helpers those tests share: parsing as if verified for an account, receiving a delivery the
//! way the HTTP edge does, building secrets, and counting the metrics a call moves.

use crate::channels::webhook::{
    OwnAccount, RawWebhook, VerifiedWebhook, WebhookChannel, WebhookError, WebhookSecrets,
    UNATTRIBUTED_CONTACT,
};
use http::HeaderMap;
use metrics::{Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use switchboard_domain::message::{InboundDraft, InboundKind, MessageContent};
use switchboard_domain::SecretString;

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

/// Parses `body` as if it had been verified, bound to no account (as the channels whose bodies
/// name none are).
pub fn parse_trusted(
    channel: &dyn WebhookChannel,
    body: &[u8],
) -> Result<Vec<InboundDraft>, WebhookError> {
    parse_verified(channel, body, None)
}

/// Parses `body` as if it had been verified for an integration of `account`.
pub fn parse_as(
    channel: &dyn WebhookChannel,
    body: &[u8],
    account: &OwnAccount,
) -> Result<Vec<InboundDraft>, WebhookError> {
    parse_verified(channel, body, Some(account))
}

fn parse_verified(
    channel: &dyn WebhookChannel,
    body: &[u8],
    account: Option<&OwnAccount>,
) -> Result<Vec<InboundDraft>, WebhookError> {
    let headers = HeaderMap::new();
    let verified: VerifiedWebhook<'_> = RawWebhook {
        headers: &headers,
        body,
    }
    .verify_with(|_| Ok(()))
    .expect("no check");
    match account {
        Some(account) => channel.parse(&verified.bound_to(account.clone())),
        None => channel.parse(&verified),
    }
}

/// What the HTTP edge does with a delivery to an integration holding `secrets`: verify, then
/// parse.
pub fn receive(
    channel: &dyn WebhookChannel,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &WebhookSecrets,
) -> Result<Vec<InboundDraft>, WebhookError> {
    let verified = channel.verify(RawWebhook { headers, body }, secrets)?;
    channel.parse(&verified)
}

/// Secrets of an integration with the auth fields `integration`, on a platform configured with
/// `platform`.
pub fn secrets_of(integration: &[(&str, &str)], platform: &[(&str, &str)]) -> WebhookSecrets {
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), SecretString::new(*value)))
            .collect()
    };
    WebhookSecrets::new(map(integration), map(platform))
}

/// Asserts that `result` is the refusal of a delivery whose every item names another account.
pub fn assert_account_mismatch(result: Result<Vec<InboundDraft>, WebhookError>) {
    match result {
        Err(error) => assert!(error.is_account_mismatch(), "{error:?}"),
        Ok(drafts) => panic!("expected an account mismatch, got {} drafts", drafts.len()),
    }
}

/// Asserts that `draft` is an unattributed item kept as `Unsupported { kind }`, with `id`.
pub fn assert_unattributed(draft: &InboundDraft, kind: &str, id: Option<&str>) {
    assert_eq!(draft.contact.platform_id, UNATTRIBUTED_CONTACT);
    match &draft.kind {
        InboundKind::MessageReceived {
            platform_message_id,
            content,
            is_echo: false,
            ..
        } => {
            assert_eq!(content, &MessageContent::Unsupported { kind: kind.into() });
            if let Some(id) = id {
                assert_eq!(platform_message_id, id);
            }
        }
        other => panic!("expected an unsupported message, got {other:?}"),
    }
}

/// The item counters of one channel, as moved by one call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ItemCounts {
    /// `switchboard_webhook_items_foreign_total{channel}`.
    pub foreign: u64,
    /// `switchboard_webhook_items_unattributed_total{channel}`.
    pub unattributed: u64,
}

/// Runs `f` under a recorder that counts, returning its result and the item counters it moved
/// for `channel`.
pub fn counting<T>(channel: &str, f: impl FnOnce() -> T) -> (T, ItemCounts) {
    let recorder = CountingRecorder::default();
    let result = metrics::with_local_recorder(&recorder, f);
    let counts = recorder.0.lock().unwrap();
    let get = |name: &str| {
        counts
            .get(&format!("{name}{{channel={channel}}}"))
            .copied()
            .unwrap_or(0)
    };
    let items = ItemCounts {
        foreign: get("switchboard_webhook_items_foreign_total"),
        unattributed: get("switchboard_webhook_items_unattributed_total"),
    };
    (result, items)
}

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

/// A recorder keeping counters only, by `name{label=value,…}`.
#[derive(Default)]
struct CountingRecorder(Counts);

struct CountingHandle {
    key: String,
    counts: Counts,
}

impl CounterFn for CountingHandle {
    fn increment(&self, value: u64) {
        *self
            .counts
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value;
    }

    fn absolute(&self, value: u64) {
        self.counts.lock().unwrap().insert(self.key.clone(), value);
    }
}

impl metrics::Recorder for CountingRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        Counter::from_arc(Arc::new(CountingHandle {
            key: format!("{}{{{}}}", key.name(), labels.join(",")),
            counts: self.0.clone(),
        }))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
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

/// Asserts that parsing arbitrary JSON and arbitrary bytes, verified for `account`, returns (ok
/// or an error) without panicking.
pub fn assert_parser_total(channel: &dyn WebhookChannel, account: &OwnAccount) {
    let config = ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    };
    proptest!(config, |(value in arbitrary_json())| {
        let _ = parse_as(channel, value.to_string().as_bytes(), account);
    });
    proptest!(config, |(bytes in prop::collection::vec(any::<u8>(), 0..256))| {
        let _ = parse_as(channel, &bytes, account);
    });
}
