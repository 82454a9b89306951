//! A platform's rule for when a business may message a contact on its own: within some hours
//! of the contact's last message, and at most so many messages in that time. Declared by each
//! channel in its spec; checked before a send is accepted.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// A channel's reply window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReplyWindow {
    /// How long after the contact's last message replies are allowed.
    pub hours: i64,
    /// How many messages may be sent in that time, when the platform caps them.
    pub max_messages: Option<u32>,
    /// The platform's name for the rule, for error messages.
    pub rule: &'static str,
}

/// Why a send falls outside the window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutsideWindow {
    /// The contact never wrote, or wrote too long ago.
    #[error("{rule}: the contact's last message is older than {hours} hours (or there is none)")]
    Expired {
        /// The rule's name.
        rule: &'static str,
        /// The window length.
        hours: i64,
    },
    /// The contact never wrote (a tag without a time limit still needs a conversation).
    #[error("{rule}: the contact has not written yet")]
    NeverWrote {
        /// The rule's name.
        rule: &'static str,
    },
    /// The window's message cap is used up.
    #[error("{rule}: {max} messages were already sent since the contact's last message")]
    QuotaUsed {
        /// The rule's name.
        rule: &'static str,
        /// The cap.
        max: u32,
    },
}

impl ReplyWindow {
    /// Checks a send at `now`, given the contact's last message and how many messages were
    /// sent since it.
    pub fn check(
        &self,
        now: DateTime<Utc>,
        last_inbound: Option<DateTime<Utc>>,
        sent_since: u32,
    ) -> Result<(), OutsideWindow> {
        let open = last_inbound.is_some_and(|at| now - at <= Duration::hours(self.hours));
        if !open {
            return Err(OutsideWindow::Expired {
                rule: self.rule,
                hours: self.hours,
            });
        }
        match self.max_messages {
            Some(max) if sent_since >= max => Err(OutsideWindow::QuotaUsed {
                rule: self.rule,
                max,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIKTOK: ReplyWindow = ReplyWindow {
        hours: 48,
        max_messages: Some(10),
        rule: "TikTok 48-hour window",
    };

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + hours * 3600, 0).unwrap()
    }

    #[test]
    fn a_reply_inside_the_window_and_under_the_cap_is_allowed() {
        assert_eq!(TIKTOK.check(at(47), Some(at(0)), 9), Ok(()));
    }

    #[test]
    fn a_reply_after_the_window_or_without_a_contact_message_is_refused() {
        let expired = OutsideWindow::Expired {
            rule: TIKTOK.rule,
            hours: 48,
        };
        assert_eq!(TIKTOK.check(at(49), Some(at(0)), 0), Err(expired.clone()));
        assert_eq!(TIKTOK.check(at(1), None, 0), Err(expired));
    }

    #[test]
    fn the_tenth_message_uses_up_the_cap() {
        assert_eq!(
            TIKTOK.check(at(1), Some(at(0)), 10),
            Err(OutsideWindow::QuotaUsed {
                rule: TIKTOK.rule,
                max: 10
            })
        );
    }
}
