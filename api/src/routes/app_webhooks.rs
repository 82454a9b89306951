//! `/webhooks/{channel}`: the one callback URL of a platform app shared by every workspace
//! (Meta's app for Messenger and WhatsApp, the Zalo app, the TikTok app): its verification
//! handshake (GET) and its deliveries (POST), which carry the items of every account subscribed
//! to the app. Channels without a shared app (`ChannelSpec::app_account` is `None`: telegram,
//! chatbotx…) answer 404 here; integrations that bring their own app or secret keep their own
//! URL, `/webhooks/{channel}/{integration_id}` (module `webhooks`).
//!
//! # Routing rule
//! A delivery is verified with the platform's credentials only, never with an integration's
//! own secret. Each item is then routed by the account it names (Messenger `entry[].id`,
//! WhatsApp `value.metadata.phone_number_id`, Zalo's OA, TikTok's business account; see
//! `channels::app_webhook`) to the connected integration whose connect proved that account with
//! the platform and that still records it in its auth field (`page_id`, `phone_number_id`,
//! `oa_id`, `business_id`), looked up in the claims committed with the integrations' states, so
//! an integration connected a moment ago is found. An account has at most one live integration (a second connect is refused with
//! 409 `account-in-use`). The body is parsed once per integration found, bound to the account it
//! records, exactly as on its own URL: only that account's items reach its workspace.
//!
//! Items naming no account, an account no live integration records, or one whose integration
//! is disconnected or deleted are *unrouted*: counted in
//! `switchboard_webhook_items_unrouted_total{channel}`, logged with the account ids only (never
//! the payload) and acknowledged (so the platform does not redeliver them forever), never
//! published under a guessed tenant.
//!
//! # Guarantees
//! As on the per-integration URL: 200 with `{"events": n, "unrouted": m}` only after the broker
//! acknowledged every event of the request (one publish for all its integrations), else 503
//! with `Retry-After` so the platform redelivers (event ids are deterministic). Refusals, in
//! order: channel without a shared app 404, missing signature 401, body over the channel's limit
//! 413, bad signature 401, not the platform's envelope 400; a handshake with the wrong token
//! 403. Failed verifications count against the source address on the URL `"{channel}"` (429
//! past `webhook_failures_per_minute`).

use crate::client_address::ClientAddress;
use crate::error::Problem;
use crate::extract::Path;
use crate::routes::webhooks::{counted_failure, read_body};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use switchboard_adapters::channels::app_webhook::NamedAccount;
use switchboard_adapters::channels::webhook::{
    OwnAccount, RawWebhook, VerifiedWebhook, WebhookChannel, WebhookError,
};
use switchboard_adapters::inbound::{InboundPublisher, WebhookTarget};
use switchboard_adapters::kafka::trace_context::current_traceparent;
use switchboard_domain::message::InboundEvent;
use switchboard_domain::{ChannelCatalog, ChannelKind};

/// At most this many unrouted account ids are logged per delivery.
const LOGGED_UNROUTED_ACCOUNTS: usize = 8;

/// The app-level webhook routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/webhooks/{channel}", get(handshake).post(receive))
}

/// Answers the platform app's verification handshake (Meta's `hub.verify_token`) with its
/// challenge, as plain text, checked against the platform's credentials.
#[utoipa::path(get, path = "/webhooks/{channel}", tag = "webhooks",
    params(("channel" = String, Path, description = "A channel with a shared platform app: messenger, whatsapp, zalo, tiktok")),
    responses((status = 200, body = String), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 405, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn handshake(
    State(state): State<AppState>,
    peer: ClientAddress,
    Path(channel): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    state.webhook_failures.admit(peer.0, &channel)?;
    answer_handshake(&state, &channel, &query)
        .map_err(|problem| counted_failure(&state, peer, &channel, problem))
}

fn answer_handshake(
    state: &AppState,
    channel: &str,
    query: &HashMap<String, String>,
) -> Result<Response, Problem> {
    let shared = shared_app(state, channel)?;
    let platform = state.webhook_targets.platform_secrets(&shared.kind);
    let challenge = shared.webhook.handshake(query, &platform)?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        challenge,
    )
        .into_response())
}

/// Verifies a delivery to the platform app's shared URL with the platform's credentials and
/// publishes each item to `messages.received` under the integration recording the account it
/// names; items of no live integration are counted and acknowledged, never published.
#[utoipa::path(post, path = "/webhooks/{channel}", tag = "webhooks",
    params(("channel" = String, Path, description = "A channel with a shared platform app: messenger, whatsapp, zalo, tiktok")),
    request_body(content = String, description = "The platform's payload, exactly as sent"),
    responses((status = 200, description = "Every routed event is stored: `{\"events\": n, \"unrouted\": m}`"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn receive(
    State(state): State<AppState>,
    peer: ClientAddress,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    state.webhook_failures.admit(peer.0, &channel)?;
    store_delivery(&state, &channel, &headers, body)
        .await
        .map_err(|problem| counted_failure(&state, peer, &channel, problem))
}

/// A channel with a shared platform app.
struct SharedApp {
    kind: ChannelKind,
    /// The auth field its deliveries are routed by.
    field: &'static str,
    webhook: Arc<dyn WebhookChannel>,
}

/// The channel named in the URL, or the 404 of one without a shared app.
fn shared_app(state: &AppState, channel: &str) -> Result<SharedApp, Problem> {
    if !state.shared_webhook_routes {
        // The operator turned them off (they are on by default: claims are only made for
        // accounts that connecting proved with the platform).
        return Err(Problem::not_found(
            "shared webhook routes are off (shared_webhook_routes): use /webhooks/{channel}/{integration_id}",
        ));
    }
    let kind = ChannelKind::parse(channel).ok_or_else(|| Problem::not_found("no such channel"))?;
    let field = state.channels.spec(&kind).and_then(|spec| spec.app_account);
    let webhook = state.channels.webhook(&kind).cloned();
    match (field, webhook) {
        (Some(field), Some(webhook)) if webhook.app().is_some() => Ok(SharedApp {
            kind,
            field,
            webhook,
        }),
        _ => Err(Problem::not_found(
            "no such channel, or it has no shared platform app: \
             use /webhooks/{channel}/{integration_id}",
        )),
    }
}

async fn store_delivery(
    state: &AppState,
    channel: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let shared = shared_app(state, channel)?;
    let webhook = shared.webhook.as_ref();
    let app = webhook
        .app()
        .ok_or_else(|| Problem::not_found("this channel has no shared platform app"))?;
    if let Some(name) = webhook.signature_header() {
        if !headers.contains_key(name) {
            return Err(WebhookError::Unauthorized("the signature header is missing").into());
        }
    }
    let bytes = read_body(headers, body, webhook.max_body_bytes()).await?;
    let platform = state.webhook_targets.platform_secrets(&shared.kind);
    let verified = app.check_signature(
        RawWebhook {
            headers,
            body: &bytes,
        },
        &platform,
    )?;
    let named = app.accounts(&verified)?;
    let mut delivery = Delivery::default();
    for account in named {
        delivery.route(state, &shared, account).await?;
    }
    let events = delivery.parse(&shared, &verified)?;
    if !events.is_empty() {
        state
            .inbound
            .publish(&events, current_traceparent())
            .await?;
    }
    delivery.count_unrouted(shared.kind.as_str());
    metrics::counter!("switchboard_webhook_events_total", "channel" => shared.kind.to_string())
        .increment(events.len() as u64);
    tracing::debug!(
        channel = %shared.kind,
        events = events.len(),
        unrouted = delivery.unrouted,
        "app-level webhook stored"
    );
    Ok((
        StatusCode::OK,
        axum::Json(serde_json::json!({ "events": events.len(), "unrouted": delivery.unrouted })),
    )
        .into_response())
}

/// One integration a delivery is routed to, and how many of its items name its account.
struct Routed {
    target: Arc<WebhookTarget>,
    own: OwnAccount,
    items: usize,
}

/// A delivery being routed: the integrations its accounts belong to, and what belongs to none.
#[derive(Default)]
struct Delivery {
    routed: Vec<Routed>,
    unrouted: usize,
    /// Unrouted account ids (`<none>` for items naming none), for the log.
    unrouted_accounts: BTreeSet<String>,
}

impl Delivery {
    /// Routes the items of one named account to the live integration recording it, or counts
    /// them as unrouted.
    async fn route(
        &mut self,
        state: &AppState,
        shared: &SharedApp,
        named: NamedAccount,
    ) -> Result<(), Problem> {
        let Some(account) = named.id else {
            self.unroute("<none>", named.items);
            return Ok(());
        };
        let owner = state
            .account_owners
            .owner(&shared.kind, shared.field, &account)
            .await?;
        let target = match owner {
            Some(id) => state.webhook_targets.get(id).await?,
            None => None,
        };
        let target = target.filter(|t| t.channel == shared.kind && t.accepts_webhooks());
        let own = target.as_ref().and_then(|target| {
            let app = shared.webhook.app()?;
            app.own_account(&target.secrets)
                .ok()
                .filter(|own| own.id(shared.field) == Some(account.as_str()))
        });
        let (Some(target), Some(own)) = (target, own) else {
            self.unroute(&account, named.items);
            return Ok(());
        };
        match self
            .routed
            .iter_mut()
            .find(|r| r.target.integration_id == target.integration_id)
        {
            Some(routed) => routed.items += named.items,
            None => self.routed.push(Routed {
                target,
                own,
                items: named.items,
            }),
        }
        Ok(())
    }

    fn unroute(&mut self, account: &str, items: usize) {
        self.unrouted += items;
        if self.unrouted_accounts.len() < LOGGED_UNROUTED_ACCOUNTS {
            self.unrouted_accounts.insert(account.to_owned());
        }
    }

    /// The events of every routed integration: the body parsed once per integration, bound to
    /// the account it records. Items of an integration that its parser refuses as another
    /// account's (its other recorded fields disagree) become unrouted.
    fn parse(
        &mut self,
        shared: &SharedApp,
        verified: &VerifiedWebhook<'_>,
    ) -> Result<Vec<InboundEvent>, Problem> {
        let mut events = Vec::new();
        for routed in std::mem::take(&mut self.routed) {
            let bound = verified
                .clone()
                .bound_to(routed.own.clone().routed_by(shared.field));
            match shared.webhook.parse(&bound) {
                Ok(drafts) => events.extend(InboundPublisher::events(&routed.target, drafts)),
                Err(error) if error.is_account_mismatch() => {
                    let account = routed.own.id(shared.field).unwrap_or_default().to_owned();
                    self.unroute(&account, routed.items);
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(events)
    }

    /// Counts and logs (account ids only) the unrouted items, if any.
    fn count_unrouted(&self, channel: &str) {
        if self.unrouted == 0 {
            return;
        }
        metrics::counter!("switchboard_webhook_items_unrouted_total", "channel" => channel.to_owned())
            .increment(self.unrouted as u64);
        tracing::warn!(
            channel,
            unrouted = self.unrouted,
            accounts = ?self.unrouted_accounts,
            "webhook items of no live integration acknowledged, not published"
        );
    }
}
