//! The AsyncAPI document (`api/asyncapi.json`) held to the code: it is served, it names every
//! topic the code creates and every `ce_type` the code publishes, and real events — serialised
//! by the domain types, or read back from the topics the webhooks, the outbox relay and the
//! outbound adapters write — validate against its header, key and payload schemas.
//!
//! The schemas are checked by the small JSON Schema checker at the end of this file. It knows
//! exactly the keywords the document uses; a schema with any other keyword fails the tests
//! instead of passing unchecked.

use crate::helpers::{read_topic, TestApp, TestKafka, TEST_PLATFORM_CREDENTIALS};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use rdkafka::message::Headers;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use switchboard_adapters::channels::webhook::hmac_sha256;
use switchboard_adapters::inbound::InboundPublisher;
use switchboard_adapters::kafka::{
    CloudEvent, ConsumedRecord, EventProducer, KafkaSettings, OutgoingRecord, RawRecord, Topics,
};
use switchboard_adapters::outbound::commands::{command_record, SEND_MESSAGE_TYPE};
use switchboard_adapters::store::{OutboxRelay, XChaChaSealer};
use switchboard_api::config::Config;
use switchboard_domain::auth::{StoredAuth, StoredValue};
use switchboard_domain::integration::{AccountInfo, Integration, IntegrationEvent};
use switchboard_domain::message::{
    conversation_key, Attachment, AttachmentKind, Contact, DeliveryOutcome, DeliveryUpdate,
    FailureReason, InboundDraft, InboundEvent, InboundKind, MessageContent, OutboundAttachment,
    OutboundContent, PlatformError, QuickReplyOption, SendMessage,
};
use switchboard_domain::{ChannelKind, IntegrationId, SecretSealer, SecretString};
use uuid::Uuid;

const DOCUMENT: &str = include_str!("../../asyncapi.json");
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const READ_TIMEOUT: Duration = Duration::from_secs(20);

const RECEIVED: &str = "messages.received";
const OUTBOUND: &str = "messages.outbound";
const STATUS: &str = "messages.status";
const LIFECYCLE: &str = "integrations.lifecycle";
const OUTBOUND_DLQ: &str = "messages.outbound.dlq";

// ---------------------------------------------------------------------------------------------
// The document and the code's records
// ---------------------------------------------------------------------------------------------

/// The parsed document, with look-ups by topic and `ce_type`.
struct Doc(Value);

impl Doc {
    fn load() -> Self {
        Self(serde_json::from_str(DOCUMENT).expect("api/asyncapi.json is JSON"))
    }

    /// `schema` with `$ref`s followed.
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            schema = self.pointer(reference);
        }
        schema
    }

    fn pointer(&self, reference: &str) -> &Value {
        let path = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference}: only local references are used"));
        self.0
            .pointer(path)
            .unwrap_or_else(|| panic!("{reference} does not resolve"))
    }

    fn channel(&self, address: &str) -> &Value {
        self.0["channels"]
            .as_object()
            .unwrap()
            .values()
            .find(|c| c["address"] == address)
            .unwrap_or_else(|| panic!("no channel for topic {address}"))
    }

    /// The messages of the channel of `topic`, references followed.
    fn messages(&self, topic: &str) -> Vec<&Value> {
        self.channel(topic)["messages"]
            .as_object()
            .unwrap()
            .values()
            .map(|m| self.resolve(m))
            .collect()
    }

    /// The `ce_type` a message's headers pin, if they pin one.
    fn ce_type<'a>(&'a self, message: &'a Value) -> Option<&'a str> {
        let headers = self.resolve(&message["headers"]);
        self.resolve(&headers["properties"]["ce_type"])["const"].as_str()
    }

    /// Every `ce_type` documented on `topic`.
    fn ce_types(&self, topic: &str) -> BTreeSet<String> {
        self.messages(topic)
            .into_iter()
            .filter_map(|m| self.ce_type(m).map(str::to_owned))
            .collect()
    }

    /// The one message of `topic` whose headers pin `ce_type`.
    fn message(&self, topic: &str, ce_type: &str) -> Option<&Value> {
        let found: Vec<&Value> = self
            .messages(topic)
            .into_iter()
            .filter(|m| self.ce_type(m) == Some(ce_type))
            .collect();
        assert!(found.len() <= 1, "{ce_type} is documented twice on {topic}");
        found.into_iter().next()
    }

    /// The `type` a message's payload pins, if it pins one.
    fn payload_type<'a>(&'a self, message: &'a Value) -> Option<&'a str> {
        let payload = self.resolve(&message["payload"]);
        self.resolve(&payload["properties"]["type"])["const"].as_str()
    }

    fn validate(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        check(self, schema, value, "", &mut errors);
        errors
    }

    /// Checks one record against the message of `topic` its `ce_type` header names: headers,
    /// key and JSON value. Returns every problem found.
    fn check_record(
        &self,
        topic: &str,
        key: Option<&str>,
        headers: &[(String, String)],
        payload: &[u8],
    ) -> Vec<String> {
        let headers = header_object(headers);
        let Some(ce_type) = headers.get("ce_type").and_then(Value::as_str) else {
            return vec!["the record has no ce_type header".into()];
        };
        let Some(message) = self.message(topic, ce_type) else {
            return vec![format!("{topic} documents no message of type {ce_type}")];
        };
        let mut errors = self.check_envelope(message, key, &headers);
        match serde_json::from_slice::<Value>(payload) {
            Ok(body) => errors.extend(prefixed("value", self.validate(&message["payload"], &body))),
            Err(error) => errors.push(format!("the value is not JSON: {error}")),
        }
        errors
    }

    /// Checks headers and key against `message`.
    fn check_envelope(
        &self,
        message: &Value,
        key: Option<&str>,
        headers: &Map<String, Value>,
    ) -> Vec<String> {
        let mut errors = prefixed(
            "headers",
            self.validate(&message["headers"], &Value::Object(headers.clone())),
        );
        let key = key.map_or(Value::Null, Value::from);
        errors.extend(prefixed(
            "key",
            self.validate(&message["bindings"]["kafka"]["key"], &key),
        ));
        errors
    }
}

fn prefixed(what: &str, errors: Vec<String>) -> Vec<String> {
    errors.into_iter().map(|e| format!("{what}{e}")).collect()
}

/// Kafka headers as the JSON object the header schemas describe (the last value of a name wins,
/// as when the envelope is read).
fn header_object(headers: &[(String, String)]) -> Map<String, Value> {
    headers
        .iter()
        .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
        .collect()
}

/// The headers the producer writes for `record`.
fn headers_of(record: &OutgoingRecord) -> Vec<(String, String)> {
    let headers = record.event.to_headers(record.traceparent.as_deref());
    headers
        .iter()
        .map(|h| {
            let value = h.value.expect("every envelope header has a value");
            (h.key.to_owned(), String::from_utf8(value.to_vec()).unwrap())
        })
        .collect()
}

fn assert_valid(what: &str, errors: Vec<String>) {
    assert!(
        errors.is_empty(),
        "{what} does not match the document:\n  {}",
        errors.join("\n  ")
    );
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_772_442_927 + seconds, 412_305_000)
        .unwrap()
}

fn producer(kafka: &TestKafka) -> EventProducer {
    EventProducer::new(&KafkaSettings::new(kafka.brokers())).unwrap()
}

fn publisher(kafka: &TestKafka) -> InboundPublisher {
    InboundPublisher::new(
        producer(kafka),
        format!("{}{RECEIVED}", kafka.prefix),
        Duration::from_secs(5),
    )
}

// ---------------------------------------------------------------------------------------------
// Samples of every variant. The matches have no wildcard arm: a new variant does not compile
// until it is sampled here, and then the document must describe it for the tests to pass.
// ---------------------------------------------------------------------------------------------

fn sampled_kind(kind: &InboundKind) -> usize {
    match kind {
        InboundKind::MessageReceived { .. } => 0,
        InboundKind::MessageSent { .. } => 1,
        InboundKind::MessageDelivered { .. } => 2,
        InboundKind::MessageRead { .. } => 3,
        InboundKind::MessageFailed { .. } => 4,
    }
}

fn sampled_content(content: &MessageContent) -> usize {
    match content {
        MessageContent::Text { .. } => 0,
        MessageContent::Media { .. } => 1,
        MessageContent::Location { .. } => 2,
        MessageContent::Postback { .. } => 3,
        MessageContent::QuickReply { .. } => 4,
        MessageContent::Sticker { .. } => 5,
        MessageContent::Unsupported { .. } => 6,
    }
}

fn sampled_lifecycle(event: &IntegrationEvent) -> usize {
    match event {
        IntegrationEvent::IntegrationCreated { .. } => 0,
        IntegrationEvent::IntegrationConnected { .. } => 1,
        IntegrationEvent::SettingsUpdated { .. } => 2,
        IntegrationEvent::CredentialsRefreshed { .. } => 3,
        IntegrationEvent::IntegrationDisconnected { .. } => 4,
        IntegrationEvent::IntegrationDeleted { .. } => 5,
    }
}

fn sampled_outcome(outcome: &DeliveryOutcome) -> usize {
    match outcome {
        DeliveryOutcome::Sent { .. } => 0,
        DeliveryOutcome::Failed { .. } => 1,
    }
}

fn every_failure_reason() -> Vec<FailureReason> {
    let all = [
        FailureReason::RetryableExhausted,
        FailureReason::Permanent,
        FailureReason::Auth,
        FailureReason::RateLimited,
        FailureReason::Invalid,
    ];
    for reason in all {
        match reason {
            FailureReason::RetryableExhausted
            | FailureReason::Permanent
            | FailureReason::Auth
            | FailureReason::RateLimited
            | FailureReason::Invalid => {}
        }
    }
    all.to_vec()
}

fn every_attachment_kind() -> Vec<AttachmentKind> {
    let all = [
        AttachmentKind::Image,
        AttachmentKind::Video,
        AttachmentKind::Audio,
        AttachmentKind::File,
    ];
    for kind in all {
        match kind {
            AttachmentKind::Image
            | AttachmentKind::Video
            | AttachmentKind::Audio
            | AttachmentKind::File => {}
        }
    }
    all.to_vec()
}

/// Asserts that `indices` covers `0..count`.
fn assert_covers(what: &str, indices: impl IntoIterator<Item = usize>, count: usize) {
    let seen: BTreeSet<usize> = indices.into_iter().collect();
    assert_eq!(
        seen,
        (0..count).collect(),
        "the samples miss a variant of {what}"
    );
}

fn contents() -> Vec<MessageContent> {
    let attachment = |kind| Attachment {
        kind,
        url: Some("https://cdn.example.com/a/1".into()),
        mime_type: Some("image/jpeg".into()),
        media_id: Some("1592347".into()),
    };
    let contents = vec![
        MessageContent::Text {
            text: "Is my order on its way?".into(),
        },
        MessageContent::Media {
            attachments: every_attachment_kind()
                .into_iter()
                .map(attachment)
                .collect(),
            caption: Some("the parcel".into()),
        },
        MessageContent::Media {
            attachments: vec![Attachment {
                kind: AttachmentKind::File,
                url: None,
                mime_type: None,
                media_id: None,
            }],
            caption: None,
        },
        MessageContent::Location {
            latitude: 21.0285,
            longitude: 105.8542,
            name: Some("Hoan Kiem".into()),
            address: Some("Hanoi".into()),
        },
        MessageContent::Location {
            latitude: -33.0,
            longitude: 151.0,
            name: None,
            address: None,
        },
        MessageContent::Postback {
            payload: "TRACK_ORDER".into(),
            title: Some("Track".into()),
        },
        MessageContent::Postback {
            payload: "START".into(),
            title: None,
        },
        MessageContent::QuickReply {
            payload: "YES".into(),
            text: Some("Yes".into()),
        },
        MessageContent::QuickReply {
            payload: "NO".into(),
            text: None,
        },
        MessageContent::Sticker {
            sticker_id: "369239263222822".into(),
            url: Some("https://cdn.example.com/s/1".into()),
        },
        MessageContent::Sticker {
            sticker_id: "42".into(),
            url: None,
        },
        MessageContent::Unsupported {
            kind: "reaction".into(),
        },
    ];
    assert_covers("MessageContent", contents.iter().map(sampled_content), 7);
    contents
}

fn inbound_kinds() -> Vec<InboundKind> {
    let mut kinds: Vec<InboundKind> = contents()
        .into_iter()
        .enumerate()
        .map(|(n, content)| InboundKind::MessageReceived {
            platform_message_id: format!("m_{n}"),
            content,
            reply_to: (n % 2 == 0).then(|| "m_previous".into()),
            is_echo: n % 3 == 0,
        })
        .collect();
    let ids = vec!["m_1".to_owned(), "m_2".to_owned()];
    kinds.extend([
        InboundKind::MessageSent {
            platform_message_ids: ids.clone(),
        },
        InboundKind::MessageDelivered {
            platform_message_ids: ids.clone(),
            watermark: None,
        },
        InboundKind::MessageDelivered {
            platform_message_ids: Vec::new(),
            watermark: Some(at(-5)),
        },
        InboundKind::MessageRead {
            platform_message_ids: Vec::new(),
            watermark: Some(Utc.timestamp_opt(1_772_442_900, 0).unwrap()),
        },
        InboundKind::MessageRead {
            platform_message_ids: ids.clone(),
            watermark: None,
        },
        InboundKind::MessageFailed {
            platform_message_ids: ids,
            errors: vec![
                PlatformError {
                    code: "131047".into(),
                    title: Some("Re-engagement message".into()),
                },
                PlatformError {
                    code: "1".into(),
                    title: None,
                },
            ],
        },
        InboundKind::MessageFailed {
            platform_message_ids: vec!["m_3".into()],
            errors: Vec::new(),
        },
    ]);
    assert_covers("InboundKind", kinds.iter().map(sampled_kind), 5);
    kinds
}

fn inbound_events() -> Vec<InboundEvent> {
    let integration = IntegrationId::new();
    inbound_kinds()
        .into_iter()
        .enumerate()
        .map(|(n, kind)| {
            let contact = if n % 2 == 0 {
                Contact::new(format!("125447777777291{n}"))
            } else {
                Contact {
                    platform_id: format!("u{n}"),
                    display_name: Some("Linh Tran".into()),
                }
            };
            let draft = InboundDraft {
                contact,
                platform_timestamp: at(n as i64),
                kind,
                raw: json!({"anything": ["the", "platform", "sent"], "n": n}),
            };
            InboundEvent::from_draft(
                integration,
                "acme".parse().unwrap(),
                ChannelKind::parse("messenger").unwrap(),
                draft,
            )
        })
        .collect()
}

fn sealed(text: &str) -> StoredValue {
    let sealer = XChaChaSealer::from_config(&XChaChaSealer::generate_entry("k1")).unwrap();
    StoredValue::Sealed(
        sealer
            .seal(&SecretString::new(text), "owner/field")
            .unwrap(),
    )
}

fn lifecycle_events() -> Vec<IntegrationEvent> {
    let integration_id = IntegrationId::new();
    let workspace_id: switchboard_domain::WorkspaceId = "acme".parse().unwrap();
    let auth = StoredAuth(
        [
            (
                "host".to_owned(),
                StoredValue::Plain(json!("smtp.example.com")),
            ),
            ("port".to_owned(), StoredValue::Plain(json!(587))),
            ("starttls".to_owned(), StoredValue::Plain(json!(true))),
            ("password".to_owned(), sealed("hunter2")),
        ]
        .into_iter()
        .collect(),
    );
    let events = vec![
        IntegrationEvent::IntegrationCreated {
            integration_id,
            workspace_id: workspace_id.clone(),
            channel: ChannelKind::parse("smtp").unwrap(),
            name: "Receipts".into(),
            auth: auth.clone(),
            at: at(0),
        },
        IntegrationEvent::IntegrationCreated {
            integration_id,
            workspace_id: workspace_id.clone(),
            channel: ChannelKind::parse("google-sheets").unwrap(),
            name: "Leads".into(),
            auth: StoredAuth::default(),
            at: at(0),
        },
        IntegrationEvent::IntegrationConnected {
            integration_id,
            workspace_id: workspace_id.clone(),
            auth: StoredAuth::default(),
            account: AccountInfo::default(),
            at: at(1),
        },
        IntegrationEvent::IntegrationConnected {
            integration_id,
            workspace_id: workspace_id.clone(),
            auth: auth.clone(),
            account: AccountInfo {
                external_id: Some("1122334455".into()),
                display_name: Some("Acme Store".into()),
            },
            at: at(1),
        },
        IntegrationEvent::SettingsUpdated {
            integration_id,
            workspace_id: workspace_id.clone(),
            name: Some("Receipts (EU)".into()),
            settings: Some(json!({"greeting": "Hello", "hours": {"from": 9, "to": 17}})),
            at: at(2),
        },
        IntegrationEvent::SettingsUpdated {
            integration_id,
            workspace_id: workspace_id.clone(),
            name: None,
            settings: None,
            at: at(2),
        },
        IntegrationEvent::CredentialsRefreshed {
            integration_id,
            workspace_id: workspace_id.clone(),
            auth,
            at: at(3),
        },
        IntegrationEvent::IntegrationDisconnected {
            integration_id,
            workspace_id: workspace_id.clone(),
            reason: "credentials refused while sending: token expired".into(),
            at: at(4),
        },
        IntegrationEvent::IntegrationDeleted {
            integration_id,
            workspace_id,
            at: at(5),
        },
    ];
    assert_covers("IntegrationEvent", events.iter().map(sampled_lifecycle), 6);
    events
}

fn lifecycle_ce_type(event: &IntegrationEvent) -> String {
    format!(
        "switchboard.{}.{}.v{}",
        Integration::TYPE.to_lowercase(),
        event.event_type(),
        event.event_version()
    )
}

fn command(
    integration_id: IntegrationId,
    recipient: &str,
    content: OutboundContent,
) -> SendMessage {
    SendMessage {
        message_id: Uuid::new_v4(),
        integration_id,
        workspace_id: "acme".parse().unwrap(),
        channel: ChannelKind::parse("messenger").unwrap(),
        conversation_key: conversation_key(integration_id, recipient),
        recipient: recipient.into(),
        content,
        idempotency_key: None,
        requested_at: at(0),
    }
}

fn delivery_updates() -> Vec<DeliveryUpdate> {
    let message = command(IntegrationId::new(), "42", OutboundContent::text("hi"));
    let mut outcomes = vec![DeliveryOutcome::Sent {
        platform_message_id: "m_42_0".into(),
        attempts: 3,
    }];
    outcomes.extend(
        every_failure_reason()
            .into_iter()
            .map(|reason| DeliveryOutcome::Failed {
                reason,
                detail: format!("{} happened", reason.as_str()),
                attempts: 0,
            }),
    );
    assert_covers("DeliveryOutcome", outcomes.iter().map(sampled_outcome), 2);
    outcomes
        .into_iter()
        .map(|outcome| DeliveryUpdate::new(&message, outcome, at(9)))
        .collect()
}

fn status_ce_type(update: &DeliveryUpdate) -> String {
    format!("switchboard.message.{}.v1", update.outcome.type_name())
}

/// The record a status event becomes, with the envelope the outbound worker gives it.
fn status_record(update: &DeliveryUpdate) -> OutgoingRecord {
    OutgoingRecord {
        topic: STATUS.into(),
        key: update.conversation_key.clone(),
        event: CloudEvent {
            id: update.event_id,
            event_type: status_ce_type(update),
            source: format!("switchboard/adapters/{}", update.channel),
            subject: Some(update.conversation_key.clone()),
            time: update.at,
            sequence: None,
        },
        body: serde_json::to_vec(update).unwrap(),
        traceparent: Some(TRACEPARENT.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// The document itself
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_document_is_asyncapi_3_and_is_served_at_asyncapi_json() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let request = Request::get("/asyncapi.json").body(Body::empty()).unwrap();
    let (status, content_type, served) = app.send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let doc = Doc::load();
    assert_eq!(served, doc.0, "the served document is the file");

    assert_eq!(doc.0["asyncapi"], "3.0.0");
    assert_eq!(doc.0["info"]["title"], "Switchboard");
    assert_eq!(doc.0["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc.0["defaultContentType"], "application/json");
    let server = &doc.0["servers"]["local"];
    assert_eq!(server["protocol"], "kafka");
    assert_eq!(server["host"], Config::default().kafka_brokers.as_str());
}

#[test]
fn every_reference_resolves_and_stands_alone() {
    fn walk(doc: &Doc, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref") {
                    let reference = reference.as_str().unwrap();
                    doc.pointer(reference);
                    assert_eq!(
                        map.len(),
                        1,
                        "{at}: keywords beside $ref are ignored by JSON Schema draft 7"
                    );
                }
                for (key, child) in map {
                    walk(doc, child, &format!("{at}/{key}"));
                }
            }
            Value::Array(items) => {
                for (n, child) in items.iter().enumerate() {
                    walk(doc, child, &format!("{at}/{n}"));
                }
            }
            _ => {}
        }
    }
    let doc = Doc::load();
    walk(&doc, &doc.0, "#");
}

#[test]
fn every_operation_receives_or_sends_messages_of_its_own_channel() {
    let doc = Doc::load();
    let operations = doc.0["operations"].as_object().unwrap();
    let mut received = BTreeSet::new();
    for (id, operation) in operations {
        let channel = operation["channel"]["$ref"].as_str().unwrap();
        doc.pointer(channel);
        let action = operation["action"].as_str().unwrap();
        assert!(action == "receive" || action == "send", "{id}: {action}");
        let messages = operation["messages"].as_array().unwrap();
        assert!(!messages.is_empty(), "{id} names no message");
        for message in messages {
            let reference = message["$ref"].as_str().unwrap();
            assert!(
                reference.starts_with(&format!("{channel}/messages/")),
                "{id}: {reference} is not a message of {channel}"
            );
            doc.pointer(reference);
        }
        if action == "receive" {
            received.insert(doc.pointer(channel)["address"].as_str().unwrap().to_owned());
        }
    }
    for topic in [RECEIVED, OUTBOUND, STATUS, LIFECYCLE, OUTBOUND_DLQ] {
        assert!(received.contains(topic), "no operation receives {topic}");
    }
}

#[test]
fn every_topic_the_code_creates_has_a_channel_and_no_channel_names_another() {
    let doc = Doc::load();
    let config = Config::default();
    let created: BTreeSet<String> = Topics::default()
        .specs(config.topic_partitions)
        .into_iter()
        .map(|spec| spec.name)
        .collect();
    let channels = doc.0["channels"].as_object().unwrap();
    let documented: BTreeSet<String> = channels
        .values()
        .map(|c| c["address"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(documented, created);
    for channel in channels.values() {
        let kafka = &channel["bindings"]["kafka"];
        assert_eq!(kafka["topic"], channel["address"]);
        assert_eq!(kafka["partitions"], config.topic_partitions);
        assert_eq!(kafka["replicas"], config.topic_replication_factor);
        assert_eq!(kafka["topicConfiguration"]["retention.ms"], -1);
        assert_eq!(kafka["topicConfiguration"]["retention.bytes"], -1);
    }
}

#[tokio::test]
async fn every_event_type_the_code_emits_has_exactly_one_message_on_its_topic() {
    let kafka = TestKafka::new();
    let publisher = publisher(&kafka);
    let doc = Doc::load();

    let received: BTreeSet<String> = inbound_events()
        .iter()
        .map(|event| publisher.record(event, None).event.event_type)
        .collect();
    assert_eq!(doc.ce_types(RECEIVED), received);

    let lifecycle: BTreeSet<String> = lifecycle_events().iter().map(lifecycle_ce_type).collect();
    assert_eq!(doc.ce_types(LIFECYCLE), lifecycle);

    let status: BTreeSet<String> = delivery_updates().iter().map(status_ce_type).collect();
    assert_eq!(doc.ce_types(STATUS), status);

    let outbound: BTreeSet<String> = [SEND_MESSAGE_TYPE.to_owned()].into();
    assert_eq!(doc.ce_types(OUTBOUND), outbound);

    for topic in [RECEIVED, STATUS, LIFECYCLE] {
        for message in doc.messages(topic) {
            let ce_type = doc.ce_type(message).unwrap();
            let name = ce_type.split('.').nth(2).unwrap();
            assert_eq!(message["name"], name, "{topic}: {ce_type}");
            assert_eq!(doc.payload_type(message), Some(name), "{topic}: {ce_type}");
        }
    }
}

#[test]
fn the_enumerations_are_the_codes_own() {
    let doc = Doc::load();
    let schemas = &doc.0["components"]["schemas"];
    let reasons: Vec<Value> = every_failure_reason()
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    assert_eq!(schemas["FailureReason"]["enum"], Value::from(reasons));
    let kinds: Vec<Value> = every_attachment_kind()
        .into_iter()
        .map(|k| serde_json::to_value(k).unwrap())
        .collect();
    assert_eq!(schemas["AttachmentKind"]["enum"], Value::from(kinds));
    let tags: BTreeSet<String> = contents()
        .iter()
        .map(|c| {
            serde_json::to_value(c).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let documented: BTreeSet<String> = schemas["MessageContent"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            doc.resolve(v)["properties"]["type"]["const"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(documented, tags);
}

// ---------------------------------------------------------------------------------------------
// Events serialised by the code
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn inbound_events_of_every_kind_and_content_validate_against_their_message() {
    let kafka = TestKafka::new();
    let publisher = publisher(&kafka);
    let doc = Doc::load();
    for event in inbound_events() {
        let record = publisher.record(&event, Some(TRACEPARENT.into()));
        let errors = doc.check_record(
            RECEIVED,
            Some(&record.key),
            &headers_of(&record),
            &record.body,
        );
        assert_valid(&String::from_utf8_lossy(&record.body), errors);
        let without_trace = publisher.record(&event, None);
        let errors = doc.check_record(
            RECEIVED,
            Some(&without_trace.key),
            &headers_of(&without_trace),
            &without_trace.body,
        );
        assert_valid("an event without traceparent", errors);
    }
}

#[test]
fn integration_events_of_every_kind_validate_against_their_message() {
    let doc = Doc::load();
    for event in lifecycle_events() {
        let message = doc
            .message(LIFECYCLE, &lifecycle_ce_type(&event))
            .expect("documented");
        let body = serde_json::to_value(&event).unwrap();
        assert_valid(&body.to_string(), doc.validate(&message["payload"], &body));
    }
}

#[test]
fn status_events_of_every_outcome_validate_against_their_message() {
    let doc = Doc::load();
    for update in delivery_updates() {
        let record = status_record(&update);
        let errors = doc.check_record(
            STATUS,
            Some(&record.key),
            &headers_of(&record),
            &record.body,
        );
        assert_valid(&String::from_utf8_lossy(&record.body), errors);
    }
}

#[test]
fn send_message_commands_validate_exactly_when_the_adapters_would_attempt_them() {
    let doc = Doc::load();
    let message = doc.message(OUTBOUND, SEND_MESSAGE_TYPE).unwrap();
    let integration = IntegrationId::new();
    let attachment = OutboundAttachment {
        kind: AttachmentKind::Image,
        url: "https://cdn.example.com/p.jpg".into(),
    };
    let chip = QuickReplyOption {
        title: "Track".into(),
        payload: "TRACK".into(),
    };
    let mut keyed = command(integration, "42", OutboundContent::text("hi"));
    keyed.idempotency_key = Some("order-1042".into());
    let mut foreign_key = command(integration, "42", OutboundContent::text("hi"));
    foreign_key.conversation_key = "other:42".into();
    let mut nobody = command(integration, "42", OutboundContent::text("hi"));
    nobody.recipient = " ".into();
    nobody.conversation_key = conversation_key(integration, " ");
    let samples = vec![
        command(integration, "42", OutboundContent::text("hi")),
        keyed,
        command(
            integration,
            "42",
            OutboundContent {
                text: None,
                attachments: vec![attachment.clone()],
                quick_replies: Vec::new(),
            },
        ),
        command(
            integration,
            "42",
            OutboundContent {
                text: Some("Your order shipped".into()),
                attachments: vec![attachment],
                quick_replies: vec![chip.clone()],
            },
        ),
        command(
            integration,
            "42",
            OutboundContent {
                text: None,
                attachments: Vec::new(),
                quick_replies: vec![chip],
            },
        ),
        command(integration, "42", OutboundContent::text(" \n ")),
        command(integration, "42", OutboundContent::default()),
        foreign_key,
        nobody,
    ];
    for sample in samples {
        let record = command_record(&sample, OUTBOUND, Some(TRACEPARENT.into()));
        let errors = doc.check_record(
            OUTBOUND,
            Some(&record.key),
            &headers_of(&record),
            &record.body,
        );
        assert_eq!(
            errors.is_empty(),
            sample.check().is_ok(),
            "{:?}: {errors:?}",
            sample.content
        );
    }
    let with_nulls = json!({
        "message_id": Uuid::new_v4(), "integration_id": integration, "workspace_id": "acme",
        "channel": "messenger", "conversation_key": conversation_key(integration, "42"),
        "recipient": "42", "content": {"text": null, "attachments": [{"kind": "file", "url": "https://x.example/f.pdf"}]},
        "idempotency_key": null, "requested_at": "2026-03-02T09:16:00Z"
    });
    let parsed: SendMessage = serde_json::from_value(with_nulls.clone()).unwrap();
    assert_eq!(parsed.check(), Ok(()));
    assert_valid(
        "a command with null optional fields",
        doc.validate(&message["payload"], &with_nulls),
    );
}

#[test]
fn the_checker_refuses_values_that_break_the_schema() {
    let doc = Doc::load();
    let event = &inbound_events()[0];
    let good = serde_json::to_value(event).unwrap();
    let message = doc
        .message(RECEIVED, "switchboard.message.MessageReceived.v1")
        .unwrap();
    assert_valid(
        "the unchanged event",
        doc.validate(&message["payload"], &good),
    );
    type Breakage = (&'static str, fn(&mut Value));
    let broken: Vec<Breakage> = vec![
        ("an unknown field", |v| v["surprise"] = json!(1)),
        ("a missing required field", |v| {
            v.as_object_mut().unwrap().remove("contact");
        }),
        ("an unknown content type", |v| {
            v["content"]["type"] = json!("video")
        }),
        ("content missing its text", |v| {
            v["content"].as_object_mut().unwrap().remove("text");
        }),
        ("a malformed event id", |v| {
            v["event_id"] = json!("not-a-uuid")
        }),
        ("a workspace id with a space", |v| {
            v["workspace_id"] = json!("a b")
        }),
        ("a conversation key without the integration", |v| {
            v["conversation_key"] = json!("u1")
        }),
        ("a timestamp that is not RFC 3339", |v| {
            v["platform_timestamp"] = json!("yesterday")
        }),
        ("is_echo as text", |v| v["is_echo"] = json!("false")),
        ("another event's type", |v| v["type"] = json!("MessageRead")),
        ("an unknown contact field", |v| {
            v["contact"]["email"] = json!("a@b.c")
        }),
    ];
    for (what, breaks) in broken {
        let mut value = good.clone();
        breaks(&mut value);
        assert!(
            !doc.validate(&message["payload"], &value).is_empty(),
            "{what} passed"
        );
    }

    let created = doc
        .message(LIFECYCLE, "switchboard.integration.IntegrationCreated.v1")
        .unwrap();
    let mut plaintext_secret = serde_json::to_value(&lifecycle_events()[0]).unwrap();
    plaintext_secret["auth"]["password"] = json!({"sealed": "hunter2"});
    assert!(!doc
        .validate(&created["payload"], &plaintext_secret)
        .is_empty());
    plaintext_secret["auth"]["password"] = json!({"plain": "hunter2", "sealed": "sb1:k1:AAAA"});
    assert!(!doc
        .validate(&created["payload"], &plaintext_secret)
        .is_empty());

    let record = status_record(&delivery_updates()[0]);
    let mut headers = headers_of(&record);
    headers.push(("x-undocumented".into(), "1".into()));
    assert!(!doc
        .check_record(STATUS, Some(&record.key), &headers, &record.body)
        .is_empty());
    let headers: Vec<(String, String)> = headers_of(&record)
        .into_iter()
        .filter(|(name, _)| name != "ce_time")
        .collect();
    assert!(!doc
        .check_record(STATUS, Some(&record.key), &headers, &record.body)
        .is_empty());
    assert!(!doc
        .check_record(
            STATUS,
            Some("not-a-key"),
            &headers_of(&record),
            &record.body
        )
        .is_empty());
}

#[test]
fn every_example_in_the_document_validates_and_reads_as_the_codes_type() {
    let doc = Doc::load();
    let messages = doc.0["components"]["messages"].as_object().unwrap();
    for (name, message) in messages {
        let examples = message["examples"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no example"));
        for example in examples {
            let headers = example["headers"].as_object().unwrap();
            let key = headers.get("ce_subject").and_then(Value::as_str);
            assert_valid(name, doc.check_envelope(message, key, headers));
            let payload = &example["payload"];
            assert_valid(name, doc.validate(&message["payload"], payload));
            let topic = name.split('.').next().unwrap();
            let read = match topic {
                "received" => serde_json::from_value::<InboundEvent>(payload.clone()).map(drop),
                "lifecycle" => {
                    serde_json::from_value::<IntegrationEvent>(payload.clone()).map(drop)
                }
                "status" => serde_json::from_value::<DeliveryUpdate>(payload.clone()).map(drop),
                "outbound" => serde_json::from_value::<SendMessage>(payload.clone()).map(drop),
                other => panic!("{name}: unknown topic group {other}"),
            };
            read.unwrap_or_else(|e| panic!("{name}: the example is not the code's type: {e}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Records the running code publishes
// ---------------------------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The headers that authenticate `body` on `channel` with the test platform credentials.
fn signed(channel: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    match channel {
        "messenger" | "whatsapp" => {
            let mac = hmac_sha256(b"meta-app-secret", &[body]);
            vec![("x-hub-signature-256", format!("sha256={}", hex(&mac)))]
        }
        "zalo" => {
            use sha2::{Digest, Sha256};
            let value: Value = serde_json::from_slice(body).unwrap();
            let timestamp = match &value["timestamp"] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let digest = Sha256::new()
                .chain_update(b"zalo-app-id")
                .chain_update(body)
                .chain_update(timestamp.as_bytes())
                .chain_update(b"zalo-oa-secret")
                .finalize();
            vec![("x-zevent-signature", format!("mac={}", hex(&digest)))]
        }
        "tiktok" => {
            let t = Utc::now().timestamp().to_string();
            let mac = hmac_sha256(b"tiktok-client-secret", &[t.as_bytes(), b".", body]);
            vec![("tiktok-signature", format!("t={t},s={}", hex(&mac)))]
        }
        "telegram" => vec![("x-telegram-bot-api-secret-token", "tg-hook-secret".into())],
        "chatbotx" => vec![("authorization", "Bearer cbx-key".into())],
        other => panic!("no signer for {other}"),
    }
}

fn webhook_auth(channel: &str) -> Value {
    match channel {
        "messenger" => json!({"page_id": "1122334455", "page_access_token": "EAAB"}),
        "whatsapp" => json!({"phone_number_id": "106540352242922",
            "business_account_id": "102290129340398", "access_token": "EAAG"}),
        "zalo" => {
            json!({"oa_id": "388613280878808645", "access_token": "zat", "refresh_token": "zrt"})
        }
        "tiktok" => json!({"business_id": "acme.store", "access_token": "act"}),
        "telegram" => json!({"bot_token": "123:abc", "webhook_secret": "tg-hook-secret"}),
        "chatbotx" => json!({"bot_id": "bot-1", "api_key": "cbx-key"}),
        other => panic!("no auth for {other}"),
    }
}

fn records_of(records: &[ConsumedRecord], topic: &str, doc: &Doc) -> BTreeSet<String> {
    let mut types = BTreeSet::new();
    for record in records {
        let what = format!(
            "{topic} record at {}:{} ({})",
            record.partition,
            record.offset,
            String::from_utf8_lossy(&record.payload)
        );
        let errors = doc.check_record(
            topic,
            record.key.as_deref(),
            &record.headers,
            &record.payload,
        );
        assert_valid(&what, errors);
        types.insert(record.header("ce_type").unwrap());
    }
    types
}

#[tokio::test]
async fn every_webhook_fixture_becomes_records_that_validate_against_their_message() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let fixtures = format!("{}/../adapters/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut expected = 0;
    for channel in [
        "messenger",
        "whatsapp",
        "zalo",
        "tiktok",
        "telegram",
        "chatbotx",
    ] {
        let id = app.connected("acme", channel, webhook_auth(channel)).await;
        let mut files: Vec<_> = std::fs::read_dir(format!("{fixtures}/{channel}"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let body = std::fs::read(&file).unwrap();
            let mut request = Request::post(format!("/webhooks/{channel}/{id}"))
                .header("content-type", "application/json");
            for (name, value) in signed(channel, &body) {
                request = request.header(name, value);
            }
            let (status, _, answer) = app.send(request.body(Body::from(body)).unwrap()).await;
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(status, StatusCode::OK, "{channel}/{name}: {answer}");
            expected += answer["events"].as_u64().unwrap() as usize;
        }
    }
    assert!(
        expected > 40,
        "the fixtures produced only {expected} events"
    );
    let topic = app.config.topics().received;
    let records = read_topic(&kafka.brokers(), &topic, expected, READ_TIMEOUT).await;
    assert_eq!(records.len(), expected);
    let doc = Doc::load();
    let types = records_of(&records, RECEIVED, &doc);
    assert_eq!(
        types,
        doc.ce_types(RECEIVED),
        "the fixtures cover every type"
    );
}

#[tokio::test]
async fn lifecycle_records_the_outbox_relay_publishes_validate_against_their_message() {
    let kafka = TestKafka::new();
    let app = TestApp::new(&kafka).await;
    let (status, created) = app
        .call(
            "POST",
            "/v1/workspaces/acme/integrations",
            Some(json!({"channel": "smtp", "name": "Receipts", "auth": {
                "host": "smtp.example.com", "port": 587, "username": "mailer",
                "password": "hunter2", "from_address": "shop@example.com", "starttls": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let base = format!("/v1/workspaces/acme/integrations/{id}");
    let steps = [
        (
            "POST",
            format!("{base}/connect"),
            Some(
                json!({"account": {"external_id": "smtp.example.com", "display_name": "Receipts"}}),
            ),
        ),
        (
            "PATCH",
            base.clone(),
            Some(json!({"name": "Receipts (EU)", "settings": {"footer": "Acme"}})),
        ),
        ("PATCH", base.clone(), Some(json!({"name": "Receipts"}))),
        (
            "POST",
            format!("{base}/credentials"),
            Some(json!({"auth": {"password": "hunter3", "port": 465}})),
        ),
        (
            "POST",
            format!("{base}/disconnect"),
            Some(json!({"reason": "moving to another provider"})),
        ),
        ("DELETE", base.clone(), None),
    ];
    for (method, uri, body) in steps {
        let (status, answer) = app.call(method, &uri, body).await;
        assert!(status.is_success(), "{method} {uri}: {status} {answer}");
    }
    let producer = EventProducer::new(&app.config.kafka()).unwrap();
    let relay = OutboxRelay::new(app.pool(), producer, app.config.topics().lifecycle);
    while relay.publish_batch().await.unwrap() > 0 {}
    let records = read_topic(
        &kafka.brokers(),
        &app.config.topics().lifecycle,
        7,
        READ_TIMEOUT,
    )
    .await;
    assert_eq!(records.len(), 7);
    let doc = Doc::load();
    let types = records_of(&records, LIFECYCLE, &doc);
    assert_eq!(
        types,
        doc.ce_types(LIFECYCLE),
        "every lifecycle type was published"
    );
    assert!(
        records.iter().all(|r| r.header("traceparent").is_some()),
        "lifecycle events continue the request's trace"
    );
}

/// A stand-in for Meta's Send API that accepts every message.
async fn accepting_send_api() -> String {
    async fn accept(axum::Json(body): axum::Json<Value>) -> axum::Json<Value> {
        let recipient = body["recipient"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        axum::Json(json!({"recipient_id": recipient, "message_id": format!("m_{recipient}_0")}))
    }
    let app = axum::Router::new().route("/{page}/messages", axum::routing::post(accept));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_their_outcomes_and_dead_letters_validate_against_their_messages() {
    let kafka = TestKafka::new();
    let base = accepting_send_api().await;
    let credentials = format!("{TEST_PLATFORM_CREDENTIALS};messenger.api_base={base}");
    let app = TestApp::new_with(&kafka, |c| {
        c.platform_credentials = Some(SecretString::new(credentials));
    })
    .await;
    let integration: IntegrationId = app
        .connected("acme", "messenger", webhook_auth("messenger"))
        .await
        .parse()
        .unwrap();
    let state = &app.app.as_ref().unwrap().state;
    let mut settings = switchboard_api::outbound::settings(&app.config);
    settings
        .consumer_overrides
        .insert("session.timeout.ms".into(), "6000".into());
    let engine = switchboard_api::outbound::engine(
        &app.config,
        state.integrations.clone(),
        state.producer.clone(),
        settings,
    )
    .unwrap();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        engine.run(shutdown).await.unwrap();
    });

    let topics = app.config.topics();
    let doc = Doc::load();
    let sent = command(
        integration,
        "1254477777772919",
        OutboundContent::text("Shipped!"),
    );
    let unknown = command(IntegrationId::new(), "42", OutboundContent::text("hello"));
    let mut command_errors = Vec::new();
    for command in [&sent, &unknown] {
        let record = command_record(command, &topics.outbound, Some(TRACEPARENT.into()));
        command_errors.extend(doc.check_record(
            OUTBOUND,
            Some(&record.key),
            &headers_of(&record),
            &record.body,
        ));
        state.producer.publish(&record).await.unwrap();
    }
    let poison = RawRecord {
        topic: topics.outbound.clone(),
        key: Some(b"not:a-command".to_vec()),
        payload: b"{\"message_id\": 7}".to_vec(),
        headers: vec![("content-type".into(), Some(b"application/json".to_vec()))],
    };
    state.producer.publish_raw(&poison).await.unwrap();
    let statuses = read_topic(&kafka.brokers(), &topics.status, 2, READ_TIMEOUT).await;
    let dead_topic = format!("{}.dlq", topics.outbound);
    let dead = read_topic(&kafka.brokers(), &dead_topic, 1, READ_TIMEOUT).await;
    stop.send(true).unwrap();
    running.await.unwrap();

    assert_valid("the commands", command_errors);
    assert_eq!(statuses.len(), 2);
    let types = records_of(&statuses, STATUS, &doc);
    assert_eq!(types, doc.ce_types(STATUS), "both outcomes were published");
    assert_eq!(dead.len(), 1);
    let messages = doc.messages(OUTBOUND_DLQ);
    assert_eq!(messages.len(), 1);
    let headers = header_object(&dead[0].headers);
    assert_valid(
        "the dead letter",
        doc.check_envelope(messages[0], dead[0].key.as_deref(), &headers),
    );
    assert_eq!(
        dead[0].payload, poison.payload,
        "the value is kept as it was"
    );
}

// ---------------------------------------------------------------------------------------------
// The JSON Schema checker: the subset of draft 7 (as AsyncAPI 3.0 uses it) this document needs
// ---------------------------------------------------------------------------------------------

/// Keywords that only annotate; they constrain nothing.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "examples",
    "discriminator",
    "default",
];

fn check(doc: &Doc, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => return errors.push(format!("{at}: nothing is allowed here")),
        Value::Object(schema) => schema,
        other => panic!("{at}: {other} is not a schema"),
    };
    if let Some(reference) = schema.get("$ref") {
        return check(
            doc,
            doc.pointer(reference.as_str().unwrap()),
            value,
            at,
            errors,
        );
    }
    for (keyword, argument) in schema {
        match keyword.as_str() {
            "type" => {
                let allowed: Vec<&str> = match argument {
                    Value::String(one) => vec![one.as_str()],
                    Value::Array(many) => many.iter().map(|t| t.as_str().unwrap()).collect(),
                    other => panic!("{at}: type {other}"),
                };
                if !allowed.iter().any(|t| has_type(value, t)) {
                    errors.push(format!("{at}: {value} is not of type {argument}"));
                }
            }
            "const" if value != argument => {
                errors.push(format!("{at}: {value} is not {argument}"));
            }
            "enum" if !argument.as_array().unwrap().contains(value) => {
                errors.push(format!("{at}: {value} is not one of {argument}"));
            }
            "const" | "enum" => {}
            "properties" => {
                if let Value::Object(object) = value {
                    for (name, property) in argument.as_object().unwrap() {
                        if let Some(child) = object.get(name) {
                            check(doc, property, child, &format!("{at}/{name}"), errors);
                        }
                    }
                }
            }
            "required" => {
                if let Value::Object(object) = value {
                    for name in argument.as_array().unwrap() {
                        let name = name.as_str().unwrap();
                        if !object.contains_key(name) {
                            errors.push(format!("{at}: {name} is missing"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Value::Object(object) = value {
                    let listed = schema.get("properties").and_then(Value::as_object);
                    for (name, child) in object {
                        if !listed.is_some_and(|l| l.contains_key(name)) {
                            let path = format!("{at}/{name}");
                            if argument == &Value::Bool(false) {
                                errors.push(format!("{path}: not a documented field"));
                            } else {
                                check(doc, argument, child, &path, errors);
                            }
                        }
                    }
                }
            }
            "items" => {
                if let Value::Array(items) = value {
                    for (n, item) in items.iter().enumerate() {
                        check(doc, argument, item, &format!("{at}/{n}"), errors);
                    }
                }
            }
            "minItems" => {
                if let Value::Array(items) = value {
                    if (items.len() as u64) < argument.as_u64().unwrap() {
                        errors.push(format!("{at}: fewer than {argument} items"));
                    }
                }
            }
            "oneOf" | "anyOf" | "allOf" => {
                let branches = argument.as_array().unwrap();
                let failures: Vec<Vec<String>> = branches
                    .iter()
                    .map(|branch| {
                        let mut branch_errors = Vec::new();
                        check(doc, branch, value, at, &mut branch_errors);
                        branch_errors
                    })
                    .collect();
                let passed = failures.iter().filter(|f| f.is_empty()).count();
                let ok = match keyword.as_str() {
                    "oneOf" => passed == 1,
                    "anyOf" => passed >= 1,
                    _ => passed == branches.len(),
                };
                if !ok {
                    errors.push(format!(
                        "{at}: {passed} of {} {keyword} branches match ({})",
                        branches.len(),
                        failures.concat().join("; ")
                    ));
                }
            }
            "minLength" | "maxLength" => {
                if let Value::String(text) = value {
                    let length = text.chars().count() as u64;
                    let bound = argument.as_u64().unwrap();
                    if (keyword == "minLength" && length < bound)
                        || (keyword == "maxLength" && length > bound)
                    {
                        errors.push(format!("{at}: length {length} breaks {keyword} {bound}"));
                    }
                }
            }
            "minimum" | "maximum" => {
                if let Some(number) = value.as_f64() {
                    let bound = argument.as_f64().unwrap();
                    if (keyword == "minimum" && number < bound)
                        || (keyword == "maximum" && number > bound)
                    {
                        errors.push(format!("{at}: {number} breaks {keyword} {bound}"));
                    }
                }
            }
            "pattern" => {
                if let Value::String(text) = value {
                    if !pattern_matches(argument.as_str().unwrap(), text) {
                        errors.push(format!("{at}: {text:?} does not match {argument}"));
                    }
                }
            }
            "format" => {
                if let Value::String(text) = value {
                    let ok = match argument.as_str().unwrap() {
                        "uuid" => Uuid::try_parse(text).is_ok_and(|u| u.to_string() == *text),
                        "date-time" => DateTime::parse_from_rfc3339(text).is_ok(),
                        other => panic!("{at}: the checker does not know format {other}"),
                    };
                    if !ok {
                        errors.push(format!("{at}: {text:?} is not a {argument}"));
                    }
                }
            }
            annotation if ANNOTATIONS.contains(&annotation) => {}
            unknown => panic!("{at}: the checker does not know the keyword {unknown}"),
        }
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        other => panic!("unknown type {other}"),
    }
}

/// One element of a pattern: what one character must be.
#[derive(Debug)]
enum Atom {
    Any,
    Literal(char),
    Digit,
    NotSpace,
    Class {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Self::Any => c != '\n',
            Self::Literal(l) => c == *l,
            Self::Digit => c.is_ascii_digit(),
            Self::NotSpace => !c.is_whitespace(),
            Self::Class { ranges, negated } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// Whether `text` contains a match of `pattern` (ECMA 262 semantics, as JSON Schema has it),
/// for the subset without groups or alternatives: anchors, `.`, literals, `\d`, `\S`, escaped
/// punctuation, bracket classes with ranges and negation, and the quantifiers `* + ? {n} {n,}
/// {n,m}`. Anything else panics, so no pattern goes unchecked.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    let mut chars: Vec<char> = pattern.chars().collect();
    let anchored_start = chars.first() == Some(&'^');
    if anchored_start {
        chars.remove(0);
    }
    let anchored_end =
        chars.last() == Some(&'$') && chars.len() >= 2 && chars[chars.len() - 2] != '\\';
    if anchored_end {
        chars.pop();
    }
    let mut pieces: Vec<(Atom, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let atom = match chars[i] {
            '.' => Atom::Any,
            '\\' => {
                i += 1;
                match chars[i] {
                    'd' => Atom::Digit,
                    'S' => Atom::NotSpace,
                    c if c.is_ascii_punctuation() => Atom::Literal(c),
                    c => panic!("{pattern}: unsupported escape \\{c}"),
                }
            }
            '[' => {
                i += 1;
                let negated = chars[i] == '^';
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                while chars[i] != ']' {
                    let lo = chars[i];
                    assert!(lo != '\\' && lo != '[', "{pattern}: unsupported class");
                    if chars[i + 1] == '-' && chars[i + 2] != ']' {
                        ranges.push((lo, chars[i + 2]));
                        i += 3;
                    } else {
                        ranges.push((lo, lo));
                        i += 1;
                    }
                }
                Atom::Class { ranges, negated }
            }
            c @ ('(' | ')' | '|' | '^' | '$' | '*' | '+' | '?' | '{') => {
                panic!("{pattern}: unsupported {c} at {i}")
            }
            c => Atom::Literal(c),
        };
        i += 1;
        let (min, max) = match chars.get(i) {
            Some('*') => (0, usize::MAX),
            Some('+') => (1, usize::MAX),
            Some('?') => (0, 1),
            Some('{') => {
                let close = i + chars[i..].iter().position(|c| *c == '}').unwrap();
                let inner: String = chars[i + 1..close].iter().collect();
                i = close;
                match inner.split_once(',') {
                    None => {
                        let n = inner.parse().unwrap();
                        (n, n)
                    }
                    Some((lo, "")) => (lo.parse().unwrap(), usize::MAX),
                    Some((lo, hi)) => (lo.parse().unwrap(), hi.parse().unwrap()),
                }
            }
            _ => {
                i -= 1;
                (1, 1)
            }
        };
        i += 1;
        pieces.push((atom, min, max));
    }
    let text: Vec<char> = text.chars().collect();
    let starts = if anchored_start {
        0..=0
    } else {
        0..=text.len()
    };
    starts
        .into_iter()
        .any(|start| match_here(&pieces, &text[start..], anchored_end))
}

fn match_here(pieces: &[(Atom, usize, usize)], text: &[char], anchored_end: bool) -> bool {
    let Some(((atom, min, max), rest)) = pieces.split_first() else {
        return !anchored_end || text.is_empty();
    };
    let mut taken = 0;
    while taken < *max && taken < text.len() && atom.matches(text[taken]) {
        taken += 1;
    }
    taken >= *min
        && (*min..=taken)
            .rev()
            .any(|n| match_here(rest, &text[n..], anchored_end))
}

#[test]
fn the_pattern_checker_agrees_with_regular_expressions_on_the_document_s_patterns() {
    let uuid = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
    assert!(pattern_matches(
        uuid,
        "7d1c2b9e-4f3a-4c21-9a0e-2f5b8c6d1e30"
    ));
    assert!(!pattern_matches(
        uuid,
        "7D1C2B9E-4f3a-4c21-9a0e-2f5b8c6d1e30"
    ));
    assert!(!pattern_matches(
        uuid,
        "7d1c2b9e-4f3a-4c21-9a0e-2f5b8c6d1e30x"
    ));
    assert!(pattern_matches("^[A-Za-z0-9_-]{1,64}$", "acme-prod_1"));
    assert!(!pattern_matches("^[A-Za-z0-9_-]{1,64}$", ""));
    assert!(!pattern_matches("^[A-Za-z0-9_-]{1,64}$", &"x".repeat(65)));
    assert!(pattern_matches("Z$", "2026-03-02T09:15:27Z"));
    assert!(!pattern_matches("Z$", "2026-03-02T09:15:27+00:00"));
    assert!(pattern_matches("^[1-9][0-9]*$", "10"));
    assert!(!pattern_matches("^[1-9][0-9]*$", "0"));
    assert!(pattern_matches("\\S", "  x "));
    assert!(!pattern_matches("\\S", " \t\n"));
    let sealed = "^sb1:[^:]+:[A-Za-z0-9+/]+={0,2}$";
    assert!(pattern_matches(sealed, "sb1:k1:AbC+/d=="));
    assert!(!pattern_matches(sealed, "sb1:k1:AbC==="));
    assert!(!pattern_matches(sealed, "sb1::AbC"));
    assert!(!pattern_matches(sealed, "hunter2"));
    let time = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$";
    assert!(pattern_matches(time, "2026-03-02T09:15:27.412305Z"));
    assert!(!pattern_matches(time, "2026-03-02T09:15:27.412Z"));
    assert!(!pattern_matches(time, "2026-03-02T09:15:27x412305Z"));
    assert!(pattern_matches("^a.c$", "abc"));
    assert!(pattern_matches("^a?b$", "b") && pattern_matches("^a?b$", "ab"));
    assert!(!pattern_matches("^a{2,}$", "a") && pattern_matches("^a{2,}$", "aaa"));
}
