//! Switchboard's pure model: typed ids, channel and auth specifications, secrets, and the
//! `Integration` and `PlatformApp` aggregates.
//!
//! This crate must never do IO: no sockets, no files, no database, no broker. Everything that
//! touches the outside world (encryption keys, the clock, the channel registry) reaches the
//! aggregate through the traits in [`integration::services`].
#![forbid(unsafe_code)]

pub mod action;
pub mod auth;
pub mod channel;
pub mod ids;
pub mod integration;
pub mod message;
pub mod platform;
pub mod secret;

pub use auth::{AuthField, AuthFieldKind, AuthInput, AuthScheme, AuthSpec, FieldProblem};
pub use channel::{ChannelCatalog, ChannelKind, ChannelSpec};
pub use ids::{IdError, IntegrationId, WorkspaceId};
pub use secret::{SealError, SealedSecret, SecretSealer, SecretString};
