//! `/v1/workspaces/{ws}/inboxes` and `/conversations`: the inbox read model over HTTP. Reads
//! only the inbox projection's tables; every query is scoped to the path's workspace, so one
//! workspace never sees another's rows. Lists page by keyset (time, id), newest first.

use crate::auth::{Authorized, Read};
use crate::error::Problem;
use crate::extract::{Path, Query};
use crate::inbox_views::{
    page_size, ConversationPage, ConversationQuery, ConversationView, Cursor, InboxList, InboxView,
    MessagePage, MessageView, PageQuery,
};
use crate::routes::conversation_lookup::conversation_row;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use sqlx::{Postgres, QueryBuilder};
use switchboard_domain::WorkspaceId;
use uuid::Uuid;

/// The inbox routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/workspaces/{ws}/inboxes", get(inboxes))
        .route("/v1/workspaces/{ws}/conversations", get(conversations))
        .route(
            "/v1/workspaces/{ws}/conversations/{id}/messages",
            get(messages),
        )
}

/// Lists a workspace's inboxes with their conversation and unread counts.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/inboxes", tag = "inbox",
    params(("ws" = String, Path, description = "Workspace id")),
    responses((status = 200, body = InboxList), (status = 503, body = Problem)))]
pub async fn inboxes(
    _auth: Authorized<Read>,
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
) -> Result<Json<InboxList>, Problem> {
    let items = sqlx::query_as::<_, InboxView>(
        "SELECT i.integration_id AS id, i.channel, i.name, i.status, i.created_at,
                COUNT(c.id) AS conversation_count, COALESCE(SUM(c.unread_count), 0)::bigint AS unread_count
         FROM inbox.inboxes i LEFT JOIN inbox.conversations c ON c.integration_id = i.integration_id
         WHERE i.workspace_id = $1 AND i.status <> 'deleted'
         GROUP BY i.integration_id ORDER BY i.created_at, i.integration_id",
    )
    .bind(ws.as_str())
    .fetch_all(&state.pool)
    .await
    .map_err(Problem::from)?;
    Ok(Json(InboxList { items }))
}

/// Lists conversations, most recent first, optionally of one inbox or status.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/conversations", tag = "inbox",
    params(("ws" = String, Path, description = "Workspace id"), ConversationQuery),
    responses((status = 200, body = ConversationPage), (status = 400, body = Problem)))]
pub async fn conversations(
    _auth: Authorized<Read>,
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
    Query(query): Query<ConversationQuery>,
) -> Result<Json<ConversationPage>, Problem> {
    let limit =
        page_size(query.limit).ok_or_else(|| Problem::bad_request("limit must be 1-200"))?;
    let cursor = decode(query.cursor.as_deref())?;
    // Only the filters given are written into the statement, so each shape gets its own plan
    // with the cursor as an index condition (a catch-all `$n IS NULL OR …` made the generic
    // plan filter every row before the cursor).
    let mut sql = QueryBuilder::<Postgres>::new(
        "SELECT id, integration_id AS inbox_id, channel, contact_id, contact_name, status,
                last_message_preview, last_message_at, unread_count, last_read_at,
                message_count, first_seen_at, last_seen_at
         FROM inbox.conversations WHERE workspace_id = ",
    );
    sql.push_bind(ws.as_str());
    if let Some(inbox) = query.inbox {
        sql.push(" AND integration_id = ").push_bind(inbox);
    }
    if let Some(status) = query.status {
        if status != "open" && status != "resolved" {
            return Err(Problem::bad_request("status must be 'open' or 'resolved'"));
        }
        sql.push(" AND status = ").push_bind(status);
    }
    if let Some(cursor) = cursor {
        push_cursor(&mut sql, "last_message_at", cursor);
    }
    sql.push(" ORDER BY last_message_at DESC, id DESC LIMIT ")
        .push_bind(limit + 1);
    let mut items = sql
        .build_query_as::<ConversationView>()
        .fetch_all(&state.pool)
        .await
        .map_err(Problem::from)?;
    let next_cursor = next(&mut items, limit, |c| Cursor {
        at: c.last_message_at,
        id: c.id,
    });
    Ok(Json(ConversationPage { items, next_cursor }))
}

/// Lists a conversation's messages, newest first.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/conversations/{id}/messages", tag = "inbox",
    params(("ws" = String, Path, description = "Workspace id"), ("id" = Uuid, Path, description = "Conversation id"), PageQuery),
    responses((status = 200, body = MessagePage), (status = 404, body = Problem)))]
pub async fn messages(
    _auth: Authorized<Read>,
    State(state): State<AppState>,
    Path((ws, id)): Path<(WorkspaceId, Uuid)>,
    Query(query): Query<PageQuery>,
) -> Result<Json<MessagePage>, Problem> {
    let limit =
        page_size(query.limit).ok_or_else(|| Problem::bad_request("limit must be 1-200"))?;
    let cursor = decode(query.cursor.as_deref())?;
    let _: (Uuid,) = conversation_row(&state.pool, &ws, id, "id").await?;
    let mut sql = QueryBuilder::<Postgres>::new(
        "SELECT id, direction, platform_message_id, content, reply_to, is_echo, sent_at, status
         FROM inbox.messages WHERE conversation_id = ",
    );
    sql.push_bind(id)
        .push(" AND workspace_id = ")
        .push_bind(ws.as_str());
    if let Some(cursor) = cursor {
        push_cursor(&mut sql, "sent_at", cursor);
    }
    sql.push(" ORDER BY sent_at DESC, id DESC LIMIT ")
        .push_bind(limit + 1);
    let mut items = sql
        .build_query_as::<MessageView>()
        .fetch_all(&state.pool)
        .await
        .map_err(Problem::from)?;
    let next_cursor = next(&mut items, limit, |m| Cursor {
        at: m.sent_at,
        id: m.id,
    });
    Ok(Json(MessagePage { items, next_cursor }))
}

/// Adds the keyset condition: rows strictly after `cursor` in `(time_column DESC, id DESC)`.
fn push_cursor(sql: &mut QueryBuilder<'_, Postgres>, time_column: &str, cursor: Cursor) {
    sql.push(format_args!(" AND ({time_column}, id) < ("))
        .push_bind(cursor.at)
        .push(", ")
        .push_bind(cursor.id)
        .push(")");
}

fn decode(cursor: Option<&str>) -> Result<Option<Cursor>, Problem> {
    cursor
        .map(|text| {
            Cursor::decode(text)
                .ok_or_else(|| Problem::bad_request("cursor is not one this API issued"))
        })
        .transpose()
}

/// Trims the probe row and returns the cursor after the last kept item, if more follow.
fn next<T>(items: &mut Vec<T>, limit: i64, cursor: impl Fn(&T) -> Cursor) -> Option<String> {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    more.then(|| items.last().map(|item| cursor(item).encode()))
        .flatten()
}
