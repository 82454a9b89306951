//! `switchboard keys create|list|revoke`: API key administration straight on the database, for
//! operators bootstrapping a deployment (the same as the operator routes under `/v1/keys`).

use crate::auth::api_keys::ApiKeys;
use crate::auth::Scopes;
use crate::config::Config;
use anyhow::Context;
use chrono::{Duration, Utc};
use clap::Subcommand;
use switchboard_adapters::store::{connect_lazy, migrate};
use switchboard_domain::WorkspaceId;

/// Key actions.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Makes a key and prints it once, with its id, as JSON.
    Create {
        /// The workspace it acts in.
        #[arg(long)]
        workspace: String,
        /// Its scopes, comma-separated: read, write, admin.
        #[arg(long)]
        scope: String,
        /// A label for people.
        #[arg(long, default_value = "api key")]
        name: String,
        /// Days until it stops working (default never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Prints the keys (never their secrets) as JSON lines.
    List {
        /// Only this workspace's.
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Revokes a key by id.
    Revoke {
        /// The key's id.
        id: uuid::Uuid,
    },
}

/// Runs `action`.
pub async fn run(config: &Config, action: KeysAction) -> anyhow::Result<()> {
    let pool = connect_lazy(&config.database_url, 2)?;
    migrate(&pool).await.context("applying migrations")?;
    let keys = ApiKeys::new(pool);
    match action {
        KeysAction::Create {
            workspace,
            scope,
            name,
            expires_in_days,
        } => {
            let workspace: WorkspaceId = workspace.parse()?;
            let scopes = Scopes::parse_list(&scope).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(!scopes.is_empty(), "a key needs at least one scope");
            let expires_at = match expires_in_days {
                Some(days) => Some(
                    Utc::now()
                        .checked_add_signed(Duration::days(days.into()))
                        .context("--expires-in-days is too far in the future")?,
                ),
                None => None,
            };
            let created = keys.create(&workspace, &name, scopes, expires_at).await?;
            println!("{}", serde_json::to_string(&created)?);
        }
        KeysAction::List { workspace } => {
            let workspace = workspace.map(|w| w.parse::<WorkspaceId>()).transpose()?;
            for key in keys.list(workspace.as_ref()).await? {
                println!("{}", serde_json::to_string(&key)?);
            }
        }
        KeysAction::Revoke { id } => match keys.revoke(id).await? {
            Some(key) => println!("{}", serde_json::to_string(&key)?),
            None => anyhow::bail!("no key {id}"),
        },
    }
    Ok(())
}
