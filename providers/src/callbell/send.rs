//! WhatsApp through Callbell's Messages API.
//!
//! `POST {base_url}/v1/messages/send` with `Authorization: Bearer <api_token>` and a JSON body:
//! - text: `{"to":"+31612345678","from":"whatsapp","type":"text","content":{"text":…}}`;
//! - media by URL: `"type":"image"` with `"content":{"url":…,"text":<caption>}` (Callbell
//!   documents captions for images only), or `"type":"document"` with `"content":{"url":…}`.
//!   Callbell's own examples for audio and video attachments send them as `"type":"document"`
//!   (every language snippet of the docs does), so Pombo does the same for `audio` and `video`:
//!   it works on every channel kind, where real audio/video messages need a WhatsApp Business
//!   API channel;
//! - template: the same body plus `"template_uuid"`, `"optin_contact":true` (both required for
//!   templates) and `"template_values":[…]` for the placeholders; `content.text` carries the
//!   first value, as Callbell's single-variable example does (it is ignored once
//!   `template_values` is valid). **For Callbell, [`ChatTemplate::name`] is the template's
//!   `uuid`** (list them with `GET /v1/templates`); `language` is not sent, since a Callbell
//!   template uuid already names one approved language variant. `optin_contact: true` states
//!   that the recipient opted in: whoever sends the notification vouches for that.
//!
//! Every message carries `channel_uuid` when the account configures one (Callbell's newest
//! docs list it as required; older ones default to the main channel), and
//! `metadata: {"notification_id": <uuid>}`, which Callbell echoes in its webhooks.
//!
//! Success is `{"message":{"uuid":"adf3d1216d4c4dcd908199d6700f2381","status":"enqueued"}}`;
//! the `uuid` is what the `message_status_updated` webhook names (`payload.uuid`), so it is the
//! provider message id. Errors: Callbell uses plain HTTP statuses (4xx client error, 429 over
//! 300 requests/second, 5xx safe to retry later); the one documented error body is
//! `{"error":"…","code":"whatsapp_wallet_depleted_credit"}` with `402 Payment Required`
//! (template sends with an empty WhatsApp wallet), and Pombo reads `error`/`code` from any
//! error answer of that shape.
//!
//! Docs:
//! - <https://docs.callbell.eu/api/reference/messages_api/post_send_messages>
//! - <https://docs.callbell.eu/api/reference/authorization>
//! - <https://docs.callbell.eu/api/reference/errors>
//! - <https://docs.callbell.eu/api/reference/rate_limits>
//! - <https://docs.callbell.eu/api/reference/webhooks/message_events/message_status_updated>

use crate::CallbellSettings;
use pombo_contract::{
    config::Secret,
    content::{ChatContent, ChatTemplate, Media, MediaKind},
};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{
    Accepted, DeliveryError, SetupError,
    http::{self, ProviderError, transport_error},
};

pub const PROVIDER: &str = "callbell";

pub struct Callbell {
    pub(super) http: reqwest::Client,
    url: String,
    api_token: Secret,
    channel_uuid: Option<String>,
}

impl Callbell {
    pub fn new(settings: &CallbellSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        if settings.api_token.expose().trim().is_empty() {
            return Err(SetupError::at(
                "api_token",
                "callbell: `api_token` is empty",
            ));
        }
        let base = settings.base_url.trim().trim_end_matches('/');
        let url = format!("{base}/v1/messages/send");
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(SetupError::at(
                    "base_url",
                    format!("callbell: `base_url` is not an http(s) URL: {base}"),
                ));
            }
        }
        let channel_uuid = settings
            .channel_uuid
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        Ok(Callbell {
            http,
            url,
            api_token: settings.api_token.clone(),
            channel_uuid,
        })
    }

    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &ChatContent,
    ) -> Result<Accepted, DeliveryError> {
        let body = message_body(notification_id, to, content, self.channel_uuid.as_deref())?;
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.api_token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::http::body(PROVIDER, response).await?;
        if !status.is_success() {
            return Err(error_from(status, &headers, &body));
        }
        let answer: Value = serde_json::from_slice(&body).map_err(|_| {
            // The message may be enqueued already: a retry could send it twice.
            DeliveryError::permanent(format!(
                "{PROVIDER}: answered {status} with a body that is not JSON"
            ))
        })?;
        let id = answer
            .pointer("/message/uuid")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        if id.is_none() {
            tracing::warn!(
                provider = PROVIDER,
                "Callbell accepted a message without a uuid"
            );
        }
        Ok(Accepted {
            provider_message_id: id,
        })
    }
}

/// The `POST /v1/messages/send` body for `content`, addressed to `to` (E.164 with `+`, as in
/// Callbell's examples).
fn message_body(
    notification_id: Uuid,
    to: &str,
    content: &ChatContent,
    channel_uuid: Option<&str>,
) -> Result<Value, DeliveryError> {
    let mut body = Map::new();
    body.insert("to".into(), json!(to));
    body.insert("from".into(), json!("whatsapp"));
    match (&content.text, &content.media, &content.template) {
        (Some(text), None, None) => {
            body.insert("type".into(), json!("text"));
            body.insert("content".into(), json!({ "text": text }));
        }
        (None, Some(media), None) => {
            let (kind, media_content) = media_content(media);
            body.insert("type".into(), json!(kind));
            body.insert("content".into(), media_content);
        }
        (None, None, Some(template)) => template_fields(&mut body, template),
        _ => {
            return Err(DeliveryError::permanent(format!(
                "{PROVIDER}: the message needs exactly one of `text`, `media` or `template`"
            )));
        }
    }
    if let Some(channel) = channel_uuid {
        body.insert("channel_uuid".into(), json!(channel));
    }
    body.insert(
        "metadata".into(),
        json!({ "notification_id": notification_id.to_string() }),
    );
    Ok(Value::Object(body))
}

/// Callbell's message `type` and `content` for an attachment.
fn media_content(media: &Media) -> (&'static str, Value) {
    match media.kind {
        MediaKind::Image => {
            let mut content = json!({ "url": media.url });
            if let Some(caption) = media.caption.as_deref().filter(|c| !c.is_empty()) {
                content["text"] = json!(caption);
            }
            ("image", content)
        }
        // Callbell's examples send audio and video attachments as documents.
        MediaKind::Document | MediaKind::Audio | MediaKind::Video => {
            ("document", json!({ "url": media.url }))
        }
    }
}

fn template_fields(body: &mut Map<String, Value>, template: &ChatTemplate) {
    let first = template.parameters.first().cloned().unwrap_or_default();
    body.insert("type".into(), json!("text"));
    body.insert("content".into(), json!({ "text": first }));
    body.insert("template_uuid".into(), json!(template.name));
    body.insert("optin_contact".into(), json!(true));
    if !template.parameters.is_empty() {
        body.insert("template_values".into(), json!(template.parameters));
    }
}

/// Classifies an error answer: 429 and 5xx are worth retrying (honouring `Retry-After`),
/// any other status is final (401 bad token, 402 empty wallet, 4xx invalid request). The
/// body's `error` and `code` travel with the error when it is Callbell's error object.
fn error_from(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> DeliveryError {
    http::failed_answer(PROVIDER, status, body, documented_error).classify(headers)
}

/// Callbell's error object: `{"error":"…","code":"…"}` as documented, or the `message` /
/// `errors` its other answers carry; a JSON object with none of them is not one.
fn documented_error(body: &[u8]) -> Option<ProviderError> {
    let body = serde_json::from_slice::<Value>(body).ok()?;
    let reason = error_text(&body)?;
    let code = body.get("code").and_then(|c| match c {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    Some(ProviderError {
        code,
        reason: Some(reason),
    })
}

/// The human part of an error body: `error` (a string, or an object with a `message`),
/// `message`, or `errors` (a list or an object of messages).
fn error_text(body: &Value) -> Option<String> {
    Some(
        match (body.get("error"), body.get("message"), body.get("errors")) {
            (Some(Value::String(s)), _, _) => s.clone(),
            (Some(Value::Object(o)), _, _) => o.get("message")?.as_str()?.to_owned(),
            (_, Some(Value::String(s)), _) => s.clone(),
            (_, _, Some(errors @ (Value::Array(_) | Value::Object(_)))) => errors.to_string(),
            _ => return None,
        },
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id() -> Uuid {
        Uuid::parse_str("0190f1a2-0000-7000-8000-000000000001").unwrap()
    }

    fn text(t: &str) -> ChatContent {
        ChatContent {
            text: Some(t.into()),
            media: None,
            template: None,
        }
    }

    #[test]
    fn text_body_matches_the_documented_example() {
        let body = message_body(id(), "+31612345678", &text("Hello!"), Some("chan-1")).unwrap();
        assert_eq!(
            body,
            json!({
                "to": "+31612345678",
                "from": "whatsapp",
                "type": "text",
                "content": { "text": "Hello!" },
                "channel_uuid": "chan-1",
                "metadata": { "notification_id": "0190f1a2-0000-7000-8000-000000000001" },
            })
        );
    }

    #[test]
    fn media_kinds_map_to_callbell_types() {
        let media = |kind, caption: Option<&str>| ChatContent {
            text: None,
            media: Some(Media {
                url: "https://example.com/f".into(),
                kind,
                caption: caption.map(str::to_owned),
                filename: Some("f.bin".into()),
            }),
            template: None,
        };
        let image = message_body(id(), "+1", &media(MediaKind::Image, Some("look")), None).unwrap();
        assert_eq!(image["type"], "image");
        assert_eq!(
            image["content"],
            json!({ "url": "https://example.com/f", "text": "look" })
        );
        assert!(image.get("channel_uuid").is_none());
        for kind in [MediaKind::Document, MediaKind::Audio, MediaKind::Video] {
            let body = message_body(id(), "+1", &media(kind, Some("cap")), None).unwrap();
            assert_eq!(body["type"], "document", "{kind:?}");
            assert_eq!(body["content"], json!({ "url": "https://example.com/f" }));
        }
    }

    #[test]
    fn template_uses_the_name_as_uuid() {
        let content = ChatContent {
            text: None,
            media: None,
            template: Some(ChatTemplate {
                name: "d980fb66fd5043d3ace1aa06ba044342".into(),
                language: "pt_BR".into(),
                parameters: vec!["Jack".into(), "template".into()],
            }),
        };
        let body = message_body(id(), "+1", &content, None).unwrap();
        assert_eq!(body["type"], "text");
        assert_eq!(body["content"], json!({ "text": "Jack" }));
        assert_eq!(body["template_uuid"], "d980fb66fd5043d3ace1aa06ba044342");
        assert_eq!(body["optin_contact"], true);
        assert_eq!(body["template_values"], json!(["Jack", "template"]));
    }

    #[test]
    fn errors_keep_the_callbell_code() {
        let e = error_from(
            StatusCode::PAYMENT_REQUIRED,
            &HeaderMap::new(),
            br#"{"error":"Your WhatsApp wallet is out of credit.","code":"whatsapp_wallet_depleted_credit"}"#,
        );
        assert_eq!(
            e,
            DeliveryError::Permanent {
                message:
                    "callbell answered 402 Payment Required: Your WhatsApp wallet is out of credit."
                        .into(),
                code: Some("whatsapp_wallet_depleted_credit".into()),
            }
        );
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        let e = error_from(StatusCode::TOO_MANY_REQUESTS, &headers, b"slow down");
        assert!(matches!(
            e,
            DeliveryError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        let e = error_from(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>");
        assert!(!e.is_permanent());
        assert_eq!(e.message(), "HTTP 502 Bad Gateway from callbell");
    }

    #[test]
    fn setup_checks_token_and_url() {
        let settings = |token: &str, base: &str| CallbellSettings {
            webhook_secret: None,
            api_token: Secret::new(token),
            channel_uuid: Some(" ".into()),
            base_url: base.into(),
        };
        let http = reqwest::Client::new();
        assert!(Callbell::new(&settings("", "https://api.callbell.eu"), http.clone()).is_err());
        assert!(Callbell::new(&settings("t", "not a url"), http.clone()).is_err());
        let ok = Callbell::new(&settings("t", "https://api.callbell.eu/"), http).unwrap();
        assert_eq!(ok.url, "https://api.callbell.eu/v1/messages/send");
        assert_eq!(ok.channel_uuid, None);
    }
}
