//! Why a command was refused.

use crate::auth::FieldProblem;
use crate::channel::ChannelKind;
use crate::secret::SealError;

/// A refused command. Each variant names the rule that refused it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntegrationError {
    /// The integration does not exist.
    #[error("integration not found")]
    NotFound,
    /// `Create` on an id that is already taken.
    #[error("an integration with this id already exists")]
    AlreadyExists,
    /// Any command after `Delete`.
    #[error("integration was deleted")]
    Deleted,
    /// The channel is not in the registry.
    #[error("unknown channel '{0}'")]
    UnknownChannel(ChannelKind),
    /// A name must be 1–200 characters (after trimming), without control characters.
    #[error("name must be 1-200 characters without control characters")]
    InvalidName,
    /// Settings must be a JSON object of at most 64 KiB, 8 levels deep, without NUL.
    #[error(
        "settings must be a JSON object of at most 64 KiB and 8 levels, without NUL characters"
    )]
    InvalidSettings,
    /// Submitted credentials do not match the channel's auth spec.
    #[error("credentials do not match the channel's auth fields")]
    InvalidCredentials(Vec<FieldProblem>),
    /// `Connect` while required credentials are still missing.
    #[error("credentials are incomplete for this channel")]
    IncompleteCredentials(Vec<FieldProblem>),
    /// `Connect` on a connected integration.
    #[error("integration is already connected; refresh its credentials instead")]
    AlreadyConnected,
    /// `Disconnect` on an integration that was never connected.
    #[error("integration was never connected")]
    NeverConnected,
    /// A command that would record, in the auth field named here, a platform account (page,
    /// phone number…) that another live integration of the channel records: a platform app
    /// delivers an account's items to one URL, so one account has one integration. Enforced by
    /// the store, which sees every integration.
    #[error("the platform account in '{0}' is already connected through another integration")]
    AccountInUse(String),
    /// A secret could not be sealed.
    #[error("could not seal a secret: {0}")]
    Sealing(#[from] SealError),
}
