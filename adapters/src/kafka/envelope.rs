//! The CloudEvents 1.0 envelope in Kafka binary mode: attributes travel as `ce_*` headers, the
//! JSON body is the event's data, and W3C `traceparent` rides along. This is the only place
//! that writes or reads those headers.

use chrono::{DateTime, Utc};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use uuid::Uuid;

/// The CloudEvents spec version we emit.
pub const SPEC_VERSION: &str = "1.0";
/// Namespace of every deterministic event id (UUIDv5).
pub const EVENT_ID_NAMESPACE: Uuid = switchboard_domain::message::EVENT_ID_NAMESPACE;

/// The CloudEvents attributes of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEvent {
    /// `ce_id`: deterministic, so redelivered events can be de-duplicated by any consumer.
    pub id: Uuid,
    /// `ce_type`, e.g. `switchboard.integration.IntegrationCreated.v1`.
    pub event_type: String,
    /// `ce_source`: what produced it.
    pub source: String,
    /// `ce_subject`: what it is about (an integration id, a conversation key).
    pub subject: Option<String>,
    /// `ce_time`.
    pub time: DateTime<Utc>,
    /// `ce_sequence` (extension): the position in its stream, where it has one.
    pub sequence: Option<u64>,
    /// `ce_actor` (extension): who caused it (`key:<id>`, `jwt:<subject>`, `adapter:<channel>`),
    /// for lifecycle events; never a secret.
    pub actor: Option<String>,
}

impl CloudEvent {
    /// A deterministic id from the parts that make an event unique.
    pub fn id_for(parts: &[&str]) -> Uuid {
        Uuid::new_v5(&EVENT_ID_NAMESPACE, parts.join("\u{1f}").as_bytes())
    }

    /// The Kafka headers for this event, its JSON body, and an optional `traceparent`.
    pub fn to_headers(&self, traceparent: Option<&str>) -> OwnedHeaders {
        let id = self.id.to_string();
        let time = self
            .time
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let sequence = self.sequence.map(|s| s.to_string());
        let mut headers = OwnedHeaders::new_with_capacity(8)
            .insert(header("ce_specversion", SPEC_VERSION))
            .insert(header("ce_id", &id))
            .insert(header("ce_type", &self.event_type))
            .insert(header("ce_source", &self.source))
            .insert(header("ce_time", &time))
            .insert(header("content-type", "application/json"));
        if let Some(subject) = &self.subject {
            headers = headers.insert(header("ce_subject", subject));
        }
        if let Some(sequence) = &sequence {
            headers = headers.insert(header("ce_sequence", sequence));
        }
        if let Some(actor) = &self.actor {
            headers = headers.insert(header("ce_actor", actor));
        }
        if let Some(traceparent) = traceparent {
            headers = headers.insert(header("traceparent", traceparent));
        }
        headers
    }

    /// Reads the envelope back from a record's headers; `None` when a required attribute is
    /// missing or malformed.
    pub fn from_headers(headers: &impl Headers) -> Option<Self> {
        Self::from_pairs(&header_pairs(headers))
    }

    /// [`CloudEvent::from_headers`] over headers already copied by [`header_pairs`] (a
    /// consumer copies them once and reads the envelope from the copy).
    pub fn from_pairs(pairs: &[(String, String)]) -> Option<Self> {
        let get = |name: &str| last_value(pairs, name);
        if get("ce_specversion")? != SPEC_VERSION {
            return None;
        }
        Some(Self {
            id: get("ce_id")?.parse().ok()?,
            event_type: get("ce_type")?.to_owned(),
            source: get("ce_source")?.to_owned(),
            subject: get("ce_subject").map(str::to_owned),
            time: DateTime::parse_from_rfc3339(get("ce_time")?)
                .ok()?
                .with_timezone(&Utc),
            sequence: get("ce_sequence").and_then(|s| s.parse().ok()),
            actor: get("ce_actor").map(str::to_owned),
        })
    }
}

/// Every header as (name, UTF-8 value, `<binary>` when it is not UTF-8, empty when absent).
pub fn header_pairs(headers: &impl Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            let value = h
                .value
                .map(|v| std::str::from_utf8(v).unwrap_or(BINARY_VALUE))
                .unwrap_or("");
            (h.key.to_owned(), value.to_owned())
        })
        .collect()
}

/// What [`header_pairs`] holds for a value that is not UTF-8.
const BINARY_VALUE: &str = "<binary>";

/// The value of the last of `pairs` named `name`, unless it was not UTF-8.
pub fn last_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .filter(|value| *value != BINARY_VALUE)
}

/// The UTF-8 value of the last header named `name`.
pub fn header_value(headers: &impl Headers, name: &str) -> Option<String> {
    headers
        .iter()
        .filter(|h| h.key == name)
        .last()
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::to_owned)
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn headers_round_trip() {
        let event = CloudEvent {
            id: CloudEvent::id_for(&["Integration", "abc", "1"]),
            event_type: "switchboard.integration.IntegrationCreated.v1".into(),
            source: "switchboard/integrations".into(),
            subject: Some("abc".into()),
            time: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            sequence: Some(1),
            actor: Some("key:1".into()),
        };
        let headers = event.to_headers(Some(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ));
        assert_eq!(CloudEvent::from_headers(&headers), Some(event));
        assert_eq!(
            header_value(&headers, "content-type").as_deref(),
            Some("application/json")
        );
        assert!(header_value(&headers, "traceparent").is_some());
    }

    #[test]
    fn ids_are_deterministic_and_distinct() {
        assert_eq!(
            CloudEvent::id_for(&["a", "b"]),
            CloudEvent::id_for(&["a", "b"])
        );
        assert_ne!(CloudEvent::id_for(&["a", "b"]), CloudEvent::id_for(&["ab"]));
    }
}
