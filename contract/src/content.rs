//! Message content per channel, as callers give it and as providers receive it after
//! rendering. Rendering fills placeholders and keeps the shape, so one type per channel
//! serves both: what the API stores as `content`, and what the worker stores as `rendered`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

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
    /// Files uploaded to `/v1/files`, attached when the email is sent (at most
    /// [`MAX_ATTACHMENTS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
}

/// What an email provider sends: the same fields with placeholders filled.
pub type RenderedEmail = EmailContent;

/// An uploaded file attached to an email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    /// The file's id from `POST /v1/files`; the tenant's own.
    pub file_id: Uuid,
    /// The name the recipient sees (placeholders allowed); default: the uploaded name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// Plain text: SMS and Telegram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextContent {
    pub text: String,
}

/// A push notification (FCM or APNs).
///
/// In JSON the image is `image_url` or `image_file_id` (an uploaded image); in memory both
/// are `image_url`, a file being a [`file_ref_url`] until the worker swaps in a presigned URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PushWire", into = "PushWire")]
pub struct PushContent {
    pub title: String,
    pub body: String,
    /// Key/value pairs delivered to the app with the notification.
    pub data: BTreeMap<String, String>,
    /// An image shown in the notification (https URL, or a [`file_ref_url`]).
    pub image_url: Option<String>,
}

/// [`PushContent`] as it is written in JSON.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PushContent)]
struct PushWire {
    title: String,
    body: String,
    /// Key/value pairs delivered to the app with the notification.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    data: BTreeMap<String, String>,
    /// An image shown in the notification (https URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image_url: Option<String>,
    /// An image uploaded to `/v1/files` instead of `image_url`; the provider gets a fresh
    /// presigned URL of it at send time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image_file_id: Option<Uuid>,
}

impl TryFrom<PushWire> for PushContent {
    type Error = String;

    fn try_from(w: PushWire) -> Result<Self, String> {
        let image_url = match (w.image_url, w.image_file_id) {
            (Some(_), Some(_)) => {
                return Err("give `image_url` or `image_file_id`, not both".into());
            }
            (url, None) => url,
            (None, Some(id)) => Some(file_ref_url(id)),
        };
        Ok(PushContent {
            title: w.title,
            body: w.body,
            data: w.data,
            image_url,
        })
    }
}

impl From<PushContent> for PushWire {
    fn from(c: PushContent) -> Self {
        let file = c.image_url.as_deref().and_then(file_ref_id);
        PushWire {
            title: c.title,
            body: c.body,
            data: c.data,
            image_url: if file.is_some() { None } else { c.image_url },
            image_file_id: file,
        }
    }
}

impl utoipa::PartialSchema for PushContent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <PushWire as utoipa::PartialSchema>::schema()
    }
}

impl ToSchema for PushContent {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <PushWire as ToSchema>::schemas(schemas)
    }
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

/// A media message. In JSON the file is `url` or `file_id` (an uploaded file); in memory
/// both are `url`, a file being a [`file_ref_url`] until the worker swaps in a presigned URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MediaWire", into = "MediaWire")]
pub struct Media {
    /// Where the provider downloads the file from (https, or a [`file_ref_url`]).
    pub url: String,
    pub kind: MediaKind,
    pub caption: Option<String>,
    /// File name shown for documents.
    pub filename: Option<String>,
}

impl Media {
    /// The uploaded file this media is, if it is one.
    pub fn file_id(&self) -> Option<Uuid> {
        file_ref_id(&self.url)
    }
}

/// [`Media`] as it is written in JSON: exactly one of `url` and `file_id`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Media)]
struct MediaWire {
    /// Where the provider downloads the file from (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// A file uploaded to `/v1/files` instead of `url`; the provider gets a fresh presigned
    /// URL of it at send time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file_id: Option<Uuid>,
    kind: MediaKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    caption: Option<String>,
    /// File name shown for documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filename: Option<String>,
}

impl TryFrom<MediaWire> for Media {
    type Error = String;

    fn try_from(w: MediaWire) -> Result<Self, String> {
        let url = match (w.url, w.file_id) {
            (Some(url), None) => url,
            (None, Some(id)) => file_ref_url(id),
            _ => return Err("give exactly one of `url` or `file_id`".into()),
        };
        Ok(Media {
            url,
            kind: w.kind,
            caption: w.caption,
            filename: w.filename,
        })
    }
}

impl From<Media> for MediaWire {
    fn from(m: Media) -> Self {
        let file = m.file_id();
        MediaWire {
            url: if file.is_some() { None } else { Some(m.url) },
            file_id: file,
            kind: m.kind,
            caption: m.caption,
            filename: m.filename,
        }
    }
}

impl utoipa::PartialSchema for Media {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <MediaWire as utoipa::PartialSchema>::schema()
    }
}

impl ToSchema for Media {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <MediaWire as ToSchema>::schemas(schemas)
    }
}

/// How content points at an uploaded file inside a URL field (`media.url`,
/// `image_url`) between the request and the send: `pombo-file:<id>`. The worker replaces it
/// with a presigned URL before any provider sees the content; in JSON it is written back
/// as `file_id` / `image_file_id`.
pub fn file_ref_url(file_id: Uuid) -> String {
    format!("{FILE_REF_SCHEME}{file_id}")
}

/// The file a [`file_ref_url`] points at; `None` for any other URL.
pub fn file_ref_id(url: &str) -> Option<Uuid> {
    url.strip_prefix(FILE_REF_SCHEME)?.parse().ok()
}

const FILE_REF_SCHEME: &str = "pombo-file:";

/// What a file referenced by content is used as, which decides the content types it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileUse {
    /// An email attachment: any type.
    Attachment,
    /// A chat message's media of this kind.
    Media(MediaKind),
    /// A push notification's image.
    PushImage,
}

impl FileUse {
    /// Whether a file of `content_type` can serve this use; the reason when not.
    pub fn accepts(self, content_type: &str) -> Result<(), String> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let top = essence.split('/').next().unwrap_or_default();
        let (needed, what) = match self {
            FileUse::Attachment | FileUse::Media(MediaKind::Document) => return Ok(()),
            FileUse::PushImage => ("image", "a push image"),
            FileUse::Media(MediaKind::Image) => ("image", "`image` media"),
            FileUse::Media(MediaKind::Video) => ("video", "`video` media"),
            FileUse::Media(MediaKind::Audio) => ("audio", "`audio` media"),
        };
        if top == needed {
            Ok(())
        } else {
            Err(format!(
                "the file is `{essence}`, but {what} must be `{needed}/*`"
            ))
        }
    }
}

/// An uploaded file that content refers to, with the path of the field naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// `content.attachments[0].file_id`, `content.media.file_id`, `content.image_file_id`.
    pub field: String,
    pub file_id: Uuid,
    pub usage: FileUse,
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

/// A message for the recipient's in-app inbox, which the tenant's own app shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InAppContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub body: String,
    /// Where the app takes the recipient who opens it: an http(s) URL or a path (`/orders/42`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Anything else the app needs (an object; placeholders in its string values are filled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
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
    InApp(InAppContent),
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
/// Most files attached to one email.
pub const MAX_ATTACHMENTS: usize = 10;
/// Longest attachment file name, in characters.
pub const MAX_ATTACHMENT_NAME_CHARS: usize = 255;

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
            Channel::InApp => Content::InApp(de(value)?),
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
            Content::InApp(_) => Channel::InApp,
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
            Content::InApp(c) => serde_json::to_value(c),
        };
        value.expect("content serialises to JSON")
    }

    /// The uploaded files this content refers to, in field order.
    pub fn file_refs(&self) -> Vec<FileRef> {
        match self {
            Content::Email(c) => c
                .attachments
                .iter()
                .enumerate()
                .map(|(i, a)| FileRef {
                    field: format!("content.attachments[{i}].file_id"),
                    file_id: a.file_id,
                    usage: FileUse::Attachment,
                })
                .collect(),
            Content::Push(c) => c
                .image_url
                .as_deref()
                .and_then(file_ref_id)
                .map(|file_id| FileRef {
                    field: "content.image_file_id".into(),
                    file_id,
                    usage: FileUse::PushImage,
                })
                .into_iter()
                .collect(),
            Content::Whatsapp(c) | Content::Instagram(c) => c
                .media
                .as_ref()
                .and_then(|m| {
                    Some(FileRef {
                        field: "content.media.file_id".into(),
                        file_id: m.file_id()?,
                        usage: FileUse::Media(m.kind),
                    })
                })
                .into_iter()
                .collect(),
            Content::Sms(_) | Content::Telegram(_) | Content::Webhook(_) | Content::InApp(_) => {
                Vec::new()
            }
        }
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
                if c.attachments.len() > MAX_ATTACHMENTS {
                    errors.push(ContentError::new(
                        "content.attachments",
                        format!("at most {MAX_ATTACHMENTS} attachments"),
                    ));
                }
                for (i, a) in c.attachments.iter().enumerate() {
                    if let Some(name) = &a.filename {
                        let field = format!("content.attachments[{i}].filename");
                        need(&mut errors, &field, name, MAX_ATTACHMENT_NAME_CHARS);
                        if name.chars().any(char::is_control) {
                            errors.push(ContentError::new(
                                field,
                                "must not contain control characters",
                            ));
                        }
                    }
                }
            }
            Content::Sms(c) => need(&mut errors, "content.text", &c.text, MAX_SMS_CHARS),
            Content::Telegram(c) => need(&mut errors, "content.text", &c.text, MAX_TELEGRAM_CHARS),
            Content::Push(c) => {
                need(&mut errors, "content.title", &c.title, 256);
                need(&mut errors, "content.body", &c.body, 4000);
                if let Some(url) = &c.image_url
                    && !is_http_url(url)
                    && file_ref_id(url).is_none()
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
                    && media.file_id().is_none()
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
            Content::InApp(c) => {
                if let Some(title) = &c.title {
                    need(&mut errors, "content.title", title, MAX_SUBJECT_CHARS);
                }
                need(&mut errors, "content.body", &c.body, MAX_CHAT_CHARS);
                let link = |url: &str| {
                    (is_http_url(url) || (url.starts_with('/') && !url.starts_with("//")))
                        && url.chars().count() <= 2048
                };
                if c.url.as_deref().is_some_and(|url| !link(url)) {
                    errors.push(ContentError::new(
                        "content.url",
                        "must be an http(s) URL or a path starting with `/`, at most 2048 characters",
                    ));
                }
                if c.data.as_ref().is_some_and(|d| !d.is_object()) {
                    errors.push(ContentError::new("content.data", "must be a JSON object"));
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn files_are_named_by_id_and_written_back_as_ids() {
        let id = Uuid::now_v7();
        let chat = json!({"media": {"file_id": id, "kind": "document", "filename": "a.pdf"}});
        let parsed = Content::parse(Channel::Whatsapp, &chat).unwrap();
        assert_eq!(parsed.check(), []);
        assert_eq!(parsed.to_value(), chat);
        assert_eq!(
            parsed.file_refs(),
            [FileRef {
                field: "content.media.file_id".into(),
                file_id: id,
                usage: FileUse::Media(MediaKind::Document),
            }]
        );

        let push = json!({"title": "t", "body": "b", "image_file_id": id});
        let parsed = Content::parse(Channel::Push, &push).unwrap();
        assert_eq!(parsed.check(), []);
        assert_eq!(parsed.to_value(), push);
        assert_eq!(parsed.file_refs()[0].field, "content.image_file_id");

        let email = json!({"subject": "s", "text": "t",
            "attachments": [{"file_id": id}, {"file_id": id, "filename": "b.txt"}]});
        let parsed = Content::parse(Channel::Email, &email).unwrap();
        assert_eq!(parsed.to_value(), email);
        let fields: Vec<String> = parsed.file_refs().into_iter().map(|r| r.field).collect();
        assert_eq!(
            fields,
            [
                "content.attachments[0].file_id",
                "content.attachments[1].file_id"
            ]
        );

        // A URL stays a URL, and refers to no file.
        let url = json!({"media": {"url": "https://cdn.example/a.png", "kind": "image"}});
        let parsed = Content::parse(Channel::Whatsapp, &url).unwrap();
        assert_eq!(parsed.to_value(), url);
        assert!(parsed.file_refs().is_empty());
    }

    #[test]
    fn a_file_and_a_url_together_or_neither_are_refused() {
        let id = Uuid::now_v7();
        for media in [
            json!({"kind": "image"}),
            json!({"kind": "image", "url": "https://a.example/x", "file_id": id}),
        ] {
            let e = Content::parse(Channel::Instagram, &json!({ "media": media })).unwrap_err();
            assert_eq!(e.field, "content.media", "{e}");
            assert!(e.reason.contains("`url` or `file_id`"), "{e}");
        }
        let e = Content::parse(
            Channel::Push,
            &json!({"title": "t", "body": "b", "image_url": "https://a.example/x", "image_file_id": id}),
        )
        .unwrap_err();
        assert!(e.reason.contains("not both"), "{e}");
        let e = Content::parse(
            Channel::Email,
            &json!({"subject": "s", "text": "t", "attachments": [{"file_id": "nope"}]}),
        )
        .unwrap_err();
        assert_eq!(e.field, "content.attachments[0].file_id");
    }

    #[test]
    fn attachment_counts_and_names_are_checked() {
        let id = Uuid::now_v7();
        let many: Vec<_> = (0..=MAX_ATTACHMENTS)
            .map(|_| json!({"file_id": id}))
            .collect();
        let c = Content::parse(
            Channel::Email,
            &json!({"subject": "s", "text": "t", "attachments": many}),
        )
        .unwrap();
        assert_eq!(c.check()[0].field, "content.attachments");
        let c = Content::parse(
            Channel::Email,
            &json!({"subject": "s", "text": "t", "attachments": [{"file_id": id, "filename": "a\nb"}]}),
        )
        .unwrap();
        assert_eq!(c.check()[0].field, "content.attachments[0].filename");
    }

    #[test]
    fn each_use_takes_its_content_types() {
        assert!(FileUse::PushImage.accepts("image/png").is_ok());
        assert!(FileUse::PushImage.accepts("application/pdf").is_err());
        assert!(
            FileUse::Media(MediaKind::Video)
                .accepts("Video/MP4; x=y")
                .is_ok()
        );
        assert!(
            FileUse::Media(MediaKind::Audio)
                .accepts("video/mp4")
                .is_err()
        );
        let reason = FileUse::Media(MediaKind::Image)
            .accepts("audio/ogg")
            .unwrap_err();
        assert!(
            reason.contains("`audio/ogg`") && reason.contains("image/*"),
            "{reason}"
        );
        assert!(
            FileUse::Media(MediaKind::Document)
                .accepts("text/csv")
                .is_ok()
        );
        assert!(FileUse::Attachment.accepts("application/zip").is_ok());
    }
}
