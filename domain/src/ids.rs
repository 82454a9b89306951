//! Typed identifiers. A `WorkspaceId` can never be passed where an `IntegrationId` is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Workspace ids are 1–64 characters of `[A-Za-z0-9_-]`.
    #[error("workspace id must be 1-64 characters of letters, digits, '-' or '_'")]
    BadWorkspaceId,
    /// Integration ids are UUIDs.
    #[error("integration id must be a UUID")]
    BadIntegrationId,
}

/// The tenant: every integration, inbox and conversation belongs to exactly one workspace.
///
/// Workspace ids come from the platform, so they are opaque slugs rather than UUIDs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspaceId(String);

impl WorkspaceId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WorkspaceId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let valid = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(value))
        } else {
            Err(IdError::BadWorkspaceId)
        }
    }
}

impl FromStr for WorkspaceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl From<WorkspaceId> for String {
    fn from(id: WorkspaceId) -> Self {
        id.0
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One connected account on one channel (a Facebook page, a WhatsApp number, an SMTP server…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntegrationId(Uuid);

impl IntegrationId {
    /// A fresh random id.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for IntegrationId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for IntegrationId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl FromStr for IntegrationId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| IdError::BadIntegrationId)
    }
}

impl fmt::Display for IntegrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_ids_accept_slugs_and_refuse_everything_else() {
        assert!("acme-prod_1".parse::<WorkspaceId>().is_ok());
        for bad in ["", "has space", "slash/", &"x".repeat(65), "émoji"] {
            assert_eq!(
                bad.parse::<WorkspaceId>(),
                Err(IdError::BadWorkspaceId),
                "{bad}"
            );
        }
    }

    #[test]
    fn integration_ids_round_trip_through_text() {
        let id = IntegrationId::new();
        assert_eq!(id.to_string().parse::<IntegrationId>(), Ok(id));
        assert_eq!(
            "nope".parse::<IntegrationId>(),
            Err(IdError::BadIntegrationId)
        );
    }
}
