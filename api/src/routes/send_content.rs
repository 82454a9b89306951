//! What a send may carry, checked the same way by both routes that send (a reply in a
//! conversation, a first message through an integration): something to say; a template only
//! where the channel has them, well-formed, alone, and listed by the platform as approved
//! ([`crate::template_cache`]); a message tag only where the channel has that tag. Each
//! refusal is a 422 naming the field or the rule.

use crate::error::Problem;
use crate::send_queue::rule;
use crate::state::AppState;
use switchboard_adapters::channels::sender::ChannelSender;
use switchboard_domain::integration::Integration;
use switchboard_domain::message::{find_tag, OutboundContent};
use switchboard_domain::{ChannelKind, FieldProblem, IntegrationId};

/// A send's content and where it goes.
pub struct ContentRequest<'a> {
    /// The channel.
    pub channel: &'a ChannelKind,
    /// Its sender.
    pub sender: &'a dyn ChannelSender,
    /// The integration it goes through.
    pub integration: &'a Integration,
    /// Its id.
    pub integration_id: IntegrationId,
    /// What it says.
    pub content: &'a OutboundContent,
}

/// Refuses content the channel cannot send as asked.
pub async fn check_content(state: &AppState, request: ContentRequest<'_>) -> Result<(), Problem> {
    let ContentRequest {
        channel,
        sender,
        content,
        ..
    } = request;
    if content.is_empty() {
        return Err(Problem::invalid(
            "a message needs text, an attachment or a template",
        ));
    }
    if let Some(tag) = &content.tag {
        if find_tag(sender.message_tags(), tag).is_none() {
            let known: Vec<&str> = sender.message_tags().iter().map(|t| t.tag).collect();
            let detail = if known.is_empty() {
                format!("the {channel} channel has no message tags; '{tag}' cannot be sent")
            } else {
                format!(
                    "the {channel} channel has no message tag '{tag}' (it has {})",
                    known.join(", ")
                )
            };
            return Err(rule("unknown-message-tag", detail));
        }
    }
    let Some(template) = &content.template else {
        return Ok(());
    };
    if !sender.sends_templates() {
        return Err(rule(
            "channel-has-no-templates",
            format!("the {channel} channel has no message templates"),
        ));
    }
    let alone = content.text.is_none()
        && content.attachments.is_empty()
        && content.quick_replies.is_empty()
        && content.tag.is_none();
    if !alone {
        return Err(field(
            "template",
            "a template is sent alone: no text, attachments, quick replies or tag beside it",
        ));
    }
    template
        .check()
        .map_err(|e| field("template", &e.to_string()))?;
    crate::template_cache::require_approved(
        state,
        request.integration,
        request.integration_id,
        template,
    )
    .await
}

fn field(name: &str, problem: &str) -> Problem {
    Problem::invalid(problem.to_owned()).with_errors(vec![FieldProblem {
        field: name.to_owned(),
        problem: problem.to_owned(),
    }])
}
