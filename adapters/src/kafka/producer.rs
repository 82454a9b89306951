//! The one producer every Switchboard record leaves through.
//!
//! # Guarantees
//! Idempotent (`enable.idempotence=true`, `acks=all`): a record the broker acknowledged is
//! written once per send, and records of one key keep their order. [`EventProducer::publish_all`]
//! enqueues in order and only then awaits the acknowledgements, so a batch is pipelined without
//! reordering. A caller may treat a record as stored only once its delivery future resolved `Ok`.

use crate::kafka::envelope::CloudEvent;
use crate::kafka::settings::KafkaSettings;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::future_producer::{Delivery, DeliveryFuture};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::time::Duration;
use tokio::time::Instant;

const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(5);

/// One record to publish.
#[derive(Debug, Clone)]
pub struct OutgoingRecord {
    /// Destination topic.
    pub topic: String,
    /// Partitioning key (conversation key, integration id).
    pub key: String,
    /// CloudEvents attributes, written as headers.
    pub event: CloudEvent,
    /// The JSON body.
    pub body: Vec<u8>,
    /// The W3C trace context to continue on the consumer side.
    pub traceparent: Option<String>,
}

/// A record published as it is: key, body and headers of its own (dead letters, redrives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Destination topic.
    pub topic: String,
    /// Partitioning key, when the record has one.
    pub key: Option<Vec<u8>>,
    /// The body, byte for byte.
    pub payload: Vec<u8>,
    /// Headers in order; a `None` value is a header without a value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Why a record is not known to be stored.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker refused it or did not acknowledge it before the delivery timeout.
    #[error("broker did not acknowledge the record: {0}")]
    NotAcknowledged(#[source] KafkaError),
    /// The producer was dropped before the acknowledgement arrived.
    #[error("producer shut down before the acknowledgement")]
    Cancelled,
}

/// How long a record waits to be batched by default.
pub const LINGER: Duration = Duration::from_millis(2);

/// How long a record of a stream no caller waits on waits to be batched (the adapters'
/// outcomes: 10 ms measured ~10 % more sends/s than 2 ms in `api/benches/outbound.rs`).
pub const BATCHING_LINGER: Duration = Duration::from_millis(10);

/// An idempotent, `acks=all` producer.
#[derive(Clone)]
pub struct EventProducer {
    inner: FutureProducer,
    delivery_timeout: Duration,
}

impl EventProducer {
    /// Builds the producer; no connection is made until the first send. Records wait up to
    /// [`LINGER`] to be batched: a webhook's answer waits on its acknowledgement.
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        Self::with_linger(settings, LINGER)
    }

    /// A producer whose records wait up to `linger` to be batched: longer for a stream no
    /// caller waits on, such as the adapters' outcomes ([`BATCHING_LINGER`]).
    pub fn with_linger(settings: &KafkaSettings, linger: Duration) -> Result<Self, KafkaError> {
        let linger_ms = linger.as_millis().to_string();
        let timeout_ms = settings.delivery_timeout.as_millis().to_string();
        let inner = settings
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", &linger_ms)
            .set("message.timeout.ms", &timeout_ms)
            .create()?;
        Ok(Self {
            inner,
            delivery_timeout: settings.delivery_timeout,
        })
    }

    /// Puts one record on the producer's queue, waiting while the queue is full.
    pub async fn enqueue(&self, record: &OutgoingRecord) -> Result<DeliveryFuture, PublishError> {
        let headers = || record.event.to_headers(record.traceparent.as_deref());
        self.enqueue_parts(
            &record.topic,
            Some(record.key.as_bytes()),
            &record.body,
            headers,
        )
        .await
    }

    /// Publishes a record as it is, with its own headers rather than a CloudEvents envelope
    /// (dead letters keep the original record's headers), and waits for the acknowledgement.
    pub async fn publish_raw(&self, record: &RawRecord) -> Result<Delivery, PublishError> {
        let headers = || {
            record.headers.iter().fold(
                OwnedHeaders::new_with_capacity(record.headers.len()),
                |headers, (key, value)| {
                    headers.insert(Header {
                        key: key.as_str(),
                        value: value.as_deref(),
                    })
                },
            )
        };
        let delivery = self
            .enqueue_parts(
                &record.topic,
                record.key.as_deref(),
                &record.payload,
                headers,
            )
            .await?;
        settle(&record.topic, delivery).await
    }

    async fn enqueue_parts(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: impl Fn() -> OwnedHeaders,
    ) -> Result<DeliveryFuture, PublishError> {
        let deadline = Instant::now() + self.delivery_timeout;
        loop {
            let mut kafka_record = FutureRecord::to(topic).payload(payload).headers(headers());
            if let Some(key) = key {
                kafka_record = kafka_record.key(key);
            }
            match self.inner.send_result(kafka_record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                }
                Err((error, _)) => return Err(PublishError::NotAcknowledged(error)),
            }
        }
    }

    /// Publishes one record and waits for the broker's acknowledgement.
    pub async fn publish(&self, record: &OutgoingRecord) -> Result<Delivery, PublishError> {
        let delivery = self.enqueue(record).await?;
        settle(&record.topic, delivery).await
    }

    /// Publishes records in order, pipelined, and returns each one's outcome in the same order.
    pub async fn publish_all(
        &self,
        records: &[OutgoingRecord],
    ) -> Vec<Result<Delivery, PublishError>> {
        let mut pending = Vec::with_capacity(records.len());
        for record in records {
            pending.push(self.enqueue(record).await);
        }
        let mut outcomes = Vec::with_capacity(records.len());
        for (record, enqueued) in records.iter().zip(pending) {
            outcomes.push(match enqueued {
                Ok(delivery) => settle(&record.topic, delivery).await,
                Err(error) => Err(error),
            });
        }
        outcomes
    }

    /// Asks the cluster for its metadata: `Ok` when a broker answered within `timeout`.
    pub async fn check_reachable(&self, timeout: Duration) -> Result<(), KafkaError> {
        let producer = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(None, timeout).map(|_| ())
        })
        .await
        .unwrap_or(Err(KafkaError::Canceled))
    }

    /// Waits up to `timeout` for every queued record to be acknowledged.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout)
    }
}

async fn settle(topic: &str, delivery: DeliveryFuture) -> Result<Delivery, PublishError> {
    let outcome = match delivery.await {
        Ok(Ok(delivered)) => Ok(delivered),
        Ok(Err((error, _))) => Err(PublishError::NotAcknowledged(error)),
        Err(_) => Err(PublishError::Cancelled),
    };
    let label = if outcome.is_ok() { "acked" } else { "failed" };
    metrics::counter!("switchboard_kafka_produced_total", "topic" => topic.to_owned(), "outcome" => label).increment(1);
    outcome
}
