//! Whether a channel lets a business write first (to someone who never wrote to it), and to
//! what kind of address: declared by each channel's sender
//! ([`crate::channels::sender::ChannelSender::first_contact`]), checked by the route that
//! starts conversations.
//!
//! The address is normalised to the id the platform's webhooks name the contact by, so the
//! conversation a first message creates is the one the contact's answer lands in: a WhatsApp
//! number becomes its `wa_id` (digits only), an e-mail address keeps its local part and has
//! its domain lowercased, a Telegram chat id is its integer.

/// How a channel may start a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstContact {
    /// It may not: the platform lets a business answer only people who wrote first. The text
    /// says why, in the platform's terms.
    Refused(&'static str),
    /// It may, to an address of this kind.
    Allowed {
        /// What the recipient is.
        recipient: RecipientKind,
        /// Whether the first message must be a pre-approved template (WhatsApp).
        template_only: bool,
    },
}

/// What kind of address a first message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientKind {
    /// A phone number in international format (`+16505551234`; spaces, dashes, dots and
    /// brackets are ignored), 8 to 15 digits with the country code.
    PhoneNumber,
    /// An e-mail address.
    EmailAddress,
    /// A Telegram chat id (an integer; negative for groups).
    TelegramChatId,
}

impl RecipientKind {
    /// Its name in error messages and the API description.
    pub fn describe(self) -> &'static str {
        match self {
            Self::PhoneNumber => "a phone number in international format (+16505551234)",
            Self::EmailAddress => "an e-mail address",
            Self::TelegramChatId => "a Telegram chat id (an integer)",
        }
    }

    /// The contact id `input` stands for on the platform, or `None` when it is not an address
    /// of this kind.
    pub fn normalise(self, input: &str) -> Option<String> {
        let input = input.trim();
        match self {
            Self::PhoneNumber => phone_number(input),
            Self::EmailAddress => email_address(input),
            Self::TelegramChatId => chat_id(input),
        }
    }
}

fn phone_number(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(char::is_ascii_digit).collect();
    let allowed = input
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " -.()".contains(c) || (c == '+' && i == 0));
    (allowed && (8..=15).contains(&digits.len()) && !digits.starts_with('0')).then_some(digits)
}

fn email_address(input: &str) -> Option<String> {
    let (local, domain) = input.rsplit_once('@')?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.contains(['@', '<', '>', ',', ';', '"', '\\'])
        && !local.chars().any(|c| c.is_whitespace() || c.is_control());
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    (local_ok && domain_ok).then(|| format!("{local}@{}", domain.to_ascii_lowercase()))
}

fn chat_id(input: &str) -> Option<String> {
    input
        .parse::<i64>()
        .ok()
        .filter(|id| *id != 0)
        .map(|id| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::ChannelRegistry;
    use std::collections::HashSet;
    use switchboard_domain::ChannelCatalog;

    #[test]
    fn every_channel_declares_first_contact_tags_and_templates_consistently() {
        let registry = ChannelRegistry::builtin();
        for spec in registry.all() {
            let Some(sender) = registry.sender(&spec.kind) else {
                continue;
            };
            if let FirstContact::Allowed { template_only, .. } = sender.first_contact() {
                assert!(
                    !template_only || sender.sends_templates(),
                    "{}: starts by template without sending templates",
                    spec.kind
                );
                assert!(
                    !sender.addresses_threads(),
                    "{}: a thread cannot be written to first",
                    spec.kind
                );
            }
            let tags: HashSet<&str> = sender.message_tags().iter().map(|t| t.tag).collect();
            assert_eq!(tags.len(), sender.message_tags().len(), "{}", spec.kind);
            for tag in sender.message_tags() {
                let longer = tag.hours.is_none_or(|hours| {
                    spec.reply_window.is_none_or(|window| hours > window.hours)
                });
                assert!(
                    longer,
                    "{}: {} shorter than the reply window",
                    spec.kind, tag.tag
                );
            }
        }
    }

    #[test]
    fn a_phone_number_becomes_the_wa_id_the_webhooks_name() {
        let phone = RecipientKind::PhoneNumber;
        assert_eq!(
            phone.normalise("+1 (650) 555-1234").as_deref(),
            Some("16505551234")
        );
        assert_eq!(
            phone.normalise("16505551234").as_deref(),
            Some("16505551234")
        );
        for bad in [
            "",
            "+1 650",
            "0650555123",
            "call 16505551234",
            "1650+5551234",
        ] {
            assert_eq!(phone.normalise(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_email_address_keeps_its_local_part_and_lowercases_its_domain() {
        let email = RecipientKind::EmailAddress;
        assert_eq!(
            email.normalise(" Ada.Lovelace@Example.COM ").as_deref(),
            Some("Ada.Lovelace@example.com")
        );
        for bad in [
            "ada",
            "@example.com",
            "ada@",
            "ada@localhost",
            "a b@example.com",
            "ada@exa_mple.com",
        ] {
            assert_eq!(email.normalise(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_chat_id_is_a_non_zero_integer() {
        let chat = RecipientKind::TelegramChatId;
        assert_eq!(chat.normalise("987654321").as_deref(), Some("987654321"));
        assert_eq!(
            chat.normalise("-1001234567890").as_deref(),
            Some("-1001234567890")
        );
        assert_eq!(chat.normalise("@channel"), None);
        assert_eq!(chat.normalise("0"), None);
    }
}
