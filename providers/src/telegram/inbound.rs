//! What a person sends to a Telegram bot: the `Update`s the Bot API posts to the webhook
//! set with `setWebhook`, each carrying the `secret_token` given there in the
//! `X-Telegram-Bot-Api-Secret-Token` header (Telegram signs nothing else).
//!
//! `{"update_id":1,"message":{"message_id":5,"from":{"id","first_name","last_name"?,
//! "username"?},"chat":{"id","type"},"date":<unix seconds>,"text"?,"caption"?,
//! "photo"?:[{"file_id",…}],"document"?:{"file_id","file_name","mime_type"},
//! "voice"|"audio"|"video"|"sticker"?:{"file_id","mime_type"?},"location"?:{"latitude",
//! "longitude"},"reply_to_message"?:{"message_id"}}}`. A message id is unique within its
//! chat, so the provider id is `<chat id>/<message id>`; an `edited_message` (the same ids,
//! with `edit_date`) is an edit of the message stored under them. The contact is the chat, which is
//! where a reply goes. A file's reference is its `file_id` (`getFile` gives its path).
//!
//! Docs: <https://core.telegram.org/bots/api#update>, <https://core.telegram.org/bots/api#message>,
//! <https://core.telegram.org/bots/api#setwebhook> (`secret_token`).

use crate::TelegramSettings;
use pombo_contract::{
    config::Secret,
    conversation::{Change, ChangeKind, InboundMedia, InboundMessage, MessageKind},
};
use serde_json::Value;

use crate::report::{CallbackError, CallbackRequest, configured, secure_eq, unix_time};

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Checks `X-Telegram-Bot-Api-Secret-Token` against the account's `secret_token`. An
/// account without one never gets here ([`crate::required_secret`]).
pub(super) fn verify_secret_token(
    req: &CallbackRequest<'_>,
    secret: Option<&Secret>,
) -> Result<(), CallbackError> {
    let Some(expected) = configured(secret) else {
        return Ok(());
    };
    let given = req.header(SECRET_HEADER).ok_or_else(|| {
        CallbackError::BadSignature("missing X-Telegram-Bot-Api-Secret-Token header".into())
    })?;
    if secure_eq(given.trim().as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(CallbackError::BadSignature(
            "X-Telegram-Bot-Api-Secret-Token does not match the account's secret_token".into(),
        ))
    }
}

/// Telegram reports no delivery of what a bot sends: an update carries none.
pub fn reports(
    req: &CallbackRequest<'_>,
    settings: &TelegramSettings,
) -> Result<Vec<crate::ProviderEvent>, CallbackError> {
    verify_secret_token(req, settings.secret_token.as_ref())?;
    serde_json::from_slice::<Value>(req.body)
        .map_err(|e| CallbackError::Malformed(format!("the body is not JSON: {e}")))?;
    Ok(Vec::new())
}

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &TelegramSettings,
) -> Result<Vec<InboundMessage>, CallbackError> {
    verify_secret_token(req, settings.secret_token.as_ref())?;
    let update: Value = serde_json::from_slice(req.body)
        .map_err(|e| CallbackError::Malformed(format!("the body is not JSON: {e}")))?;
    let edited = update.get("message").is_none();
    let Some(message) = update
        .get("message")
        .or_else(|| update.get("edited_message"))
        .filter(|m| m.is_object())
    else {
        // Channel posts, callback queries, member updates: not a person writing to us.
        return Ok(Vec::new());
    };
    let number = |pointer: &str| message.pointer(pointer).and_then(Value::as_i64);
    let text_at = |pointer: &str| {
        message
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let chat = number("/chat/id")
        .ok_or_else(|| CallbackError::Malformed("a message has no `chat.id`".into()))?;
    let id = number("/message_id")
        .ok_or_else(|| CallbackError::Malformed("a message has no `message_id`".into()))?;
    let name = [text_at("/from/first_name"), text_at("/from/last_name")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let file = |kind: MessageKind, object: &Value| {
        object
            .get("file_id")
            .and_then(Value::as_str)
            .map(|file_id| {
                (
                    kind,
                    Some(InboundMedia {
                        reference: file_id.to_owned(),
                        content_type: object
                            .get("mime_type")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        filename: object
                            .get("file_name")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    }),
                )
            })
    };
    let found = |name: &str| message.get(name).filter(|v| !v.is_null());
    let (kind, media) = if let Some(sizes) = found("photo").and_then(Value::as_array) {
        // The largest size is last.
        sizes
            .last()
            .and_then(|p| file(MessageKind::Image, p))
            .unwrap_or((MessageKind::Image, None))
    } else if let Some((kind, object)) = [
        (MessageKind::Document, "document"),
        (MessageKind::Audio, "voice"),
        (MessageKind::Audio, "audio"),
        (MessageKind::Video, "video"),
        (MessageKind::Sticker, "sticker"),
    ]
    .into_iter()
    .find_map(|(kind, name)| found(name).map(|o| (kind, o)))
    {
        file(kind, object).unwrap_or((kind, None))
    } else if found("location").is_some() {
        (MessageKind::Location, None)
    } else if found("text").is_some() {
        (MessageKind::Text, None)
    } else {
        (MessageKind::Unsupported, None)
    };
    let text = match kind {
        MessageKind::Location => {
            let at = |n: &str| {
                message
                    .pointer(&format!("/location/{n}"))
                    .and_then(Value::as_f64)
            };
            at("latitude")
                .zip(at("longitude"))
                .map(|(lat, lon)| format!("({lat}, {lon})"))
        }
        MessageKind::Unsupported => Some("unknown".into()),
        _ => text_at("/text").or_else(|| text_at("/caption")),
    };
    if edited {
        let at = number("/edit_date").unwrap_or_default();
        return Ok(vec![InboundMessage {
            provider_message_id: format!("{chat}/{id}/edited/{at}"),
            from: chat.to_string(),
            from_name: (!name.is_empty()).then_some(name),
            kind,
            text,
            media: None,
            reply_to: None,
            occurred_at: message.get("edit_date").and_then(unix_time),
            change: Some(Change {
                of: format!("{chat}/{id}"),
                kind: ChangeKind::Edited,
            }),
        }]);
    }
    Ok(vec![InboundMessage {
        provider_message_id: format!("{chat}/{id}"),
        from: chat.to_string(),
        from_name: (!name.is_empty()).then_some(name),
        kind,
        text,
        media,
        reply_to: number("/reply_to_message/message_id").map(|r| format!("{chat}/{r}")),
        occurred_at: message.get("date").and_then(unix_time),
        change: None,
    }])
}
