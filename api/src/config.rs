//! All configuration in one struct. Sources, later ones winning: defaults, an optional TOML
//! file (`--config` or `SWITCHBOARD_CONFIG`), then environment variables. Every field `x` is
//! read from `SWITCHBOARD_X`; a few well-known names (`DATABASE_URL`, `KAFKA_BROKERS`,
//! `OTEL_EXPORTER_OTLP_ENDPOINT`) are read as they are too.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use switchboard_adapters::egress::{EgressPolicy, MailTls, MailTlsError};
use switchboard_adapters::kafka::settings::{parse_properties, MalformedProperty};
use switchboard_adapters::kafka::{KafkaSettings, Topics};
use switchboard_domain::SecretString;

/// Environment names read as they are, beside `SWITCHBOARD_<FIELD>`.
const WELL_KNOWN_ENV: &[(&str, &str)] = &[
    ("database_url", "DATABASE_URL"),
    ("kafka_brokers", "KAFKA_BROKERS"),
    ("otel_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT"),
];

/// The service's settings. See README.md, "Configuration", for each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    pub http_addr: SocketAddr,
    /// Address the `/healthz`, `/readyz` and `/metrics` listener of `adapters`, `analytics` and
    /// `replay` binds (`serve` answers them on `http_addr`); unset, each process has its own
    /// loopback port (see `probes::Process`).
    pub metrics_addr: Option<SocketAddr>,
    /// The pause between two samples of the gauges read from the broker and the database
    /// (consumer lag, dead-letter depth, outbox backlog).
    pub metrics_sample_interval_ms: u64,
    /// PostgreSQL connection URL.
    pub database_url: String,
    /// Pool size.
    pub database_max_connections: u32,
    /// Kafka bootstrap servers.
    pub kafka_brokers: String,
    /// Prefix for every topic name (empty in production; unique per test run).
    pub topic_prefix: String,
    /// Partitions of each topic created by `topics ensure`.
    pub topic_partitions: i32,
    /// Replication factor of each topic created by `topics ensure`.
    pub topic_replication_factor: i32,
    /// How long a produced record may wait for the broker's acknowledgement.
    pub kafka_delivery_timeout_ms: u64,
    /// Extra librdkafka properties for every client, `key=value[;…]` (TLS, SASL, compression).
    pub kafka_properties: Option<SecretString>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Keyring for secrets at rest: `id:base64(32 bytes)[,…]`; the first key seals.
    pub secret_keys: Option<SecretString>,
    /// Platform app credentials, `channel.field=value[;…]` (e.g. `messenger.app_secret=…`).
    pub platform_credentials: Option<SecretString>,
    /// The URL platforms and browsers reach this service at (`https://switchboard.example.com`),
    /// for the webhook and OAuth callback URLs registered with platforms.
    pub public_base_url: Option<String>,
    /// Where the browser is sent after an OAuth connect callback, with
    /// `?integration=…&outcome=<pending outcome id>` (or `&error=<problem>`) appended, for the
    /// frontend to complete with its browser binding.
    pub oauth_return_url: Option<String>,
    /// The key signing OAuth states (any length; derived from `secret_keys` when unset).
    pub oauth_state_key: Option<SecretString>,
    /// How long a webhook waits for the broker to acknowledge its events before answering 503.
    pub webhook_ack_timeout_ms: u64,
    /// How long an integration looked up for webhooks (by id, or as the owner of a platform
    /// account) is remembered.
    pub webhook_cache_ms: u64,
    /// How long `serve` drains after SIGTERM (requests, then background tasks, then the
    /// producer's queue) before it exits anyway.
    pub shutdown_grace_ms: u64,
    /// Whether `serve` also runs the projections (inbox, settings, analytics).
    pub projections: bool,
    /// Whether `serve` also runs the outbox relay.
    pub outbox_relay: bool,
    /// Whether `serve` also runs the outbound channel adapters (else `switchboard adapters`).
    pub outbound_adapters: bool,
    /// Sustained sends per second allowed to one integration.
    pub outbound_rate_per_second: u32,
    /// Sends one integration may make at once after a quiet period.
    pub outbound_rate_burst: u32,
    /// Commands consumed but unfinished before the adapters pause consuming.
    pub outbound_max_in_flight: usize,
    /// Whether `serve` also runs the token refresher (else `switchboard refresh-tokens`).
    pub token_refresher: bool,
    /// Access tokens expiring within this are renewed ahead of expiry.
    pub token_refresh_margin_ms: u64,
    /// The pause between two rounds of the token refresher.
    pub token_refresh_interval_ms: u64,
    /// Whether `serve` and `switchboard adapters` read the mailboxes of connected e-mail
    /// integrations (one process per mailbox at a time, whichever takes its lock).
    pub mailbox_readers: bool,
    /// The pause between two looks at a mailbox whose server offers no IDLE.
    pub mailbox_poll_interval_ms: u64,
    /// The largest mail (its IMAP `RFC822.SIZE`) whose body a mailbox reader fetches; larger
    /// ones are recorded from their header and structure, without the body.
    pub mailbox_max_mail_bytes: u32,
    /// The operator credential: a bearer token for platform-wide routes (API keys, `/metrics`);
    /// none closes them.
    pub operator_token: Option<SecretString>,
    /// HMAC secret verifying the identity provider's JWTs (HS256/384/512).
    pub jwt_hmac_secret: Option<SecretString>,
    /// JWKS verifying the identity provider's JWTs: a file path or an `https://` URL.
    pub jwt_jwks: Option<String>,
    /// Required `iss` of JWTs.
    pub jwt_issuer: Option<String>,
    /// Required `aud` of JWTs (unchecked when unset).
    pub jwt_audience: Option<String>,
    /// The JWT claim naming the caller's workspace.
    pub jwt_workspace_claim: String,
    /// The JWT claim holding scopes (space-separated string or array).
    pub jwt_scopes_claim: String,
    /// Sustained requests per second allowed to one credential.
    pub rate_limit_per_second: u32,
    /// Requests one credential may make at once after a quiet period.
    pub rate_limit_burst: u32,
    /// Failed webhook verifications one source address may cause per minute before it is
    /// refused for a while.
    pub webhook_failures_per_minute: u32,
    /// Requests with a bad credential (401) one client address may make per minute before
    /// it is refused (429) for a while.
    pub credential_failures_per_minute: u32,
    /// Networks of the reverse proxies whose `X-Forwarded-For` names the client, for the
    /// per-address limits (`10.0.0.0/8,fd00::/8`); none by default: the peer is the client.
    pub trusted_proxies: Option<String>,
    /// Open connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (slow clients are disconnected).
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body (408).
    pub body_read_timeout_ms: u64,
    /// How long a handler may run before the request is answered 503.
    pub request_timeout_ms: u64,
    /// Requests handled at once; more are shed with 503 and `Retry-After`.
    pub max_concurrent_requests: usize,
    /// Whether `/webhooks/{channel}` (a platform app's shared callback, routed by account) is
    /// served. On by default: an integration claims an account only once connecting proved it
    /// with the platform (the account the platform answers for the integration's credentials).
    pub shared_webhook_routes: bool,
    /// Destinations tenants may reach despite the egress policy: CIDRs and `host:port`
    /// entries, comma-separated (e.g. `10.0.0.0/8,mail.internal:25`).
    pub egress_allow: Option<String>,
    /// A PEM bundle of CA certificates trusted for mail servers (IMAP and SMTP) besides the
    /// public roots, for mail servers with certificates of a private CA.
    pub mail_ca_file: Option<String>,
    /// OTLP/HTTP endpoint for traces; none disables export.
    pub otel_endpoint: Option<String>,
    /// `json` (default) or `text` logs.
    pub log_format: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_addr: None,
            metrics_sample_interval_ms: 15_000,
            database_url: "postgres://postgres@127.0.0.1:5432/switchboard".into(),
            database_max_connections: 16,
            kafka_brokers: "127.0.0.1:9092".into(),
            topic_prefix: String::new(),
            topic_partitions: 6,
            topic_replication_factor: 1,
            kafka_delivery_timeout_ms: 5_000,
            kafka_properties: None,
            max_body_bytes: 1024 * 1024,
            secret_keys: None,
            platform_credentials: None,
            public_base_url: None,
            oauth_return_url: None,
            oauth_state_key: None,
            webhook_ack_timeout_ms: 5_000,
            webhook_cache_ms: 2_000,
            shutdown_grace_ms: 20_000,
            projections: true,
            outbox_relay: true,
            outbound_adapters: false,
            outbound_rate_per_second: 20,
            outbound_rate_burst: 40,
            outbound_max_in_flight: 10_000,
            token_refresher: true,
            token_refresh_margin_ms: 600_000,
            token_refresh_interval_ms: 60_000,
            mailbox_readers: true,
            mailbox_poll_interval_ms: 60_000,
            mailbox_max_mail_bytes: 25 * 1024 * 1024,
            operator_token: None,
            jwt_hmac_secret: None,
            jwt_jwks: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_workspace_claim: "workspace".into(),
            jwt_scopes_claim: "scope".into(),
            rate_limit_per_second: 50,
            rate_limit_burst: 100,
            webhook_failures_per_minute: 30,
            credential_failures_per_minute: 30,
            trusted_proxies: None,
            max_connections: 10_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            max_concurrent_requests: 1024,
            shared_webhook_routes: true,
            egress_allow: None,
            mail_ca_file: None,
            otel_endpoint: None,
            log_format: "json".into(),
        }
    }
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {0}: {1}")]
    Read(String, std::io::Error),
    /// The file or an environment variable holds a bad value.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] toml::de::Error),
    /// `kafka_properties` holds an entry that is not `key=value`.
    #[error("invalid configuration: {0}")]
    KafkaProperties(#[from] MalformedProperty),
    /// `egress_allow` is not a valid allow-list.
    #[error("invalid configuration: egress_allow: {0}")]
    Egress(String),
    /// `mail_ca_file` cannot be read or holds no certificates.
    #[error("invalid configuration: mail_ca_file: {0}")]
    MailCa(#[from] MailTlsError),
}

impl Config {
    /// Loads defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::Read(path.display().to_string(), e))?;
                text.parse::<toml::Table>()?
            }
            None => toml::Table::new(),
        };
        for field in Self::FIELDS {
            let prefixed = format!("SWITCHBOARD_{}", field.to_uppercase());
            let well_known = WELL_KNOWN_ENV
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, env)| *env);
            let value = std::env::var(&prefixed)
                .ok()
                .or_else(|| well_known.and_then(|env| std::env::var(env).ok()));
            if let Some(value) = value {
                table.insert((*field).to_owned(), env_value(&value));
            }
        }
        let config = Self::deserialize(toml::Value::Table(table))?;
        if let Some(properties) = &config.kafka_properties {
            parse_properties(properties.expose())?;
        }
        Ok(config)
    }

    const FIELDS: &'static [&'static str] = &[
        "http_addr",
        "metrics_addr",
        "metrics_sample_interval_ms",
        "database_url",
        "database_max_connections",
        "kafka_brokers",
        "topic_prefix",
        "topic_partitions",
        "topic_replication_factor",
        "kafka_delivery_timeout_ms",
        "kafka_properties",
        "max_body_bytes",
        "secret_keys",
        "platform_credentials",
        "public_base_url",
        "oauth_return_url",
        "oauth_state_key",
        "webhook_ack_timeout_ms",
        "webhook_cache_ms",
        "shutdown_grace_ms",
        "projections",
        "outbox_relay",
        "outbound_adapters",
        "outbound_rate_per_second",
        "outbound_rate_burst",
        "outbound_max_in_flight",
        "token_refresher",
        "token_refresh_margin_ms",
        "token_refresh_interval_ms",
        "mailbox_readers",
        "mailbox_poll_interval_ms",
        "mailbox_max_mail_bytes",
        "operator_token",
        "jwt_hmac_secret",
        "jwt_jwks",
        "jwt_issuer",
        "jwt_audience",
        "jwt_workspace_claim",
        "jwt_scopes_claim",
        "rate_limit_per_second",
        "rate_limit_burst",
        "webhook_failures_per_minute",
        "credential_failures_per_minute",
        "trusted_proxies",
        "max_connections",
        "header_read_timeout_ms",
        "body_read_timeout_ms",
        "request_timeout_ms",
        "max_concurrent_requests",
        "shared_webhook_routes",
        "egress_allow",
        "mail_ca_file",
        "otel_endpoint",
        "log_format",
    ];

    /// Broker settings for every Kafka client.
    pub fn kafka(&self) -> KafkaSettings {
        let mut settings = KafkaSettings::new(&self.kafka_brokers);
        settings.delivery_timeout = Duration::from_millis(self.kafka_delivery_timeout_ms);
        if let Some(properties) = &self.kafka_properties {
            // Checked by `load`; a struct built in code with a malformed entry gets none.
            settings.extra = parse_properties(properties.expose()).unwrap_or_default();
        }
        settings
    }

    /// The egress policy for tenant destinations: `egress_allow`'s allow-list, and mail
    /// servers verified against the public roots plus `mail_ca_file`'s CAs.
    pub fn egress_policy(&self) -> Result<EgressPolicy, ConfigError> {
        let policy = EgressPolicy::from_config(self.egress_allow.as_deref())
            .map_err(|e| ConfigError::Egress(e.to_string()))?;
        Ok(match &self.mail_ca_file {
            Some(path) => policy.with_mail_tls(MailTls::with_ca_file(path)?),
            None => policy,
        })
    }

    /// Topic names.
    pub fn topics(&self) -> Topics {
        Topics::with_prefix(&self.topic_prefix)
    }
}

/// An environment value as the TOML value it most likely means.
fn env_value(text: &str) -> toml::Value {
    if let Ok(number) = text.parse::<i64>() {
        toml::Value::Integer(number)
    } else if let Ok(flag) = text.parse::<bool>() {
        toml::Value::Boolean(flag)
    } else {
        toml::Value::String(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_listed_for_the_environment() {
        let config = Config::deserialize(toml::Value::Table(toml::Table::new())).unwrap();
        assert_eq!(config.max_body_bytes, 1024 * 1024);
        let debug = format!("{config:?}");
        for field in Config::FIELDS {
            assert!(
                debug.contains(&format!("{field}: ")),
                "{field} is not a Config field"
            );
        }
    }

    #[test]
    fn file_values_are_typed_and_unknown_keys_refused() {
        let dir = std::env::temp_dir().join(format!("sb-config-{}", std::process::id()));
        std::fs::write(&dir, "max_body_bytes = 2048\nsecret_keys = \"k:abc\"\n").unwrap();
        let config = Config::load(Some(&dir)).unwrap();
        assert_eq!(config.max_body_bytes, 2048);
        assert!(!format!("{config:?}").contains("k:abc"));
        std::fs::write(&dir, "max_body_byte = 1\n").unwrap();
        assert!(Config::load(Some(&dir)).is_err());
        std::fs::write(&dir, "kafka_properties = \"sasl.password\"\n").unwrap();
        assert!(matches!(
            Config::load(Some(&dir)),
            Err(ConfigError::KafkaProperties(MalformedProperty(0)))
        ));
        std::fs::write(&dir, "kafka_properties = \"sasl.password=hunter2\"\n").unwrap();
        let config = Config::load(Some(&dir)).unwrap();
        assert_eq!(
            config.kafka().client_config().get("sasl.password"),
            Some("hunter2")
        );
        assert!(!format!("{config:?}").contains("hunter2"));
        std::fs::remove_file(dir).unwrap();
    }
}
