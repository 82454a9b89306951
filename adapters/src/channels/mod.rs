//! The channel registry: one folder per platform, one line per channel below. Nothing else in
//! the codebase lists channels: routes, the auth JSON Schema and settings derive from here.

pub mod chatbotx;
pub mod email;
pub mod google_sheets;
pub mod messenger;
pub mod smtp;
pub mod telegram;
pub mod tiktok;
pub mod webchat;
pub mod whatsapp;
pub mod zalo;

use switchboard_domain::{ChannelCatalog, ChannelKind, ChannelSpec};

/// Every channel this build knows, in display order.
#[derive(Debug, Clone)]
pub struct ChannelRegistry {
    specs: Vec<ChannelSpec>,
}

impl ChannelRegistry {
    /// The registry of all built-in channels.
    pub fn builtin() -> Self {
        Self {
            specs: vec![
                messenger::spec(),
                whatsapp::spec(),
                zalo::spec(),
                tiktok::spec(),
                telegram::spec(),
                webchat::spec(),
                email::spec(),
                smtp::spec(),
                google_sheets::spec(),
                chatbotx::spec(),
            ],
        }
    }
}

impl ChannelCatalog for ChannelRegistry {
    fn spec(&self, kind: &ChannelKind) -> Option<&ChannelSpec> {
        self.specs.iter().find(|s| &s.kind == kind)
    }

    fn all(&self) -> Vec<&ChannelSpec> {
        self.specs.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use switchboard_domain::AuthFieldKind;

    #[test]
    fn channel_names_are_unique_and_resolvable() {
        let registry = ChannelRegistry::builtin();
        let names: HashSet<_> = registry.all().iter().map(|s| s.kind.clone()).collect();
        assert_eq!(names.len(), registry.all().len());
        for kind in names {
            assert_eq!(registry.spec(&kind).map(|s| &s.kind), Some(&kind));
        }
    }

    #[test]
    fn every_channel_declares_at_least_one_required_field_and_unique_field_names() {
        for spec in ChannelRegistry::builtin().all() {
            assert!(spec.auth.fields.iter().any(|f| f.required), "{}", spec.kind);
            let names: HashSet<_> = spec.auth.fields.iter().map(|f| f.name).collect();
            assert_eq!(names.len(), spec.auth.fields.len(), "{}", spec.kind);
        }
    }

    #[test]
    fn credentials_with_tokens_are_declared_secret() {
        for spec in ChannelRegistry::builtin().all() {
            for field in &spec.auth.fields {
                let looks_secret = ["token", "password", "secret", "api_key"]
                    .iter()
                    .any(|w| field.name.contains(w));
                if looks_secret {
                    assert_eq!(
                        field.kind,
                        AuthFieldKind::Secret,
                        "{}.{}",
                        spec.kind,
                        field.name
                    );
                }
            }
        }
    }
}
