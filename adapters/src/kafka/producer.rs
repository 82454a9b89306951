//! The one producer every Switchboard record leaves through.
//!
//! # Guarantees
//! Idempotent (`enable.idempotence=true`, `acks=all`): a record the broker acknowledged is
//! written once per send, and records of one key keep their order. [`EventProducer::publish_all`]
//! enqueues in order and only then awaits the acknowledgements, so a batch is pipelined without
//! reordering. A caller may treat a record as stored only once its delivery future resolved `Ok`.
//!
//! # Recovery
//! An idempotent producer can raise a fatal error (the broker lost its sequence state, say),
//! after which librdkafka refuses every record. The first failure that finds the client fatal
//! replaces it with a new one (once, whoever sees it first); the records that failed were
//! reported failed to their callers, who answer 503 or retry. Every outcome is recorded in
//! [`DeliveryHealth`] for readiness.

use crate::kafka::envelope::CloudEvent;
use crate::kafka::producer_health::{DeliveryHealth, Unhealthy};
use crate::kafka::settings::KafkaSettings;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::future_producer::{Delivery, DeliveryFuture};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::sync::{Arc, RwLock};
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

/// An idempotent, `acks=all` producer that replaces its client after a fatal error.
#[derive(Clone)]
pub struct EventProducer {
    shared: Arc<Shared>,
    delivery_timeout: Duration,
}

struct Shared {
    settings: KafkaSettings,
    linger: Duration,
    /// The client in use and its generation (how many clients it replaced).
    current: RwLock<(u64, FutureProducer)>,
    health: DeliveryHealth,
}

/// Why the producer makes the service unready.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// No broker answered a metadata request in time.
    #[error("no broker answered: {0}")]
    Unreachable(#[source] KafkaError),
    /// The client is in a fatal state and could not be replaced yet.
    #[error("the producer is fatal: {0}")]
    Fatal(String),
    /// Records are not being acknowledged.
    #[error(transparent)]
    Deliveries(#[from] Unhealthy),
}

fn build_client(settings: &KafkaSettings, linger: Duration) -> Result<FutureProducer, KafkaError> {
    let linger_ms = linger.as_millis().to_string();
    let timeout_ms = settings.delivery_timeout.as_millis().to_string();
    settings
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", &linger_ms)
        .set("message.timeout.ms", &timeout_ms)
        .create()
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
        let client = build_client(settings, linger)?;
        Ok(Self {
            shared: Arc::new(Shared {
                settings: settings.clone(),
                linger,
                current: RwLock::new((0, client)),
                health: DeliveryHealth::default(),
            }),
            delivery_timeout: settings.delivery_timeout,
        })
    }

    fn client(&self) -> (u64, FutureProducer) {
        self.shared
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many times the client was replaced after a fatal error.
    pub fn replacements(&self) -> u64 {
        self.client().0
    }

    /// Records a failed delivery of a record sent through client `generation`; replaces that
    /// client if it is fatal and no one replaced it yet.
    fn failed(&self, generation: u64, client: &FutureProducer, error: &KafkaError) {
        self.shared.health.failed();
        let fatal = error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal)
            || client.client().fatal_error().is_some();
        if !fatal {
            return;
        }
        let mut current = self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if current.0 != generation {
            return;
        }
        let reason = client.client().fatal_error().map(|(_, reason)| reason);
        match build_client(&self.shared.settings, self.shared.linger) {
            Ok(fresh) => {
                let (_, fatal_client) = std::mem::replace(&mut *current, (generation + 1, fresh));
                drop(current);
                tracing::warn!(
                    reason = reason.as_deref().unwrap_or("unknown"),
                    generation = generation + 1,
                    "the Kafka producer was fatal; replaced it"
                );
                metrics::counter!("switchboard_kafka_producer_replaced_total").increment(1);
                // Dropping purges and flushes for up to half a second: not on this task.
                std::thread::spawn(move || drop(fatal_client));
            }
            Err(error) => {
                tracing::warn!(%error, "the Kafka producer is fatal and could not be replaced yet")
            }
        }
    }

    /// Puts one record on the producer's queue, waiting while the queue is full.
    pub async fn enqueue(&self, record: &OutgoingRecord) -> Result<PendingDelivery, PublishError> {
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
        delivery.settle().await
    }

    async fn enqueue_parts(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: impl Fn() -> OwnedHeaders,
    ) -> Result<PendingDelivery, PublishError> {
        let deadline = Instant::now() + self.delivery_timeout;
        let (generation, client) = self.client();
        loop {
            let mut kafka_record = FutureRecord::to(topic).payload(payload).headers(headers());
            if let Some(key) = key {
                kafka_record = kafka_record.key(key);
            }
            match client.send_result(kafka_record) {
                Ok(delivery) => {
                    return Ok(PendingDelivery {
                        producer: self.clone(),
                        generation,
                        client,
                        topic: topic.to_owned(),
                        delivery,
                    })
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                }
                Err((error, _)) => {
                    self.failed(generation, &client, &error);
                    return Err(PublishError::NotAcknowledged(error));
                }
            }
        }
    }

    /// Publishes one record and waits for the broker's acknowledgement.
    pub async fn publish(&self, record: &OutgoingRecord) -> Result<Delivery, PublishError> {
        self.enqueue(record).await?.settle().await
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
        for enqueued in pending {
            outcomes.push(match enqueued {
                Ok(delivery) => delivery.settle().await,
                Err(error) => Err(error),
            });
        }
        outcomes
    }

    /// `Ok` when a broker answers a metadata request within `timeout`, the client is not
    /// fatal, and the latest delivery did not fail in the last `2 ×` delivery timeout.
    pub async fn check_ready(&self, timeout: Duration) -> Result<(), NotReady> {
        let (_, client) = self.client();
        if let Some((_, reason)) = client.client().fatal_error() {
            return Err(NotReady::Fatal(reason));
        }
        self.shared.health.check(self.delivery_timeout * 2)?;
        tokio::task::spawn_blocking(move || {
            client.client().fetch_metadata(None, timeout).map(|_| ())
        })
        .await
        .unwrap_or(Err(KafkaError::Canceled))
        .map_err(NotReady::Unreachable)
    }

    /// Waits up to `timeout` for every queued record to be acknowledged.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.client().1.flush(timeout)
    }
}

/// A record on the producer's queue whose acknowledgement has not arrived yet.
pub struct PendingDelivery {
    producer: EventProducer,
    generation: u64,
    client: FutureProducer,
    topic: String,
    delivery: DeliveryFuture,
}

impl PendingDelivery {
    /// Waits for the broker's answer; a failure is recorded (and a fatal client replaced).
    pub async fn settle(self) -> Result<Delivery, PublishError> {
        let outcome = match self.delivery.await {
            Ok(Ok(delivered)) => Ok(delivered),
            Ok(Err((error, _))) => Err(PublishError::NotAcknowledged(error)),
            Err(_) => Err(PublishError::Cancelled),
        };
        match &outcome {
            Ok(_) => self.producer.shared.health.acknowledged(),
            Err(PublishError::NotAcknowledged(error)) => {
                self.producer.failed(self.generation, &self.client, error)
            }
            Err(PublishError::Cancelled) => self.producer.shared.health.failed(),
        }
        let label = if outcome.is_ok() { "acked" } else { "failed" };
        metrics::counter!("switchboard_kafka_produced_total", "topic" => self.topic, "outcome" => label).increment(1);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::mocking::MockCluster;
    use rdkafka::types::RDKafkaRespErr;

    fn record(topic: &str) -> OutgoingRecord {
        OutgoingRecord {
            topic: topic.into(),
            key: "k".into(),
            event: CloudEvent {
                id: uuid::Uuid::new_v4(),
                event_type: "test.Event.v1".into(),
                source: "test".into(),
                subject: None,
                time: chrono::Utc::now(),
                sequence: None,
                actor: None,
            },
            body: b"{}".to_vec(),
            traceparent: None,
        }
    }

    #[tokio::test]
    async fn a_fatal_client_is_replaced_and_readiness_follows_the_deliveries() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("t", 1, 1).unwrap();
        // An idempotent producer refused its producer id cannot go on: librdkafka makes it fatal.
        cluster.request_errors(
            rdkafka::types::RDKafkaApiKey::InitProducerId,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED],
        );
        let mut settings = KafkaSettings::new(cluster.bootstrap_servers());
        settings.delivery_timeout = Duration::from_secs(3);
        let producer = EventProducer::new(&settings).unwrap();

        assert!(producer.publish(&record("t")).await.is_err());
        assert_eq!(producer.replacements(), 1, "the fatal client was replaced");
        assert!(producer.check_ready(Duration::from_secs(2)).await.is_err());

        producer
            .publish(&record("t"))
            .await
            .expect("the new client delivers");
        assert_eq!(producer.replacements(), 1);
        producer
            .check_ready(Duration::from_secs(2))
            .await
            .expect("ready once a delivery was acknowledged");
    }
}
