//! The dead-letter format of `messages.outbound.dlq`: the original record (key, body and
//! headers byte for byte) plus `dlq_*` headers saying what went wrong and where it came from.
//! A redrive strips those headers again, so a redriven command is the original command.

use crate::kafka::RawRecord;
use crate::outbound::record::CommandRecord;
use chrono::{DateTime, Utc};

/// Header: why the record was dead-lettered (the error, free of secrets).
pub const ERROR_HEADER: &str = "dlq_error";
/// Header: the topic it was consumed from.
pub const TOPIC_HEADER: &str = "dlq_topic";
/// Header: its partition there.
pub const PARTITION_HEADER: &str = "dlq_partition";
/// Header: its offset there.
pub const OFFSET_HEADER: &str = "dlq_offset";
/// Header: when it was dead-lettered (RFC 3339).
pub const AT_HEADER: &str = "dlq_at";
/// Every header added here starts with this.
pub const HEADER_PREFIX: &str = "dlq_";

/// The dead letter of `record` on `dlq_topic`, because of `error`.
pub fn dead_letter(
    record: &CommandRecord,
    dlq_topic: &str,
    error: &str,
    at: DateTime<Utc>,
) -> RawRecord {
    let mut headers: Vec<(String, Option<Vec<u8>>)> = record
        .headers
        .iter()
        .filter(|(name, _)| !name.starts_with(HEADER_PREFIX))
        .cloned()
        .collect();
    let added = [
        (ERROR_HEADER, error.to_owned()),
        (TOPIC_HEADER, record.topic.clone()),
        (PARTITION_HEADER, record.partition.to_string()),
        (OFFSET_HEADER, record.offset.to_string()),
        (
            AT_HEADER,
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
    ];
    headers.extend(
        added
            .into_iter()
            .map(|(name, value)| (name.to_owned(), Some(value.into_bytes()))),
    );
    RawRecord {
        topic: dlq_topic.to_owned(),
        key: record.key.clone(),
        payload: record.payload.clone(),
        headers,
    }
}

/// The command a dead letter came from, addressed to `topic` again.
pub fn redriven(dead: &CommandRecord, topic: &str) -> RawRecord {
    RawRecord {
        topic: topic.to_owned(),
        key: dead.key.clone(),
        payload: dead.payload.clone(),
        headers: dead
            .headers
            .iter()
            .filter(|(name, _)| !name.starts_with(HEADER_PREFIX))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original() -> CommandRecord {
        CommandRecord {
            topic: "messages.outbound".into(),
            partition: 1,
            offset: 7,
            key: Some(b"i:c".to_vec()),
            payload: b"not json".to_vec(),
            headers: vec![
                ("ce_id".into(), Some(b"abc".to_vec())),
                ("traceparent".into(), Some(b"00-t-s-01".to_vec())),
            ],
        }
    }

    #[test]
    fn a_dead_letter_keeps_the_original_and_says_why_and_whence() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let dead = dead_letter(
            &original(),
            "messages.outbound.dlq",
            "not a SendMessage",
            at,
        );
        assert_eq!(dead.topic, "messages.outbound.dlq");
        assert_eq!(dead.key, original().key);
        assert_eq!(dead.payload, original().payload);
        assert_eq!(&dead.headers[..2], &original().headers[..]);
        let header = |name: &str| {
            dead.headers
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| String::from_utf8(v.clone()?).ok())
        };
        assert_eq!(header(ERROR_HEADER).as_deref(), Some("not a SendMessage"));
        assert_eq!(header(PARTITION_HEADER).as_deref(), Some("1"));
        assert_eq!(header(OFFSET_HEADER).as_deref(), Some("7"));
        assert_eq!(
            header(AT_HEADER).as_deref(),
            Some("2023-11-14T22:13:20.000Z")
        );
    }

    #[test]
    fn a_redrive_restores_the_original_record() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let dead = dead_letter(&original(), "dlq", "boom", at);
        let consumed = CommandRecord {
            topic: dead.topic,
            partition: 0,
            offset: 0,
            key: dead.key,
            payload: dead.payload,
            headers: dead.headers,
        };
        let again = redriven(&consumed, "messages.outbound");
        assert_eq!(again.topic, "messages.outbound");
        assert_eq!(again.key, original().key);
        assert_eq!(again.payload, original().payload);
        assert_eq!(again.headers, original().headers);
    }
}
