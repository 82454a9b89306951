//! Everything in Switchboard that touches the outside world: the channel registry and (per
//! platform) its adapters, Kafka, and the PostgreSQL event store with its outbox.
#![forbid(unsafe_code)]

pub mod channels;
pub mod inbound;
pub mod kafka;
pub mod store;
