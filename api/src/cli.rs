//! The `switchboard` command line: `serve`, `migrate`, `topics ensure`, `tail`, `analytics`, `replay`,
//! `adapters`, `dlq list|redrive`, `keygen`, `keys create|list|revoke`, `refresh-tokens`,
//! `secrets rewrap`.

use crate::app::App;
use crate::config::Config;
use anyhow::Context;
use clap::{Parser, Subcommand};
use rdkafka::consumer::{Consumer, StreamConsumer};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_adapters::kafka::topics::TopicOutcome;
use switchboard_adapters::kafka::{consume, ensure_topics, ConsumedRecord};
use switchboard_adapters::store::{connect_lazy, migrate, XChaChaSealer};

/// Switchboard: event-sourced messaging backend for chatbot integration channels.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version)]
pub struct Cli {
    /// TOML configuration file (also `SWITCHBOARD_CONFIG`).
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the HTTP API and the outbox relay.
    Serve,
    /// Applies database migrations and exits.
    Migrate,
    /// Topic administration.
    Topics {
        /// What to do with topics.
        #[command(subcommand)]
        action: TopicsAction,
    },
    /// Prints records of a topic (key, headers, body) as they arrive.
    Tail {
        /// Topic name, e.g. `integrations.lifecycle`.
        topic: String,
        /// Start at the oldest record instead of the newest.
        #[arg(long)]
        from_beginning: bool,
        /// Stop after this many records.
        #[arg(long)]
        max: Option<u64>,
    },
    /// Runs the example analytics consumer (hourly counts and response times per channel).
    Analytics,
    /// Rebuilds a projection (inbox, settings, analytics) from its topics and swaps it in.
    Replay {
        /// The projection's name.
        projection: String,
    },
    /// Runs the outbound channel adapters: sends `messages.outbound` commands to platforms.
    Adapters,
    /// The outbound dead-letter topic (`messages.outbound.dlq`, or with `--actions`
    /// `actions.requested.dlq`).
    Dlq {
        /// The actions' dead letters instead of the sends'.
        #[arg(long, global = true)]
        actions: bool,
        /// What to do with dead letters.
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Workspace API keys.
    Keys {
        /// What to do with keys.
        #[command(subcommand)]
        action: crate::key_commands::KeysAction,
    },
    /// Secrets at rest: re-wrapping the data keys after a secret key rotation.
    Secrets {
        /// What to do with the data keys.
        #[command(subcommand)]
        action: crate::secret_commands::SecretsAction,
    },
    /// Renews OAuth access tokens that expire within `token_refresh_margin_ms`, single-flight
    /// across processes; every `token_refresh_interval_ms` until stopped.
    RefreshTokens {
        /// One round, printed as a JSON line of counts, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Prints a new secret key entry for `SWITCHBOARD_SECRET_KEYS`.
    Keygen {
        /// Key id to embed in sealed secrets.
        #[arg(long, default_value = "k1")]
        id: String,
    },
}

/// Dead-letter actions.
#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// Prints every dead letter as a JSON line (position, error, origin, command).
    List,
    /// Re-produces the dead letters not redriven before to `messages.outbound`.
    Redrive,
}

/// Topic actions.
#[derive(Debug, Subcommand)]
pub enum TopicsAction {
    /// Creates missing topics (idempotent).
    Ensure,
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        let config = Config::load(self.config.as_deref())?;
        match self.command {
            Command::Serve => {
                let telemetry = crate::telemetry::init(&config)?;
                let listener = tokio::net::TcpListener::bind(config.http_addr)
                    .await
                    .with_context(|| format!("binding {}", config.http_addr))?;
                let served = App::build(&config)
                    .await?
                    .serve(listener, shutdown_signal())
                    .await;
                // `serve` has drained within its grace period. What is left (a task still
                // stopping, Kafka clients closing against a broker that is gone, blocking
                // probes) must not hold the exit: flush the spans briefly, then leave.
                let flushed = std::thread::spawn(move || drop(telemetry));
                let deadline = std::time::Instant::now() + Duration::from_secs(2);
                while !flushed.is_finished() && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if let Err(error) = served {
                    eprintln!("switchboard: {error:#}");
                    std::process::exit(1);
                }
                std::process::exit(0);
            }
            Command::Migrate => {
                let pool = connect_lazy(&config.database_url, 2)?;
                migrate(&pool).await?;
                println!("migrations applied");
                Ok(())
            }
            Command::Topics {
                action: TopicsAction::Ensure,
            } => {
                let specs = config.topics().specs(config.topic_partitions);
                for outcome in
                    ensure_topics(&config.kafka(), &specs, config.topic_replication_factor).await?
                {
                    match outcome {
                        TopicOutcome::Created(name) => println!("created {name}"),
                        TopicOutcome::Existed(name) => println!("exists  {name}"),
                    }
                }
                Ok(())
            }
            Command::Tail {
                topic,
                from_beginning,
                max,
            } => tail(&config, &topic, from_beginning, max).await,
            Command::Analytics => {
                let _telemetry = crate::telemetry::init(&config)?;
                crate::projection_commands::project(&config, "analytics", shutdown_signal()).await
            }
            Command::Replay { projection } => {
                crate::projection_commands::run(&config, &projection).await
            }
            Command::Adapters => {
                let _telemetry = crate::telemetry::init(&config)?;
                crate::outbound::run(&config, shutdown_signal()).await
            }
            Command::Dlq {
                actions,
                action: DlqAction::List,
            } => crate::outbound::list(&config, actions).await,
            Command::Dlq {
                actions,
                action: DlqAction::Redrive,
            } => crate::outbound::redrive(&config, actions).await,
            Command::Keys { action } => crate::key_commands::run(&config, action).await,
            Command::RefreshTokens { once } => {
                let _telemetry = crate::telemetry::init(&config)?;
                crate::token_refresh::run(&config, once, shutdown_signal()).await
            }
            Command::Secrets { action } => crate::secret_commands::run(&config, action).await,
            Command::Keygen { id } => {
                println!("{}", XChaChaSealer::generate_entry(&id));
                Ok(())
            }
        }
    }
}

async fn tail(
    config: &Config,
    topic: &str,
    from_beginning: bool,
    max: Option<u64>,
) -> anyhow::Result<()> {
    let consumer: StreamConsumer = config
        .kafka()
        .client_config()
        .set(
            "group.id",
            format!("switchboard-tail-{}", uuid::Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .set(
            "auto.offset.reset",
            if from_beginning { "earliest" } else { "latest" },
        )
        .create()?;
    consumer.subscribe(&[topic])?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let mut printed = 0u64;
    let shutdown = async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = stop_rx.wait_for(|s| *s) => {}
        }
    };
    consume(&consumer, shutdown, |record| {
        if max.is_some_and(|m| printed >= m) {
            return std::future::ready(Ok(()));
        }
        print_record(&record);
        printed += 1;
        if max.is_some_and(|m| printed >= m) {
            let _ = stop_tx.send(true);
        }
        std::future::ready(Ok(()))
    })
    .await?;
    Ok(())
}

fn print_record(record: &ConsumedRecord) {
    let headers: serde_json::Map<String, serde_json::Value> = record
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
        .collect();
    let body = serde_json::from_slice::<serde_json::Value>(&record.payload).unwrap_or_else(|_| {
        serde_json::Value::from(String::from_utf8_lossy(&record.payload).into_owned())
    });
    let line = serde_json::json!({
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key,
        "headers": headers,
        "body": body,
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
