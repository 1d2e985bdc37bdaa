//! What a person sends to a Callbell channel: the `message_created` webhook, authenticated
//! like reports (the `?secret=` of the callback URL; Callbell signs nothing).
//!
//! `{"event":"message_created","payload":{"uuid"?,"to","from","text","status":"received",
//! "channel":"whatsapp","createdAt":"2020-11-13T16:47:31Z","attachments":["<url>",…],
//! "contact":{"uuid","name","phoneNumber",…}}}`. Messages we sent come back as
//! `message_created` too, with another status (`sent`, `enqueued`…): only `received` is
//! read. A message without a `uuid` is named by its time, sender and text, so a repeated
//! webhook still finds it.
//!
//! Docs: <https://docs.callbell.eu/api/reference/webhooks/message_events/message_created>
//! (github.com/callbellchat/callbell-public-docs), the Message object:
//! <https://docs.callbell.eu/api/reference/messages_api/get_messages>.

use crate::CallbellSettings;
use chrono::{DateTime, Utc};
use pombo_contract::conversation::{InboundMedia, InboundMessage, MessageKind};
use serde_json::Value;

use super::report::verify_url_secret;
use crate::report::{CallbackError, CallbackRequest};

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &CallbellSettings,
) -> Result<Vec<InboundMessage>, CallbackError> {
    verify_url_secret(req, settings.webhook_secret.as_ref())?;
    let Ok(body) = serde_json::from_slice::<Value>(req.body) else {
        // `report.rs` says what is wrong with it.
        return Ok(Vec::new());
    };
    if body.get("event").and_then(Value::as_str) != Some("message_created") {
        return Ok(Vec::new());
    }
    let Some(payload) = body.get("payload").filter(|p| p.is_object()) else {
        return Err(CallbackError::Malformed("no `payload` object".into()));
    };
    let text_at = |pointer: &str| {
        payload
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    if text_at("/status").as_deref() != Some("received") {
        return Ok(Vec::new());
    }
    let from = text_at("/contact/phoneNumber")
        .or_else(|| text_at("/from"))
        .ok_or_else(|| CallbackError::Malformed("no `from` in the payload".into()))?;
    let from = if from.chars().all(|c| c.is_ascii_digit()) {
        format!("+{from}")
    } else {
        from
    };
    let created = text_at("/createdAt");
    let text = text_at("/text");
    let id = text_at("/uuid").unwrap_or_else(|| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&created, &from, &text).hash(&mut h);
        format!("callbell-{:016x}", h.finish())
    });
    let media = payload
        .get("attachments")
        .and_then(Value::as_array)
        .and_then(|all| all.first())
        .and_then(Value::as_str)
        .map(|url| InboundMedia {
            reference: url.to_owned(),
            content_type: None,
            filename: None,
        });
    Ok(vec![InboundMessage {
        provider_message_id: id,
        from,
        from_name: text_at("/contact/name"),
        kind: if media.is_some() {
            MessageKind::Document
        } else {
            MessageKind::Text
        },
        text,
        media,
        reply_to: None,
        occurred_at: created
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)),
        change: None,
    }])
}
