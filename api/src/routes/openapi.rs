//! `GET /openapi.json`: the OpenAPI 3.1 description, generated from the handlers.

use crate::error::Problem;
use crate::routes::{
    action_status, actions, app_webhooks, channels, conversation_actions, conversation_typing,
    health, inbox, integrations, keys, oauth, oauth_complete, platform_credentials, send, settings,
    webchat, webchat_fallback, webhooks,
};
use crate::state::AppState;
use crate::views;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::Ref;
use utoipa::{Modify, OpenApi};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "Event-sourced messaging backend for chatbot integration channels."
    ),
    modifiers(&Security),
    paths(
        keys::create,
        keys::list,
        keys::revoke,
        platform_credentials::list,
        platform_credentials::show,
        platform_credentials::put,
        platform_credentials::verify,
        platform_credentials::delete,
        integrations::create,
        integrations::list,
        integrations::show,
        integrations::connect,
        integrations::update,
        integrations::refresh_credentials,
        integrations::disconnect,
        integrations::delete,
        oauth::authorize,
        oauth::callback,
        oauth_complete::complete,
        channels::list,
        inbox::inboxes,
        inbox::conversations,
        inbox::messages,
        settings::list,
        settings::platform_apps,
        send::send,
        actions::request_action,
        action_status::show,
        conversation_actions::read,
        conversation_actions::status,
        conversation_typing::typing,
        health::healthz,
        health::readyz,
        health::metrics,
        webhooks::handshake,
        webhooks::receive,
        webchat::upgrade,
        webchat::widget_js,
        webchat::widget_css,
        webchat::demo,
        webchat_fallback::events,
        webchat_fallback::frame,
        app_webhooks::handshake,
        app_webhooks::receive,
        crate::routes::start_conversation::start,
        crate::routes::templates::list,
        crate::routes::templates::refresh,
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
        settings::SettingsPlatformApp,
        settings::SettingsPlatformApps,
        send::SendRequest,
        send::SendAccepted,
        actions::ActionRequestAccepted,
        action_status::ActionStatusView,
        channels::ChannelActionView,
        conversation_actions::ReadRequest,
        conversation_actions::StatusRequest,
        conversation_actions::ActionAccepted,
        webchat_fallback::FrameRequest,
        webchat_fallback::AcceptedFrame,
        oauth::AuthorizeRequest,
        oauth::Authorization,
        oauth::PendingOutcome,
        oauth_complete::CompleteRequest,
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
        keys::CreateKey,
        keys::KeyList,
        platform_credentials::PlatformCredentialsView,
        platform_credentials::PlatformCredentialsList,
        crate::auth::Scope,
        crate::auth::api_keys::ApiKeyView,
        crate::auth::api_keys::CreatedApiKey,
        crate::routes::start_conversation::StartConversationRequest,
        crate::routes::start_conversation::ConversationStarted,
        crate::routes::templates::TemplateSchema,
        crate::routes::templates::TemplateLanguageSchema,
        crate::routes::templates::TemplateComponentSchema,
        crate::template_cache::TemplateView,
        crate::template_cache::TemplateList,
    ))
)]
pub struct ApiDoc;

/// The bearer schemes, and on every workspace operation its security and the answers of the
/// workspace guard (401, 404, 429) and of the scope check (403).
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut workspace = Http::new(HttpAuthScheme::Bearer);
        workspace.description =
            Some("A workspace API key (`sbk_…`) or a JWT of the identity provider.".into());
        components.add_security_scheme("workspace", SecurityScheme::Http(workspace));
        let mut operator = Http::new(HttpAuthScheme::Bearer);
        operator.description = Some("The operator credential from the configuration.".into());
        components.add_security_scheme("operator", SecurityScheme::Http(operator));
        let guarded = [
            ("401", "No credential, or a bad, revoked or expired one"),
            ("403", "The credential lacks the route's scope"),
            ("404", "Another workspace's resource, or none"),
            ("429", "The credential is over its rate limit"),
            ("503", "A dependency is down; retry after `Retry-After`"),
        ];
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/v1/workspaces/") {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                operation.security = Some(vec![SecurityRequirement::new(
                    "workspace",
                    Vec::<String>::new(),
                )]);
                for (status, description) in guarded {
                    operation
                        .responses
                        .responses
                        .entry(status.into())
                        .or_insert_with(|| problem_response(description).into());
                }
            }
        }
    }
}

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            crate::error::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// The route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(document()) }))
}

/// The description as served: generated from the handlers, with the edge's answers.
pub fn document() -> serde_json::Value {
    let generated = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let registry = switchboard_adapters::channels::ChannelRegistry::builtin();
    let channels: Vec<&str> = switchboard_domain::ChannelCatalog::all(&registry)
        .into_iter()
        .map(|spec| spec.kind.as_str())
        .collect();
    super::openapi_edge::with_edge_answers(generated, &channels)
}
