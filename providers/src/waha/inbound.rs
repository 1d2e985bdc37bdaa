//! What a person sends to a WAHA session: the `message` event (and `message.reaction`),
//! signed like reports (`X-Webhook-Hmac`, HMAC-SHA512 of the body).
//!
//! `{"event":"message","session":"default","payload":{"id":"false_11111111111@c.us_AAAA…",
//! "timestamp":1667561485,"from":"11111111111@c.us","fromMe":false,"body":"Hi there!",
//! "hasMedia":false,"media":{"url","mimetype","filename"}|null,"replyTo":{"id"}|null}}`;
//! `message.reaction` has `payload.reaction.{text, messageId}`. `message.any` would repeat
//! our own messages: only `message` is read.
//!
//! Changes: `message.edited` is the message with its new `body` and `editedMessageId`;
//! `message.revoked` has `{"after","before","revokedMessageId"}` (deleted for everyone).
//! Both name the original by its key id, which is completed into the serialized id the
//! message was stored under (`false_{chat}_{key id}`).
//!
//! Docs: <https://waha.devlike.pro/docs/how-to/events/> (`message`, `message.reaction`,
//! `message.revoked`, `message.edited`),
//! <https://waha.devlike.pro/docs/how-to/receive-messages/> (media URLs).

use crate::WahaSettings;
use pombo_contract::conversation::{Change, ChangeKind, InboundMedia, InboundMessage, MessageKind};
use serde_json::Value;

use super::report::{envelope, message_id};
use crate::report::{CallbackError, CallbackRequest, unix_time};
use crate::whatsapp_jid::contact_address;

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &WahaSettings,
) -> Result<Vec<InboundMessage>, CallbackError> {
    let events = [
        "message",
        "message.reaction",
        "message.revoked",
        "message.edited",
    ];
    let Some(envelope) = envelope(req, settings, &events)? else {
        return Ok(Vec::new());
    };
    let event = envelope.event.as_str();
    // A revocation describes the message as it is `after` (a revoked stub).
    let payload = match event {
        "message.revoked" => envelope.payload.get("after").unwrap_or(&envelope.payload),
        _ => &envelope.payload,
    };
    if payload.get("fromMe").and_then(Value::as_bool) == Some(true) {
        return Ok(Vec::new());
    }
    let text_at = |pointer: &str| {
        payload
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let id = message_id(payload.get("id"))
        .ok_or_else(|| CallbackError::Malformed("no message `id` in the payload".into()))?;
    let from = text_at("/from")
        .ok_or_else(|| CallbackError::Malformed("no `from` in the payload".into()))?;
    // The changed message's key id, as the person's message was stored:
    // `false_{chat}_{key id}`.
    let changed = |field: &str, kind: ChangeKind| {
        let key = envelope.payload.get(field).and_then(Value::as_str)?.trim();
        let of = if key.contains('_') {
            message_id(Some(&Value::String(key.to_owned())))?
        } else {
            message_id(Some(&Value::String(format!("false_{from}_{key}"))))?
        };
        Some(Change { of, kind })
    };
    let change = match event {
        "message.revoked" => Some(changed("revokedMessageId", ChangeKind::Revoked).ok_or_else(
            || CallbackError::Malformed("no `revokedMessageId` in the payload".into()),
        )?),
        "message.edited" => Some(changed("editedMessageId", ChangeKind::Edited).ok_or_else(
            || CallbackError::Malformed("no `editedMessageId` in the payload".into()),
        )?),
        _ => None,
    };
    if let Some(change) = change {
        let text = match change.kind {
            ChangeKind::Edited => text_at("/body"),
            ChangeKind::Revoked => None,
        };
        return Ok(vec![InboundMessage {
            provider_message_id: format!("{id}:{event}"),
            from: contact_address(&from),
            from_name: None,
            kind: MessageKind::Text,
            text,
            media: None,
            reply_to: None,
            occurred_at: payload.get("timestamp").and_then(unix_time),
            change: Some(change),
        }]);
    }
    let (kind, text, media, reply_to) = if event == "message.reaction" {
        (
            MessageKind::Reaction,
            text_at("/reaction/text"),
            None,
            text_at("/reaction/messageId"),
        )
    } else if payload.get("hasMedia").and_then(Value::as_bool) == Some(true) {
        let content_type = text_at("/media/mimetype");
        let kind = MessageKind::of_content_type(content_type.as_deref());
        let media = text_at("/media/url").map(|reference| InboundMedia {
            reference,
            content_type,
            filename: text_at("/media/filename"),
        });
        (kind, text_at("/body"), media, text_at("/replyTo/id"))
    } else {
        (
            MessageKind::Text,
            text_at("/body"),
            None,
            text_at("/replyTo/id"),
        )
    };
    Ok(vec![InboundMessage {
        provider_message_id: id,
        from: contact_address(&from),
        from_name: text_at("/_data/notifyName"),
        kind,
        text,
        media,
        reply_to,
        occurred_at: payload.get("timestamp").and_then(unix_time),
        change: None,
    }])
}
