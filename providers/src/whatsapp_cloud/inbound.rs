//! What a person sends to a WhatsApp Cloud API number: the `messages[]` of a `messages`
//! webhook change, beside the `statuses[]` that `report.rs` reads, under the same
//! `X-Hub-Signature-256`.
//!
//! - Payload and message types: <https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components>
//!   and <https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples>
//!   (`from` is the sender's WhatsApp id, digits without `+`; `timestamp` in seconds; `text.body`;
//!   `image|audio|video|document|sticker` with a media `id`, `mime_type`, `caption`,
//!   `filename`; `location`; `reaction.{message_id, emoji}`; `button.text`;
//!   `interactive.{button_reply|list_reply}.title`; `context.id` on a reply).
//! - `contacts[].profile.name` names the sender.

use crate::WhatsappCloudSettings;
use pombo_contract::conversation::{InboundMedia, InboundMessage, MessageKind};
use serde_json::Value;

use super::report::{meta_entries, meta_id, verify_hub_signature};
use crate::report::{CallbackError, CallbackRequest, unix_time};

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &WhatsappCloudSettings,
) -> Result<Vec<InboundMessage>, CallbackError> {
    verify_hub_signature(req, settings.app_secret.as_ref())?;
    let body: Value = serde_json::from_slice(req.body)
        .map_err(|e| CallbackError::Malformed(format!("the body is not JSON: {e}")))?;
    let Some(entries) = meta_entries(&body, "whatsapp_business_account")? else {
        return Ok(Vec::new());
    };
    let mut messages = Vec::new();
    for entry in entries {
        let changes = entry.get("changes").and_then(Value::as_array);
        for change in changes.into_iter().flatten() {
            if change.get("field").and_then(Value::as_str) != Some("messages") {
                continue;
            }
            let Some(value) = change.get("value") else {
                continue;
            };
            let Some(list) = value.get("messages").and_then(Value::as_array) else {
                continue;
            };
            // Only what was sent to this account's number.
            let number = meta_id(value.pointer("/metadata/phone_number_id"));
            if number.as_deref() != Some(settings.phone_number_id.trim()) {
                continue;
            }
            for message in list {
                messages.push(one(message, value.get("contacts"))?);
            }
        }
    }
    Ok(messages)
}

fn one(message: &Value, contacts: Option<&Value>) -> Result<InboundMessage, CallbackError> {
    let text_of = |pointer: &str| {
        message
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let id = text_of("/id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| CallbackError::Malformed("a message has no `id`".into()))?;
    let from = text_of("/from")
        .filter(|f| !f.is_empty())
        .ok_or_else(|| CallbackError::Malformed("a message has no `from`".into()))?;
    let from_name = contacts
        .and_then(Value::as_array)
        .and_then(|all| {
            all.iter()
                .find(|c| c.get("wa_id").and_then(Value::as_str) == Some(&from))
        })
        .and_then(|c| c.pointer("/profile/name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let word = text_of("/type").unwrap_or_default();
    let media = |kind: &str| {
        text_of(&format!("/{kind}/id")).map(|reference| InboundMedia {
            reference,
            content_type: text_of(&format!("/{kind}/mime_type")),
            filename: text_of(&format!("/{kind}/filename")),
        })
    };
    let (kind, text, media, reply_to) = match word.as_str() {
        "text" => (MessageKind::Text, text_of("/text/body"), None, None),
        "image" | "audio" | "video" | "document" | "sticker" => {
            let kind = match word.as_str() {
                "image" => MessageKind::Image,
                "audio" => MessageKind::Audio,
                "video" => MessageKind::Video,
                "document" => MessageKind::Document,
                _ => MessageKind::Sticker,
            };
            (
                kind,
                text_of(&format!("/{word}/caption")),
                media(&word),
                None,
            )
        }
        "location" => {
            let place = message.get("location");
            let coordinate = |name: &str| place.and_then(|p| p.get(name)).and_then(Value::as_f64);
            let text = match (coordinate("latitude"), coordinate("longitude")) {
                (Some(lat), Some(lon)) => {
                    let name = text_of("/location/name").unwrap_or_default();
                    Some(format!("{name} ({lat}, {lon})").trim().to_owned())
                }
                _ => text_of("/location/name"),
            };
            (MessageKind::Location, text, None, None)
        }
        "reaction" => (
            MessageKind::Reaction,
            text_of("/reaction/emoji"),
            None,
            text_of("/reaction/message_id"),
        ),
        "button" => (MessageKind::Button, text_of("/button/text"), None, None),
        "interactive" => (
            MessageKind::Button,
            text_of("/interactive/button_reply/title")
                .or_else(|| text_of("/interactive/list_reply/title")),
            None,
            None,
        ),
        other => (
            MessageKind::Unsupported,
            Some(if other.is_empty() { "unknown" } else { other }.to_owned()),
            None,
            None,
        ),
    };
    Ok(InboundMessage {
        provider_message_id: id,
        from: format!("+{}", from.trim_start_matches('+')),
        from_name,
        kind,
        text,
        media,
        reply_to: reply_to.or_else(|| text_of("/context/id")),
        occurred_at: message.get("timestamp").and_then(unix_time),
        change: None,
    })
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderName, HeaderValue, Method};
    use pombo_contract::config::Secret;
    use pombo_fakes::whatsapp_cloud::inbound_webhook;
    use serde_json::json;

    use super::*;

    fn settings() -> WhatsappCloudSettings {
        WhatsappCloudSettings {
            verify_token: None,
            phone_number_id: "106540352242922".into(),
            access_token: Secret::new("token"),
            app_secret: Some(Secret::new("secret")),
            base_url: "http://x".into(),
            api_version: "v21.0".into(),
        }
    }

    fn read(kind: &str, message: serde_json::Value) -> InboundMessage {
        let callback = inbound_webhook(
            Some("secret"),
            "106540352242922",
            ("5511987654321", "Ana"),
            "wamid.1",
            1_763_888_400,
            (kind, message),
        );
        let mut headers = HeaderMap::new();
        for (name, value) in &callback.headers {
            headers.insert(
                HeaderName::try_from(name.as_str()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let req = CallbackRequest {
            method: &Method::POST,
            url: "http://x/v1/callbacks/whatsapp_cloud/a",
            headers: &headers,
            query: None,
            body: callback.body.as_bytes(),
        };
        let mut messages = parse(&req, &settings()).unwrap();
        assert_eq!(messages.len(), 1);
        messages.remove(0)
    }

    #[test]
    fn every_documented_kind_is_read() {
        let m = read("text", json!({"body": "Oi"}));
        assert_eq!((m.kind, m.text.as_deref()), (MessageKind::Text, Some("Oi")));
        assert_eq!(m.from, "+5511987654321");
        assert_eq!(m.from_name.as_deref(), Some("Ana"));

        let m = read(
            "document",
            json!({"id": "1479", "mime_type": "application/pdf", "filename": "nota.pdf", "caption": "a nota"}),
        );
        assert_eq!(m.kind, MessageKind::Document);
        assert_eq!(m.text.as_deref(), Some("a nota"));
        let media = m.media.unwrap();
        assert_eq!(
            (
                media.reference.as_str(),
                media.content_type.as_deref(),
                media.filename.as_deref()
            ),
            ("1479", Some("application/pdf"), Some("nota.pdf"))
        );

        let m = read(
            "reaction",
            json!({"message_id": "wamid.ours", "emoji": "👍"}),
        );
        assert_eq!(m.kind, MessageKind::Reaction);
        assert_eq!(
            (m.text.as_deref(), m.reply_to.as_deref()),
            (Some("👍"), Some("wamid.ours"))
        );

        let m = read(
            "interactive",
            json!({"type": "button_reply", "button_reply": {"id": "yes", "title": "Sim"}}),
        );
        assert_eq!(
            (m.kind, m.text.as_deref()),
            (MessageKind::Button, Some("Sim"))
        );

        let m = read(
            "location",
            json!({"latitude": -23.5, "longitude": -46.6, "name": "Casa"}),
        );
        assert_eq!(
            (m.kind, m.text.as_deref()),
            (MessageKind::Location, Some("Casa (-23.5, -46.6)"))
        );

        let m = read("order", json!({"catalog_id": "1"}));
        assert_eq!(
            (m.kind, m.text.as_deref()),
            (MessageKind::Unsupported, Some("order"))
        );
    }
}
