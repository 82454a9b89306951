//! Finding one conversation of a workspace for a route: the same 404 whether it does not exist
//! or belongs to another workspace, so ids of other workspaces cannot be probed.

use crate::error::Problem;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool};
use switchboard_domain::WorkspaceId;
use uuid::Uuid;

/// `columns` of conversation `id` in workspace `ws`, read as `T`, or 404.
pub async fn conversation_row<T>(
    pool: &PgPool,
    ws: &WorkspaceId,
    id: Uuid,
    columns: &str,
) -> Result<T, Problem>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    sqlx::query_as::<_, T>(&format!(
        "SELECT {columns} FROM inbox.conversations WHERE id = $1 AND workspace_id = $2"
    ))
    .bind(id)
    .bind(ws.as_str())
    .fetch_optional(pool)
    .await
    .map_err(Problem::from)?
    .ok_or_else(|| Problem::not_found("no such conversation"))
}
