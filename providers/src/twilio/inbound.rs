//! What a person sends to a Twilio number (SMS, MMS, or WhatsApp through Twilio): the
//! incoming-message webhook, form-encoded and signed like status callbacks.
//!
//! - Parameters: <https://www.twilio.com/docs/messaging/guides/webhook-request>
//!   (`MessageSid`, `AccountSid`, `From`, `To`, `Body`, `NumMedia`, `MediaUrl{N}`,
//!   `MediaContentType{N}`, `SmsStatus=received`; WhatsApp adds `ProfileName`, `WaId`,
//!   `ButtonText`, `Latitude`/`Longitude`, `OriginalRepliedMessageSid`).
//! - WhatsApp addresses come as `whatsapp:+14155238886`: the contact is the number.
//!
//! One message may carry several files (`NumMedia` up to 10): each becomes a message of its
//! own (`<MessageSid>/<N>` for the second and later), the text riding on the first.

use crate::TwilioSettings;
use pombo_contract::conversation::{InboundMedia, InboundMessage, MessageKind};

use super::report::{param, verified};
use crate::report::{CallbackError, CallbackRequest};

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &TwilioSettings,
) -> Result<Vec<InboundMessage>, CallbackError> {
    let params = verified(req, settings)?;
    let param = |name: &str| param(&params, name);
    let status = param("MessageStatus").or_else(|| param("SmsStatus"));
    if status != Some("received") {
        // A status callback: `report.rs` reads it.
        return Ok(Vec::new());
    }
    let sid = param("MessageSid")
        .or_else(|| param("SmsMessageSid"))
        .or_else(|| param("SmsSid"))
        .ok_or_else(|| CallbackError::Malformed("no MessageSid".into()))?;
    let from = param("From").ok_or_else(|| CallbackError::Malformed("no From".into()))?;
    let from = from.strip_prefix("whatsapp:").unwrap_or(from).to_owned();
    let base = InboundMessage {
        provider_message_id: sid.to_owned(),
        from,
        from_name: param("ProfileName").map(str::to_owned),
        kind: MessageKind::Text,
        text: param("Body").map(str::to_owned),
        media: None,
        reply_to: param("OriginalRepliedMessageSid").map(str::to_owned),
        // Twilio says nothing of the time: the handler stamps the receipt.
        occurred_at: None,
        change: None,
    };
    if let Some(button) = param("ButtonText") {
        return Ok(vec![InboundMessage {
            kind: MessageKind::Button,
            text: Some(button.to_owned()),
            ..base
        }]);
    }
    if let (Some(lat), Some(lon)) = (param("Latitude"), param("Longitude")) {
        let name = param("Label").or(param("Address")).unwrap_or_default();
        return Ok(vec![InboundMessage {
            kind: MessageKind::Location,
            text: Some(format!("{name} ({lat}, {lon})").trim().to_owned()),
            ..base
        }]);
    }
    let files: usize = param("NumMedia")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
        .min(10);
    if files == 0 {
        return Ok(vec![base]);
    }
    let mut messages = Vec::with_capacity(files);
    for n in 0..files {
        let Some(url) = param(&format!("MediaUrl{n}")) else {
            continue;
        };
        let content_type = param(&format!("MediaContentType{n}")).map(str::to_owned);
        let kind = MessageKind::of_content_type(content_type.as_deref());
        messages.push(InboundMessage {
            provider_message_id: if n == 0 {
                base.provider_message_id.clone()
            } else {
                format!("{}/{n}", base.provider_message_id)
            },
            kind,
            text: if n == 0 { base.text.clone() } else { None },
            media: Some(InboundMedia {
                reference: url.to_owned(),
                content_type,
                filename: None,
            }),
            ..base.clone()
        });
    }
    Ok(messages)
}
