//! What a person sends to an Instagram professional account: `messaging[].message` of
//! Meta's Instagram messaging webhook (and `reaction`), under the same
//! `X-Hub-Signature-256` as `report.rs`.
//!
//! `{"object":"instagram","entry":[{"id":"<IG account id>","time":<ms>,"messaging":[
//! {"sender":{"id":"<IGSID>"},"recipient":{"id":"<IG account id>"},"timestamp":<ms>,
//! "message":{"mid","text"?,"attachments"?:[{"type":"image|video|audio|file|…",
//! "payload":{"url"}}],"reply_to"?:{"mid"},"is_echo"?:true}}]}]}`; a reaction is
//! `"reaction":{"mid","action":"react","emoji"}`. `is_echo` copies of what we sent are
//! skipped. The contact is the sender's Instagram-scoped id, which is what a reply goes to.
//!
//! Docs: <https://developers.facebook.com/docs/instagram-platform/webhooks/examples>,
//! <https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook>.

use crate::InstagramSettings;
use pombo_contract::conversation::{InboundMedia, InboundMessage, MessageKind};
use serde_json::Value;

use crate::report::{CallbackError, CallbackRequest, unix_time};
use crate::whatsapp_cloud::report::{meta_entries, meta_id, verify_hub_signature};

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &InstagramSettings,
) -> Result<Vec<InboundMessage>, CallbackError> {
    verify_hub_signature(req, settings.app_secret.as_ref())?;
    let body: Value = serde_json::from_slice(req.body)
        .map_err(|e| CallbackError::Malformed(format!("the body is not JSON: {e}")))?;
    let Some(entries) = meta_entries(&body, "instagram")? else {
        return Ok(Vec::new());
    };
    let mut messages = Vec::new();
    for entry in entries {
        if meta_id(entry.get("id")).as_deref() != Some(settings.account_id.trim()) {
            continue;
        }
        let events = entry.get("messaging").and_then(Value::as_array);
        for event in events.into_iter().flatten() {
            let Some(from) = meta_id(event.pointer("/sender/id")) else {
                continue;
            };
            let occurred_at = event.get("timestamp").and_then(unix_time);
            let text_at = |pointer: &str| {
                event
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            if let Some(message) = event.get("message") {
                if message.get("is_echo").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                let mid = text_at("/message/mid")
                    .ok_or_else(|| CallbackError::Malformed("a message has no `mid`".into()))?;
                let attachment = message
                    .get("attachments")
                    .and_then(Value::as_array)
                    .and_then(|all| all.first());
                let (kind, media) = match attachment {
                    Some(a) => {
                        let kind = match a.get("type").and_then(Value::as_str) {
                            Some("image") => MessageKind::Image,
                            Some("video") | Some("ig_reel") | Some("reel") => MessageKind::Video,
                            Some("audio") => MessageKind::Audio,
                            Some("file") => MessageKind::Document,
                            _ => MessageKind::Unsupported,
                        };
                        let media = a
                            .pointer("/payload/url")
                            .and_then(Value::as_str)
                            .map(|url| InboundMedia {
                                reference: url.to_owned(),
                                content_type: None,
                                filename: None,
                            });
                        (kind, media)
                    }
                    None => (MessageKind::Text, None),
                };
                messages.push(InboundMessage {
                    provider_message_id: mid,
                    from,
                    from_name: None,
                    kind,
                    text: text_at("/message/text"),
                    media,
                    reply_to: text_at("/message/reply_to/mid"),
                    occurred_at,
                    change: None,
                });
            } else if event.get("reaction").is_some() {
                if text_at("/reaction/action").as_deref() != Some("react") {
                    continue;
                }
                let Some(target) = text_at("/reaction/mid") else {
                    continue;
                };
                messages.push(InboundMessage {
                    // A reaction has no id of its own: one per person, emoji and message.
                    provider_message_id: format!(
                        "{target}/reaction/{from}/{}",
                        text_at("/reaction/emoji").unwrap_or_default()
                    ),
                    from,
                    from_name: None,
                    kind: MessageKind::Reaction,
                    text: text_at("/reaction/emoji"),
                    media: None,
                    reply_to: Some(target),
                    occurred_at,
                    change: None,
                });
            }
        }
    }
    Ok(messages)
}
