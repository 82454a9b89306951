//! Per-channel credentials: each channel declares its auth fields once ([`AuthSpec`]); commands
//! validate submitted fields against it, and the API serves it as JSON Schema.
//!
//! Secret fields are sealed before they enter an event ([`StoredAuth`]); plaintext secrets live
//! only inside [`AuthInput`], whose `Debug` never prints values.

use crate::secret::{SealError, SealedSecret, SecretSealer, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// How a channel authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    /// Fields the workspace fills in by hand (bot token, SMTP host and password…).
    Custom,
    /// Tokens obtained through the platform's OAuth2 flow.
    Oauth2,
}

/// The type of one auth field, which decides how it is validated and whether it is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthFieldKind {
    /// Free text, stored in plaintext.
    Text,
    /// A secret: sealed before storage, never returned by the API.
    Secret,
    /// An http(s) URL.
    Url,
    /// An e-mail address.
    Email,
    /// A TCP port, 1–65535.
    Port,
    /// true or false.
    Boolean,
}

/// One field of a channel's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthField {
    /// JSON property name.
    pub name: &'static str,
    /// Its type.
    pub kind: AuthFieldKind,
    /// Whether credentials are incomplete without it.
    pub required: bool,
    /// One line for the settings page.
    pub description: &'static str,
}

impl AuthField {
    /// A required field.
    pub const fn required(
        name: &'static str,
        kind: AuthFieldKind,
        description: &'static str,
    ) -> Self {
        Self {
            name,
            kind,
            required: true,
            description,
        }
    }

    /// An optional field.
    pub const fn optional(
        name: &'static str,
        kind: AuthFieldKind,
        description: &'static str,
    ) -> Self {
        Self {
            name,
            kind,
            required: false,
            description,
        }
    }
}

/// A channel's auth declaration: its scheme and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSpec {
    /// Custom fields or OAuth2 tokens.
    pub scheme: AuthScheme,
    /// The fields, in display order.
    pub fields: Vec<AuthField>,
}

/// One problem with one submitted field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    /// The field name.
    pub field: String,
    /// What is wrong, without echoing the value.
    pub problem: String,
}

impl FieldProblem {
    fn new(field: &str, problem: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Submitted credentials, as plaintext JSON values. `Debug` prints only the field names.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct AuthInput(pub BTreeMap<String, Value>);

impl fmt::Debug for AuthInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// One stored field: plaintext for non-secret kinds, sealed for secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredValue {
    /// A non-secret value, kept as submitted.
    Plain(Value),
    /// A secret, encrypted.
    Sealed(SealedSecret),
}

/// Credentials as they are stored in events: secrets sealed, everything else plain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoredAuth(pub BTreeMap<String, StoredValue>);

impl StoredAuth {
    /// Merges `newer` over `self`, field by field.
    pub fn merged_with(&self, newer: &StoredAuth) -> StoredAuth {
        let mut fields = self.0.clone();
        fields.extend(newer.0.clone());
        StoredAuth(fields)
    }

    /// What the API may show: plain values as they are, secrets only as `"[set]"`.
    pub fn redacted(&self) -> Map<String, Value> {
        self.0
            .iter()
            .map(|(name, value)| match value {
                StoredValue::Plain(v) => (name.clone(), v.clone()),
                StoredValue::Sealed(_) => (name.clone(), Value::from("[set]")),
            })
            .collect()
    }

    /// Opens one sealed field, for the adapter that must present it to a platform.
    pub fn open(
        &self,
        field: &str,
        sealer: &dyn SecretSealer,
        context: &str,
    ) -> Option<Result<SecretString, SealError>> {
        match self.0.get(field)? {
            StoredValue::Sealed(sealed) => Some(sealer.open(sealed, &seal_context(context, field))),
            StoredValue::Plain(Value::String(s)) => Some(Ok(SecretString::new(s.clone()))),
            StoredValue::Plain(value @ (Value::Number(_) | Value::Bool(_))) => {
                Some(Ok(SecretString::new(value.to_string())))
            }
            StoredValue::Plain(_) => None,
        }
    }
}

/// The associated data a secret field is sealed with: its owner and its field name.
pub fn seal_context(owner: &str, field: &str) -> String {
    format!("{owner}/{field}")
}

impl AuthSpec {
    /// Checks submitted fields: unknown fields and badly typed values are refused. Missing
    /// fields are not: credentials may arrive in parts ([`AuthSpec::missing_fields`] checks
    /// completeness when it matters, on connect).
    pub fn validate(&self, input: &AuthInput) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        for name in input.0.keys() {
            if !self.fields.iter().any(|f| f.name == name) {
                problems.push(FieldProblem::new(name, "unknown field for this channel"));
            }
        }
        for field in &self.fields {
            if let Some(value) = input.0.get(field.name) {
                if let Err(problem) = check_value(field.kind, value) {
                    problems.push(FieldProblem::new(field.name, problem));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The required fields that stored credentials still lack.
    pub fn missing_fields(&self, stored: &StoredAuth) -> Vec<FieldProblem> {
        self.fields
            .iter()
            .filter(|f| f.required && !stored.0.contains_key(f.name))
            .map(|f| FieldProblem::new(f.name, "required"))
            .collect()
    }

    /// Turns validated input into its stored form, sealing every secret field for `owner`.
    pub fn seal(
        &self,
        input: &AuthInput,
        sealer: &dyn SecretSealer,
        owner: &str,
    ) -> Result<StoredAuth, SealError> {
        let mut stored = BTreeMap::new();
        for (name, value) in &input.0 {
            let kind = self.fields.iter().find(|f| f.name == name).map(|f| f.kind);
            let entry = match (kind, value) {
                (Some(AuthFieldKind::Secret), Value::String(s)) => StoredValue::Sealed(
                    sealer.seal(&SecretString::new(s.clone()), &seal_context(owner, name))?,
                ),
                _ => StoredValue::Plain(value.clone()),
            };
            stored.insert(name.clone(), entry);
        }
        Ok(StoredAuth(stored))
    }

    /// The JSON Schema (draft 2020-12) of these fields, as served by `GET /v1/channels`.
    pub fn json_schema(&self) -> Value {
        let properties: Map<String, Value> = self
            .fields
            .iter()
            .map(|f| (f.name.to_owned(), field_schema(f)))
            .collect();
        let required: Vec<&str> = self
            .fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name)
            .collect();
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "x-auth-scheme": self.scheme,
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }
}

fn field_schema(field: &AuthField) -> Value {
    let mut schema = match field.kind {
        AuthFieldKind::Text => json!({"type": "string", "minLength": 1}),
        AuthFieldKind::Secret => {
            json!({"type": "string", "minLength": 1, "format": "password", "writeOnly": true})
        }
        AuthFieldKind::Url => json!({"type": "string", "format": "uri", "pattern": "^https?://"}),
        AuthFieldKind::Email => json!({"type": "string", "format": "email"}),
        AuthFieldKind::Port => json!({"type": "integer", "minimum": 1, "maximum": 65535}),
        AuthFieldKind::Boolean => json!({"type": "boolean"}),
    };
    schema["description"] = Value::from(field.description);
    schema
}

fn check_value(kind: AuthFieldKind, value: &Value) -> Result<(), &'static str> {
    let non_empty_text = |v: &Value| v.as_str().is_some_and(|s| !s.trim().is_empty());
    match kind {
        AuthFieldKind::Text | AuthFieldKind::Secret if non_empty_text(value) => Ok(()),
        AuthFieldKind::Text | AuthFieldKind::Secret => Err("must be a non-empty string"),
        AuthFieldKind::Url => match value.as_str() {
            Some(s) if (s.starts_with("https://") || s.starts_with("http://")) && s.len() > 8 => {
                Ok(())
            }
            _ => Err("must be an http(s) URL"),
        },
        AuthFieldKind::Email => match value.as_str() {
            Some(s)
                if s.split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && d.contains('.')) =>
            {
                Ok(())
            }
            _ => Err("must be an e-mail address"),
        },
        AuthFieldKind::Port => match value.as_u64() {
            Some(1..=65535) => Ok(()),
            _ => Err("must be an integer from 1 to 65535"),
        },
        AuthFieldKind::Boolean if value.is_boolean() => Ok(()),
        AuthFieldKind::Boolean => Err("must be true or false"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp_like() -> AuthSpec {
        AuthSpec {
            scheme: AuthScheme::Custom,
            fields: vec![
                AuthField::required("host", AuthFieldKind::Text, "SMTP host"),
                AuthField::required("port", AuthFieldKind::Port, "SMTP port"),
                AuthField::required("password", AuthFieldKind::Secret, "SMTP password"),
                AuthField::optional("from", AuthFieldKind::Email, "Sender"),
            ],
        }
    }

    fn input(value: Value) -> AuthInput {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn complete_and_well_typed_fields_pass() {
        let ok = input(json!({"host": "smtp.example.com", "port": 587, "password": "pw"}));
        assert_eq!(smtp_like().validate(&ok), Ok(()));
    }

    #[test]
    fn each_problem_is_named_without_echoing_values() {
        let bad = input(json!({"host": "", "port": 70000, "from": "nobody", "extra": "hunter2"}));
        let problems = smtp_like().validate(&bad).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["extra", "host", "port", "from"]);
        assert!(!format!("{problems:?}").contains("hunter2"));
    }

    #[test]
    fn partial_input_is_valid_but_reports_its_missing_fields() {
        let partial = input(json!({"host": "smtp.example.com"}));
        assert_eq!(smtp_like().validate(&partial), Ok(()));
        let stored = StoredAuth(
            partial
                .0
                .into_iter()
                .map(|(k, v)| (k, StoredValue::Plain(v)))
                .collect(),
        );
        let missing: Vec<String> = smtp_like()
            .missing_fields(&stored)
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(missing, ["port", "password"]);
    }

    #[test]
    fn schema_lists_required_fields_and_marks_secrets_write_only() {
        let schema = smtp_like().json_schema();
        assert_eq!(schema["required"], json!(["host", "port", "password"]));
        assert_eq!(schema["properties"]["password"]["writeOnly"], json!(true));
        assert_eq!(schema["additionalProperties"], json!(false));
    }

    /// Holds no keys: plain fields must open without it.
    struct NoKeys;

    impl SecretSealer for NoKeys {
        fn seal(&self, _: &SecretString, _: &str) -> Result<SealedSecret, SealError> {
            Err(SealError::UnknownKey("none".into()))
        }
        fn open(&self, _: &SealedSecret, _: &str) -> Result<SecretString, SealError> {
            Err(SealError::UnknownKey("none".into()))
        }
    }

    #[test]
    fn scalar_plain_fields_open_as_their_text_and_structures_do_not() {
        let stored = StoredAuth(
            [
                ("port", json!(2525)),
                ("starttls", json!(false)),
                ("host", json!("smtp.example.com")),
                ("extra", json!({"nested": 1})),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), StoredValue::Plain(v)))
            .collect(),
        );
        let open = |field: &str| {
            stored
                .open(field, &NoKeys, "owner")
                .map(|opened| opened.unwrap().expose().to_owned())
        };
        assert_eq!(open("port").as_deref(), Some("2525"));
        assert_eq!(open("starttls").as_deref(), Some("false"));
        assert_eq!(open("host").as_deref(), Some("smtp.example.com"));
        assert_eq!(open("extra"), None);
        assert_eq!(open("missing"), None);
    }

    #[test]
    fn auth_input_debug_shows_names_only() {
        let secret = input(json!({"password": "hunter2"}));
        assert_eq!(format!("{secret:?}"), r#"{"password"}"#);
    }
}
