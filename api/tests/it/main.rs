//! Integration tests against real PostgreSQL and a real Kafka protocol (librdkafka's mock
//! cluster in-process; `e2e` and `faults` start real Apache Kafka nodes). One binary, many modules.

mod actions;
mod api_errors;
mod api_lifecycle;
mod app_webhooks;
mod asyncapi;
mod auth;
mod cluster_reaper;
mod concurrency;
mod connecting;
mod conversation_actions;
mod e2e;
mod email;
mod fake_accounts;
mod faults;
mod helpers;
mod mixed_versions;
mod oauth;
mod observability;
mod outbound;
mod outbox;
mod platform_credentials;
mod proactive;
mod processes;
mod projections;
mod replicas;
mod secrets;
mod send;
mod shredding;
mod spans;
mod telemetry;
mod token_refresh;
mod trace_hops;
mod webchat;
mod webhook_channels;
mod webhooks;
