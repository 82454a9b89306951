//! SMTP provider presets: the integration's `provider` field (`gmail`, `outlook`, `office365`,
//! `sendgrid`, `mailgun`, `ses`, `zoho`) chooses the host, port and TLS mode, and its `host`,
//! `port` and `starttls` fields override them. Without a provider, `host` is needed and the
//! port defaults to 587 with STARTTLS.
//!
//! TLS follows the port as RFC 8314 says: 465 is TLS from the first byte; any other port
//! requires STARTTLS unless `starttls` is `false` (a relay on a trusted network), which is then
//! plain text. Every connection and login (sends, actions, the connect probe) reads its server
//! from here, so they cannot disagree.

use std::fmt;

/// The submission port, used when neither a provider nor `port` says otherwise.
pub const DEFAULT_PORT: u16 = 587;
/// The port where TLS starts before SMTP does (RFC 8314).
pub const IMPLICIT_TLS_PORT: u16 = 465;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (port 465).
    Implicit,
    /// Plain connect, then STARTTLS, required.
    StartTls,
    /// No TLS at all (`starttls: false` on a port other than 465).
    None,
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Implicit => "implicit",
            Self::StartTls => "starttls",
            Self::None => "none",
        })
    }
}

/// One provider's submission server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The `provider` value.
    pub name: &'static str,
    /// Its submission host.
    pub host: &'static str,
    /// Its submission port.
    pub port: u16,
}

/// The presets, by `provider` name. Amazon SES is its `us-east-1` endpoint: set `host` for
/// another region (`email-smtp.eu-west-1.amazonaws.com`).
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "gmail",
        host: "smtp.gmail.com",
        port: 587,
    },
    Preset {
        name: "outlook",
        host: "smtp-mail.outlook.com",
        port: 587,
    },
    Preset {
        name: "office365",
        host: "smtp.office365.com",
        port: 587,
    },
    Preset {
        name: "sendgrid",
        host: "smtp.sendgrid.net",
        port: 587,
    },
    Preset {
        name: "mailgun",
        host: "smtp.mailgun.org",
        port: 587,
    },
    Preset {
        name: "ses",
        host: "email-smtp.us-east-1.amazonaws.com",
        port: 587,
    },
    Preset {
        name: "zoho",
        host: "smtp.zoho.com",
        port: 465,
    },
];

/// The preset named `provider`.
pub fn preset(provider: &str) -> Option<&'static Preset> {
    PRESETS
        .iter()
        .find(|p| p.name == provider.trim().to_ascii_lowercase())
}

/// The server an integration's fields name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// The host TLS verifies.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is secured.
    pub tls: TlsMode,
}

impl ServerSettings {
    /// Whether STARTTLS is asked for on a port other than 465 (the probe's and lettre's terms).
    pub fn starttls(&self) -> bool {
        self.tls != TlsMode::None
    }
}

/// Why the fields name no server; the text names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ServerSettingsError(pub String);

/// The server named by the fields `field` reads (`provider`, `host`, `port`, `starttls`, as
/// their stored text).
pub fn server_settings(
    field: impl Fn(&'static str) -> Option<String>,
) -> Result<ServerSettings, ServerSettingsError> {
    let provider = match field("provider").filter(|p| !p.trim().is_empty()) {
        Some(name) => Some(preset(&name).ok_or_else(|| {
            ServerSettingsError(format!(
                "provider is not one of {}",
                PRESETS
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?),
        None => None,
    };
    let host = match field("host").filter(|h| !h.trim().is_empty()) {
        Some(host) => host.trim().to_owned(),
        None => provider
            .map(|p| p.host.to_owned())
            .ok_or_else(|| ServerSettingsError("host is not configured (nor a provider)".into()))?,
    };
    let port = match field("port") {
        Some(port) => port
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| ServerSettingsError("port is not a port number".into()))?,
        None => provider.map_or(DEFAULT_PORT, |p| p.port),
    };
    let starttls = field("starttls").map(|s| s.trim() != "false");
    let tls = if port == IMPLICIT_TLS_PORT {
        TlsMode::Implicit
    } else if starttls == Some(false) {
        TlsMode::None
    } else {
        TlsMode::StartTls
    };
    Ok(ServerSettings { host, port, tls })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(fields: &[(&str, &str)]) -> Result<ServerSettings, ServerSettingsError> {
        let fields: HashMap<String, String> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        server_settings(|name| fields.get(name).cloned())
    }

    #[test]
    fn each_provider_preset_names_its_documented_server() {
        let expected = [
            ("gmail", "smtp.gmail.com", 587, TlsMode::StartTls),
            ("outlook", "smtp-mail.outlook.com", 587, TlsMode::StartTls),
            ("office365", "smtp.office365.com", 587, TlsMode::StartTls),
            ("sendgrid", "smtp.sendgrid.net", 587, TlsMode::StartTls),
            ("mailgun", "smtp.mailgun.org", 587, TlsMode::StartTls),
            (
                "ses",
                "email-smtp.us-east-1.amazonaws.com",
                587,
                TlsMode::StartTls,
            ),
            ("zoho", "smtp.zoho.com", 465, TlsMode::Implicit),
        ];
        assert_eq!(expected.len(), PRESETS.len());
        for (provider, host, port, tls) in expected {
            let found = settings(&[("provider", provider)]).unwrap();
            assert_eq!(
                found,
                ServerSettings {
                    host: host.into(),
                    port,
                    tls
                },
                "{provider}"
            );
        }
        assert_eq!(
            settings(&[("provider", "Gmail")]).unwrap().host,
            "smtp.gmail.com"
        );
    }

    #[test]
    fn host_port_and_starttls_fields_override_the_preset() {
        let moved = settings(&[
            ("provider", "ses"),
            ("host", "email-smtp.eu-west-1.amazonaws.com"),
        ]);
        assert_eq!(moved.unwrap().host, "email-smtp.eu-west-1.amazonaws.com");
        let implicit = settings(&[("provider", "gmail"), ("port", "465")]).unwrap();
        assert_eq!((implicit.port, implicit.tls), (465, TlsMode::Implicit));
        let plain = settings(&[
            ("provider", "mailgun"),
            ("port", "2525"),
            ("starttls", "false"),
        ]);
        assert_eq!(plain.unwrap().tls, TlsMode::None);
        let zoho_587 = settings(&[("provider", "zoho"), ("port", "587")]).unwrap();
        assert_eq!(zoho_587.tls, TlsMode::StartTls);
    }

    #[test]
    fn without_a_provider_the_host_is_needed_and_the_port_defaults() {
        let own = settings(&[("host", "mail.shop.example")]).unwrap();
        assert_eq!((own.port, own.tls), (DEFAULT_PORT, TlsMode::StartTls));
        assert!(settings(&[]).unwrap_err().0.contains("host"));
        assert!(settings(&[("provider", "aol")])
            .unwrap_err()
            .0
            .contains("provider"));
        assert!(settings(&[("host", "h"), ("port", "0")])
            .unwrap_err()
            .0
            .contains("port"));
    }
}
