//! WhatsApp through a self-hosted Evolution API (v2) instance.
//!
//! Every call is `POST {base_url}/message/<action>/{instance}` with the header
//! `apikey: <api_key>` (the global key or the instance's token) and a JSON body whose
//! `number` is the recipient's digits with the country code, without `+`:
//! - text: `sendText` with `{"number","text"}`;
//! - media by URL: `sendMedia` with `{"number","mediatype":"image"|"video"|"audio"|"document",
//!   "media":<url>,"caption"?,"fileName"?}`. Documents always carry a `fileName` (the given
//!   one, else the URL's last path segment): without one Evolution derives it from the URL
//!   with a regex that fails on extension-less (presigned) URLs;
//! - template: `sendTemplate` with `{"number","name","language","components":[{"type":"body",
//!   "parameters":[{"type":"text","text":…}]}]}`. Only instances on the WhatsApp Cloud API
//!   integration (`WHATSAPP-BUSINESS`) send templates; a Baileys (WhatsApp Web) instance
//!   answers `500 {"response":{"message":"Method not available in the Baileys service"}}`,
//!   which Pombo treats as final (code `template_unsupported`).
//!
//! Success is `201` with the sent message, `{"key":{"remoteJid":"5511…@s.whatsapp.net",
//! "fromMe":true,"id":"BAE594145F4C59B4"},"message":{…},"messageTimestamp":…,
//! "status":"PENDING"}`; `key.id` is what the `MESSAGES_UPDATE` webhooks name (`keyId`), so it
//! is the provider message id.
//!
//! Errors are `{"status":<http status>,"error":"<reason>","response":{"message":…}}` where
//! `message` is a string or a list. Evolution has no error codes, so Pombo labels the answers it
//! recognises in `code`:
//! - `number_not_on_whatsapp`: `400` whose `message` is `[{"exists":false,"jid","number"}]`
//!   (final; the number is left out of the error, it is the recipient's);
//! - `instance_disconnected`: `400` whose `message` is Baileys' `Connection Closed`,
//!   `Timed Out`, … (Evolution wraps every send failure in a 400): worth retrying;
//! - `template_unsupported`: see above;
//! - 401 (bad `apikey`), 403 and 404 (no such instance) are final; 429 and 5xx are retried.
//!
//! Docs:
//! - <https://doc.evolution-api.com/v2/api-reference/message-controller/send-text>
//! - `sendMedia` and `sendTemplate` have sibling pages under the same path (`send-media`,
//!   `send-template`); their bodies here follow the JSON schemas in Evolution's source
//!   (`src/validate/message.schema.ts`, `src/api/dto/sendMessage.dto.ts`).
//! - source of the answers above: github.com/EvolutionAPI/evolution-api (`src/main.ts` error
//!   handler, `src/exceptions`, `src/api/guards`, `whatsapp.baileys.service.ts`).

use crate::EvolutionSettings;
use pombo_contract::{
    config::Secret,
    content::{ChatContent, ChatTemplate, Media, MediaKind},
};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{
    Accepted, DeliveryError, SetupError,
    http::{self, transport_error},
};

pub const PROVIDER: &str = "evolution";

/// `code` of a recipient that has no WhatsApp account.
pub const NUMBER_NOT_ON_WHATSAPP: &str = "number_not_on_whatsapp";
/// `code` of an instance whose WhatsApp connection is down (Baileys' `Connection Closed`).
pub const INSTANCE_DISCONNECTED: &str = "instance_disconnected";
/// `code` of a template sent through a Baileys (WhatsApp Web) instance.
pub const TEMPLATE_UNSUPPORTED: &str = "template_unsupported";

/// Baileys' messages for a connection that is down or slow: Evolution answers them as `400`,
/// but the same message can go through once the instance reconnects.
const TRANSIENT_MARKERS: &[&str] = &[
    "Connection Closed",
    "Connection Lost",
    "Connection Terminated",
    "Timed Out",
    "Stream Errored",
];

pub struct Evolution {
    pub(super) http: reqwest::Client,
    base: url::Url,
    instance: String,
    pub(super) api_key: Secret,
    /// What Evolution's calls to Pombo carry (`?secret=`), as it signs nothing.
    pub(super) webhook_secret: Option<Secret>,
}

impl Evolution {
    pub fn new(settings: &EvolutionSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        let instance = settings.instance.trim();
        if instance.is_empty() {
            return Err(SetupError::at("instance", "evolution: `instance` is empty"));
        }
        if settings.api_key.expose().trim().is_empty() {
            return Err(SetupError::at("api_key", "evolution: `api_key` is empty"));
        }
        let base = url::Url::parse(settings.base_url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| {
                SetupError::at(
                    "base_url",
                    format!(
                        "evolution: `base_url` is not an http(s) URL: {}",
                        settings.base_url
                    ),
                )
            })?;
        Ok(Evolution {
            http,
            base,
            instance: instance.to_owned(),
            api_key: settings.api_key.clone(),
            webhook_secret: settings
                .webhook_secret
                .clone()
                .filter(|s| !s.expose().trim().is_empty()),
        })
    }

    /// `{base_url}/message/{action}/{instance}`, the instance name percent-encoded.
    fn endpoint(&self, action: &str) -> String {
        self.endpoint_in("message", action)
    }

    /// `{base_url}/{group}/{action}/{instance}` (`chat/markMessageAsRead`, …).
    pub(super) fn endpoint_in(&self, group: &str, action: &str) -> String {
        self.url_of(&[group, action, &self.instance])
    }

    /// `{base_url}/{segments…}`, each percent-encoded.
    pub(super) fn url_of(&self, segments: &[&str]) -> String {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new")
            .pop_if_empty()
            .extend(segments);
        url.into()
    }

    /// The instance's name on the server.
    pub(super) fn instance_name(&self) -> &str {
        &self.instance
    }

    pub async fn send(
        &self,
        _notification_id: Uuid,
        to: &str,
        content: &ChatContent,
    ) -> Result<Accepted, DeliveryError> {
        let (action, body) = request(to, content)?;
        let response = self
            .http
            .post(self.endpoint(action))
            .header("apikey", self.api_key.expose())
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
            // The message may be out already: a retry could send it twice.
            DeliveryError::permanent(format!(
                "{PROVIDER}: answered {status} with a body that is not JSON"
            ))
        })?;
        let id = answer
            .pointer("/key/id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        if id.is_none() {
            tracing::warn!(
                provider = PROVIDER,
                "Evolution API answered without a key.id"
            );
        }
        Ok(Accepted {
            provider_message_id: id,
        })
    }
}

/// The endpoint (`sendText`, `sendMedia`, `sendTemplate`) and body for `content`.
fn request(to: &str, content: &ChatContent) -> Result<(&'static str, Value), DeliveryError> {
    let number = to.trim_start_matches('+');
    match (&content.text, &content.media, &content.template) {
        (Some(text), None, None) => Ok(("sendText", json!({ "number": number, "text": text }))),
        (None, Some(media), None) => Ok(("sendMedia", media_body(number, media))),
        (None, None, Some(template)) => Ok(("sendTemplate", template_body(number, template))),
        _ => Err(DeliveryError::permanent(format!(
            "{PROVIDER}: the message needs exactly one of `text`, `media` or `template`"
        ))),
    }
}

fn media_body(number: &str, media: &Media) -> Value {
    let mut body = Map::new();
    body.insert("number".into(), json!(number));
    body.insert("mediatype".into(), json!(media.kind.as_str()));
    body.insert("media".into(), json!(media.url));
    if media.kind != MediaKind::Audio
        && let Some(caption) = media.caption.as_deref().filter(|c| !c.is_empty())
    {
        body.insert("caption".into(), json!(caption));
    }
    let filename = media
        .filename
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| (media.kind == MediaKind::Document).then(|| file_name_of(&media.url)));
    if let Some(name) = filename {
        body.insert("fileName".into(), json!(name));
    }
    Value::Object(body)
}

/// The last path segment of `url` (`report.pdf`), or `document` when it has none.
fn file_name_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_owned))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "document".into())
}

fn template_body(number: &str, template: &ChatTemplate) -> Value {
    let mut body = json!({
        "number": number,
        "name": template.name,
        "language": template.language,
    });
    if !template.parameters.is_empty() {
        let parameters: Vec<Value> = template
            .parameters
            .iter()
            .map(|p| json!({ "type": "text", "text": p }))
            .collect();
        body["components"] = json!([{ "type": "body", "parameters": parameters }]);
    }
    body
}

/// Evolution's error answer, `{"status","error","response":{"message"}}`: the message (or
/// else `error`) is the reason; a JSON object with neither is not one.
struct EvolutionError {
    /// `response.message`, as it came.
    message: Option<Value>,
    reason: String,
}

impl EvolutionError {
    fn parse(body: &[u8]) -> Option<EvolutionError> {
        let body = serde_json::from_slice::<Value>(body).ok()?;
        let message = body.pointer("/response/message").cloned();
        let reason = match &message {
            Some(m) => message_text(m),
            None => body.get("error")?.as_str()?.to_owned(),
        };
        Some(EvolutionError { message, reason })
    }
}

impl http::DocumentedError for EvolutionError {
    fn code(&self) -> Option<String> {
        None
    }
    fn reason(&self) -> Option<String> {
        Some(self.reason.clone())
    }
}

/// Classifies an Evolution error answer (see the module docs).
pub(super) fn error_from(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> DeliveryError {
    let answer = http::failed_answer(PROVIDER, status, body, EvolutionError::parse);
    let Some(error) = &answer.parsed else {
        return answer.classify(headers);
    };
    if status == StatusCode::BAD_REQUEST
        && let Some(Value::Array(items)) = &error.message
        && items
            .iter()
            .any(|i| i.get("exists").and_then(Value::as_bool) == Some(false))
    {
        return DeliveryError::permanent(format!(
            "{PROVIDER} answered {status}: the number is not on WhatsApp"
        ))
        .with_code(NUMBER_NOT_ON_WHATSAPP);
    }
    if status == StatusCode::BAD_REQUEST
        && TRANSIENT_MARKERS.iter().any(|m| error.reason.contains(m))
    {
        return DeliveryError::retryable(answer.message.clone()).with_code(INSTANCE_DISCONNECTED);
    }
    if status.is_server_error()
        && error
            .reason
            .contains("Method not available in the Baileys service")
    {
        return DeliveryError::permanent(format!(
            "{PROVIDER} answered {status}: templates need an instance on the WhatsApp Cloud API \
             integration; this one runs Baileys (WhatsApp Web)"
        ))
        .with_code(TEMPLATE_UNSUPPORTED);
    }
    answer.classify(headers)
}

/// `response.message` as text: a string, or the items of a list joined with `; `.
fn message_text(message: &Value) -> String {
    match message {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(base: &str, instance: &str) -> EvolutionSettings {
        EvolutionSettings {
            webhook_secret: None,
            base_url: base.into(),
            instance: instance.into(),
            api_key: Secret::new("key"),
        }
    }

    #[test]
    fn endpoints_encode_the_instance() {
        let http = reqwest::Client::new();
        let p = Evolution::new(
            &settings("https://evo.example.com/", "vendas 2024"),
            http.clone(),
        )
        .unwrap();
        assert_eq!(
            p.endpoint("sendText"),
            "https://evo.example.com/message/sendText/vendas%202024"
        );
        let p =
            Evolution::new(&settings("http://127.0.0.1:1/evolution", "i"), http.clone()).unwrap();
        assert_eq!(
            p.endpoint("sendMedia"),
            "http://127.0.0.1:1/evolution/message/sendMedia/i"
        );
        assert!(Evolution::new(&settings("nope", "i"), http.clone()).is_err());
        assert!(Evolution::new(&settings("https://e.com", " "), http).is_err());
    }

    #[test]
    fn bodies_follow_the_v2_reference() {
        let text = ChatContent {
            text: Some("Olá".into()),
            media: None,
            template: None,
        };
        assert_eq!(
            request("+5511987654321", &text).unwrap(),
            (
                "sendText",
                json!({ "number": "5511987654321", "text": "Olá" })
            )
        );
        let doc = ChatContent {
            text: None,
            media: Some(Media {
                url: "https://files.example.com/a/b/report.pdf?sig=1".into(),
                kind: MediaKind::Document,
                caption: Some("Your report".into()),
                filename: None,
            }),
            template: None,
        };
        assert_eq!(
            request("+5511987654321", &doc).unwrap().1,
            json!({
                "number": "5511987654321",
                "mediatype": "document",
                "media": "https://files.example.com/a/b/report.pdf?sig=1",
                "caption": "Your report",
                "fileName": "report.pdf",
            })
        );
        let template = ChatContent {
            text: None,
            media: None,
            template: Some(ChatTemplate {
                name: "order_shipped".into(),
                language: "pt_BR".into(),
                parameters: vec!["Ana".into()],
            }),
        };
        assert_eq!(
            request("+5511987654321", &template).unwrap(),
            (
                "sendTemplate",
                json!({
                    "number": "5511987654321",
                    "name": "order_shipped",
                    "language": "pt_BR",
                    "components": [{ "type": "body", "parameters": [{ "type": "text", "text": "Ana" }] }],
                })
            )
        );
    }

    #[test]
    fn errors_are_labelled() {
        let h = HeaderMap::new();
        let e = error_from(
            StatusCode::BAD_REQUEST,
            &h,
            br#"{"status":400,"error":"Bad Request","response":{"message":[{"jid":"5511987654321@s.whatsapp.net","exists":false,"number":"5511987654321"}]}}"#,
        );
        assert_eq!(
            e,
            DeliveryError::Permanent {
                message: "evolution answered 400 Bad Request: the number is not on WhatsApp".into(),
                code: Some(NUMBER_NOT_ON_WHATSAPP.into()),
            }
        );
        let e = error_from(
            StatusCode::BAD_REQUEST,
            &h,
            br#"{"status":400,"error":"Bad Request","response":{"message":["Error: Connection Closed"]}}"#,
        );
        assert!(!e.is_permanent());
        assert_eq!(e.code(), Some(INSTANCE_DISCONNECTED));
        let e = error_from(
            StatusCode::INTERNAL_SERVER_ERROR,
            &h,
            br#"{"status":500,"error":"Internal Server Error","response":{"message":"Method not available in the Baileys service"}}"#,
        );
        assert!(e.is_permanent());
        assert_eq!(e.code(), Some(TEMPLATE_UNSUPPORTED));
        let e = error_from(
            StatusCode::UNAUTHORIZED,
            &h,
            br#"{"status":401,"error":"Unauthorized","response":{"message":"Unauthorized"}}"#,
        );
        assert_eq!(
            e,
            DeliveryError::permanent("evolution answered 401 Unauthorized: Unauthorized")
        );
        let e = error_from(StatusCode::BAD_GATEWAY, &h, b"<html>bad gateway</html>");
        assert!(!e.is_permanent());
        assert_eq!(e.message(), "HTTP 502 Bad Gateway from evolution");
    }
}
