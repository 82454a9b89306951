//! `POST /v1/workspaces/{ws}/conversations/{id}/typing`: an agent is typing a reply.
//!
//! For a web chat conversation the visitor's open widgets (every tab, on any replica) show
//! "typing…" for `AGENT_TYPING_SHOWN` unless the agent's client calls again; nothing is
//! stored, so a visitor with no widget open sees nothing. Refused, in this order: no such
//! conversation in the workspace 404; a channel that cannot show typing 409
//! (`channel-cannot-type`); the database down 503.

use crate::auth::{Authorized, Write};
use crate::error::Problem;
use crate::extract::Path;
use crate::routes::conversation_lookup::conversation_row;
use crate::state::AppState;
use crate::webchat::limits::AGENT_TYPING_SHOWN;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use switchboard_adapters::channels::webchat::outbound::announce;
use switchboard_adapters::channels::webchat::wire::{Delivery, Push};
use switchboard_adapters::channels::webchat::KIND as WEBCHAT;
use switchboard_domain::{IntegrationId, WorkspaceId};
use uuid::Uuid;

/// The typing route.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/workspaces/{ws}/conversations/{id}/typing",
        post(typing),
    )
}

/// Shows the contact that an agent is typing.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/conversations/{id}/typing", tag = "inbox",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = Uuid, Path, description = "Conversation id")),
    responses((status = 204, description = "The contact's open widgets show it"),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 503, body = Problem)))]
pub async fn typing(
    _auth: Authorized<Write>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, Uuid)>,
) -> Result<StatusCode, Problem> {
    let (channel, integration_id, contact_id): (String, Uuid, String) =
        conversation_row(&state.pool, &ws, id, "channel, integration_id, contact_id").await?;
    if channel != WEBCHAT {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "channel-cannot-type",
            "Channel cannot show typing",
            format!("a {channel} conversation cannot show that an agent is typing"),
        ));
    }
    let delivery = Delivery {
        integration_id: IntegrationId::from(integration_id),
        visitor: contact_id,
        push: Push::Typing {
            expires_in_ms: AGENT_TYPING_SHOWN.as_millis() as u64,
        },
    };
    announce(&state.pool, &delivery).await.map_err(|error| {
        tracing::warn!(%error, "agent typing not announced");
        Problem::unavailable("the database is unavailable")
    })?;
    Ok(StatusCode::NO_CONTENT)
}
