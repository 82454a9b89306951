//! What a mailbox reader needs of an e-mail integration: its IMAP server, login and folder,
//! read from the integration's opened auth fields (the same fields connecting proved).
//!
//! TLS is never optional: from the start on port 993, `STARTTLS` on any other port, as the
//! connect probe does, so the password never crosses the network in the clear.

use std::collections::BTreeMap;
use switchboard_domain::SecretString;

/// The folder read when the integration names none.
pub const DEFAULT_FOLDER: &str = "INBOX";

/// One integration's mailbox.
#[derive(Clone)]
pub struct MailboxSettings {
    /// The IMAP host as configured.
    pub host: String,
    /// Its port (993: TLS from the start; otherwise STARTTLS).
    pub port: u16,
    /// The login name.
    pub username: String,
    /// The password, opened from its sealed field.
    pub password: SecretString,
    /// The folder read (`imap_folder`, default `INBOX`).
    pub folder: String,
}

impl std::fmt::Debug for MailboxSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("folder", &self.folder)
            .finish()
    }
}

/// Why an integration's fields do not make a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A required field is absent.
    #[error("the mailbox field {0} is missing")]
    Missing(&'static str),
    /// A field holds something unusable.
    #[error("the mailbox field {0} is invalid")]
    Invalid(&'static str),
}

impl MailboxSettings {
    /// The mailbox named by an e-mail integration's opened auth `fields`.
    pub fn from_fields(fields: &BTreeMap<String, SecretString>) -> Result<Self, SettingsError> {
        let get = |name: &'static str| {
            fields
                .get(name)
                .map(|v| v.expose().trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or(SettingsError::Missing(name))
        };
        let port = get("imap_port")?
            .parse::<u16>()
            .map_err(|_| SettingsError::Invalid("imap_port"))?;
        let folder = get("imap_folder").unwrap_or_else(|_| DEFAULT_FOLDER.to_owned());
        if folder.contains(['\r', '\n', '\0', '"', '\\']) {
            return Err(SettingsError::Invalid("imap_folder"));
        }
        let password = fields
            .get("password")
            .map(|p| SecretString::new(p.expose()))
            .ok_or(SettingsError::Missing("password"))?;
        Ok(Self {
            host: get("imap_host")?,
            port,
            username: get("username")?,
            password,
            folder,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretString> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SecretString::new(*v)))
            .collect()
    }

    #[test]
    fn the_folder_defaults_to_the_inbox_and_the_password_is_not_printed() {
        let settings = MailboxSettings::from_fields(&fields(&[
            ("imap_host", "imap.example.com"),
            ("imap_port", "993"),
            ("username", "ann"),
            ("password", "hunter2"),
        ]))
        .unwrap();
        assert_eq!(settings.folder, "INBOX");
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn a_bad_port_or_folder_is_refused_by_field() {
        let base = [("imap_host", "h"), ("username", "u"), ("password", "p")];
        let mut bad_port = base.to_vec();
        bad_port.push(("imap_port", "imap"));
        assert_eq!(
            MailboxSettings::from_fields(&fields(&bad_port)).unwrap_err(),
            SettingsError::Invalid("imap_port")
        );
        let mut bad_folder = base.to_vec();
        bad_folder.extend([("imap_port", "143"), ("imap_folder", "a\"b")]);
        assert_eq!(
            MailboxSettings::from_fields(&fields(&bad_folder)).unwrap_err(),
            SettingsError::Invalid("imap_folder")
        );
    }
}
