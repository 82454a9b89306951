//! How to reach the brokers, as one value every Kafka client here is built from.

use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::time::Duration;
use switchboard_domain::SecretString;

/// Broker connection settings shared by producers, consumers and the admin client.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    /// How long a produced record may wait for the broker's acknowledgement before it fails.
    pub delivery_timeout: Duration,
    /// Extra librdkafka properties (security.protocol, sasl.*, compression.type…), passed
    /// through as they are; values are kept redacted because some are passwords.
    pub extra: BTreeMap<String, SecretString>,
}

impl KafkaSettings {
    /// Settings for `brokers` with defaults for everything else.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            delivery_timeout: Duration::from_secs(5),
            extra: BTreeMap::new(),
        }
    }

    /// A librdkafka configuration with the brokers and the pass-through properties set.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        config.set("client.id", "switchboard");
        for (key, value) in &self.extra {
            config.set(key, value.expose());
        }
        config
    }
}

/// A `kafka_properties` entry that is not `key=value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kafka_properties entry {0} (counting from 0) is not key=value")]
pub struct MalformedProperty(pub usize);

/// Parses `key=value[;key=value…]` (newlines also separate; whitespace around entries and
/// around `=` ignored) into librdkafka properties.
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, SecretString>, MalformedProperty> {
    let entries = text
        .split([';', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let mut properties = BTreeMap::new();
    for (index, entry) in entries.enumerate() {
        let (key, value) = entry.split_once('=').ok_or(MalformedProperty(index))?;
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(MalformedProperty(index));
        }
        properties.insert(key.to_owned(), SecretString::new(value.trim()));
    }
    Ok(properties)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse_and_reach_the_client_config() {
        let mut settings = KafkaSettings::new("b:9092");
        settings.extra =
            parse_properties(" security.protocol = SASL_SSL ;\nsasl.password=p=q;").unwrap();
        let config = settings.client_config();
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(config.get("sasl.password"), Some("p=q"));
        assert!(!format!("{settings:?}").contains("p=q"));
    }

    #[test]
    fn an_entry_without_a_key_is_refused_with_its_position() {
        assert_eq!(
            parse_properties("acks=all;compression"),
            Err(MalformedProperty(1))
        );
        assert_eq!(parse_properties("=x"), Err(MalformedProperty(0)));
        assert_eq!(parse_properties("a b=x"), Err(MalformedProperty(0)));
    }
}
