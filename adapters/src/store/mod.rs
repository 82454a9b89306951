//! PostgreSQL: the connection pool and migrations, the event-sourced integration store
//! (cqrs-es + postgres-es), the transactional outbox relay, and secret sealing.

pub mod integrations;
pub mod outbox;
pub mod pool;
pub mod sealer;

pub use integrations::{CommandMetadata, IntegrationStore, StoreError};
pub use outbox::{OutboxRelay, RelayError};
pub use pool::{connect_lazy, migrate};
pub use sealer::{KeyringError, XChaChaSealer};
