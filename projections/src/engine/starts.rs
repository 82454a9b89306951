//! Where a projection starts reading a partition it has never applied a record of: the
//! partition's log start (its low watermark), written down as the partition's stored offset
//! before the first record is read.
//!
//! With every partition's start stored, a batch is always checked against an explicit offset:
//! a consumer that delivers a partition from anywhere but its first record (a prefetch cut by
//! a rebalance, a seek that did not take) is sought back instead of being taken as the start.

use crate::engine::projection::ProjectionError;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sqlx::PgPool;
use std::time::Duration;
use switchboard_adapters::kafka::KafkaSettings;

/// How long one metadata or watermark request may take.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// A partition and its first readable offset.
pub type PartitionStart = ((String, i32), i64);

/// Every partition of `topic_names` with its log start offset, read through a plain client
/// (a stream consumer's synchronous calls time out before it is polled).
pub async fn partition_starts(
    kafka: &KafkaSettings,
    topic_names: &[String],
) -> Result<Vec<PartitionStart>, ProjectionError> {
    let config = kafka.client_config();
    let topic_names = topic_names.to_vec();
    let read = tokio::task::spawn_blocking(move || {
        let client: BaseConsumer = config.create()?;
        let mut starts = Vec::new();
        for topic in topic_names {
            let metadata = client.fetch_metadata(Some(&topic), METADATA_TIMEOUT)?;
            let partitions = metadata
                .topics()
                .first()
                .map_or(0, |t| t.partitions().len() as i32);
            for partition in 0..partitions {
                let (low, _) = client.fetch_watermarks(&topic, partition, METADATA_TIMEOUT)?;
                starts.push(((topic.clone(), partition), low));
            }
        }
        Ok::<_, rdkafka::error::KafkaError>(starts)
    });
    match read.await {
        Ok(starts) => Ok(starts?),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(rdkafka::error::KafkaError::Canceled.into()),
    }
}

/// Stores `starts` as the next offsets of the partitions of `schema` that have none yet;
/// partitions that have one keep it.
pub async fn store_starts(
    pool: &PgPool,
    schema: &str,
    starts: &[PartitionStart],
) -> Result<(), sqlx::Error> {
    let topics: Vec<&str> = starts.iter().map(|((t, _), _)| t.as_str()).collect();
    let partitions: Vec<i32> = starts.iter().map(|((_, p), _)| *p).collect();
    let offsets: Vec<i64> = starts.iter().map(|(_, o)| *o).collect();
    sqlx::query(&format!(
        "INSERT INTO \"{schema}\".projection_offsets (topic, partition, next_offset)
         SELECT * FROM UNNEST($1::text[], $2::int[], $3::bigint[])
         ON CONFLICT (topic, partition) DO NOTHING"
    ))
    .bind(topics)
    .bind(partitions)
    .bind(offsets)
    .execute(pool)
    .await?;
    Ok(())
}
