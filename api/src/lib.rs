//! Switchboard's HTTP API, configuration and telemetry, and the `switchboard` binary's commands.
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod cli;
pub mod client_address;
pub mod config;
pub mod connecting;
pub mod error;
pub mod extract;
pub mod gauges;
pub mod inbox_views;
pub mod key_commands;
pub mod mailbox_readers;
pub mod oauth_outcomes;
pub mod oauth_state;
pub mod outbound;
pub mod platform_bootstrap;
pub mod platform_checks;
pub mod probes;
pub mod projection_commands;
pub mod routes;
pub mod secret_commands;
pub mod send_queue;
pub mod server;
pub mod state;
pub mod stop;
pub mod telemetry;
pub mod template_cache;
pub mod token_refresh;
pub mod views;
pub mod webchat;
