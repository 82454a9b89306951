//! The message templates of a WhatsApp Business Account, as the platform lists them:
//! `GET {api_base}/{waba-id}/message_templates?fields=name,language,status,category,components`
//! with the integration's bearer token, answered a page at a time as
//! `{"data": [...], "paging": {"cursors": {"before", "after"}, "next"?}}`; the next page is
//! asked for with `after=<cursor>` while the answer has a `next` link (the link itself is not
//! followed, so every call goes to the configured API base through the egress policy).

use crate::channels::account_lifecycle::{AccountError, AccountTarget};
use crate::channels::graph_account::{call, Purpose};
use crate::channels::whatsapp::{outbound::ACCESS_TOKEN, BUSINESS_ACCOUNT_ID};
use crate::egress::EgressHttp;
use reqwest::Method;
use serde_json::Value;

/// The fields asked for, as the platform documents them.
pub const TEMPLATE_FIELDS: &str = "name,language,status,category,components";
/// Templates asked for per page.
pub const PAGE_SIZE: u32 = 100;
/// The most pages read in one listing (a business account holds at most a few thousand).
pub const MAX_PAGES: usize = 100;

/// One template as the platform lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformTemplate {
    /// Its name.
    pub name: String,
    /// The language (and locale) of this translation.
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`…: only approved ones send.
    pub status: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: Option<String>,
    /// What it says, as the platform describes it (header, body, footer, buttons).
    pub components: Value,
}

/// Every template of the integration's business account, all pages read.
pub async fn list_templates(
    http: &EgressHttp,
    target: &AccountTarget,
) -> Result<Vec<PlatformTemplate>, AccountError> {
    let account = target.field(BUSINESS_ACCOUNT_ID)?;
    let token = target.secret(ACCESS_TOKEN)?;
    let base = target.url(&format!("/{account}/message_templates"));
    let mut templates = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let limit = PAGE_SIZE.to_string();
        let mut query = vec![("fields", TEMPLATE_FIELDS), ("limit", limit.as_str())];
        if let Some(cursor) = &after {
            query.push(("after", cursor.as_str()));
        }
        let url = reqwest::Url::parse_with_params(&base, &query)
            .map_err(|e| AccountError::Refused(format!("bad API base: {e}")))?;
        let page = call(
            http,
            Method::GET,
            url.as_str(),
            token,
            Purpose::Subscription,
        )
        .await?;
        templates.extend(
            page["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(template),
        );
        let next = page["paging"]["cursors"]["after"]
            .as_str()
            .filter(|_| page["paging"]["next"].is_string());
        match next {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => return Ok(templates),
        }
    }
    Err(AccountError::unavailable(format!(
        "the template list did not end within {MAX_PAGES} pages"
    )))
}

fn template(item: &Value) -> Option<PlatformTemplate> {
    let text = |name: &str| item[name].as_str().map(str::to_owned);
    Some(PlatformTemplate {
        name: text("name")?,
        language: text("language")?,
        status: text("status").unwrap_or_else(|| "UNKNOWN".into()),
        category: text("category"),
        components: item
            .get("components")
            .cloned()
            .unwrap_or(Value::Array(Vec::new())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::fake_platform::{test_egress, FakePlatform, Reply};
    use crate::channels::webhook::WebhookSecrets;
    use serde_json::json;
    use std::collections::BTreeMap;
    use switchboard_domain::{ChannelKind, IntegrationId, SecretString};

    fn account(base: &str) -> AccountTarget {
        let fields: BTreeMap<String, SecretString> = [
            (BUSINESS_ACCOUNT_ID, "102290129340398"),
            (ACCESS_TOKEN, "EAAG-token"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), SecretString::new(v)))
        .collect();
        AccountTarget {
            integration_id: IntegrationId::new(),
            channel: ChannelKind::parse("whatsapp").unwrap(),
            api_base: base.to_owned(),
            secrets: WebhookSecrets::new(fields, Default::default()),
            webhook_url: None,
        }
    }

    fn page(names: &[&str], after: Option<&str>) -> Reply {
        let data: Vec<Value> = names
            .iter()
            .map(|name| json!({"name": name, "language": "en_US", "status": "APPROVED", "category": "UTILITY", "components": [{"type": "BODY", "text": "Hello {{1}}"}], "id": "5946"}))
            .collect();
        let mut paging =
            json!({"cursors": {"before": "QVFIUmx1", "after": after.unwrap_or("MjQZD")}});
        if after.is_some() {
            paging["next"] =
                json!("https://graph.facebook.com/v21.0/102290129340398/message_templates?after=x");
        }
        Reply::json(200, json!({"data": data, "paging": paging}))
    }

    #[tokio::test]
    async fn every_page_is_read_by_its_after_cursor_until_there_is_no_next() {
        let fake = FakePlatform::start(page(&["last_one"], None)).await;
        fake.then(page(&["order_update", "hello_world"], Some("QVFIUm9")));
        let templates = list_templates(&test_egress(), &account(&fake.base))
            .await
            .unwrap();
        let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["order_update", "hello_world", "last_one"]);
        assert_eq!(templates[0].status, "APPROVED");
        assert_eq!(templates[0].category.as_deref(), Some("UTILITY"));
        let requests = fake.requests();
        assert_eq!(requests.len(), 2);
        assert!(requests[0].path.starts_with("/102290129340398/message_templates?fields=name%2Clanguage%2Cstatus%2Ccategory%2Ccomponents&limit=100"), "{}", requests[0].path);
        assert!(
            requests[1].path.ends_with("&after=QVFIUm9"),
            "{}",
            requests[1].path
        );
        assert_eq!(requests[0].headers["authorization"], "Bearer EAAG-token");
    }

    #[tokio::test]
    async fn a_refused_token_is_refused_credentials() {
        let refused = Reply::json(
            401,
            json!({"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}}),
        );
        let fake = FakePlatform::start(refused).await;
        let error = list_templates(&test_egress(), &account(&fake.base))
            .await
            .unwrap_err();
        assert!(
            matches!(error, AccountError::RefusedCredentials(_)),
            "{error}"
        );
    }
}
