//! What can be asked of a channel's platform credentials. Plaintext secrets may travel here
//! (never further: the aggregate seals them), which is why no command is `Serialize`.

use crate::auth::AuthInput;
use crate::channel::ChannelKind;
use crate::platform::events::VerificationCheck;

/// What checking the credentials found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationOutcome {
    /// Good, found so by `check`.
    Verified(VerificationCheck),
    /// The platform refused them, in these words.
    Refused(String),
}

/// A command on one channel's platform credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformCommand {
    /// Sets every field (replacing what was stored).
    Put {
        /// The channel; must declare platform fields.
        channel: ChannelKind,
        /// The fields, complete.
        fields: AuthInput,
    },
    /// Records what checking the fields of aggregate version `checked_version` found.
    RecordVerification {
        /// The version that was checked.
        checked_version: u64,
        /// What was found.
        outcome: VerificationOutcome,
    },
    /// Removes the credentials.
    Delete,
}

impl PlatformCommand {
    /// The command's name, for logs and metrics (never its contents).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Put { .. } => "put",
            Self::RecordVerification { .. } => "record_verification",
            Self::Delete => "delete",
        }
    }
}
