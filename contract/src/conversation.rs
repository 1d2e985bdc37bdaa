//! Two-way messaging: what a person sends in on a chat channel, as every provider's inbound
//! parser (`providers/src/<type>/inbound.rs`) reads it, and the words the conversations API
//! shows. A conversation is one contact talking with one provider account of a tenant
//! (Chatwoot's inbox → contact → conversation → message); its messages go both ways.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A message a person sent to one of our provider accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The provider's id of the message: repeats of a webhook carry the same one, so the
    /// message is stored once.
    pub provider_message_id: String,
    /// Who wrote: the address (phone number in E.164 when the provider gives one) or
    /// platform id the reply goes to.
    pub from: String,
    /// Their display name, when the provider says it.
    pub from_name: Option<String>,
    pub kind: MessageKind,
    /// The text, a caption, an emoji of a reaction, a button's title, a location's name.
    pub text: Option<String>,
    /// The file the message carries, still at the provider.
    pub media: Option<InboundMedia>,
    /// The provider's id of the message this one answers or reacts to.
    pub reply_to: Option<String>,
    /// When the person sent it, by the provider's clock.
    pub occurred_at: Option<DateTime<Utc>>,
    /// `Some`: not a new message but a change the person made to one they sent earlier
    /// (an edit's new text is in `text`).
    #[serde(default)]
    pub change: Option<Change>,
}

/// A change a person made to a message they sent earlier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The provider's id of the message changed.
    pub of: String,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Its text or caption was edited: the message shows the new one.
    Edited,
    /// Deleted for everyone: Pombo withdraws its text and file reference too.
    Revoked,
}

/// What an inbound message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    Image,
    Audio,
    Video,
    Document,
    Sticker,
    Location,
    /// An emoji on an earlier message (`reply_to`).
    Reaction,
    /// A quick-reply or list button pressed (`text` is its title).
    Button,
    /// A kind the provider documents and Pombo does not read yet: kept, with its type
    /// word in `text`, so nothing a person wrote is dropped.
    Unsupported,
}

impl MessageKind {
    pub const ALL: [MessageKind; 10] = [
        MessageKind::Text,
        MessageKind::Image,
        MessageKind::Audio,
        MessageKind::Video,
        MessageKind::Document,
        MessageKind::Sticker,
        MessageKind::Location,
        MessageKind::Reaction,
        MessageKind::Button,
        MessageKind::Unsupported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Image => "image",
            MessageKind::Audio => "audio",
            MessageKind::Video => "video",
            MessageKind::Document => "document",
            MessageKind::Sticker => "sticker",
            MessageKind::Location => "location",
            MessageKind::Reaction => "reaction",
            MessageKind::Button => "button",
            MessageKind::Unsupported => "unsupported",
        }
    }
}

impl MessageKind {
    /// The kind of a file by its content type (`image/jpeg` → image); anything else is a
    /// document.
    pub fn of_content_type(content_type: Option<&str>) -> MessageKind {
        match content_type.and_then(|t| t.split('/').next()) {
            Some("image") => MessageKind::Image,
            Some("audio") => MessageKind::Audio,
            Some("video") => MessageKind::Video,
            _ => MessageKind::Document,
        }
    }

    /// What an outbound message of a chat channel is, from its content (`{"text"}`,
    /// `{"media": {"kind", "caption"?}}`, `{"template": {"name"}}`), and the text a
    /// conversation shows for it.
    pub fn of_outbound(content: &serde_json::Value) -> (MessageKind, Option<String>) {
        let text_at = |pointer: &str| {
            content
                .pointer(pointer)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        if let Some(name) = text_at("/template/name") {
            (MessageKind::Text, Some(format!("template `{name}`")))
        } else if content.get("media").is_some() {
            let kind = match text_at("/media/kind").as_deref() {
                Some("image") => MessageKind::Image,
                Some("video") => MessageKind::Video,
                Some("audio") => MessageKind::Audio,
                _ => MessageKind::Document,
            };
            (kind, text_at("/media/caption"))
        } else {
            (MessageKind::Text, text_at("/text"))
        }
    }
}

impl std::str::FromStr for MessageKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown message kind `{s}`"))
    }
}

/// A file of an inbound message, where the provider keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InboundMedia {
    /// The provider's media id (WhatsApp Cloud) or URL (Twilio `MediaUrl0`, gateways).
    pub reference: String,
    pub content_type: Option<String>,
    pub filename: Option<String>,
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the contact to us.
    Inbound,
    /// From us to the contact (a notification of the conversation).
    Outbound,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Inbound, Direction::Outbound];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Direction::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown direction `{s}`"))
    }
}

/// Whether a conversation waits for someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Open,
    /// Closed by the tenant; the contact's next message opens it again.
    Closed,
}

impl ConversationStatus {
    pub const ALL: [ConversationStatus; 2] = [ConversationStatus::Open, ConversationStatus::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Closed => "closed",
        }
    }
}

impl std::str::FromStr for ConversationStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConversationStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown conversation status `{s}`"))
    }
}

/// Where the file of an inbound message stands: the provider keeps it until a worker
/// fetches it into object storage (`file_id` on the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// Not fetched yet (a worker is on it, retrying while the provider fails).
    Pending,
    /// In object storage: the message's `file_id`.
    Stored,
    /// The provider would not give it, or every retry failed: `error` says why. The message
    /// stays, with its text and the provider's reference.
    Failed,
}

impl MediaState {
    pub const ALL: [MediaState; 3] = [MediaState::Pending, MediaState::Stored, MediaState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaState::Pending => "pending",
            MediaState::Stored => "stored",
            MediaState::Failed => "failed",
        }
    }
}

impl std::str::FromStr for MediaState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MediaState::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown media state `{s}`"))
    }
}
