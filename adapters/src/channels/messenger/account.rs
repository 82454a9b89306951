//! Connecting a Messenger page: `GET /{page-id}?fields=id,name` with the page token proves the
//! page (the id answered must be the page claimed); `POST /{page-id}/subscribed_apps` subscribes
//! the platform app to the page's webhooks; `DELETE /{page-id}/subscribed_apps` undoes that.

use super::outbound::{PAGE_ACCESS_TOKEN, PAGE_ID};
use crate::channels::account_lifecycle::{
    AccountError, AccountLifecycle, AccountTarget, VerifiedAccount,
};
use crate::channels::graph_account::{account, call, succeeded, Purpose};
use crate::channels::graph_api::DEFAULT_API_BASE;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use reqwest::Method;

/// The page webhook fields the platform app subscribes to.
pub const SUBSCRIBED_FIELDS: &str =
    "messages,messaging_postbacks,message_deliveries,message_reads,message_echoes";

/// Messenger's account lifecycle.
#[derive(Clone)]
pub struct MessengerAccount {
    http: EgressHttp,
}

impl MessengerAccount {
    /// Calls Graph through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

#[async_trait]
impl AccountLifecycle for MessengerAccount {
    fn default_api_base(&self) -> &'static str {
        DEFAULT_API_BASE
    }

    async fn verify(&self, target: &AccountTarget) -> Result<VerifiedAccount, AccountError> {
        let page = target.field(PAGE_ID)?;
        let token = target.secret(PAGE_ACCESS_TOKEN)?;
        let url = target.url(&format!("/{page}?fields=id,name"));
        let answer = call(&self.http, Method::GET, &url, token, Purpose::Verify).await?;
        account(&answer, &["name"])
    }

    fn subscribes(&self) -> bool {
        true
    }

    async fn subscribe(&self, target: &AccountTarget) -> Result<(), AccountError> {
        let page = target.field(PAGE_ID)?;
        let token = target.secret(PAGE_ACCESS_TOKEN)?;
        let url = target.url(&format!(
            "/{page}/subscribed_apps?subscribed_fields={SUBSCRIBED_FIELDS}"
        ));
        let answer = call(&self.http, Method::POST, &url, token, Purpose::Subscription).await?;
        succeeded(&answer)
    }

    async fn unsubscribe(&self, target: &AccountTarget) -> Result<Option<String>, AccountError> {
        let page = target.field(PAGE_ID)?;
        let token = target.secret(PAGE_ACCESS_TOKEN)?;
        let url = target.url(&format!("/{page}/subscribed_apps"));
        let answer = call(
            &self.http,
            Method::DELETE,
            &url,
            token,
            Purpose::Subscription,
        )
        .await?;
        succeeded(&answer)?;
        Ok(Some(format!("the app was unsubscribed from page {page}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::account_lifecycle::{prove, testing::target};
    use crate::channels::fake_platform::{test_egress, FakePlatform, Reply};
    use serde_json::json;

    fn page(base: &str) -> AccountTarget {
        target(
            "messenger",
            base,
            &[
                ("page_id", "1122334455"),
                ("page_access_token", "EAAB-page"),
            ],
        )
    }

    #[tokio::test]
    async fn the_page_is_read_with_its_token_and_must_be_the_claimed_one() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"id": "1122334455", "name": "Acme"}),
        ))
        .await;
        let lifecycle = MessengerAccount::new(test_egress());
        let target = page(&fake.base);
        let account = prove(&lifecycle, &target, &[Some("1122334455".into())])
            .await
            .unwrap();
        assert_eq!(account.display_name.as_deref(), Some("Acme"));
        let request = &fake.requests()[0];
        assert_eq!(request.method, Method::GET);
        assert_eq!(request.path, "/1122334455?fields=id,name");
        assert_eq!(request.headers["authorization"], "Bearer EAAB-page");

        fake.then(Reply::json(200, json!({"id": "999", "name": "Other"})));
        let mismatch = prove(&lifecycle, &target, &[Some("1122334455".into())]).await;
        assert!(
            matches!(mismatch, Err(AccountError::Mismatch { .. })),
            "{mismatch:?}"
        );
    }

    #[tokio::test]
    async fn an_expired_token_is_refused_credentials_and_graph_trouble_is_unavailable() {
        let fake = FakePlatform::start(Reply::json(
            400,
            json!({"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}}),
        ))
        .await;
        let lifecycle = MessengerAccount::new(test_egress());
        let refused = lifecycle.verify(&page(&fake.base)).await.unwrap_err();
        assert!(matches!(refused, AccountError::RefusedCredentials(ref d) if d.contains("190")));
        assert!(!refused.to_string().contains("EAAB-page"));
        fake.then(
            Reply::json(503, json!({"error": {"message": "down", "code": 2}}))
                .with_header("retry-after", "7"),
        );
        let down = lifecycle.verify(&page(&fake.base)).await.unwrap_err();
        assert!(matches!(
            down,
            AccountError::Unavailable { retry_after: Some(wait), .. } if wait.as_secs() == 7
        ));
    }

    #[tokio::test]
    async fn the_app_is_subscribed_to_the_page_and_unsubscribed_from_it() {
        let fake = FakePlatform::start(Reply::json(200, json!({"success": true}))).await;
        let lifecycle = MessengerAccount::new(test_egress());
        lifecycle.subscribe(&page(&fake.base)).await.unwrap();
        let done = lifecycle.unsubscribe(&page(&fake.base)).await.unwrap();
        assert!(done.unwrap().contains("1122334455"));
        let requests = fake.requests();
        assert_eq!(requests[0].method, Method::POST);
        assert_eq!(
            requests[0].path,
            format!("/1122334455/subscribed_apps?subscribed_fields={SUBSCRIBED_FIELDS}")
        );
        assert_eq!(requests[1].method, Method::DELETE);
        assert_eq!(requests[1].path, "/1122334455/subscribed_apps");
        fake.then(Reply::json(200, json!({"success": false})));
        assert!(matches!(
            lifecycle.subscribe(&page(&fake.base)).await,
            Err(AccountError::Refused(_))
        ));
    }
}
