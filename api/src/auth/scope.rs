//! What a credential may do: `read` (inbox, settings, integrations), `write` (sends and
//! conversation commands) and `admin` (integration lifecycle). Scopes are independent: a key
//! that should read and administer carries both.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// One permission of a workspace credential.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Reads: inbox, conversations, settings, integrations.
    Read,
    /// Sends and conversation commands.
    Write,
    /// Integration lifecycle: create, connect, re-credential, disconnect, delete.
    Admin,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    /// The scope's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// The scope named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// The set holding `scopes`.
    pub fn of(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().fold(0, |bits, s| bits | Self::bit(s)))
    }

    /// Parses names separated by commas or spaces; an unknown name is an error naming it.
    pub fn parse_list(text: &str) -> Result<Self, String> {
        let mut scopes = Vec::new();
        for name in text
            .split([',', ' '])
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            scopes.push(
                Scope::parse(name)
                    .ok_or_else(|| format!("unknown scope '{}'", name.escape_debug()))?,
            );
        }
        Ok(Self::of(scopes))
    }

    /// Known names among `names`; unknown ones are ignored (tokens from an identity provider
    /// carry scopes of other services too).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self::of(names.into_iter().filter_map(Scope::parse))
    }

    /// Whether `scope` is in the set.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & Self::bit(scope) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in the set, in order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The wire names in order.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }

    fn bit(scope: Scope) -> u8 {
        1 << scope as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_unknown_names_are_named() {
        let scopes = Scopes::parse_list("read, admin").unwrap();
        assert!(scopes.contains(Scope::Read) && scopes.contains(Scope::Admin));
        assert!(!scopes.contains(Scope::Write));
        assert_eq!(scopes.names(), ["read", "admin"]);
        assert_eq!(
            Scopes::parse_list("read,root").unwrap_err(),
            "unknown scope 'root'"
        );
        assert!(Scopes::from_names(["openid", "write"]).contains(Scope::Write));
    }
}
