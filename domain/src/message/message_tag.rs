//! A platform's message tag: a label that lets a business message a contact after the
//! standard reply window, for one kind of update and for as long as the tag allows
//! (Messenger's `HUMAN_AGENT` up to 7 days after the contact's last message, its update tags
//! with no time limit). Declared by each channel that has them; checked before a send is
//! accepted, in place of the channel's reply window.

use crate::message::reply_window::OutsideWindow;
use chrono::{DateTime, Duration, Utc};

/// One tag a channel accepts, and how long after the contact's last message it may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagWindow {
    /// The platform's name for the tag, as sent (`HUMAN_AGENT`).
    pub tag: &'static str,
    /// How long after the contact's last message it may be used; `None`: at any time once
    /// the contact has written.
    pub hours: Option<i64>,
    /// The platform's name for the rule, for error messages.
    pub rule: &'static str,
}

impl TagWindow {
    /// Checks a tagged send at `now`, given the contact's last message.
    pub fn check(
        &self,
        now: DateTime<Utc>,
        last_inbound: Option<DateTime<Utc>>,
    ) -> Result<(), OutsideWindow> {
        let open = last_inbound.is_some_and(|at| {
            self.hours
                .is_none_or(|hours| now - at <= Duration::hours(hours))
        });
        if open {
            return Ok(());
        }
        match self.hours {
            Some(hours) => Err(OutsideWindow::Expired {
                rule: self.rule,
                hours,
            }),
            None => Err(OutsideWindow::NeverWrote { rule: self.rule }),
        }
    }
}

/// The declaration of `tag` among `tags`, if the channel accepts it.
pub fn find_tag<'t>(tags: &'t [TagWindow], tag: &str) -> Option<&'t TagWindow> {
    tags.iter().find(|t| t.tag == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUMAN_AGENT: TagWindow = TagWindow {
        tag: "HUMAN_AGENT",
        hours: Some(168),
        rule: "Messenger HUMAN_AGENT tag (7 days)",
    };
    const UPDATE: TagWindow = TagWindow {
        tag: "ACCOUNT_UPDATE",
        hours: None,
        rule: "Messenger ACCOUNT_UPDATE tag",
    };

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + hours * 3600, 0).unwrap()
    }

    #[test]
    fn a_tag_allows_a_send_inside_its_own_window_only() {
        assert_eq!(HUMAN_AGENT.check(at(167), Some(at(0))), Ok(()));
        assert!(HUMAN_AGENT.check(at(169), Some(at(0))).is_err());
    }

    #[test]
    fn an_update_tag_has_no_time_limit_but_needs_a_contact_message() {
        assert_eq!(UPDATE.check(at(10_000), Some(at(0))), Ok(()));
        assert!(UPDATE.check(at(1), None).is_err());
        assert_eq!(
            find_tag(&[HUMAN_AGENT, UPDATE], "ACCOUNT_UPDATE"),
            Some(&UPDATE)
        );
        assert_eq!(find_tag(&[HUMAN_AGENT], "ISSUE_RESOLUTION"), None);
    }
}
