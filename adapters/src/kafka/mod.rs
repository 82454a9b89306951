//! Kafka plumbing: client settings, the idempotent producer, the CloudEvents envelope and W3C
//! trace context in headers, the consumer loop, topic administration, and the broker-side
//! gauges (consumer lag, dead-letter depth).
//!
//! Everything here speaks only the Kafka protocol: it runs unchanged against Apache Kafka,
//! Redpanda, or librdkafka's in-process mock cluster.

pub mod broker_gauges;
pub mod consumer;
pub mod dlq_depth;
pub mod envelope;
pub mod lag;
pub mod producer;
pub mod producer_health;
pub mod settings;
pub mod topics;
pub mod trace_context;

pub use broker_gauges::BrokerGauges;
pub use consumer::{consume, to_record, ConsumedRecord, HandlerError};
pub use envelope::CloudEvent;
pub use producer::{
    EventProducer, NotReady, OutgoingRecord, PendingDelivery, PublishError, RawRecord,
    BATCHING_LINGER,
};
pub use settings::KafkaSettings;
pub use topics::{ensure_topics, TopicSpec, Topics};
