//! Connecting a Telegram bot: `getMe` proves the bot token (the bot's id is the account, its
//! `@username` the display name); `setWebhook` registers the integration's own webhook URL with
//! its `webhook_secret` as `secret_token` (echoed by Telegram in every delivery's
//! `X-Telegram-Bot-Api-Secret-Token`); `deleteWebhook` removes it on disconnect and delete.
//!
//! The token is part of every Bot API URL, so no detail here quotes a URL: they carry the Bot
//! API's `error_code` and `description` only. 401 and 404 (a malformed token) are refused
//! credentials, 429 (with `parameters.retry_after`) and 5xx unavailable, other 4xx refused.

use super::outbound::{BOT_TOKEN, DEFAULT_API_BASE};
use super::WEBHOOK_SECRET;
use crate::channels::account_lifecycle::{
    answer_json, id_text, AccountError, AccountLifecycle, AccountTarget, VerifiedAccount,
};
use crate::channels::sender::retry_after_header;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// Telegram's account lifecycle.
#[derive(Clone)]
pub struct TelegramAccount {
    http: EgressHttp,
}

impl TelegramAccount {
    /// Calls the Bot API through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }

    /// Calls Bot API `method` with `body` and returns its `result`.
    async fn call(
        &self,
        target: &AccountTarget,
        method: &str,
        body: Option<Value>,
    ) -> Result<Value, AccountError> {
        let token = target.secret(BOT_TOKEN)?;
        let url = target.url(&format!("/bot{}/{method}", token.expose()));
        let mut request = self.http.request(Method::POST, url)?;
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(AccountError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer = answer_json(response).await;
        if status.is_success() && answer["ok"] == Value::Bool(true) {
            return Ok(answer["result"].clone());
        }
        let code = answer["error_code"]
            .as_u64()
            .unwrap_or(u64::from(status.as_u16()));
        let detail = format!(
            "Telegram {method} error {code}: {}",
            answer["description"].as_str().unwrap_or("(no description)")
        );
        let retry_after = answer["parameters"]["retry_after"]
            .as_u64()
            .map(Duration::from_secs)
            .or(retry_after);
        Err(match code {
            401 | 404 => AccountError::RefusedCredentials(detail),
            429 | 500..=599 => AccountError::Unavailable {
                retry_after,
                detail,
            },
            _ if !status.is_success() || answer.is_object() => AccountError::Refused(detail),
            _ => AccountError::unavailable(detail),
        })
    }
}

#[async_trait]
impl AccountLifecycle for TelegramAccount {
    fn default_api_base(&self) -> &'static str {
        DEFAULT_API_BASE
    }

    async fn verify(&self, target: &AccountTarget) -> Result<VerifiedAccount, AccountError> {
        let bot = self.call(target, "getMe", None).await?;
        let external_id = id_text(&bot["id"])
            .ok_or_else(|| AccountError::unavailable("getMe answered without the bot's id"))?;
        let display_name = bot["username"]
            .as_str()
            .map(|name| format!("@{name}"))
            .or_else(|| bot["first_name"].as_str().map(str::to_owned));
        Ok(VerifiedAccount {
            external_id,
            display_name,
        })
    }

    fn subscribes(&self) -> bool {
        true
    }

    async fn subscribe(&self, target: &AccountTarget) -> Result<(), AccountError> {
        let url = target
            .webhook_url
            .as_deref()
            .ok_or(AccountError::NoPublicUrl)?;
        let secret = target
            .secrets
            .integration_field(WEBHOOK_SECRET)
            .map_err(|_| AccountError::MissingField(WEBHOOK_SECRET))?;
        let body = json!({"url": url, "secret_token": secret.expose()});
        self.call(target, "setWebhook", Some(body)).await.map(drop)
    }

    async fn unsubscribe(&self, target: &AccountTarget) -> Result<Option<String>, AccountError> {
        self.call(target, "deleteWebhook", Some(json!({})))
            .await
            .map(|_| Some("the bot's webhook was deleted".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::account_lifecycle::{prove, testing::target};
    use crate::channels::fake_platform::{test_egress, FakePlatform, Reply};

    fn bot(base: &str) -> AccountTarget {
        let mut bot = target(
            "telegram",
            base,
            &[
                ("bot_token", "123:SECRET-TOKEN"),
                ("webhook_secret", "hook-secret"),
            ],
        );
        bot.webhook_url = Some("https://switchboard.example/webhooks/telegram/abc".into());
        bot
    }

    #[tokio::test]
    async fn get_me_proves_the_bot_and_names_it() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"ok": true, "result": {"id": 123, "is_bot": true, "first_name": "Support", "username": "acme_bot"}}),
        ))
        .await;
        let lifecycle = TelegramAccount::new(test_egress());
        let account = prove(&lifecycle, &bot(&fake.base), &[Some("123".into())])
            .await
            .unwrap();
        assert_eq!(account.external_id, "123");
        assert_eq!(account.display_name.as_deref(), Some("@acme_bot"));
        assert_eq!(fake.requests()[0].path, "/bot123:SECRET-TOKEN/getMe");
        assert!(matches!(
            prove(&lifecycle, &bot(&fake.base), &[Some("999".into())]).await,
            Err(AccountError::Mismatch { .. })
        ));
    }

    #[tokio::test]
    async fn the_webhook_is_registered_with_the_secret_token_and_deleted() {
        let fake = FakePlatform::start(Reply::json(200, json!({"ok": true, "result": true}))).await;
        let lifecycle = TelegramAccount::new(test_egress());
        lifecycle.subscribe(&bot(&fake.base)).await.unwrap();
        let done = lifecycle.unsubscribe(&bot(&fake.base)).await.unwrap();
        assert_eq!(done.as_deref(), Some("the bot's webhook was deleted"));
        let requests = fake.requests();
        assert_eq!(requests[0].path, "/bot123:SECRET-TOKEN/setWebhook");
        assert_eq!(
            requests[0].body,
            json!({"url": "https://switchboard.example/webhooks/telegram/abc", "secret_token": "hook-secret"})
        );
        assert_eq!(requests[1].path, "/bot123:SECRET-TOKEN/deleteWebhook");
        let mut without_url = bot(&fake.base);
        without_url.webhook_url = None;
        assert_eq!(
            lifecycle.subscribe(&without_url).await,
            Err(AccountError::NoPublicUrl)
        );
    }

    #[tokio::test]
    async fn refusals_are_classified_and_never_quote_the_token() {
        let fake = FakePlatform::start(Reply::json(
            401,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
        ))
        .await;
        let lifecycle = TelegramAccount::new(test_egress());
        let refused = lifecycle.verify(&bot(&fake.base)).await.unwrap_err();
        assert!(matches!(refused, AccountError::RefusedCredentials(_)));
        assert!(!refused.to_string().contains("SECRET-TOKEN"));
        fake.then(Reply::json(
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3", "parameters": {"retry_after": 3}}),
        ));
        assert!(matches!(
            lifecycle.verify(&bot(&fake.base)).await,
            Err(AccountError::Unavailable { retry_after: Some(w), .. }) if w.as_secs() == 3
        ));
        fake.then(Reply::json(
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: secret token contains unallowed characters"}),
        ));
        assert!(matches!(
            lifecycle.subscribe(&bot(&fake.base)).await,
            Err(AccountError::Refused(ref d)) if d.contains("unallowed")
        ));
        let unreachable = bot("http://127.0.0.1:1");
        let down = lifecycle.verify(&unreachable).await.unwrap_err();
        assert!(matches!(down, AccountError::Unavailable { .. }), "{down:?}");
        assert!(!down.to_string().contains("SECRET-TOKEN"), "{down}");
    }
}
