//! The example analytics consumer: per channel and hour, inbound and outbound message counts
//! and the first-response time of conversations. Idempotent by event id. A pattern to copy:
//! a [`crate::Projection`] of its own, with its own schema, group and replay.

mod hourly;

use crate::engine::{Projection, ProjectionError};
use async_trait::async_trait;
use sqlx::PgConnection;
use switchboard_adapters::kafka::{ConsumedRecord, Topics};

/// The analytics projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct AnalyticsProjection;

#[async_trait]
impl Projection for AnalyticsProjection {
    fn name(&self) -> &'static str {
        "analytics"
    }

    fn version(&self) -> i32 {
        1
    }

    fn topics(&self, topics: &Topics) -> Vec<String> {
        vec![topics.received.clone()]
    }

    fn ddl(&self) -> &'static str {
        hourly::DDL
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        _topics: &Topics,
        records: &[ConsumedRecord],
    ) -> Result<(), ProjectionError> {
        hourly::apply(tx, records).await?;
        Ok(())
    }
}
