//! The consumer loop: one tracing span per record, continuing the producer's trace, and manual
//! offsets (an offset is stored only after its handler succeeded).
//!
//! # Guarantees
//! At-least-once: a record whose handler failed is retried (with capped backoff) before any
//! later record of its partition is handled, and its offset is not stored until it succeeds.
//! Handlers must therefore be idempotent; the CloudEvents id is the key to de-duplicate on.

use crate::kafka::envelope::{header_pairs, last_value, CloudEvent};
use crate::kafka::trace_context::set_remote_parent;
use futures::FutureExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

/// One consumed record, owned so handlers can hold it across awaits.
#[derive(Debug, Clone, Default)]
pub struct ConsumedRecord {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Record key, as text when it is UTF-8.
    pub key: Option<String>,
    /// Record body.
    pub payload: Vec<u8>,
    /// The CloudEvents envelope, when the headers carry a valid one.
    pub event: Option<CloudEvent>,
    /// Every header as (name, UTF-8 value or `<binary>`).
    pub headers: Vec<(String, String)>,
}

impl ConsumedRecord {
    /// Makes `span` a child of the producer's trace, when the record carries `traceparent`.
    pub fn continue_trace(&self, span: &tracing::Span) {
        if let Some(traceparent) = self.header("traceparent") {
            set_remote_parent(span, &traceparent);
        }
    }

    /// The value of the last header named `name`.
    pub fn header(&self, name: &str) -> Option<String> {
        last_value(&self.headers, name).map(str::to_owned)
    }
}

/// A handler's failure; the record is retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

/// Runs `handler` on every record until `shutdown` resolves or the consumer fails.
pub async fn consume<H, F>(
    consumer: &StreamConsumer,
    shutdown: impl Future<Output = ()>,
    mut handler: H,
) -> Result<(), KafkaError>
where
    H: FnMut(ConsumedRecord) -> F,
    F: Future<Output = Result<(), HandlerError>>,
{
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    loop {
        // Shutdown first: a caller that asked to stop after a record gets no record more.
        let message = tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(()),
            message = consumer.recv() => message?,
        };
        let record = to_record(&message);
        let span = tracing::info_span!(
            "kafka.consume",
            messaging.system = "kafka",
            messaging.destination = %record.topic,
            messaging.kafka.partition = record.partition,
            messaging.kafka.offset = record.offset,
            cloudevents.type = record.event.as_ref().map(|e| e.event_type.as_str()).unwrap_or(""),
        );
        record.continue_trace(&span);
        let mut delay = FIRST_RETRY_DELAY;
        loop {
            match handler(record.clone()).instrument(span.clone()).await {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(parent: &span, %error, retry_in_ms = delay.as_millis() as u64, "record handler failed");
                    tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
        consumer.store_offset_from_message(&message)?;
        metrics::counter!("switchboard_kafka_consumed_total", "topic" => record.topic).increment(1);
    }
}

/// Copies a consumed message into an owned record.
pub fn to_record(message: &impl Message) -> ConsumedRecord {
    let headers = message.headers().map(header_pairs).unwrap_or_default();
    ConsumedRecord {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .map(str::to_owned),
        payload: message.payload().unwrap_or_default().to_vec(),
        event: CloudEvent::from_pairs(&headers),
        headers,
    }
}
