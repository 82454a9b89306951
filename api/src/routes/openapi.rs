//! `GET /openapi.json`: the OpenAPI 3.1 description, generated from the handlers.

use crate::error::Problem;
use crate::routes::{
    channels, conversation_actions, health, inbox, integrations, send, settings, webhooks,
};
use crate::state::AppState;
use crate::views;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "Event-sourced messaging backend for chatbot integration channels."
    ),
    paths(
        integrations::create,
        integrations::list,
        integrations::show,
        integrations::connect,
        integrations::update,
        integrations::refresh_credentials,
        integrations::disconnect,
        integrations::delete,
        channels::list,
        inbox::inboxes,
        inbox::conversations,
        inbox::messages,
        settings::list,
        send::send,
        conversation_actions::read,
        conversation_actions::status,
        health::healthz,
        health::readyz,
        health::metrics,
        webhooks::handshake,
        webhooks::receive,
    ),
    components(schemas(
        Problem,
        crate::inbox_views::InboxView,
        crate::inbox_views::InboxList,
        crate::inbox_views::ConversationView,
        crate::inbox_views::ConversationPage,
        crate::inbox_views::MessageView,
        crate::inbox_views::MessagePage,
        settings::SettingsIntegration,
        settings::SettingsList,
        send::SendRequest,
        send::SendAccepted,
        conversation_actions::ReadRequest,
        conversation_actions::StatusRequest,
        conversation_actions::ActionAccepted,
        views::CreateIntegration,
        views::ConnectIntegration,
        views::UpdateIntegration,
        views::RefreshCredentials,
        views::DisconnectIntegration,
        views::AccountView,
        views::IntegrationView,
        views::IntegrationList,
        channels::ChannelView,
        channels::ChannelList,
    ))
)]
pub struct ApiDoc;

/// The route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
