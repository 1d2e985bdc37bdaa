//! What a person sends to an Evolution API instance: the `messages.upsert` webhook
//! (`MESSAGES_UPSERT`), authenticated like reports (the `?secret=` of the webhook URL).
//!
//! `data` is Baileys' message: `{"key":{"remoteJid":"5511…@s.whatsapp.net","fromMe":false,
//! "id":"3EB0…"},"pushName":"Ana","message":{…},"messageType":"conversation",
//! "messageTimestamp":1717171717}`, where `message` holds one of `conversation` (text),
//! `extendedTextMessage.{text, contextInfo.stanzaId}`, `imageMessage|videoMessage|
//! audioMessage|documentMessage|stickerMessage.{mimetype, caption, fileName}`,
//! `locationMessage.{degreesLatitude, degreesLongitude, name}`,
//! `reactionMessage.{key.id, text}`, `buttonsResponseMessage.selectedDisplayText`,
//! `listResponseMessage.title`. Our own messages echo back with `fromMe: true`: skipped.
//! Edits and revocations: Baileys delivers them as messages whose content is a
//! `protocolMessage` (`type` `MESSAGE_EDIT`/14 with `editedMessage`, or `REVOKE`/0, naming
//! the original's `key.id`), through `messages.upsert` or Evolution's own
//! `messages.edited`; `messages.delete` carries the revoked message's key alone. Other
//! protocol messages (disappearing-message settings, history sync) are skipped.
//! A file's bytes are fetched later by the message's key (`POST
//! /chat/getBase64FromMediaMessage/{instance}`), so the key id is the media reference.
//!
//! Source: github.com/EvolutionAPI/evolution-api,
//! `src/api/integrations/channel/whatsapp/whatsapp.baileys.service.ts` (`messages.upsert`),
//! <https://doc.evolution-api.com/v2/en/configuration/webhooks>.

use crate::EvolutionSettings;
use pombo_contract::conversation::{Change, ChangeKind, InboundMedia, InboundMessage, MessageKind};
use serde_json::Value;

use super::report::envelope;
use crate::report::{CallbackError, CallbackRequest, unix_time};
use crate::whatsapp_jid::contact_address;

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &EvolutionSettings,
) -> Result<Vec<InboundMessage>, CallbackError> {
    let events = ["messages.upsert", "messages.edited", "messages.delete"];
    let Some((event, body)) = envelope(req, settings, &events)? else {
        return Ok(Vec::new());
    };
    let deleted = event == "messages.delete";
    let items = match body.get("data") {
        Some(Value::Object(_)) => std::slice::from_ref(&body["data"]),
        Some(Value::Array(items)) => items.as_slice(),
        _ => return Err(CallbackError::Malformed("no `data` object".into())),
    };
    let mut messages = Vec::new();
    for item in items {
        // `messages.delete` carries the key alone, at the top or under `key`.
        let key = item.get("key").unwrap_or(item);
        if key.get("fromMe").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let read = if deleted { revoked(key)? } else { one(item)? };
        messages.extend(read);
    }
    Ok(messages)
}

/// A `messages.delete` of a message the person sent: revoked for everyone.
fn revoked(key: &Value) -> Result<Option<InboundMessage>, CallbackError> {
    let text_at = |name: &str| {
        key.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let (Some(id), Some(jid)) = (text_at("id"), text_at("remoteJid")) else {
        return Err(CallbackError::Malformed(
            "a deleted message has no `id` and `remoteJid`".into(),
        ));
    };
    Ok(Some(InboundMessage {
        provider_message_id: format!("{id}:revoked"),
        from: contact_address(jid),
        from_name: None,
        kind: MessageKind::Text,
        text: None,
        media: None,
        reply_to: None,
        occurred_at: None,
        change: Some(Change {
            of: id.to_owned(),
            kind: ChangeKind::Revoked,
        }),
    }))
}

/// The new text of an edited message (`editedMessage` of a `MESSAGE_EDIT`): a text's, or a
/// caption's.
fn edited_text(m: &Value) -> Option<String> {
    [
        "/conversation",
        "/extendedTextMessage/text",
        "/imageMessage/caption",
        "/videoMessage/caption",
        "/documentMessage/caption",
    ]
    .into_iter()
    .find_map(|p| m.pointer(p).and_then(Value::as_str))
    .map(str::to_owned)
}

/// Baileys' `protocolMessage`: a revocation (`REVOKE`, 0) or an edit (`MESSAGE_EDIT`, 14) of
/// the message `key.id`; `None` for the other protocol messages (disappearing-message
/// settings, history sync, …), which are no one's words.
fn protocol_change(protocol: &Value) -> Option<(Change, Option<String>)> {
    let of = protocol
        .pointer("/key/id")
        .and_then(Value::as_str)?
        .to_owned();
    let kind = match protocol.get("type") {
        Some(Value::String(t)) if t == "REVOKE" => ChangeKind::Revoked,
        Some(Value::Number(n)) if n.as_u64() == Some(0) => ChangeKind::Revoked,
        Some(Value::String(t)) if t == "MESSAGE_EDIT" => ChangeKind::Edited,
        Some(Value::Number(n)) if n.as_u64() == Some(14) => ChangeKind::Edited,
        _ => return None,
    };
    let text = match kind {
        ChangeKind::Edited => protocol.get("editedMessage").and_then(edited_text),
        ChangeKind::Revoked => None,
    };
    Some((Change { of, kind }, text))
}

fn one(item: &Value) -> Result<Option<InboundMessage>, CallbackError> {
    let text_at = |pointer: &str| {
        item.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let id = text_at("/key/id")
        .ok_or_else(|| CallbackError::Malformed("a message has no `key.id`".into()))?;
    let jid = text_at("/key/remoteJid")
        .ok_or_else(|| CallbackError::Malformed("a message has no `key.remoteJid`".into()))?;
    let message = item.get("message").cloned().unwrap_or(Value::Null);
    // An edit or a revocation arrives as a message whose content is a protocol message
    // (an edit may come wrapped in `editedMessage.message`).
    if let Some(protocol) = message
        .get("protocolMessage")
        .or_else(|| message.pointer("/editedMessage/message/protocolMessage"))
    {
        let Some((change, text)) = protocol_change(protocol) else {
            return Ok(None);
        };
        return Ok(Some(InboundMessage {
            provider_message_id: id,
            from: contact_address(&jid),
            from_name: text_at("/pushName"),
            kind: MessageKind::Text,
            text,
            media: None,
            reply_to: None,
            occurred_at: item.get("messageTimestamp").and_then(unix_time),
            change: Some(change),
        }));
    }
    let found = |name: &str| message.get(name).filter(|m| m.is_object());
    let field = |m: &Value, name: &str| m.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut reply_to = None;
    let (kind, text, media) =
        if let Some(text) = message.get("conversation").and_then(Value::as_str) {
            (MessageKind::Text, Some(text.to_owned()), None)
        } else if let Some(m) = found("extendedTextMessage") {
            reply_to = m
                .pointer("/contextInfo/stanzaId")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (MessageKind::Text, field(m, "text"), None)
        } else if let Some((kind, m)) = [
            (MessageKind::Image, "imageMessage"),
            (MessageKind::Video, "videoMessage"),
            (MessageKind::Audio, "audioMessage"),
            (MessageKind::Document, "documentMessage"),
            (MessageKind::Sticker, "stickerMessage"),
        ]
        .into_iter()
        .find_map(|(kind, name)| found(name).map(|m| (kind, m)))
        {
            let media = InboundMedia {
                reference: id.clone(),
                content_type: field(m, "mimetype"),
                filename: field(m, "fileName"),
            };
            (kind, field(m, "caption"), Some(media))
        } else if let Some(m) = found("locationMessage") {
            let at = |name: &str| m.get(name).and_then(Value::as_f64);
            let name = field(m, "name").unwrap_or_default();
            let text = match (at("degreesLatitude"), at("degreesLongitude")) {
                (Some(lat), Some(lon)) => format!("{name} ({lat}, {lon})").trim().to_owned(),
                _ => name,
            };
            (MessageKind::Location, Some(text), None)
        } else if let Some(m) = found("reactionMessage") {
            reply_to = m
                .pointer("/key/id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (MessageKind::Reaction, field(m, "text"), None)
        } else if let Some(m) = found("buttonsResponseMessage") {
            (MessageKind::Button, field(m, "selectedDisplayText"), None)
        } else if let Some(m) = found("listResponseMessage") {
            (MessageKind::Button, field(m, "title"), None)
        } else {
            let word = text_at("/messageType").unwrap_or_else(|| "unknown".into());
            (MessageKind::Unsupported, Some(word), None)
        };
    Ok(Some(InboundMessage {
        provider_message_id: id,
        from: contact_address(&jid),
        from_name: text_at("/pushName"),
        kind,
        text,
        media,
        reply_to,
        occurred_at: item.get("messageTimestamp").and_then(unix_time),
        change: None,
    }))
}
