//! The sites allowed to embed an integration's widget, and the check of a browser's `Origin`
//! against them.
//!
//! The allow-list is the integration's `allowed_origin` auth field plus any origins in its
//! `allowed_origins` setting (a list). Entries are compared as origins: scheme, host and port,
//! lower-cased, default ports dropped, anything after the authority ignored. A request without
//! an `Origin` header is refused: every browser sends one on a WebSocket upgrade and on a
//! cross-origin `fetch`, and the widget only ever talks from a page.

use serde_json::Value;

/// An origin, normalised: `https://shop.example.com`, `http://127.0.0.1:8080`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    /// The origin of `text` (a URL or a bare origin), if it has an http(s) scheme and a host.
    pub fn parse(text: &str) -> Option<Self> {
        let url = reqwest::Url::parse(text.trim()).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let origin = match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        Some(Self(origin))
    }

    /// The origin as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The origins an integration's widget may be used from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<Origin>);

impl AllowedOrigins {
    /// The allow-list of an integration: its `allowed_origin` auth field and its
    /// `allowed_origins` setting. Entries that are not origins are ignored.
    pub fn of(allowed_origin: Option<&str>, settings: &Value) -> Self {
        let listed = settings
            .get("allowed_origins")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        let origins = allowed_origin
            .into_iter()
            .chain(listed)
            .filter_map(Origin::parse)
            .collect();
        Self(origins)
    }

    /// Whether the browser's `Origin` header value is on the list.
    pub fn admits(&self, origin_header: Option<&str>) -> bool {
        let Some(origin) = origin_header.and_then(Origin::parse) else {
            return false;
        };
        self.0.contains(&origin)
    }

    /// The first entry, for the widget's own pages (the demo is served from it).
    pub fn first(&self) -> Option<&Origin> {
        self.0.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn origins_compare_by_scheme_host_and_port() {
        let list = AllowedOrigins::of(
            Some("https://Shop.Example.com/pages/help"),
            &json!({"allowed_origins": ["http://127.0.0.1:8080", "not a url", 7]}),
        );
        assert!(list.admits(Some("https://shop.example.com")));
        assert!(list.admits(Some("https://shop.example.com:443")));
        assert!(list.admits(Some("http://127.0.0.1:8080")));
        assert!(!list.admits(Some("http://shop.example.com")));
        assert!(!list.admits(Some("https://evil.example.com")));
        assert!(!list.admits(Some("http://127.0.0.1:8081")));
        assert!(!list.admits(Some("null")));
        assert!(!list.admits(None));
    }
}
