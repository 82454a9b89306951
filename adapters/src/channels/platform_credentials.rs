//! Platform credentials: a platform's own app secrets (Meta app secret and verify token, Zalo
//! app id and OA secret key, TikTok client secret), shared by every workspace and configured
//! once by the operator. An integration's own auth field of the same name takes precedence.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use switchboard_domain::{ChannelKind, SecretString};

/// Why the configured text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformCredentialsError {
    /// An entry is not `channel.field=value`.
    #[error("platform credential entry {0} is not 'channel.field=value'")]
    Malformed(usize),
}

/// Every platform's credentials, by channel then field name, and which channels' are verified.
/// `Debug` shows only names.
#[derive(Clone, Default)]
pub struct PlatformCredentials {
    fields: BTreeMap<ChannelKind, BTreeMap<String, SecretString>>,
    verified: BTreeSet<ChannelKind>,
}

impl PlatformCredentials {
    /// Parses `channel.field=value[;channel.field=value…]` (whitespace around entries ignored).
    pub fn parse(text: &str) -> Result<Self, PlatformCredentialsError> {
        let mut credentials = Self::default();
        let entries = text
            .split([';', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty());
        for (index, entry) in entries.enumerate() {
            let malformed = PlatformCredentialsError::Malformed(index);
            let (name, value) = entry.split_once('=').ok_or(malformed.clone())?;
            let (channel, field) = name.trim().split_once('.').ok_or(malformed.clone())?;
            let channel = ChannelKind::parse(channel).ok_or(malformed.clone())?;
            if field.is_empty() {
                return Err(malformed);
            }
            credentials.insert(channel, field, SecretString::new(value.trim()));
        }
        Ok(credentials)
    }

    /// Sets one credential.
    pub fn insert(&mut self, channel: ChannelKind, field: &str, value: SecretString) {
        self.fields
            .entry(channel)
            .or_default()
            .insert(field.to_owned(), value);
    }

    /// Records that `channel`'s credentials were verified.
    pub fn mark_verified(&mut self, channel: ChannelKind) {
        self.verified.insert(channel);
    }

    /// Whether `channel`'s credentials were verified: its integrations may connect.
    pub fn is_verified(&self, channel: &ChannelKind) -> bool {
        self.verified.contains(channel)
    }

    /// The channels that have credentials.
    pub fn channels(&self) -> impl Iterator<Item = &ChannelKind> {
        self.fields.keys()
    }

    /// The credentials of one channel (empty when none are configured).
    pub fn for_channel(&self, channel: &ChannelKind) -> BTreeMap<String, SecretString> {
        self.fields.get(channel).cloned().unwrap_or_default()
    }
}

/// The platform credentials in force, shared by every reader in the process and replaced whole
/// when an operator changes them. Cheap to clone; readers take a snapshot per use.
#[derive(Clone, Default)]
pub struct LivePlatformCredentials(Arc<RwLock<Arc<PlatformCredentials>>>);

impl LivePlatformCredentials {
    /// The credentials in force now.
    pub fn current(&self) -> Arc<PlatformCredentials> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `credentials` in force for every later reader.
    pub fn replace(&self, credentials: PlatformCredentials) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(credentials);
    }

    /// The credentials of one channel now (empty when none are configured).
    pub fn for_channel(&self, channel: &ChannelKind) -> BTreeMap<String, SecretString> {
        self.current().for_channel(channel)
    }
}

impl From<PlatformCredentials> for LivePlatformCredentials {
    fn from(credentials: PlatformCredentials) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(credentials))))
    }
}

impl std::fmt::Debug for PlatformCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = self
            .fields
            .iter()
            .flat_map(|(channel, fields)| fields.keys().map(move |f| format!("{channel}.{f}")));
        f.debug_set().entries(names).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_per_channel_and_never_printed() {
        let text = "messenger.app_secret=s3cret; messenger.verify_token = vt\nzalo.app_id=42";
        let credentials = PlatformCredentials::parse(text).unwrap();
        let messenger = credentials.for_channel(&ChannelKind::parse("messenger").unwrap());
        assert_eq!(messenger["app_secret"].expose(), "s3cret");
        assert_eq!(messenger["verify_token"].expose(), "vt");
        assert!(credentials
            .for_channel(&ChannelKind::parse("tiktok").unwrap())
            .is_empty());
        let debug = format!("{credentials:?}");
        assert!(debug.contains("messenger.app_secret") && !debug.contains("s3cret"));
    }

    #[test]
    fn malformed_entries_are_refused_by_position() {
        for (text, index) in [
            ("nodot=1", 0),
            ("a.b=1;noequals", 1),
            ("Bad Channel.x=1", 0),
            ("a.=1", 0),
        ] {
            assert_eq!(
                PlatformCredentials::parse(text).err(),
                Some(PlatformCredentialsError::Malformed(index)),
                "{text}"
            );
        }
    }
}
