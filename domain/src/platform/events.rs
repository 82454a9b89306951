//! What happened to a channel's platform credentials. Events are immutable and versioned;
//! each carries its channel, the aggregate's id.

use crate::auth::StoredAuth;
use crate::channel::ChannelKind;
use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

/// The schema version of every event below.
pub const EVENT_VERSION: &str = "1";

/// How credentials were found good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationCheck {
    /// The platform accepted them (it issued an app token, or took the client's credentials).
    Platform,
    /// The platform has no call that checks them without a user: they are complete and well
    /// formed, which is all that can be known before the first integration connects.
    FieldsOnly,
}

/// An event of the `PlatformApp` aggregate. Serialised internally tagged: `{"type": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PlatformEvent {
    /// The credentials were set (all of them, secrets sealed); they await verification.
    PlatformCredentialsPut {
        /// The channel.
        channel: ChannelKind,
        /// The fields, secrets sealed.
        fields: StoredAuth,
        /// When.
        at: DateTime<Utc>,
    },
    /// The credentials were checked and found good.
    PlatformCredentialsVerified {
        /// The channel.
        channel: ChannelKind,
        /// How.
        check: VerificationCheck,
        /// When.
        at: DateTime<Utc>,
    },
    /// The platform refused the credentials.
    PlatformCredentialsRefused {
        /// The channel.
        channel: ChannelKind,
        /// The platform's words.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The credentials were removed.
    PlatformCredentialsDeleted {
        /// The channel.
        channel: ChannelKind,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for PlatformEvent {
    fn event_type(&self) -> String {
        let name = match self {
            Self::PlatformCredentialsPut { .. } => "PlatformCredentialsPut",
            Self::PlatformCredentialsVerified { .. } => "PlatformCredentialsVerified",
            Self::PlatformCredentialsRefused { .. } => "PlatformCredentialsRefused",
            Self::PlatformCredentialsDeleted { .. } => "PlatformCredentialsDeleted",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_owned()
    }
}
