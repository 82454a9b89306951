//! Switchboard's read models, built only from events consumed from Kafka: inbox, conversations,
//! messages and integrations per workspace, each rebuildable by replaying its topics.
//!
//! The projections themselves arrive with the projections issue; until then the integrations
//! API reads the event store directly (see `adapters/src/store/integrations.rs`).
#![forbid(unsafe_code)]
