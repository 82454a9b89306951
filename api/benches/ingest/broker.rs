//! What the broker holds.

use super::settings::Settings;
use anyhow::ensure;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::time::Duration;
use switchboard_adapters::kafka::{ensure_topics, KafkaSettings, TopicSpec};

/// How long a metadata or watermark request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Records currently held in the webhook topic, over all its partitions.
pub async fn records_on(settings: &Settings) -> anyhow::Result<i64> {
    let (brokers, topic) = (settings.brokers.clone(), settings.topic.clone());
    tokio::task::spawn_blocking(move || {
        let consumer = client(&brokers)?;
        let mut total = 0;
        for partition in partitions(&consumer, &topic)? {
            let (low, high) = consumer.fetch_watermarks(&topic, partition, TIMEOUT)?;
            total += high - low;
        }
        Ok(total)
    })
    .await?
}

/// Creates `name` (unless it exists) with as many partitions as the webhook topic.
pub async fn topic_like_webhooks(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let (brokers, topic) = (settings.brokers.clone(), settings.topic.clone());
    let count = tokio::task::spawn_blocking(move || {
        anyhow::Ok(partitions(&client(&brokers)?, &topic)?.len())
    })
    .await??;
    let spec = TopicSpec {
        name: name.to_owned(),
        partitions: i32::try_from(count)?,
    };
    ensure_topics(&KafkaSettings::new(&settings.brokers), &[spec], 1).await?;
    Ok(())
}

fn client(brokers: &str) -> anyhow::Result<BaseConsumer> {
    Ok(KafkaSettings::new(brokers)
        .client_config()
        .set("group.id", "switchboard-ingest-bench")
        .create()?)
}

fn partitions(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<Vec<i32>> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .first()
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    ensure!(!partitions.is_empty(), "the broker has no topic {topic}");
    Ok(partitions)
}
