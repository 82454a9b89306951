//! A pre-approved message template to send (WhatsApp's `type: "template"` messages): the
//! template's name and language as the platform knows them, and the values of its variables
//! per component. What the template says is the platform's; a send only fills it in.
//!
//! The shape is the WhatsApp Cloud API's `template` object, so the sender hands it on as it is:
//! `{"name", "language": {"code", "policy"?}, "components": [{"type", "sub_type"?, "index"?,
//! "parameters": [{"type": "text", "text": …}, …]}]}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest template name the platform accepts.
pub const MAX_TEMPLATE_NAME_CHARS: usize = 512;
/// The most components a template message may fill (header, body, footer and buttons).
pub const MAX_TEMPLATE_COMPONENTS: usize = 16;
/// The most parameters one component may carry.
pub const MAX_TEMPLATE_PARAMETERS: usize = 64;

/// A template to send, with the values of its variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateMessage {
    /// The template's name (lowercase letters, digits and underscores).
    pub name: String,
    /// The language (and locale) of the translation to send.
    pub language: TemplateLanguage,
    /// The values of its variables, per component; none for a template without variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<TemplateComponent>,
}

/// Which translation of a template to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateLanguage {
    /// The platform's language code (`en`, `en_US`, `pt_BR`…).
    pub code: String,
    /// How the platform picks the translation; `deterministic` is the only one it documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// The values of one component's variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateComponent {
    /// `header`, `body` or `button`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A button's kind (`quick_reply`, `url`, `copy_code`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    /// A button's position among the template's buttons (`"0"`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<Value>,
    /// The values, each an object with its `type` (`text`, `currency`, `date_time`, `image`,
    /// `document`, `video`, `payload`…) and the field of that name.
    #[serde(default)]
    pub parameters: Vec<Map<String, Value>>,
}

/// Why a template message cannot be sent as given; the text names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTemplate {
    /// The name is empty, too long or has other characters than `[a-z0-9_]`.
    #[error("template.name must be 1-{MAX_TEMPLATE_NAME_CHARS} lowercase letters, digits or underscores")]
    Name,
    /// The language code is empty or not a language code.
    #[error("template.language.code must be a language code such as en or en_US")]
    Language,
    /// A component's type is not one the platform fills.
    #[error("template.components[{0}].type must be header, body or button")]
    ComponentType(usize),
    /// A button component without its sub_type and index (a string or a number).
    #[error("template.components[{0}] is a button: it needs sub_type and index")]
    Button(usize),
    /// A parameter without a `type`, or without the field its type names.
    #[error("template.components[{0}].parameters[{1}] needs a type and the field of that name")]
    Parameter(usize, usize),
    /// More components or parameters than a template has.
    #[error("a template message fills at most {MAX_TEMPLATE_COMPONENTS} components of {MAX_TEMPLATE_PARAMETERS} parameters")]
    TooMany,
}

impl TemplateMessage {
    /// Checks what the platform requires of every template message, before it is queued.
    pub fn check(&self) -> Result<(), InvalidTemplate> {
        let name_ok = !self.name.is_empty()
            && self.name.chars().count() <= MAX_TEMPLATE_NAME_CHARS
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err(InvalidTemplate::Name);
        }
        let code = &self.language.code;
        let code_ok = (2..=15).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !code_ok {
            return Err(InvalidTemplate::Language);
        }
        if self.components.len() > MAX_TEMPLATE_COMPONENTS {
            return Err(InvalidTemplate::TooMany);
        }
        for (i, component) in self.components.iter().enumerate() {
            component.check(i)?;
        }
        Ok(())
    }
}

impl TemplateComponent {
    fn check(&self, i: usize) -> Result<(), InvalidTemplate> {
        match self.kind.as_str() {
            "header" | "body" => {}
            "button"
                if self.sub_type.is_some()
                    && self
                        .index
                        .as_ref()
                        .is_some_and(|i| i.is_string() || i.is_u64()) => {}
            "button" => return Err(InvalidTemplate::Button(i)),
            _ => return Err(InvalidTemplate::ComponentType(i)),
        }
        if self.parameters.len() > MAX_TEMPLATE_PARAMETERS {
            return Err(InvalidTemplate::TooMany);
        }
        for (j, parameter) in self.parameters.iter().enumerate() {
            let named = parameter
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|kind| parameter.get(kind).is_some_and(|v| !v.is_null()));
            if !named {
                return Err(InvalidTemplate::Parameter(i, j));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(value: Value) -> TemplateMessage {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_documented_shape_round_trips_unchanged() {
        let documented = json!({
            "name": "order_update",
            "language": {"code": "en_US", "policy": "deterministic"},
            "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example/a.png"}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "currency", "currency": {"fallback_value": "$10", "code": "USD", "amount_1000": 10000}}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK"}]}
            ]
        });
        let parsed = template(documented.clone());
        assert_eq!(parsed.check(), Ok(()));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), documented);
    }

    #[test]
    fn bad_names_languages_components_and_parameters_are_named() {
        let base = |name: &str, code: &str, components: Value| {
            template(json!({"name": name, "language": {"code": code}, "components": components}))
        };
        assert_eq!(
            base("Order Update", "en", json!([])).check(),
            Err(InvalidTemplate::Name)
        );
        assert_eq!(
            base("order", "e", json!([])).check(),
            Err(InvalidTemplate::Language)
        );
        assert_eq!(
            base("order", "en", json!([{"type": "footer"}])).check(),
            Err(InvalidTemplate::ComponentType(0))
        );
        assert_eq!(
            base("order", "en", json!([{"type": "button", "parameters": []}])).check(),
            Err(InvalidTemplate::Button(0))
        );
        assert_eq!(
            base(
                "order",
                "en",
                json!([{"type": "body", "parameters": [{"type": "text"}]}])
            )
            .check(),
            Err(InvalidTemplate::Parameter(0, 0))
        );
    }
}
