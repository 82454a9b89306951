//! Kafka plumbing: client settings, the idempotent producer, the CloudEvents envelope and W3C
//! trace context in headers, the consumer loop, and topic administration.
//!
//! Everything here speaks only the Kafka protocol: it runs unchanged against Apache Kafka,
//! Redpanda, or librdkafka's in-process mock cluster.

pub mod consumer;
pub mod envelope;
pub mod producer;
pub mod producer_health;
pub mod settings;
pub mod topics;
pub mod trace_context;

pub use consumer::{consume, to_record, ConsumedRecord, HandlerError};
pub use envelope::CloudEvent;
pub use producer::{
    EventProducer, NotReady, OutgoingRecord, PendingDelivery, PublishError, RawRecord,
    BATCHING_LINGER,
};
pub use settings::KafkaSettings;
pub use topics::{ensure_topics, TopicSpec, Topics};
