//! Why a command on platform credentials was refused.

use crate::auth::FieldProblem;
use crate::channel::ChannelKind;
use crate::secret::SealError;

/// A refused command. Each variant names the rule that refused it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlatformError {
    /// No credentials are stored for the channel.
    #[error("no platform credentials are stored for this channel")]
    NotFound,
    /// The channel is not in the registry.
    #[error("unknown channel '{0}'")]
    UnknownChannel(ChannelKind),
    /// The channel uses no platform app.
    #[error("channel '{0}' has no platform credentials")]
    NoPlatformApp(ChannelKind),
    /// A put for another channel than the aggregate's.
    #[error("these credentials belong to another channel")]
    WrongChannel,
    /// Fields that are unknown, badly typed or missing.
    #[error("the fields do not match the channel's platform fields")]
    InvalidFields(Vec<FieldProblem>),
    /// A verification outcome for a version that is no longer current.
    #[error("the credentials changed while they were being verified")]
    Stale,
    /// A secret could not be sealed or opened.
    #[error("could not seal a secret: {0}")]
    Sealing(#[from] SealError),
}
