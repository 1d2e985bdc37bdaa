//! Message content per channel, as callers give it and as providers receive it after
//! rendering. Rendering fills placeholders and keeps the shape, so one type per channel
//! serves both: what the API stores as `content`, and what the worker stores as `rendered`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::Channel;

/// Inline email content. Every field may use MiniJinja placeholders (`{{ name }}`) filled
/// from the notification's `data`; a placeholder without a value is an error, never blank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailContent {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// What an email provider sends: the same fields with placeholders filled.
pub type RenderedEmail = EmailContent;

/// Plain text: SMS and Telegram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextContent {
    pub text: String,
}

/// A push notification (FCM or APNs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushContent {
    pub title: String,
    pub body: String,
    /// Key/value pairs delivered to the app with the notification.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// An image shown in the notification (https URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// A chat message (WhatsApp, Instagram): exactly one of `text`, `media` or `template`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    /// A pre-approved template (WhatsApp only): the only message a business may start a
    /// conversation with outside the 24-hour customer-service window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ChatTemplate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// Where the provider downloads the file from (https, usually a presigned URL).
    pub url: String,
    pub kind: MediaKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// File name shown for documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatTemplate {
    /// The template's name as approved by the provider.
    pub name: String,
    /// Its language code, e.g. `pt_BR` or `en_US`.
    pub language: String,
    /// Values of the template's body parameters `{{1}}`, `{{2}}`, … in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
}

/// An outbound webhook event: a JSON body POSTed to the recipient URL, signed per the
/// Standard Webhooks specification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookContent {
    /// The event's type, e.g. `order.shipped`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The event's data; placeholders in its string values are filled from `data`.
    #[schema(value_type = Object)]
    pub payload: Value,
}

/// Content of any channel, decoded according to the notification's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Email(EmailContent),
    Sms(TextContent),
    Push(PushContent),
    Whatsapp(ChatContent),
    Instagram(ChatContent),
    Telegram(TextContent),
    Webhook(WebhookContent),
}

/// A content field that is wrong, with the path of the field (`content.subject`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ContentError {
    pub field: String,
    pub reason: String,
}

impl ContentError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ContentError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Longest subject we accept; mail servers fold longer ones and clients truncate them.
pub const MAX_SUBJECT_CHARS: usize = 998;
/// Twilio and Vonage split longer texts into at most 10 segments of 160 GSM characters.
pub const MAX_SMS_CHARS: usize = 1600;
/// Telegram's `sendMessage` limit.
pub const MAX_TELEGRAM_CHARS: usize = 4096;
/// WhatsApp's text body limit.
pub const MAX_CHAT_CHARS: usize = 4096;

impl Content {
    /// Decodes `value` as the content of `channel`. Errors carry the field path relative
    /// to `content` (`content.subject`), so the API can point at them.
    pub fn parse(channel: Channel, value: &Value) -> Result<Content, ContentError> {
        fn de<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, ContentError> {
            serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                let reason = e.into_inner().to_string();
                ContentError::new(field_path("content", &path, &reason), reason)
            })
        }
        Ok(match channel {
            Channel::Email => Content::Email(de(value)?),
            Channel::Sms => Content::Sms(de(value)?),
            Channel::Push => Content::Push(de(value)?),
            Channel::Whatsapp => Content::Whatsapp(de(value)?),
            Channel::Instagram => Content::Instagram(de(value)?),
            Channel::Telegram => Content::Telegram(de(value)?),
            Channel::Webhook => Content::Webhook(de(value)?),
        })
    }

    pub fn channel(&self) -> Channel {
        match self {
            Content::Email(_) => Channel::Email,
            Content::Sms(_) => Channel::Sms,
            Content::Push(_) => Channel::Push,
            Content::Whatsapp(_) => Channel::Whatsapp,
            Content::Instagram(_) => Channel::Instagram,
            Content::Telegram(_) => Channel::Telegram,
            Content::Webhook(_) => Channel::Webhook,
        }
    }

    /// The JSON stored for this content (the inner struct, without a tag: the row's
    /// channel says how to read it back).
    pub fn to_value(&self) -> Value {
        let value = match self {
            Content::Email(c) => serde_json::to_value(c),
            Content::Sms(c) | Content::Telegram(c) => serde_json::to_value(c),
            Content::Push(c) => serde_json::to_value(c),
            Content::Whatsapp(c) | Content::Instagram(c) => serde_json::to_value(c),
            Content::Webhook(c) => serde_json::to_value(c),
        };
        value.expect("content serialises to JSON")
    }

    /// Checks what the types cannot say: required fields, lengths, exactly-one-of.
    /// Run on the rendered content too, since placeholders can make a field too long.
    pub fn check(&self) -> Vec<ContentError> {
        let mut errors = Vec::new();
        fn need(errors: &mut Vec<ContentError>, field: &str, value: &str, max: usize) {
            if value.trim().is_empty() {
                errors.push(ContentError::new(field, "must not be empty"));
            } else if value.chars().count() > max {
                errors.push(ContentError::new(
                    field,
                    format!("must have at most {max} characters"),
                ));
            }
        }
        match self {
            Content::Email(c) => {
                need(
                    &mut errors,
                    "content.subject",
                    &c.subject,
                    MAX_SUBJECT_CHARS,
                );
                let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
                if blank(&c.text) && blank(&c.html) {
                    errors.push(ContentError::new("content", "give `text`, `html` or both"));
                }
            }
            Content::Sms(c) => need(&mut errors, "content.text", &c.text, MAX_SMS_CHARS),
            Content::Telegram(c) => need(&mut errors, "content.text", &c.text, MAX_TELEGRAM_CHARS),
            Content::Push(c) => {
                need(&mut errors, "content.title", &c.title, 256);
                need(&mut errors, "content.body", &c.body, 4000);
                if let Some(url) = &c.image_url
                    && !is_http_url(url)
                {
                    errors.push(ContentError::new(
                        "content.image_url",
                        "must be an http(s) URL",
                    ));
                }
            }
            Content::Whatsapp(c) | Content::Instagram(c) => {
                let given = [c.text.is_some(), c.media.is_some(), c.template.is_some()];
                if given.iter().filter(|g| **g).count() != 1 {
                    errors.push(ContentError::new(
                        "content",
                        "give exactly one of `text`, `media` or `template`",
                    ));
                }
                if let Some(text) = &c.text {
                    need(&mut errors, "content.text", text, MAX_CHAT_CHARS);
                }
                if let Some(media) = &c.media
                    && !is_http_url(&media.url)
                {
                    errors.push(ContentError::new(
                        "content.media.url",
                        "must be an http(s) URL",
                    ));
                }
                if let Some(t) = &c.template {
                    if matches!(self, Content::Instagram(_)) {
                        errors.push(ContentError::new(
                            "content.template",
                            "Instagram has no message templates; send `text` or `media`",
                        ));
                    }
                    need(&mut errors, "content.template.name", &t.name, 512);
                    need(&mut errors, "content.template.language", &t.language, 16);
                }
            }
            Content::Webhook(c) => {
                need(&mut errors, "content.type", &c.event_type, 255);
                if !c.payload.is_object() {
                    errors.push(ContentError::new(
                        "content.payload",
                        "must be a JSON object",
                    ));
                }
            }
        }
        errors
    }
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() > "https://".len()
}

/// Turns serde_path_to_error's path into the JSON path of the offending field.
/// For a missing field, serde names it in the reason; append it to the path.
pub fn field_path(prefix: &str, path: &str, reason: &str) -> String {
    let join = |a: &str, b: &str| match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}.{b}"),
    };
    let base = if path == "." { "" } else { path };
    let named = reason
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let full = join(prefix, base);
    match named {
        Some(key) => join(&full, key),
        None if full.is_empty() => "body".into(),
        None => full,
    }
}
