//! WhatsApp through Meta's WhatsApp Cloud API.
//!
//! `POST {base_url}/{api_version}/{phone_number_id}/messages` with
//! `Authorization: Bearer <access_token>` and a JSON message object:
//! - text: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"<digits>",
//!   "type":"text","text":{"body":…,"preview_url":false}}`
//! - media by link: `"type":"image"|"video"|"audio"|"document"`, `"<type>":{"link":…}` plus
//!   `caption` (not for audio) and `filename` (documents only);
//! - template: `"type":"template","template":{"name":…,"language":{"code":…},
//!   "components":[{"type":"body","parameters":[{"type":"text","text":…}]}]}`.
//!
//! Success is `{"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],
//! "messages":[{"id":"wamid.…"}]}`: the `wamid` is what the `statuses` webhooks name later.
//! Errors are Graph API errors `{"error":{"message","type","code","error_data":{"details"},
//! "fbtrace_id"}}`; Meta recommends handling them by `code`, not by HTTP status.
//!
//! Docs:
//! - <https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages>
//! - <https://developers.facebook.com/docs/whatsapp/cloud-api/messages/text-messages>
//! - <https://developers.facebook.com/docs/whatsapp/cloud-api/messages/template-messages>
//! - <https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes>

use crate::WhatsappCloudSettings;
use pombo_contract::content::{ChatContent, ChatTemplate, Media, MediaKind};
use reqwest::{StatusCode, header::HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Accepted, DeliveryError, SetupError,
    http::{self, transport_error},
};

pub const PROVIDER: &str = "cloud_api";

/// Meta error codes worth another attempt: throttling (`4` app rate limit, `80007` WABA
/// rate limit, `130429` throughput, `131048` spam rate limit, `131056` pair rate limit,
/// `133016` register/deregister rate limit) and temporary failures (`1` unknown, `2`
/// service, `131000` something went wrong, `131016` service unavailable). Every other
/// code (`190` token, `131026` undeliverable, `131030` not in allowed list, `131047`
/// re-engagement, `131051` unsupported type, `132000`/`132001` template, `100` parameter,
/// …) is final, unless the HTTP status itself is 429 or 5xx.
const RETRYABLE_CODES: &[i64] = &[
    1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133016,
];

pub struct WhatsappCloud {
    pub(super) http: reqwest::Client,
    /// `…/{phone_number_id}/messages`: sends, and read receipts (`read.rs`).
    pub(super) url: String,
    /// `{base_url}/{api_version}`: media ids are nodes under it (`media.rs`).
    pub(super) graph: String,
    pub(super) access_token: pombo_contract::config::Secret,
}

impl WhatsappCloud {
    pub fn new(
        settings: &WhatsappCloudSettings,
        http: reqwest::Client,
    ) -> Result<Self, SetupError> {
        let phone_number_id = settings.phone_number_id.trim();
        if phone_number_id.is_empty() || !phone_number_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(SetupError::at(
                "phone_number_id",
                "whatsapp_cloud: `phone_number_id` must be the numeric id of the business phone \
                 number in Meta (not the phone number itself)",
            ));
        }
        if settings.access_token.expose().trim().is_empty() {
            return Err(SetupError::at(
                "access_token",
                "whatsapp_cloud: `access_token` is empty",
            ));
        }
        let url = graph_url(
            &settings.base_url,
            &settings.api_version,
            phone_number_id,
            "messages",
        )
        .map_err(|(field, e)| SetupError::at(field, format!("whatsapp_cloud: {e}")))?;
        let graph = url
            .strip_suffix(&format!("/{phone_number_id}/messages"))
            .unwrap_or(&url)
            .to_owned();
        Ok(WhatsappCloud {
            http,
            url,
            graph,
            access_token: settings.access_token.clone(),
        })
    }

    pub async fn send(
        &self,
        _notification_id: Uuid,
        to: &str,
        content: &ChatContent,
    ) -> Result<Accepted, DeliveryError> {
        let body = message_body(to, content)?;
        let answer: SendAnswer = graph_send(
            PROVIDER,
            &self.http,
            &self.url,
            &self.access_token,
            &body,
            RETRYABLE_CODES,
        )
        .await?;
        let id = answer
            .messages
            .into_iter()
            .find_map(|m| m.id)
            .filter(|id| !id.is_empty());
        if id.is_none() {
            tracing::warn!(
                provider = PROVIDER,
                "WhatsApp accepted a message without a wamid"
            );
        }
        Ok(Accepted {
            provider_message_id: id,
        })
    }
}

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(default)]
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    #[serde(default)]
    id: Option<String>,
}

/// The message object of the Cloud API for `content`, addressed to `to` (E.164, the `+`
/// dropped: WhatsApp ids are digits only).
fn message_body(to: &str, content: &ChatContent) -> Result<Value, DeliveryError> {
    let to = to.strip_prefix('+').unwrap_or(to);
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
    });
    let map = body.as_object_mut().expect("object");
    match (&content.text, &content.media, &content.template) {
        (Some(text), None, None) => {
            map.insert("type".into(), json!("text"));
            map.insert("text".into(), json!({ "body": text, "preview_url": false }));
        }
        (None, Some(media), None) => {
            let kind = media.kind.as_str();
            map.insert("type".into(), json!(kind));
            map.insert(kind.into(), media_object(media));
        }
        (None, None, Some(template)) => {
            map.insert("type".into(), json!("template"));
            map.insert("template".into(), template_object(template));
        }
        _ => {
            return Err(DeliveryError::permanent(format!(
                "{PROVIDER}: the content must have exactly one of `text`, `media` or `template`"
            )));
        }
    }
    Ok(body)
}

fn media_object(media: &Media) -> Value {
    let mut object = json!({ "link": media.url });
    let map = object.as_object_mut().expect("object");
    // Audio messages have no caption in WhatsApp: the API refuses one.
    if media.kind != MediaKind::Audio
        && let Some(caption) = media.caption.as_deref().filter(|c| !c.is_empty())
    {
        map.insert("caption".into(), json!(caption));
    }
    if media.kind == MediaKind::Document
        && let Some(filename) = media.filename.as_deref().filter(|f| !f.is_empty())
    {
        map.insert("filename".into(), json!(filename));
    }
    object
}

fn template_object(template: &ChatTemplate) -> Value {
    let mut object = json!({
        "name": template.name,
        "language": { "code": template.language },
    });
    if !template.parameters.is_empty() {
        let parameters: Vec<Value> = template
            .parameters
            .iter()
            .map(|p| json!({ "type": "text", "text": p }))
            .collect();
        object.as_object_mut().expect("object").insert(
            "components".into(),
            json!([{ "type": "body", "parameters": parameters }]),
        );
    }
    object
}

/// One Graph API send (WhatsApp Cloud, Instagram): POSTs `body` with the access token,
/// classifies an error answer by Meta's code, and reads the success body as `T`.
pub(crate) async fn graph_send<T: serde::de::DeserializeOwned>(
    provider: &str,
    http: &reqwest::Client,
    url: &str,
    access_token: &pombo_contract::config::Secret,
    body: &Value,
    retryable_codes: &[i64],
) -> Result<T, DeliveryError> {
    let response = http
        .post(url)
        .bearer_auth(access_token.expose())
        .json(body)
        .send()
        .await
        .map_err(|e| transport_error(provider, e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = crate::http::body(provider, response).await?;
    if !status.is_success() {
        return Err(graph_error(
            provider,
            status,
            &headers,
            &body,
            retryable_codes,
        ));
    }
    serde_json::from_slice(&body).map_err(|_| {
        // The message may have been sent: retrying could duplicate it, so say so. What the
        // answer said is not quoted (a parse error quotes the body's values).
        DeliveryError::permanent(format!(
            "{provider}: answered {status} with a body that is not a send result"
        ))
    })
}

/// `{base}/{version}/{node}/{edge}`, checking that the base is an http(s) URL.
pub(crate) fn graph_url(
    base_url: &str,
    api_version: &str,
    node: &str,
    edge: &str,
) -> Result<String, (&'static str, String)> {
    let base = base_url.trim().trim_end_matches('/');
    let parsed =
        url::Url::parse(base).map_err(|e| ("base_url", format!("`base_url` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(("base_url", "`base_url` must be an http(s) URL".into()));
    }
    let version = api_version.trim().trim_matches('/');
    if version.is_empty() || version.contains('/') {
        return Err(("api_version", "`api_version` must look like `v21.0`".into()));
    }
    Ok(format!("{base}/{version}/{node}/{edge}"))
}

/// The Graph API error envelope shared by WhatsApp Cloud, Messenger and Instagram.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct GraphError {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub error_user_msg: Option<String>,
    #[serde(default)]
    pub error_data: Option<Value>,
    #[serde(default)]
    pub is_transient: Option<bool>,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

#[derive(Deserialize)]
struct GraphErrorEnvelope {
    error: GraphError,
}

impl GraphError {
    /// The Graph API's error envelope, `{"error":{…}}` with at least a `code` or a
    /// `message`; nothing else is.
    pub fn parse(body: &[u8]) -> Option<GraphError> {
        serde_json::from_slice::<GraphErrorEnvelope>(body)
            .ok()
            .map(|e| e.error)
            .filter(|e| e.code.is_some() || e.message.is_some())
    }

    /// `error_data.details` (WhatsApp), or `error_data` when it is a plain string.
    fn details(&self) -> Option<&str> {
        match self.error_data.as_ref()? {
            Value::String(s) => Some(s),
            Value::Object(map) => map.get("details").and_then(Value::as_str),
            _ => None,
        }
    }
}

impl http::DocumentedError for GraphError {
    fn code(&self) -> Option<String> {
        self.code.map(|c| c.to_string())
    }

    /// `error <code> (subcode <n>) <type>: <message> (<details>) [fbtrace_id <id>]`.
    fn reason(&self) -> Option<String> {
        let mut reason = String::new();
        if let Some(code) = self.code {
            reason.push_str(&format!("error {code}"));
            if let Some(sub) = self.error_subcode {
                reason.push_str(&format!(" (subcode {sub})"));
            }
        }
        if let Some(kind) = self.kind.as_deref() {
            reason.push_str(&format!(" {kind}"));
        }
        if let Some(text) = self.message.as_deref() {
            reason.push_str(&format!(": {text}"));
        }
        if let Some(details) = self.details().or(self.error_user_msg.as_deref())
            && Some(details) != self.message.as_deref()
        {
            reason.push_str(&format!(" ({details})"));
        }
        if let Some(trace) = self.fbtrace_id.as_deref() {
            reason.push_str(&format!(" [fbtrace_id {trace}]"));
        }
        Some(reason.trim_start_matches([' ', ':']).to_owned())
    }
}

/// Classifies a Graph API error answer: by Meta's `code` first (throttling and temporary
/// failures in `retryable_codes`, or `is_transient: true`), then by HTTP status (429 and
/// 5xx are always transient). The message carries the code, subcode, Meta's message and
/// details, and the `fbtrace_id` support asks for, bounded; never the access token, nor
/// anything of a body that is not a Graph API error.
pub(crate) fn graph_error(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    retryable_codes: &[i64],
) -> DeliveryError {
    let transient_status = http::is_transient(status);
    let answer = http::failed_answer(provider, status, body, GraphError::parse);
    let retryable = transient_status
        || answer.parsed.as_ref().is_some_and(|e| {
            e.is_transient == Some(true) || e.code.is_some_and(|c| retryable_codes.contains(&c))
        });
    if retryable {
        answer.retryable(headers)
    } else {
        answer.permanent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(
        text: Option<&str>,
        media: Option<Media>,
        template: Option<ChatTemplate>,
    ) -> ChatContent {
        ChatContent {
            text: text.map(str::to_owned),
            media,
            template,
        }
    }

    #[test]
    fn text_body_drops_the_plus_and_disables_previews() {
        let body = message_body("+5511987654321", &chat(Some("Olá"), None, None)).unwrap();
        assert_eq!(
            body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "5511987654321",
                "type": "text",
                "text": { "body": "Olá", "preview_url": false }
            })
        );
    }

    #[test]
    fn audio_has_no_caption_and_only_documents_have_a_filename() {
        let media = |kind| Media {
            url: "https://cdn.example.com/f".into(),
            kind,
            caption: Some("cap".into()),
            filename: Some("f.pdf".into()),
        };
        assert_eq!(
            media_object(&media(MediaKind::Audio)),
            json!({ "link": "https://cdn.example.com/f" })
        );
        assert_eq!(
            media_object(&media(MediaKind::Image)),
            json!({ "link": "https://cdn.example.com/f", "caption": "cap" })
        );
        assert_eq!(
            media_object(&media(MediaKind::Document)),
            json!({ "link": "https://cdn.example.com/f", "caption": "cap", "filename": "f.pdf" })
        );
    }

    #[test]
    fn template_without_parameters_has_no_components() {
        let t = ChatTemplate {
            name: "hello_world".into(),
            language: "en_US".into(),
            parameters: vec![],
        };
        assert_eq!(
            template_object(&t),
            json!({ "name": "hello_world", "language": { "code": "en_US" } })
        );
    }

    #[test]
    fn content_with_two_kinds_is_refused() {
        let t = ChatTemplate {
            name: "x".into(),
            language: "en".into(),
            parameters: vec![],
        };
        let e = message_body("+5511987654321", &chat(Some("a"), None, Some(t))).unwrap_err();
        assert!(e.is_permanent());
    }

    #[test]
    fn graph_errors_are_classified_by_code_then_status() {
        let h = HeaderMap::new();
        let body = |code: i64| {
            json!({"error": {"message": "m", "type": "OAuthException", "code": code,
                             "error_data": {"messaging_product": "whatsapp", "details": "d"},
                             "fbtrace_id": "Az8"}})
            .to_string()
        };
        let e = graph_error(
            "x",
            StatusCode::BAD_REQUEST,
            &h,
            body(131056).as_bytes(),
            RETRYABLE_CODES,
        );
        assert!(!e.is_permanent());
        assert_eq!(e.code(), Some("131056"));
        assert_eq!(
            e.message(),
            "x answered 400 Bad Request: error 131056 OAuthException: m (d) [fbtrace_id Az8]"
        );
        let e = graph_error(
            "x",
            StatusCode::BAD_REQUEST,
            &h,
            body(131026).as_bytes(),
            RETRYABLE_CODES,
        );
        assert!(e.is_permanent());
        assert_eq!(e.code(), Some("131026"));
        let e = graph_error(
            "x",
            StatusCode::UNAUTHORIZED,
            &h,
            body(190).as_bytes(),
            RETRYABLE_CODES,
        );
        assert!(e.is_permanent());
        // Whatever the code, a 5xx is transient.
        let e = graph_error(
            "x",
            StatusCode::BAD_GATEWAY,
            &h,
            body(100).as_bytes(),
            RETRYABLE_CODES,
        );
        assert!(!e.is_permanent());
        // Not a Graph body at all.
        let e = graph_error("x", StatusCode::BAD_REQUEST, &h, b"<html>", RETRYABLE_CODES);
        assert!(e.is_permanent());
        assert_eq!(e.code(), None);
        assert_eq!(e.message(), "HTTP 400 Bad Request from x");
        let transient = json!({"error": {"message": "m", "code": 99, "is_transient": true}});
        let e = graph_error(
            "x",
            StatusCode::BAD_REQUEST,
            &h,
            transient.to_string().as_bytes(),
            &[],
        );
        assert!(!e.is_permanent());
    }

    #[test]
    fn graph_url_is_checked() {
        assert_eq!(
            graph_url("https://graph.facebook.com/", "v21.0", "123", "messages").unwrap(),
            "https://graph.facebook.com/v21.0/123/messages"
        );
        assert!(graph_url("graph.facebook.com", "v21.0", "1", "messages").is_err());
        assert!(graph_url("https://graph.facebook.com", "", "1", "messages").is_err());
    }
}
