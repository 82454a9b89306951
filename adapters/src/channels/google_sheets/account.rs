//! Connecting a Google spreadsheet: `GET {api}/v4/spreadsheets/{spreadsheet_id}` with the
//! integration's access token proves the grant reaches the spreadsheet and names it (its id and
//! title). Sheets has no webhooks to subscribe; on disconnect and delete the grant is revoked
//! (`POST {oauth}/revoke` with the refresh token, or the access token without one), so the
//! spreadsheet is no longer reachable with anything this integration held.

use super::outbound::{DEFAULT_API_BASE, DEFAULT_OAUTH_BASE, OAUTH_BASE, SPREADSHEET_ID};
use crate::channels::account_lifecycle::{
    answer_json, classify_status, AccountError, AccountLifecycle, AccountTarget, VerifiedAccount,
};
use crate::channels::sender::retry_after_header;
use crate::egress::EgressHttp;
use async_trait::async_trait;
use reqwest::Method;

/// Google Sheets' account lifecycle.
#[derive(Clone)]
pub struct GoogleSheetsAccount {
    http: EgressHttp,
}

impl GoogleSheetsAccount {
    /// Calls Google through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

/// Google's words in an error answer: `{"error": {"status", "message"}}` or RFC 6749's
/// `{"error", "error_description"}`.
fn google_words(answer: &serde_json::Value) -> String {
    let error = &answer["error"];
    error["message"]
        .as_str()
        .or(error["status"].as_str())
        .or(answer["error_description"].as_str())
        .or(error.as_str())
        .unwrap_or("(no message)")
        .to_owned()
}

#[async_trait]
impl AccountLifecycle for GoogleSheetsAccount {
    fn default_api_base(&self) -> &'static str {
        DEFAULT_API_BASE
    }

    async fn verify(&self, target: &AccountTarget) -> Result<VerifiedAccount, AccountError> {
        let token = target.secret("access_token")?;
        let spreadsheet = target.field(SPREADSHEET_ID)?;
        if !spreadsheet
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(AccountError::Refused(
                "the spreadsheet id is not one Google issues".into(),
            ));
        }
        let url = target.url(&format!(
            "/v4/spreadsheets/{spreadsheet}?fields=spreadsheetId,properties.title"
        ));
        let response = self
            .http
            .request(Method::GET, url)?
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(AccountError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer = answer_json(response).await;
        if !status.is_success() {
            let detail = format!("Google answered HTTP {status}: {}", google_words(&answer));
            return Err(classify_status(status, retry_after, detail));
        }
        let external_id = answer["spreadsheetId"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                AccountError::unavailable("Google answered without the spreadsheet id")
            })?;
        Ok(VerifiedAccount {
            external_id,
            display_name: answer["properties"]["title"].as_str().map(str::to_owned),
        })
    }

    async fn unsubscribe(&self, target: &AccountTarget) -> Result<Option<String>, AccountError> {
        let token = target
            .secret("refresh_token")
            .or_else(|_| target.secret("access_token"))?;
        let base = target
            .secrets
            .get(OAUTH_BASE)
            .map(|b| b.expose().trim_end_matches('/').to_owned())
            .unwrap_or_else(|_| DEFAULT_OAUTH_BASE.to_owned());
        let response = self
            .http
            .post(format!("{base}/revoke"))?
            .form(&[("token", token.expose())])
            .send()
            .await
            .map_err(AccountError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer = answer_json(response).await;
        if status.is_success() {
            return Ok(Some("the Google grant was revoked".into()));
        }
        // A grant already revoked (or expired) is what revoking wanted.
        if answer["error"] == "invalid_token" {
            return Ok(Some("the Google grant was already revoked".into()));
        }
        let detail = format!("Google answered HTTP {status}: {}", google_words(&answer));
        Err(classify_status(status, retry_after, detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::account_lifecycle::{prove, testing::target};
    use crate::channels::fake_platform::{test_egress, FakePlatform, Reply};
    use serde_json::json;

    fn sheet(base: &str, spreadsheet: &str) -> AccountTarget {
        target(
            "google-sheets",
            base,
            &[
                ("spreadsheet_id", spreadsheet),
                ("access_token", "ya29.access"),
                ("refresh_token", "1//refresh"),
                ("oauth_base", base),
            ],
        )
    }

    #[tokio::test]
    async fn the_grant_must_reach_the_named_spreadsheet() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"spreadsheetId": "1AbC", "properties": {"title": "Leads"}}),
        ))
        .await;
        let lifecycle = GoogleSheetsAccount::new(test_egress());
        let account = prove(
            &lifecycle,
            &sheet(&fake.base, "1AbC"),
            &[Some("1AbC".into())],
        )
        .await
        .unwrap();
        assert_eq!(account.display_name.as_deref(), Some("Leads"));
        let request = &fake.requests()[0];
        assert_eq!(
            request.path,
            "/v4/spreadsheets/1AbC?fields=spreadsheetId,properties.title"
        );
        assert_eq!(request.headers["authorization"], "Bearer ya29.access");
        fake.then(Reply::json(
            404,
            json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}),
        ));
        let missing = lifecycle.verify(&sheet(&fake.base, "1AbC")).await;
        assert!(matches!(missing, Err(AccountError::Refused(ref d)) if d.contains("not found")));
        fake.then(Reply::json(
            401,
            json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}}),
        ));
        assert!(matches!(
            lifecycle.verify(&sheet(&fake.base, "1AbC")).await,
            Err(AccountError::RefusedCredentials(_))
        ));
        let odd = lifecycle.verify(&sheet(&fake.base, "../../other")).await;
        assert!(
            matches!(odd, Err(AccountError::Refused(_))),
            "no path in the id"
        );
    }

    #[tokio::test]
    async fn going_away_revokes_the_refresh_token() {
        let fake = FakePlatform::start(Reply::json(200, json!({}))).await;
        let lifecycle = GoogleSheetsAccount::new(test_egress());
        let done = lifecycle.unsubscribe(&sheet(&fake.base, "1AbC")).await;
        assert_eq!(
            done.unwrap().as_deref(),
            Some("the Google grant was revoked")
        );
        let request = &fake.requests()[0];
        assert_eq!(request.path, "/revoke");
        fake.then(Reply::json(
            400,
            json!({"error": "invalid_token", "error_description": "Token expired or revoked"}),
        ));
        let again = lifecycle.unsubscribe(&sheet(&fake.base, "1AbC")).await;
        assert_eq!(
            again.unwrap().as_deref(),
            Some("the Google grant was already revoked")
        );
        fake.then(Reply::json(503, json!({})));
        assert!(matches!(
            lifecycle.unsubscribe(&sheet(&fake.base, "1AbC")).await,
            Err(AccountError::Unavailable { .. })
        ));
    }
}
