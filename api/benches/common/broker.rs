//! Which broker a benchmark runs against: `KAFKA_BROKERS` (what `deploy/bench.sh` starts), or,
//! with `SWITCHBOARD_BENCH_BROKER=mock`, librdkafka's in-process mock cluster, a real
//! Kafka-protocol broker without disk, for when the local broker's own limits would hide ours.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use switchboard_adapters::kafka::{ensure_topics, KafkaSettings, TopicSpec};

/// Partitions of each topic on the mock cluster. It keeps at most 5 MB per partition and drops
/// a partition's oldest batches beyond that (as retention would), so a workload must be spread
/// wide enough to stay whole; the benchmarks check that nothing was dropped.
pub const MOCK_PARTITIONS: i32 = 64;

/// Whether `SWITCHBOARD_BENCH_BROKER=mock` asks for the mock cluster.
pub fn is_mock() -> bool {
    std::env::var("SWITCHBOARD_BENCH_BROKER").as_deref() == Ok("mock")
}

/// An in-process mock cluster.
pub type Mock = MockCluster<'static, DefaultProducerContext>;

/// The mock cluster when one was asked for, with `KAFKA_BROKERS` pointed at it. Keep it alive
/// (on the main thread: it is not `Send`) for the whole run.
pub fn chosen() -> anyhow::Result<Option<Mock>> {
    if !is_mock() {
        return Ok(None);
    }
    let cluster = MockCluster::new(1)?;
    std::env::set_var("KAFKA_BROKERS", cluster.bootstrap_servers());
    Ok(Some(cluster))
}

/// Creates `specs`: in the mock cluster (it has no CreateTopics API), else through the broker.
pub async fn create_topics(
    mock: Option<&Mock>,
    kafka: &KafkaSettings,
    specs: &[TopicSpec],
) -> anyhow::Result<()> {
    match mock {
        Some(cluster) => {
            for spec in specs {
                cluster.create_topic(&spec.name, spec.partitions, 1)?;
            }
        }
        None => {
            ensure_topics(kafka, specs, 1).await?;
        }
    }
    Ok(())
}

/// The broker, as the report names it (`deploy/bench.sh` names the broker it started in
/// `SWITCHBOARD_BENCH_BROKER_LABEL`).
pub fn describe(mock: Option<&Mock>) -> String {
    match mock {
        Some(_) => "librdkafka mock cluster, in process".into(),
        None => std::env::var("SWITCHBOARD_BENCH_BROKER_LABEL")
            .unwrap_or_else(|_| "KAFKA_BROKERS".into()),
    }
}
