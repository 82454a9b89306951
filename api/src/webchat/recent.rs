//! The messages announced to visitors lately, kept by each replica for a short while.
//!
//! A widget resumes from history, and history is the inbox, which the projection writes a
//! moment after the reply was announced. A widget reconnecting in that moment (a page load,
//! a dropped socket) would find the reply neither live (it was announced while no socket was
//! open) nor in history (not yet projected). Every replica hears every announcement, so each
//! keeps the latest ones for [`RECENT_FOR`], at most [`MAX_RECENT`] in all, and a resume adds
//! those to what history has.

use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use switchboard_adapters::channels::webchat::wire::ChatMessage;
use switchboard_domain::IntegrationId;

/// How long an announced message is kept: far longer than the projection takes.
pub const RECENT_FOR: Duration = Duration::from_secs(120);
/// The most messages kept in all (the oldest go first).
pub const MAX_RECENT: usize = 10_000;

/// Announced messages, oldest first.
#[derive(Debug, Default)]
pub struct RecentMessages {
    kept: VecDeque<Kept>,
}

#[derive(Debug)]
struct Kept {
    heard: Instant,
    integration_id: IntegrationId,
    visitor: String,
    message: ChatMessage,
}

impl RecentMessages {
    /// Keeps `message` of `visitor` of `integration_id`, heard at `now`.
    pub fn remember(
        &mut self,
        integration_id: IntegrationId,
        visitor: &str,
        message: ChatMessage,
        now: Instant,
    ) {
        self.forget_before(now);
        if self.kept.len() == MAX_RECENT {
            self.kept.pop_front();
        }
        self.kept.push_back(Kept {
            heard: now,
            integration_id,
            visitor: visitor.to_owned(),
            message,
        });
    }

    /// The kept messages of `visitor` sent at or after `after` (all kept, when `None`).
    pub fn since(
        &mut self,
        integration_id: IntegrationId,
        visitor: &str,
        after: Option<DateTime<Utc>>,
        now: Instant,
    ) -> Vec<ChatMessage> {
        self.forget_before(now);
        self.kept
            .iter()
            .filter(|k| k.integration_id == integration_id && k.visitor == visitor)
            .filter(|k| after.is_none_or(|after| k.message.sent_at >= after))
            .map(|k| k.message.clone())
            .collect()
    }

    fn forget_before(&mut self, now: Instant) {
        while self
            .kept
            .front()
            .is_some_and(|k| now.duration_since(k.heard) > RECENT_FOR)
        {
            self.kept.pop_front();
        }
    }
}

/// `history` with the `recent` messages it lacks, each once, in the order they were sent.
pub fn merged(mut history: Vec<ChatMessage>, recent: Vec<ChatMessage>) -> Vec<ChatMessage> {
    for message in recent {
        if !history.iter().any(|m| m.id == message.id) {
            history.push(message);
        }
    }
    history.sort_by(|a, b| a.sent_at.cmp(&b.sent_at).then_with(|| a.id.cmp(&b.id)));
    history
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_adapters::channels::webchat::wire::Author;

    fn message(id: &str, sent_at: DateTime<Utc>) -> ChatMessage {
        ChatMessage {
            id: id.into(),
            author: Author::Agent,
            text: Some(format!("text of {id}")),
            extras: serde_json::Value::Null,
            sent_at,
            client_id: None,
        }
    }

    #[test]
    fn a_visitor_gets_their_own_messages_since_the_bound_until_they_expire() {
        let site = IntegrationId::new();
        let other_site = IntegrationId::new();
        let start = Instant::now();
        let at = Utc::now();
        let mut recent = RecentMessages::default();
        recent.remember(site, "v1", message("a", at), start);
        recent.remember(site, "v2", message("b", at), start);
        recent.remember(other_site, "v1", message("c", at), start);
        recent.remember(
            site,
            "v1",
            message("d", at + chrono::Duration::seconds(5)),
            start,
        );

        let ids = |found: Vec<ChatMessage>| found.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(recent.since(site, "v1", None, start)), ["a", "d"]);
        assert_eq!(ids(recent.since(site, "v1", Some(at), start)), ["a", "d"]);
        let later = Some(at + chrono::Duration::seconds(1));
        assert_eq!(ids(recent.since(site, "v1", later, start)), ["d"]);
        let expired = start + RECENT_FOR + Duration::from_secs(1);
        assert!(recent.since(site, "v1", None, expired).is_empty());
    }

    #[test]
    fn the_oldest_go_first_beyond_the_cap() {
        let site = IntegrationId::new();
        let now = Instant::now();
        let at = Utc::now();
        let mut recent = RecentMessages::default();
        for n in 0..=MAX_RECENT {
            recent.remember(site, "v", message(&n.to_string(), at), now);
        }
        let kept = recent.since(site, "v", None, now);
        assert_eq!(kept.len(), MAX_RECENT);
        assert_eq!(kept[0].id, "1", "the first one went");
    }

    #[test]
    fn merging_adds_what_history_lacks_once_in_sending_order() {
        let at = Utc::now();
        let later = at + chrono::Duration::seconds(1);
        let history = vec![message("a", at)];
        let recent = vec![message("b", later), message("a", at)];
        let merged = merged(history, recent);
        let ids: Vec<_> = merged.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }
}
