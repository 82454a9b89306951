//! The AsyncAPI document (`api/asyncapi.json`) held to the code: it is served, it names every
//! topic the code creates and every `ce_type` the code publishes, and real events — serialised
//! by the domain types, or read back from the topics the webhooks, the outbox relay and the
//! outbound adapters write — validate against its header, key and payload schemas.
//!
//! The schemas are checked by the `jsonschema` crate (`validator.rs`), references resolved into
//! the document's `#/components/...`; a keyword outside draft 7 or an unknown format fails the
//! tests instead of passing unchecked.

use crate::helpers::{read_topic, TestApp, TestKafka, TEST_PLATFORM_CREDENTIALS};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use rdkafka::message::Headers;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use switchboard_adapters::activity::activity_record;
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
    conversation_key, Attachment, AttachmentKind, Contact, ConversationAction,
    ConversationActivity, DeliveryOutcome, DeliveryUpdate, FailureReason, InboundDraft,
    InboundEvent, InboundKind, MessageContent, OutboundAttachment, OutboundContent, PlatformError,
    QuickReplyOption, SendMessage,
};
use switchboard_domain::platform::{PlatformApp, PlatformEvent, VerificationCheck};
use switchboard_domain::{ChannelKind, IntegrationId, SecretSealer, SecretString};
use uuid::Uuid;

const DOCUMENT: &str = include_str!("../../../asyncapi.json");
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const READ_TIMEOUT: Duration = Duration::from_secs(20);

const RECEIVED: &str = "messages.received";
const OUTBOUND: &str = "messages.outbound";
const STATUS: &str = "messages.status";
const LIFECYCLE: &str = "integrations.lifecycle";
const ACTIVITY: &str = "conversations.activity";
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

    /// Every problem `value` has against `schema`, a schema of this document.
    fn validate(&self, schema: &Value, value: &Value) -> Vec<String> {
        validator::validate(schema, value)
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

mod actions;
mod compatibility;
mod compatibility_cases;
mod document;
mod published;
mod released;
mod samples;
mod serialised;
mod validator;

use samples::*;
