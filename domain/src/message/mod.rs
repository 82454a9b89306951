//! Messages as the platform sees them: normalised content, contacts, conversation keys, and the
//! immutable inbound events (`MessageReceived` and inbound receipts) published to Kafka.

mod activity;
mod content;
mod inbound;
mod inbound_facts;

pub use activity::{ConversationAction, ConversationActivity};
pub use content::{Attachment, AttachmentKind, MessageContent};
pub use inbound::{
    conversation_key, Contact, InboundDraft, InboundEvent, InboundKind, PlatformError,
    EVENT_ID_NAMESPACE,
};
mod message_tag;
mod outbound;
mod reply_window;
mod template;
pub use message_tag::{find_tag, TagWindow};
pub use outbound::{
    DeliveryOutcome, DeliveryUpdate, FailureReason, InvalidSendMessage, OutboundAttachment,
    OutboundContent, QuickReplyOption, SendMessage,
};
pub use reply_window::{OutsideWindow, ReplyWindow};
pub use template::{
    InvalidTemplate, TemplateComponent, TemplateLanguage, TemplateMessage, MAX_TEMPLATE_NAME_CHARS,
};
