//! The message templates of each integration's platform account, cached in PostgreSQL
//! (`message_templates`, migration 0012) as the platform last listed them: refreshed on
//! demand (`POST …/templates/refresh`), listed from the cache (`GET …/templates`), and checked
//! before a template is queued, so a send naming a template the platform does not know, or
//! has not approved, is refused at once (422) instead of failing later at the platform.
//!
//! A send naming a template the cache lacks asks the platform again first, at most once per
//! [`MISS_REFRESH_INTERVAL`] per integration, so a template approved since the last listing
//! sends without a manual refresh, and unknown names cannot make every send list the account.
//! A refresh replaces the integration's rows in one transaction, under a transaction-scoped
//! advisory lock per integration, so concurrent refreshes apply one after the other.

use crate::connecting::account_problem;
use crate::connecting::target::account_target;
use crate::error::Problem;
use crate::send_queue::rule;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use switchboard_adapters::channels::whatsapp::templates::list_templates;
use switchboard_domain::integration::Integration;
use switchboard_domain::message::TemplateMessage;
use switchboard_domain::IntegrationId;
use utoipa::ToSchema;

/// How soon after a listing a send naming an unknown template may list the account again.
pub const MISS_REFRESH_INTERVAL: Duration = Duration::seconds(60);
/// The status of a template that may be sent.
pub const APPROVED: &str = "APPROVED";

/// One template as cached.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct TemplateView {
    /// Its name.
    pub name: String,
    /// The language (and locale) of this translation.
    pub language: String,
    /// The platform's status: only `APPROVED` templates send.
    pub status: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: Option<String>,
    /// What it says, as the platform describes it (header, body, footer, buttons).
    #[schema(value_type = Vec<Object>)]
    pub components: serde_json::Value,
}

/// An integration's cached templates, and when they were listed (never: `None`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TemplateList {
    /// The templates, by name then language.
    pub items: Vec<TemplateView>,
    /// When the platform was last asked.
    pub refreshed_at: Option<DateTime<Utc>>,
}

/// Lists the templates of `integration` from its platform and replaces the cached ones.
pub async fn refresh(
    state: &AppState,
    integration: &Integration,
    id: IntegrationId,
) -> Result<TemplateList, Problem> {
    let target = account_target(state, integration, id, None).await?;
    let templates = list_templates(&state.oauth_http, &target)
        .await
        .map_err(account_problem)?;
    let workspace = integration
        .workspace_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut tx = state.pool.begin().await.map_err(Problem::from)?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('message_templates:' || $1::text, 0))",
    )
    .bind(id.as_uuid())
    .execute(&mut *tx)
    .await
    .map_err(Problem::from)?;
    sqlx::query("DELETE FROM message_templates WHERE integration_id = $1")
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(Problem::from)?;
    for template in &templates {
        sqlx::query(
            "INSERT INTO message_templates (integration_id, workspace_id, name, language, status, category, components)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (integration_id, name, language) DO UPDATE
             SET status = EXCLUDED.status, category = EXCLUDED.category, components = EXCLUDED.components",
        )
        .bind(id.as_uuid())
        .bind(&workspace)
        .bind(&template.name)
        .bind(&template.language)
        .bind(&template.status)
        .bind(&template.category)
        .bind(&template.components)
        .execute(&mut *tx)
        .await
        .map_err(Problem::from)?;
    }
    sqlx::query(
        "INSERT INTO message_template_refreshes (integration_id, workspace_id, refreshed_at, template_count)
         VALUES ($1, $2, now(), $3)
         ON CONFLICT (integration_id) DO UPDATE
         SET refreshed_at = EXCLUDED.refreshed_at, template_count = EXCLUDED.template_count",
    )
    .bind(id.as_uuid())
    .bind(&workspace)
    .bind(i32::try_from(templates.len()).unwrap_or(i32::MAX))
    .execute(&mut *tx)
    .await
    .map_err(Problem::from)?;
    tx.commit().await.map_err(Problem::from)?;
    list(state, id).await
}

/// The cached templates of integration `id`.
pub async fn list(state: &AppState, id: IntegrationId) -> Result<TemplateList, Problem> {
    let items: Vec<TemplateView> = sqlx::query_as(
        "SELECT name, language, status, category, components FROM message_templates
         WHERE integration_id = $1 ORDER BY name, language",
    )
    .bind(id.as_uuid())
    .fetch_all(&state.pool)
    .await
    .map_err(Problem::from)?;
    Ok(TemplateList {
        items,
        refreshed_at: refreshed_at(state, id).await?,
    })
}

/// Refuses `template` unless the platform lists it, approved, for integration `id`: 422
/// `template-unknown` or `template-not-approved`, naming it.
pub async fn require_approved(
    state: &AppState,
    integration: &Integration,
    id: IntegrationId,
    template: &TemplateMessage,
) -> Result<(), Problem> {
    let mut status = cached_status(state, id, template).await?;
    if status.is_none() {
        let last = refreshed_at(state, id).await?;
        if last.is_none_or(|at| Utc::now() - at >= MISS_REFRESH_INTERVAL) {
            refresh(state, integration, id).await?;
        }
        // Read again either way: a concurrent send's refresh may have committed between the
        // first read and `last` (its time is what skipped ours), and its rows are then there.
        status = cached_status(state, id, template).await?;
    }
    let named = format!(
        "template '{}' in language '{}'",
        template.name, template.language.code
    );
    match status.as_deref() {
        Some(APPROVED) => Ok(()),
        Some(other) => Err(rule(
            "template-not-approved",
            format!("{named} is {other} on the platform; only APPROVED templates can be sent"),
        )),
        None => Err(rule(
            "template-unknown",
            format!("the platform lists no {named} for this integration's business account"),
        )),
    }
}

async fn cached_status(
    state: &AppState,
    id: IntegrationId,
    template: &TemplateMessage,
) -> Result<Option<String>, Problem> {
    sqlx::query_scalar(
        "SELECT status FROM message_templates WHERE integration_id = $1 AND name = $2 AND language = $3",
    )
    .bind(id.as_uuid())
    .bind(&template.name)
    .bind(&template.language.code)
    .fetch_optional(&state.pool)
    .await
    .map_err(Problem::from)
}

async fn refreshed_at(
    state: &AppState,
    id: IntegrationId,
) -> Result<Option<DateTime<Utc>>, Problem> {
    sqlx::query_scalar(
        "SELECT refreshed_at FROM message_template_refreshes WHERE integration_id = $1",
    )
    .bind(id.as_uuid())
    .fetch_optional(&state.pool)
    .await
    .map_err(Problem::from)
}
