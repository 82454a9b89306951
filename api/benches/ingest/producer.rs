//! Ceiling C: the service's producer, on its own.

use super::settings::Settings;
use super::{broker, cpu, payload, records};
use anyhow::Context;
use futures::stream::{FuturesUnordered, StreamExt};
use std::time::{Duration, Instant};
use switchboard_adapters::inbound::InboundPublisher;
use switchboard_adapters::kafka::{EventProducer, KafkaSettings, OutgoingRecord};

/// Distinct records the producer ceiling cycles through.
pub const PRODUCER_RECORDS: usize = 20_000;

/// The producer ceiling's own topic (partitioned like the webhook topic), so that no consumer
/// of the service's topics reads along while it is measured.
pub const PRODUCER_TOPIC: &str = "bench.producer-ceiling";

/// Messages/s the producer sustained, and how many failed.
pub struct Outcome {
    /// Acknowledged records per second within the measured window.
    pub rate: f64,
    /// Records not acknowledged.
    pub failed: u64,
    /// Average record value size, in bytes.
    pub record_bytes: usize,
    /// Cores the broker and this process (the producer) kept busy while measured.
    pub cores: cpu::Cores,
    /// Records kept in flight.
    pub window: usize,
}

/// Publishes the service's records for the first payloads, pipelined, for one point, to
/// [`PRODUCER_TOPIC`].
pub async fn ceiling(
    settings: &Settings,
    payloads: &[payload::Payload],
    integration: &str,
) -> anyhow::Result<Outcome> {
    broker::topic_like_webhooks(settings, PRODUCER_TOPIC).await?;
    let producer = EventProducer::new(&KafkaSettings::new(&settings.brokers))?;
    // Only used to build records: its acknowledgement deadline never applies.
    let publisher =
        InboundPublisher::new(producer.clone(), PRODUCER_TOPIC.to_owned(), Duration::ZERO);
    let parser = records::Parser::new(integration, &settings.app_secret)?;
    let sample = &payloads[..payloads.len().min(PRODUCER_RECORDS)];
    let records = parser.records(&publisher, sample)?;
    producer
        .publish(&records[0])
        .await
        .context("the producer cannot reach the broker")?;
    let (rate, failed, cores) = pipelined(&producer, &records, settings).await?;
    let record_bytes = records.iter().map(|r| r.body.len()).sum::<usize>() / records.len();
    Ok(Outcome {
        rate,
        failed,
        record_bytes,
        cores,
        window: settings.producer_window,
    })
}

/// Keeps the settings' window of records in flight for one point, counting
/// acknowledgements in the measured window: acknowledged records/s, failures, and the CPU
/// the broker and this process used meanwhile.
async fn pipelined(
    producer: &EventProducer,
    records: &[OutgoingRecord],
    settings: &Settings,
) -> anyhow::Result<(f64, u64, cpu::Cores)> {
    let (timing, window) = (settings.timing, settings.producer_window);
    let pids = cpu::Pids {
        server: None,
        broker: settings.broker_pid,
    };
    let start = Instant::now();
    let (measure_from, end) = (
        start + timing.warmup,
        start + timing.warmup + timing.measure,
    );
    let cores = tokio::spawn(cpu::between(pids, measure_from, end));
    let mut in_flight = FuturesUnordered::new();
    let (mut sent, mut acked, mut failed) = (0usize, 0u64, 0u64);
    loop {
        if Instant::now() < end && in_flight.len() < window {
            in_flight.push(
                producer
                    .enqueue(&records[sent % records.len()])
                    .await?
                    .settle(),
            );
            sent += 1;
            continue;
        }
        match in_flight.next().await {
            None => break,
            Some(Ok(_)) => {
                let now = Instant::now();
                acked += u64::from(now >= measure_from && now < end);
            }
            Some(_) => failed += 1,
        }
    }
    let rate = acked as f64 / timing.measure.as_secs_f64();
    Ok((rate, failed, cores.await?))
}
