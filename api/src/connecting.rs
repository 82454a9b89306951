//! Connecting, disconnecting and deleting an integration, the one path every way in shares
//! (the `connect` route with caller-supplied credentials, and the OAuth callback): the
//! platform is asked to confirm the account and to deliver its webhooks here before the
//! lifecycle event is recorded, and told when the integration goes away.

use crate::error::Problem;
use crate::state::AppState;
use crate::views::IntegrationView;
use switchboard_adapters::store::CommandMetadata;
use switchboard_domain::auth::AuthInput;
use switchboard_domain::integration::{AccountInfo, Integration, IntegrationCommand};
use switchboard_domain::{IntegrationId, WorkspaceId};

/// Connects integration `id` of `ws` with `auth` merged over its stored fields, and shows it.
pub async fn connect_integration(
    state: &AppState,
    metadata: CommandMetadata,
    ws: &WorkspaceId,
    id: IntegrationId,
    auth: Option<AuthInput>,
    account: Option<AccountInfo>,
) -> Result<IntegrationView, Problem> {
    owned(state, ws, id).await?;
    let command = IntegrationCommand::Connect { auth, account };
    state.integrations.execute(id, command, metadata).await?;
    // This process's webhooks see the change at once (others within `webhook_cache_ms`).
    state.webhook_targets.invalidate(id).await;
    owned(state, ws, id).await
}

/// The integration, if it exists and belongs to `ws`: another workspace's id is a plain 404.
pub async fn owned(
    state: &AppState,
    ws: &WorkspaceId,
    id: IntegrationId,
) -> Result<IntegrationView, Problem> {
    let integration: Option<Integration> = state.integrations.load(id).await?;
    match integration {
        Some(i) if i.workspace_id.as_ref() == Some(ws) => Ok(IntegrationView::from(&i)),
        _ => Err(Problem::not_found("integration not found")),
    }
}
