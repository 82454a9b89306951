//! A consumed `messages.outbound` record, owned so a conversation's task can hold it across
//! retries, with its key and headers kept byte for byte for the dead-letter topic.

use rdkafka::message::{Headers, Message};

/// One command record as it was consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// The key (the conversation key), when there is one.
    pub key: Option<Vec<u8>>,
    /// The body.
    pub payload: Vec<u8>,
    /// Every header, in order, exactly as received.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl CommandRecord {
    /// Copies a consumed message.
    pub fn from_message(message: &impl Message) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        }
    }

    /// The UTF-8 value of the last header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| std::str::from_utf8(value.as_deref()?).ok())
    }

    /// What orders this record: its key, or (keyless records need no order) its own position.
    pub fn conversation(&self) -> Vec<u8> {
        match &self.key {
            Some(key) => key.clone(),
            None => format!("\u{0}{}:{}", self.partition, self.offset).into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};

    #[test]
    fn a_message_is_copied_with_its_headers_byte_for_byte() {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "traceparent",
                value: Some("00-abc-def-01"),
            })
            .insert(Header {
                key: "binary",
                value: Some(&[0xff_u8, 0x00][..]),
            });
        let message = OwnedMessage::new(
            Some(b"{}".to_vec()),
            Some(b"i:c".to_vec()),
            "messages.outbound".into(),
            Timestamp::NotAvailable,
            2,
            41,
            Some(headers),
        );
        let record = CommandRecord::from_message(&message);
        assert_eq!(record.header("traceparent"), Some("00-abc-def-01"));
        assert_eq!(record.headers[1].1.as_deref(), Some(&[0xff_u8, 0x00][..]));
        assert_eq!(record.conversation(), b"i:c".to_vec());
        let keyless = CommandRecord {
            key: None,
            ..record.clone()
        };
        assert_ne!(keyless.conversation(), record.conversation());
    }
}
