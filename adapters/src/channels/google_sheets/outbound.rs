//! "Sending" on Google Sheets: appending one row to a spreadsheet through the Sheets API v4,
//! `POST {api_base}/v4/spreadsheets/{spreadsheet_id}/values/{range}:append?valueInputOption=RAW`
//! with the Bearer access token and `{"values": [[requested_at, recipient, text]]}`, answered by
//! `{"spreadsheetId", "tableRange", "updates": {"updatedRange", "updatedRows", …}}`.
//!
//! The row is the command's time (RFC 3339), its recipient and its text, followed by the URLs
//! of its attachments one per line; quick replies are not recorded. `RAW` stores the text as
//! typed, so a text starting with `=` never becomes a formula. The range is the `range` setting
//! (an auth field or the platform setting `google-sheets.range`), else `A:C`, the first sheet's
//! table. The sent message is known by the range the row landed in.
//!
//! Failures arrive as `{"error": {"code", "message", "status", "errors": [{"reason"}]}}`: 401 is
//! auth, 429 and the 403 rate-limit reasons are throttling, 5xx are temporary, other 4xx
//! permanent. Google access tokens last an hour, so an auth failure is recovered by a refresh
//! (`POST {oauth_base}/token`, `grant_type=refresh_token`) with the platform credentials
//! `client_id` and `client_secret`.

use crate::channels::first_contact::FirstContact;
use crate::channels::sender::{
    check_attachments, classify_status, response_json, retry_after_header, ChannelSender,
    SendError, SendTarget, SentMessage,
};
use crate::egress::EgressHttp;
use crate::refresh::expiry::expiry_input;
use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard_domain::auth::AuthInput;
use switchboard_domain::message::SendMessage;

/// The real Sheets API.
pub const DEFAULT_API_BASE: &str = "https://sheets.googleapis.com";
/// Auth field: the spreadsheet rows are appended to.
pub const SPREADSHEET_ID: &str = "spreadsheet_id";
/// Auth field or platform setting: the A1 range whose table the row is appended to.
pub const RANGE: &str = "range";
/// The range used when none is configured: columns A to C of the first sheet.
pub const DEFAULT_RANGE: &str = "A:C";
/// Platform setting: the OAuth token endpoint's base, for tests and staging.
pub const OAUTH_BASE: &str = "oauth_base";
/// The real OAuth base.
pub const DEFAULT_OAUTH_BASE: &str = "https://oauth2.googleapis.com";
/// Platform credential: our Google OAuth client id.
pub const CLIENT_ID: &str = "client_id";
/// Platform credential: our Google OAuth client secret.
pub const CLIENT_SECRET: &str = "client_secret";

/// The 403 reasons that mean "too many requests" rather than "not allowed".
const THROTTLED_REASONS: &[&str] = &["rateLimitExceeded", "userRateLimitExceeded"];

/// Appends rows to Google Sheets and refreshes Google access tokens.
#[derive(Clone)]
pub struct GoogleSheetsSender {
    http: EgressHttp,
}

impl GoogleSheetsSender {
    /// A sender calling the platform through `http` (and its egress policy).
    pub fn new(http: EgressHttp) -> Self {
        Self { http }
    }
}

impl Default for GoogleSheetsSender {
    /// A sender under the default egress policy.
    fn default() -> Self {
        Self::new(EgressHttp::shared_default())
    }
}

#[async_trait]
impl ChannelSender for GoogleSheetsSender {
    fn default_api_base(&self) -> &'static str {
        DEFAULT_API_BASE
    }

    fn first_contact(&self) -> FirstContact {
        FirstContact::Refused(
            "a spreadsheet has no one to start a conversation with; sends append rows to it",
        )
    }

    async fn send(
        &self,
        target: &SendTarget,
        message: &SendMessage,
    ) -> Result<SentMessage, SendError> {
        let spreadsheet = target.secret(SPREADSHEET_ID)?.expose();
        let token = target.secret("access_token")?;
        let range = target
            .secrets
            .get(RANGE)
            .map(|r| r.expose().to_owned())
            .unwrap_or_else(|_| DEFAULT_RANGE.to_owned());
        let mut url = reqwest::Url::parse(&target.url("/v4/spreadsheets"))
            .map_err(|_| SendError::Permanent("the Sheets API base is not a URL".into()))?;
        url.path_segments_mut()
            .map_err(|()| SendError::Permanent("the Sheets API base is not a URL".into()))?
            .push(spreadsheet)
            .push("values")
            .push(&format!("{range}:append"));
        url.query_pairs_mut().append_pair("valueInputOption", "RAW");
        check_attachments(self.http.policy(), &message.content).await?;
        let body = json!({"values": [[
            message.requested_at.to_rfc3339(),
            message.recipient,
            cell_text(message),
        ]]});
        let response = self
            .http
            .post(url)?
            .bearer_auth(token.expose())
            .json(&body)
            .send()
            .await
            .map_err(SendError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer: Value = response_json(response).await?;
        if !status.is_success() {
            return Err(classify(status, retry_after, &answer));
        }
        let landed = answer["updates"]["updatedRange"].as_str();
        Ok(SentMessage {
            platform_message_id: landed
                .map(str::to_owned)
                .unwrap_or_else(|| message.message_id.to_string()),
        })
    }

    async fn refresh_credentials(
        &self,
        target: &SendTarget,
    ) -> Result<Option<AuthInput>, SendError> {
        let (Ok(refresh_token), Ok(client_id), Ok(client_secret)) = (
            target.secret("refresh_token"),
            target.secret(CLIENT_ID),
            target.secret(CLIENT_SECRET),
        ) else {
            return Ok(None);
        };
        let base = target
            .secrets
            .get(OAUTH_BASE)
            .map(|b| b.expose().trim_end_matches('/').to_owned())
            .unwrap_or_else(|_| DEFAULT_OAUTH_BASE.to_owned());
        let form = [
            ("client_id", client_id.expose()),
            ("client_secret", client_secret.expose()),
            ("refresh_token", refresh_token.expose()),
            ("grant_type", "refresh_token"),
        ];
        let response = self
            .http
            .post(format!("{base}/token"))?
            .form(&form)
            .send()
            .await
            .map_err(SendError::from_transport)?;
        let status = response.status();
        let answer: Value = response_json(response).await?;
        let Some(access) = answer["access_token"]
            .as_str()
            .filter(|_| status.is_success())
        else {
            let reason = answer["error"]
                .as_str()
                .unwrap_or("no access token in the answer");
            // Only the grant itself (revoked, expired) is this integration's: a refused client
            // is the platform app's credentials, and disconnecting every spreadsheet for it
            // would punish each workspace for the operator's typo.
            if answer["error"] == "invalid_client" {
                return Err(SendError::AppRefused(format!(
                    "Google refused the OAuth client while refreshing: HTTP {status} {reason}"
                )));
            }
            if answer["error"] != "invalid_grant" {
                return Err(SendError::retryable(format!(
                    "Google token refresh failed: HTTP {status} {reason}"
                )));
            }
            return Err(SendError::Auth(format!(
                "Google token refresh refused: {reason}"
            )));
        };
        let mut fields = vec![("access_token".to_owned(), json!(access))];
        if let Some(rotated) = answer["refresh_token"].as_str() {
            fields.push(("refresh_token".to_owned(), json!(rotated)));
        }
        // An hour for the access token; a refresh token's lifetime only for time-limited grants.
        fields.extend(expiry_input(
            chrono::Utc::now(),
            &answer["expires_in"],
            &answer["refresh_token_expires_in"],
        ));
        Ok(Some(AuthInput(fields.into_iter().collect())))
    }
}

/// The third cell: the text, then each attachment's URL on its own line.
fn cell_text(message: &SendMessage) -> String {
    let content = &message.content;
    content
        .text
        .iter()
        .map(String::as_str)
        .chain(content.attachments.iter().map(|a| a.url.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Classifies a Sheets API failure by its status and Google's `status`/`reason`.
pub(crate) fn classify(
    status: reqwest::StatusCode,
    retry_after: Option<std::time::Duration>,
    answer: &Value,
) -> SendError {
    let error = &answer["error"];
    let detail = match (error["status"].as_str(), error["message"].as_str()) {
        (Some(code), Some(message)) => format!("Sheets API {code}: {message}"),
        (None, Some(message)) => format!("Sheets API HTTP {status}: {message}"),
        _ => format!("Sheets API HTTP {status}"),
    };
    let throttled_reason = error["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["reason"].as_str())
        .any(|reason| THROTTLED_REASONS.contains(&reason));
    if status == reqwest::StatusCode::FORBIDDEN
        && (throttled_reason || error["status"] == "RESOURCE_EXHAUSTED")
    {
        return SendError::RateLimited {
            retry_after,
            detail,
        };
    }
    classify_status(status, retry_after, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::fake_platform::{message, target, test_egress, FakePlatform, Reply};
    use switchboard_domain::message::{AttachmentKind, OutboundAttachment, OutboundContent};

    const TOKEN: &str = "ya29.sheets-secret-token";
    const SHEET: &str = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";

    fn appended() -> Reply {
        Reply::json(
            200,
            json!({"spreadsheetId": SHEET, "tableRange": "Sheet1!A1:C4",
                   "updates": {"spreadsheetId": SHEET, "updatedRange": "Sheet1!A5:C5",
                               "updatedRows": 1, "updatedColumns": 3, "updatedCells": 3}}),
        )
    }

    fn google_error(code: u16, status: &str, reason: &str) -> Reply {
        Reply::json(
            code,
            json!({"error": {"code": code, "message": format!("documented {reason}"), "status": status,
                             "errors": [{"message": "documented", "domain": "global", "reason": reason}]}}),
        )
    }

    fn sheet(base: &str, extra: &[(&str, &str)]) -> SendTarget {
        let mut fields = vec![
            (SPREADSHEET_ID, SHEET),
            ("access_token", TOKEN),
            ("refresh_token", "1//sheets-refresh"),
        ];
        fields.extend_from_slice(extra);
        target("google-sheets", base, &fields)
    }

    #[tokio::test]
    async fn a_message_is_appended_as_one_raw_row_with_the_bearer_token() {
        let fake = FakePlatform::start(appended()).await;
        let target = sheet(&fake.base, &[]);
        let mut content = OutboundContent::text("=SUM(A1) is kept as text");
        content.attachments.push(OutboundAttachment {
            kind: AttachmentKind::File,
            url: "https://cdn.example/invoice.pdf".into(),
        });
        let command = message(&target, "lead-17", content);
        let sent = GoogleSheetsSender::new(test_egress())
            .send(&target, &command)
            .await
            .unwrap();
        assert_eq!(sent.platform_message_id, "Sheet1!A5:C5");
        let request = &fake.requests()[0];
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.path,
            format!("/v4/spreadsheets/{SHEET}/values/A:C:append?valueInputOption=RAW")
        );
        assert_eq!(request.headers["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(
            request.body,
            json!({"values": [[
                command.requested_at.to_rfc3339(),
                "lead-17",
                "=SUM(A1) is kept as text\nhttps://cdn.example/invoice.pdf",
            ]]})
        );
    }

    #[tokio::test]
    async fn a_configured_range_is_escaped_into_the_path() {
        let fake = FakePlatform::start(Reply::json(200, json!({}))).await;
        let target = sheet(&fake.base, &[(RANGE, "'Bot log'!A:C")]);
        let command = message(&target, "lead-17", OutboundContent::text("hi"));
        let sent = GoogleSheetsSender::new(test_egress())
            .send(&target, &command)
            .await
            .unwrap();
        assert_eq!(sent.platform_message_id, command.message_id.to_string());
        assert_eq!(
            fake.requests()[0].path,
            format!("/v4/spreadsheets/{SHEET}/values/'Bot%20log'!A:C:append?valueInputOption=RAW")
        );
    }

    #[tokio::test]
    async fn sheets_errors_come_back_classified_without_the_token() {
        let fake = FakePlatform::start(appended()).await;
        fake.then(google_error(401, "UNAUTHENTICATED", "authError"))
            .then(
                google_error(429, "RESOURCE_EXHAUSTED", "rateLimitExceeded")
                    .with_header("retry-after", "30"),
            )
            .then(google_error(
                403,
                "PERMISSION_DENIED",
                "userRateLimitExceeded",
            ))
            .then(google_error(403, "PERMISSION_DENIED", "forbidden"))
            .then(google_error(404, "NOT_FOUND", "notFound"))
            .then(google_error(503, "UNAVAILABLE", "backendError"));
        let target = sheet(&fake.base, &[]);
        let sender = GoogleSheetsSender::new(test_egress());
        let row = message(&target, "lead-17", OutboundContent::text("hi"));
        let send = || sender.send(&target, &row);
        let auth = send().await.unwrap_err();
        assert_eq!(
            auth,
            SendError::Auth("Sheets API UNAUTHENTICATED: documented authError".into())
        );
        assert!(!auth.to_string().contains(TOKEN));
        let throttled = send().await.unwrap_err();
        assert!(matches!(throttled, SendError::RateLimited { .. }));
        assert_eq!(
            throttled.retry_after(),
            Some(std::time::Duration::from_secs(30))
        );
        assert!(matches!(send().await, Err(SendError::RateLimited { .. })));
        assert!(matches!(send().await, Err(SendError::Permanent(_))));
        assert!(matches!(send().await, Err(SendError::Permanent(_))));
        assert!(matches!(send().await, Err(SendError::Retryable { .. })));
        assert!(send().await.is_ok(), "the platform recovered");
    }

    #[tokio::test]
    async fn a_refresh_trades_the_refresh_token_for_a_new_access_token() {
        let fake = FakePlatform::start(Reply::json(
            200,
            json!({"access_token": "ya29.new", "expires_in": 3599, "token_type": "Bearer"}),
        ))
        .await;
        let target = sheet(
            &fake.base,
            &[
                (CLIENT_ID, "1234.apps.example"),
                (CLIENT_SECRET, "google-client-secret"),
                (OAUTH_BASE, &fake.base),
            ],
        );
        let sender = GoogleSheetsSender::new(test_egress());
        let auth = sender.refresh_credentials(&target).await.unwrap().unwrap();
        assert_eq!(auth.0["access_token"], "ya29.new");
        assert!(
            !auth.0.contains_key("refresh_token"),
            "Google kept the old one"
        );
        let expires = auth.0["access_token_expires_at"].as_str().unwrap();
        let expires = crate::refresh::expiry::parse(expires).unwrap();
        assert!(expires > chrono::Utc::now() + chrono::Duration::minutes(59));
        let request = &fake.requests()[0];
        assert_eq!(request.path, "/token");
        assert_eq!(
            request.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
        let without_client = sheet(&fake.base, &[]);
        assert!(matches!(
            sender.refresh_credentials(&without_client).await,
            Ok(None)
        ));
    }

    #[tokio::test]
    async fn a_refused_oauth_client_is_the_apps_fault_not_the_grants() {
        let fake = FakePlatform::start(Reply::json(
            401,
            json!({"error": "invalid_client", "error_description": "The OAuth client was not found."}),
        ))
        .await;
        let target = sheet(
            &fake.base,
            &[
                (CLIENT_ID, "1234.apps.example"),
                (CLIENT_SECRET, "a-typo"),
                (OAUTH_BASE, &fake.base),
            ],
        );
        let error = GoogleSheetsSender::new(test_egress())
            .refresh_credentials(&target)
            .await
            .unwrap_err();
        assert!(matches!(error, SendError::AppRefused(_)), "{error}");
        assert!(!error.to_string().contains("a-typo"));
    }

    #[tokio::test]
    async fn a_refused_refresh_is_an_auth_failure_naming_no_secret() {
        let fake = FakePlatform::start(Reply::json(
            400,
            json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        ))
        .await;
        let target = sheet(
            &fake.base,
            &[
                (CLIENT_ID, "1234.apps.example"),
                (CLIENT_SECRET, "google-client-secret"),
                (OAUTH_BASE, &fake.base),
            ],
        );
        let error = GoogleSheetsSender::new(test_egress())
            .refresh_credentials(&target)
            .await
            .unwrap_err();
        assert_eq!(
            error,
            SendError::Auth("Google token refresh refused: invalid_grant".into())
        );
    }
}
