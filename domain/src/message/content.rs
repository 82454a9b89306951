//! Normalised message content. Every platform's item maps to one variant; what no variant
//! covers becomes `Unsupported`, which keeps the item (its raw JSON travels in the event).

use serde::{Deserialize, Serialize};

/// What a message says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// Images, video, audio or files, optionally captioned.
    Media {
        /// The attachments, in platform order.
        attachments: Vec<Attachment>,
        /// A caption or accompanying text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    /// A shared location.
    Location {
        /// Degrees north.
        latitude: f64,
        /// Degrees east.
        longitude: f64,
        /// Place name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Street address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// A button press (postback / interactive reply).
    Postback {
        /// The payload the button was created with.
        payload: String,
        /// The button's title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// A quick-reply chip, which also carries text.
    QuickReply {
        /// The payload the chip was created with.
        payload: String,
        /// The text shown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// A sticker.
    Sticker {
        /// The platform's sticker id.
        sticker_id: String,
        /// Where its image is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Anything else; the raw item is kept in the event.
    Unsupported {
        /// The platform's name for the kind of item.
        kind: String,
    },
}

/// The kind of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    /// A picture.
    Image,
    /// A video.
    Video,
    /// Audio or a voice note.
    Audio,
    /// Any other file.
    File,
}

/// One attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Its kind.
    pub kind: AttachmentKind,
    /// Where to fetch it, when the platform gives a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its media type, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The platform's media id, when it gives one instead of a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
}

impl AttachmentKind {
    /// Maps a platform's attachment type name.
    pub fn from_platform(name: &str) -> Option<Self> {
        match name {
            "image" | "photo" | "gif" => Some(Self::Image),
            "video" => Some(Self::Video),
            "audio" | "voice" => Some(Self::Audio),
            "file" | "document" => Some(Self::File),
            _ => None,
        }
    }
}
