//! `/webchat/{integration_id}/…`: the web chat widget's script and style, its demo page, and
//! the visitor WebSocket (and, through `webchat_fallback`, the Server-Sent Events stream and
//! plain POSTs for widgets that cannot open one).
//!
//! # Guarantees
//! The upgrade is refused, in this order: no web chat integration of that id 404; not
//! connected 410 (`integration-inactive`); an `Origin` missing or not on the integration's
//! allow-list 403 (`origin-refused`); not a WebSocket upgrade 426 (`upgrade-required`).
//! The socket then carries the visitor's session (see [`super::webchat_socket`]). The
//! script, style and demo are the same for everyone and carry nothing secret; the demo page
//! is served from this service, so its origin must be on the allow-list to chat.

use crate::error::Problem;
use crate::extract::Path;
use crate::routes::webchat_socket::VisitorSocket;
use crate::state::AppState;
use crate::webchat::limits::MAX_FRAME_BYTES;
use crate::webchat::sites::Site;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use switchboard_domain::IntegrationId;

/// The widget's script, built from `api/webchat/src/widget.ts` (see `api/webchat/`).
pub const WIDGET_JS: &str = include_str!("../../webchat/dist/widget.js");
/// The widget's style.
pub const WIDGET_CSS: &str = include_str!("../../webchat/widget.css");
/// How long browsers may keep the script and style.
const ASSET_CACHE: &str = "public, max-age=300";

/// The web chat routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webchat/{integration_id}/ws", get(upgrade))
        .route("/webchat/{integration_id}/widget.js", get(widget_js))
        .route("/webchat/{integration_id}/widget.css", get(widget_css))
        .route("/webchat/{integration_id}/demo", get(demo))
        .merge(super::webchat_fallback::routes())
}

/// Opens a visitor socket, from an allowed origin only. The socket's frames are described
/// in the README ("Web chat"); they are those of the fallback's event stream and POSTs.
#[utoipa::path(get, path = "/webchat/{integration_id}/ws", tag = "webchat",
    params(("integration_id" = String, Path, description = "The web chat integration"),
        ("Origin" = String, Header, description = "The embedding page's origin; must be on the allow-list")),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol"),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 410, body = Problem), (status = 426, body = Problem)))]
pub async fn upgrade(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Problem> {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (site, origin) = admit(&state, &id, origin).await?;
    let upgrade = upgrade.map_err(|_| {
        Problem::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade-required",
            "WebSocket upgrade required",
            "this route speaks WebSocket only",
        )
    })?;
    Ok(upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| VisitorSocket::new(state, site, origin, socket).run())
        .into_response())
}

/// The widget's script.
#[utoipa::path(get, path = "/webchat/{integration_id}/widget.js", tag = "webchat",
    params(("integration_id" = String, Path, description = "The web chat integration")),
    responses((status = 200, description = "The script", content_type = "text/javascript", body = String),
        (status = 404, body = Problem)))]
pub async fn widget_js(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    site(&state, &id).await?;
    Ok(asset("text/javascript; charset=utf-8", WIDGET_JS))
}

/// The widget's style.
#[utoipa::path(get, path = "/webchat/{integration_id}/widget.css", tag = "webchat",
    params(("integration_id" = String, Path, description = "The web chat integration")),
    responses((status = 200, description = "The style sheet", content_type = "text/css", body = String),
        (status = 404, body = Problem)))]
pub async fn widget_css(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    site(&state, &id).await?;
    Ok(asset("text/css; charset=utf-8", WIDGET_CSS))
}

/// A page with nothing but the widget on it, to try it out.
#[utoipa::path(get, path = "/webchat/{integration_id}/demo", tag = "webchat",
    params(("integration_id" = String, Path, description = "The web chat integration")),
    responses((status = 200, description = "The demo page", content_type = "text/html", body = String),
        (status = 404, body = Problem)))]
pub async fn demo(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let site = site(&state, &id).await?;
    let title = site
        .title
        .as_deref()
        .map(escape_html)
        .unwrap_or_else(|| "Web chat".to_owned());
    let id = site.integration_id;
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} demo</title></head>\
         <body><h1>{title}: demo page</h1>\
         <p>The widget below is embedded with one script tag.</p>\
         <script src=\"/webchat/{id}/widget.js\" async></script></body></html>\n"
    );
    Ok(Html(page).into_response())
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, ASSET_CACHE),
        ],
        body,
    )
        .into_response()
}

/// The live web chat integration named in the path and the page's origin, if it is on the
/// allow-list: else 404 (no such widget), 410 (`integration-inactive`) or 403
/// (`origin-refused`), in that order.
pub(crate) async fn admit(
    state: &AppState,
    id: &str,
    origin: Option<String>,
) -> Result<(Arc<Site>, String), Problem> {
    let site = site(state, id).await?;
    if !site.live {
        return Err(Problem::new(
            StatusCode::GONE,
            "integration-inactive",
            "Integration disconnected or deleted",
            "this widget is not connected",
        ));
    }
    match origin {
        Some(origin) if site.origins.admits(Some(&origin)) => Ok((site, origin)),
        _ => {
            metrics::counter!("switchboard_webchat_origin_refused_total").increment(1);
            Err(origin_refused())
        }
    }
}

/// 403: the page's origin is not on the widget's allow-list.
pub(crate) fn origin_refused() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "origin-refused",
        "Origin not allowed",
        "this page's origin is not on the widget's allow-list",
    )
}

/// The web chat integration named in the path, or 404.
async fn site(state: &AppState, id: &str) -> Result<Arc<Site>, Problem> {
    let id: IntegrationId = id
        .parse()
        .map_err(|_| Problem::not_found("no such web chat widget"))?;
    state
        .webchat
        .sites
        .get(id)
        .await?
        .ok_or_else(|| Problem::not_found("no such web chat widget"))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
