//! Everything in Switchboard that touches the outside world: the channel registry and (per
//! platform) its adapters, Kafka, the PostgreSQL event store with its outbox, and the outbound
//! engine that sends messages through the channels.
#![forbid(unsafe_code)]

pub mod activity;
pub mod channels;
pub mod egress;
pub mod inbound;
pub mod kafka;
pub mod lifecycle_watch;
pub mod mailbox;
pub mod outbound;
pub mod refresh;
pub mod store;
