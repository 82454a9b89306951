//! Applying one batch on several connections at once, a lane per group of partitions.
//!
//! A projection's work is mostly PostgreSQL's, and one transaction at a time keeps one
//! backend (one core) busy. Records are split by partition number modulo the lane count, so a
//! partition's records stay in one lane in their order and every partition's offsets are
//! written by one transaction. The topics are keyed by conversation (or integration) and
//! created with the same partition count, so a conversation's records of every topic share a
//! partition number, hence a lane: two lanes never write the same row.
//!
//! Each lane commits alone. When one fails after another committed, the caller retries the
//! whole batch, and the committed lane's records are skipped by their stored offsets.

use crate::engine::apply::{BatchOutcome, BatchTarget};
use crate::engine::projection::ProjectionError;
use crate::engine::rejects::apply_or_set_aside;
use std::collections::HashSet;
use switchboard_adapters::kafka::ConsumedRecord;

/// One batch, split by partition number into the lanes it is applied in; split once, when the
/// batch is read, so retrying it copies nothing.
#[derive(Debug)]
pub struct Lanes {
    lanes: Vec<Vec<ConsumedRecord>>,
}

impl Lanes {
    /// `records` in `lanes` groups by partition number (at least one), each in its original
    /// order.
    pub fn split(records: Vec<ConsumedRecord>, lanes: usize) -> Self {
        let count = lanes.max(1);
        if count == 1 {
            return Self {
                lanes: vec![records],
            };
        }
        let mut lanes = vec![Vec::new(); count];
        for record in records {
            lanes[record.partition.unsigned_abs() as usize % count].push(record);
        }
        Self { lanes }
    }

    /// Every record of the batch, lane after lane (a partition's in their order).
    pub fn records(&self) -> impl Iterator<Item = &ConsumedRecord> {
        self.lanes.iter().flatten()
    }

    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.lanes.iter().map(Vec::len).sum()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`apply_or_set_aside`] over one concurrent transaction per non-empty lane.
    pub async fn apply(
        &self,
        target: BatchTarget<'_>,
        from_beginning: &HashSet<(String, i32)>,
    ) -> Result<BatchOutcome, ProjectionError> {
        let outcomes = futures::future::join_all(
            self.lanes
                .iter()
                .filter(|lane| !lane.is_empty())
                .map(|lane| apply_or_set_aside(target, lane, from_beginning)),
        )
        .await;
        let mut total = BatchOutcome::default();
        for outcome in outcomes {
            total.absorb(outcome?);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str, partition: i32, offset: i64) -> ConsumedRecord {
        ConsumedRecord {
            topic: topic.into(),
            partition,
            offset,
            ..ConsumedRecord::default()
        }
    }

    #[test]
    fn a_partition_stays_in_one_lane_in_order_whatever_the_topic() {
        let records = vec![
            record("a", 0, 5),
            record("b", 2, 1),
            record("a", 1, 7),
            record("a", 0, 6),
            record("b", 0, 3),
            record("a", 3, 9),
        ];
        let split = Lanes::split(records.clone(), 2);
        let lanes = &split.lanes;
        let seen = |lane: &Vec<ConsumedRecord>| -> Vec<(String, i32, i64)> {
            lane.iter()
                .map(|r| (r.topic.clone(), r.partition, r.offset))
                .collect()
        };
        assert_eq!(
            seen(&lanes[0]),
            vec![
                ("a".into(), 0, 5),
                ("b".into(), 2, 1),
                ("a".into(), 0, 6),
                ("b".into(), 0, 3)
            ]
        );
        assert_eq!(
            seen(&lanes[1]),
            vec![("a".into(), 1, 7), ("a".into(), 3, 9)]
        );
        assert_eq!(split.len(), records.len());
        assert_eq!(Lanes::split(records, 0).lanes.len(), 1);
    }
}
