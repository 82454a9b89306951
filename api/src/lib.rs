//! Switchboard's HTTP API, configuration and telemetry, and the `switchboard` binary's commands.
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connecting;
pub mod error;
pub mod extract;
pub mod inbox_views;
pub mod key_commands;
pub mod outbound;
pub mod projection_commands;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod views;
