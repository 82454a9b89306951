//! The machinery every projection shares: the [`Projection`] contract, the transactional
//! application of a batch together with its offsets, the live consumer loop, and rebuilds.

mod apply;
mod lanes;
mod projection;
mod rebalance;
mod rejects;
mod replay;
mod runner;
mod schema;
mod starts;

pub use apply::{apply_batch, BatchOutcome, BatchTarget, SeekTo};
pub use projection::{Projection, ProjectionError};
pub use replay::{replay, ReplayPhases, ReplayProgress, CATCH_UP_PARTITION_FETCH_BYTES};
pub use runner::{Projector, ProjectorSettings};
pub use schema::{ensure_live_schema, live_version, SchemaState};
