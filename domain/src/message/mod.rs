//! Messages as the platform sees them: normalised content, contacts, conversation keys, and the
//! immutable inbound events (`MessageReceived` and inbound receipts) published to Kafka.

mod activity;
mod content;
mod inbound;

pub use activity::{ConversationAction, ConversationActivity};
pub use content::{Attachment, AttachmentKind, MessageContent};
pub use inbound::{
    conversation_key, Contact, InboundDraft, InboundEvent, InboundKind, PlatformError,
    EVENT_ID_NAMESPACE,
};
mod outbound;
mod reply_window;
pub use outbound::{
    DeliveryOutcome, DeliveryUpdate, FailureReason, InvalidSendMessage, OutboundAttachment,
    OutboundContent, QuickReplyOption, SendMessage,
};
pub use reply_window::{OutsideWindow, ReplyWindow};
