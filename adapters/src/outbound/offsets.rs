//! Which offsets may be committed when records finish out of order. Conversations run
//! concurrently, so offset 9 of a partition may finish before offset 7; the commit point of a
//! partition is the lowest offset still in flight (or, with none, one past the highest seen),
//! so a crash never skips a record that was not finished.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
struct Partition {
    in_flight: BTreeSet<i64>,
    seen: bool,
    next: i64,
    committed: Option<i64>,
}

/// In-flight offsets per topic partition.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<(String, i32), Partition>,
    in_flight: usize,
}

impl OffsetTracker {
    /// Notes that `offset` was consumed and is now being handled. Returns `false`, and
    /// changes nothing, when the offset was consumed before (it is running or finished): a
    /// record the broker delivers twice must not be sent twice.
    pub fn begin(&mut self, topic: &str, partition: i32, offset: i64) -> bool {
        let state = self
            .partitions
            .entry((topic.to_owned(), partition))
            .or_default();
        if state.seen && offset < state.next {
            return false;
        }
        state.seen = true;
        if state.in_flight.insert(offset) {
            self.in_flight += 1;
        }
        state.next = state.next.max(offset + 1);
        true
    }

    /// Notes that `offset` is finished, and returns the partition's new commit point (the next
    /// offset to consume) when it moved forward.
    pub fn finish(&mut self, topic: &str, partition: i32, offset: i64) -> Option<i64> {
        let state = self.partitions.get_mut(&(topic.to_owned(), partition))?;
        if state.in_flight.remove(&offset) {
            self.in_flight -= 1;
        }
        let point = state.in_flight.first().copied().unwrap_or(state.next);
        if state.committed.is_some_and(|done| done >= point) {
            return None;
        }
        state.committed = Some(point);
        Some(point)
    }

    /// How many records are consumed but not finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commit_point_waits_for_the_oldest_unfinished_record() {
        let mut tracker = OffsetTracker::default();
        for offset in 5..=8 {
            tracker.begin("t", 0, offset);
        }
        assert_eq!(tracker.in_flight(), 4);
        assert_eq!(tracker.finish("t", 0, 7), Some(5), "5 is still running");
        assert_eq!(tracker.finish("t", 0, 6), None);
        assert_eq!(tracker.finish("t", 0, 5), Some(8));
        assert_eq!(tracker.finish("t", 0, 8), Some(9));
        assert_eq!(tracker.in_flight(), 0);
    }

    #[test]
    fn partitions_commit_independently() {
        let mut tracker = OffsetTracker::default();
        tracker.begin("t", 0, 10);
        tracker.begin("t", 1, 3);
        tracker.begin("t", 1, 4);
        assert_eq!(tracker.finish("t", 1, 3), Some(4));
        assert_eq!(tracker.finish("t", 0, 10), Some(11));
        assert_eq!(tracker.finish("t", 1, 4), Some(5));
    }

    #[test]
    fn a_redelivered_offset_is_refused_whether_running_or_finished() {
        let mut tracker = OffsetTracker::default();
        assert!(tracker.begin("t", 0, 1));
        assert!(!tracker.begin("t", 0, 1), "still running");
        assert_eq!(tracker.in_flight(), 1);
        assert_eq!(tracker.finish("t", 0, 1), Some(2));
        assert!(!tracker.begin("t", 0, 1), "already finished");
        assert_eq!(tracker.finish("t", 0, 1), None);
        assert_eq!(tracker.in_flight(), 0);
        assert!(tracker.begin("t", 0, 2));
    }
}
