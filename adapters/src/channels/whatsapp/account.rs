//! Connecting a WhatsApp business number: `GET /{phone-number-id}?fields=id,display_phone_number,verified_name`
//! with the integration's token proves the number (the id answered must be the number
//! claimed); `POST /{waba-id}/subscribed_apps` subscribes the platform app to the WhatsApp
//! Business Account's webhooks; `DELETE /{waba-id}/subscribed_apps` undoes that, unless
//! another connected integration's number belongs to the same business account.

use super::outbound::{ACCESS_TOKEN, PHONE_NUMBER_ID};
use super::BUSINESS_ACCOUNT_ID;
use crate::channels::account_lifecycle::{
    AccountError, AccountLifecycle, AccountTarget, VerifiedAccount,
};
use crate::channels::graph_account::{account, call, succeeded, Purpose};
use crate::channels::graph_api::DEFAULT_API_BASE;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use reqwest::Method;

/// WhatsApp's account lifecycle.
#[derive(Clone)]
pub struct WhatsappAccount {
    http: EgressHttp,
}

impl WhatsappAccount {
    /// Calls Graph through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

#[async_trait]
impl AccountLifecycle for WhatsappAccount {
    fn default_api_base(&self) -> &'static str {
        DEFAULT_API_BASE
    }

    async fn verify(&self, target: &AccountTarget) -> Result<VerifiedAccount, AccountError> {
        let number = target.field(PHONE_NUMBER_ID)?;
        let token = target.secret(ACCESS_TOKEN)?;
        let url = target.url(&format!(
            "/{number}?fields=id,display_phone_number,verified_name"
        ));
        let answer = call(&self.http, Method::GET, &url, token, Purpose::Verify).await?;
        account(&answer, &["verified_name", "display_phone_number"])
    }

    fn subscribes(&self) -> bool {
        true
    }

    async fn subscribe(&self, target: &AccountTarget) -> Result<(), AccountError> {
        let waba = target.field(BUSINESS_ACCOUNT_ID)?;
        let token = target.secret(ACCESS_TOKEN)?;
        let url = target.url(&format!("/{waba}/subscribed_apps"));
        let answer = call(&self.http, Method::POST, &url, token, Purpose::Subscription).await?;
        succeeded(&answer)
    }

    fn shared_subscription_field(&self) -> Option<&'static str> {
        Some(BUSINESS_ACCOUNT_ID)
    }

    async fn unsubscribe(&self, target: &AccountTarget) -> Result<Option<String>, AccountError> {
        let waba = target.field(BUSINESS_ACCOUNT_ID)?;
        let token = target.secret(ACCESS_TOKEN)?;
        let url = target.url(&format!("/{waba}/subscribed_apps"));
        let answer = call(
            &self.http,
            Method::DELETE,
            &url,
            token,
            Purpose::Subscription,
        )
        .await?;
        succeeded(&answer)?;
        Ok(Some(format!(
            "the app was unsubscribed from business account {waba}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::account_lifecycle::{prove, testing::target};
    use crate::channels::fake_platform::{test_egress, FakePlatform, Reply};
    use serde_json::json;

    fn number(base: &str) -> AccountTarget {
        target(
            "whatsapp",
            base,
            &[
                ("phone_number_id", "106540352242922"),
                ("business_account_id", "102290129340398"),
                ("access_token", "EAAG-token"),
            ],
        )
    }

    #[tokio::test]
    async fn the_number_is_read_with_its_token_and_named_by_its_verified_name() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"id": "106540352242922", "display_phone_number": "+1 555-0100", "verified_name": "Acme Shop"}),
        ))
        .await;
        let lifecycle = WhatsappAccount::new(test_egress());
        let account = prove(
            &lifecycle,
            &number(&fake.base),
            &[Some("106540352242922".into())],
        )
        .await
        .unwrap();
        assert_eq!(account.external_id, "106540352242922");
        assert_eq!(account.display_name.as_deref(), Some("Acme Shop"));
        let request = &fake.requests()[0];
        assert_eq!(
            request.path,
            "/106540352242922?fields=id,display_phone_number,verified_name"
        );
        assert_eq!(request.headers["authorization"], "Bearer EAAG-token");
        fake.then(Reply::json(
            200,
            json!({"id": "1", "verified_name": "Other"}),
        ));
        let claimed = [Some("106540352242922".to_owned())];
        assert!(matches!(
            prove(&lifecycle, &number(&fake.base), &claimed).await,
            Err(AccountError::Mismatch { .. })
        ));
    }

    #[tokio::test]
    async fn the_app_is_subscribed_to_the_business_account() {
        let fake = FakePlatform::start(Reply::json(200, json!({"success": true}))).await;
        let lifecycle = WhatsappAccount::new(test_egress());
        lifecycle.subscribe(&number(&fake.base)).await.unwrap();
        lifecycle.unsubscribe(&number(&fake.base)).await.unwrap();
        let requests = fake.requests();
        assert_eq!(
            (requests[0].method.as_str(), requests[0].path.as_str()),
            ("POST", "/102290129340398/subscribed_apps")
        );
        assert_eq!(
            (requests[1].method.as_str(), requests[1].path.as_str()),
            ("DELETE", "/102290129340398/subscribed_apps")
        );
        fake.then(Reply::json(
            403,
            json!({"error": {"message": "(#200) Permissions error", "code": 200}}),
        ));
        let refused = lifecycle.subscribe(&number(&fake.base)).await.unwrap_err();
        assert!(
            matches!(refused, AccountError::Refused(ref d) if d.contains("200")),
            "{refused:?}"
        );
    }
}
