//! PostgreSQL: the connection pool and migrations, the event-sourced integration store
//! (cqrs-es + postgres-es), the transactional outbox relay, and secret sealing (per-owner data
//! keys wrapped by the configured keyring), and the completed actions the adapters remember.

pub mod action_runs;
pub mod data_keys;
pub mod envelope_sealer;
pub mod integrations;
pub mod outbox;
pub mod outbox_backlog;
pub mod platform_apps;
pub mod pool;
pub mod sealer;

pub use action_runs::ActionRuns;
pub use data_keys::{DataKeyError, DataKeys, RewrapReport};
pub use envelope_sealer::{EnvelopeSealer, KeyHold};
pub use integrations::{CommandMetadata, IntegrationStore, StoreError};
pub use outbox::{OutboxRelay, RelayError};
pub use outbox_backlog::{Backlog, OutboxBacklog};
pub use platform_apps::{PlatformAppStore, PlatformStoreError};
pub use pool::{connect_lazy, migrate};
pub use sealer::{KeyringError, XChaChaSealer};
