//! Extractors whose rejections speak problem+json: malformed JSON 400, well-formed JSON of the
//! wrong shape (an array or scalar where an object belongs, too) 422, a NUL character in any
//! string 422, wrong content type 415, body over the
//! limit 413, bad path or query 400/404.

use crate::error::Problem;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use serde::de::DeserializeOwned;

/// `axum::Json` with problem+json rejections.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    Problem::bad_request(rejection.body_text())
                }
            })?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            // serde would read a struct from an array too; every body here is an object.
            return Err(
                if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
                    Problem::invalid("the body must be a JSON object")
                } else {
                    Problem::bad_request("the body is not well-formed JSON")
                },
            );
        }
        if has_nul_escape(&bytes) {
            return Err(Problem::invalid(
                "text fields must not contain NUL characters",
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_problem(rejection)),
        }
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether the JSON text holds the escape `\u0000` (a raw NUL byte is no JSON at all): an
/// escape is one when an odd number of backslashes precede its `u`.
fn has_nul_escape(json: &[u8]) -> bool {
    json.windows(6).enumerate().any(|(at, window)| {
        window[0] == b'\\'
            && window[1] == b'u'
            && window[2..].iter().all(|b| *b == b'0')
            && json[..at].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        "Body too large",
        "the request body exceeds the configured limit",
    )
}

fn json_problem(rejection: JsonRejection) -> Problem {
    match rejection {
        JsonRejection::JsonDataError(e) => Problem::invalid(e.body_text()),
        JsonRejection::JsonSyntaxError(e) => Problem::bad_request(e.body_text()),
        JsonRejection::MissingJsonContentType(e) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            e.body_text(),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        other => Problem::bad_request(other.body_text()),
    }
}

/// `axum::extract::Path` whose rejection is a 404: a malformed id names no resource.
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection: PathRejection| Problem::not_found(rejection.body_text()))
    }
}

/// `axum::extract::Query` whose rejection is a 400.
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|rejection: QueryRejection| Problem::bad_request(rejection.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::has_nul_escape;

    #[test]
    fn only_real_nul_escapes_count() {
        assert!(has_nul_escape(br#"{"a":"x\u0000"}"#));
        assert!(has_nul_escape(br#"{"a":"\\\u0000"}"#));
        assert!(
            !has_nul_escape(br#"{"a":"\\u0000"}"#),
            "an escaped backslash, then text"
        );
        assert!(!has_nul_escape(br#"{"a":"\u0001"}"#));
    }
}
