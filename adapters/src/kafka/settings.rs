//! How to reach the brokers, as one value every Kafka client here is built from.

use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::time::Duration;

/// Broker connection settings shared by producers, consumers and the admin client.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    /// How long a produced record may wait for the broker's acknowledgement before it fails.
    pub delivery_timeout: Duration,
    /// Extra librdkafka properties (security.protocol, sasl.*…), passed through as they are.
    pub extra: BTreeMap<String, String>,
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
            config.set(key, value);
        }
        config
    }
}
