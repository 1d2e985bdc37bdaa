//! WhatsApp through a self-hosted WAHA (WhatsApp HTTP API) session.
//!
//! Every call is a `POST` under `{base_url}/api/` with a JSON body naming the `session` and
//! the `chatId` (the recipient's digits with the country code, without `+`, then `@c.us`),
//! plus `X-Api-Key: <api_key>` when the server requires a key:
//! - text: `/api/sendText` with `{"session","chatId","text"}`;
//! - image: `/api/sendImage` with `{"session","chatId","file":{"mimetype","url","filename"?},
//!   "caption"?}`;
//! - document: `/api/sendFile`, same body (the file name is always given);
//! - audio: `/api/sendVoice` with `{"session","chatId","file":{"mimetype","url"},"convert":true}`;
//! - video: `/api/sendVideo` with `{"session","chatId","file":{"mimetype","filename","url"},
//!   "convert":true,"caption"?}`.
//!
//! WAHA requires `file.mimetype`; Pombo's media carries none, so it is guessed from the file
//! name or URL extension (`image/jpeg`, `application/octet-stream` when unknown). Voice and
//! video go with `convert: true` so that WAHA turns any input into the format WhatsApp needs
//! (OGG/Opus voice, MP4 video); it costs an ffmpeg run on the WAHA host. Media sending needs
//! WAHA Plus on some engines; WAHA Core answers `422` for it, which is final.
//!
//! WhatsApp Web has no message templates: a template fails permanently without a request.
//!
//! Success is `201` with the sent message. The OpenAPI schema (`WAMessage`) gives its `id` as
//! a string, `true_11111111111@c.us_AAAAAAAAAAAAAAAAAAAA`, which is what the `message.ack`
//! events carry as `payload.id`. Engines return their native object instead: WEBJS an `id`
//! object whose `_serialized` is that string, NOWEB/GOWS a Baileys `key`
//! (`{"remoteJid":"…@s.whatsapp.net","fromMe":true,"id":"3EB0…"}`) from which WAHA builds
//! the same string (`{fromMe}_{remoteJid in @c.us form}_{id}`). Pombo accepts all three and
//! returns the serialized form.
//!
//! Errors are NestJS answers, `{"statusCode","message","error"}`. Classification:
//! - `401` (missing or wrong `X-Api-Key`), `400` (invalid request), `404` (no such session)
//!   and other `422` (method not implemented by the engine, Plus-only feature) are final;
//! - `422 {"error":"Session status is not as expected…","session","status","expected"}`: the
//!   session is not `WORKING` (starting, waiting for a QR scan, stopped, failed): retried, with
//!   the session status (`SCAN_QR_CODE`, …) as `code`, so it goes out once someone fixes it;
//! - `5xx`, `429` are retried, except a `500` whose exception reads `invalid wid` (WhatsApp
//!   refused the chat id), which is final with code `invalid_wid`.
//!
//! WAHA does not check that the number has WhatsApp before sending (it answers `201` and the
//! message never leaves: `message.ack` reports it), and some Brazilian numbers registered
//! before 2012 need their `chatId` without the ninth digit; WAHA's `check-exists` endpoint
//! tells which, Pombo does not call it.
//!
//! Docs:
//! - <https://waha.devlike.pro/docs/how-to/send-messages/>
//! - <https://waha.devlike.pro/docs/how-to/security/> (`X-Api-Key`, the 401 answer)
//! - <https://waha.devlike.pro/docs/how-to/events/#messageack>
//! - OpenAPI: <https://waha.devlike.pro/swagger/openapi.json>; engines and error answers:
//!   github.com/devlikeapro/waha (`src/core/abc/manager.abc.ts`, `src/nestjs/AllExceptionsFilter.ts`).

use crate::WahaSettings;
use pombo_contract::{
    config::Secret,
    content::{ChatContent, Media, MediaKind},
};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{
    Accepted, DeliveryError, SetupError,
    http::{self, transport_error},
};

pub const PROVIDER: &str = "waha";

/// `code` of a chat id WhatsApp refused (`wid error: invalid wid`).
pub const INVALID_WID: &str = "invalid_wid";

pub struct Waha {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) session: String,
    pub(super) api_key: Option<Secret>,
    /// The HMAC key the session's webhooks sign with (`X-Webhook-Hmac`).
    pub(super) webhook_secret: Option<Secret>,
}

impl Waha {
    pub fn new(settings: &WahaSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        let session = settings.session.trim();
        if session.is_empty() {
            return Err(SetupError::at("session", "waha: `session` is empty"));
        }
        let base = settings.base_url.trim().trim_end_matches('/');
        match url::Url::parse(base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base() => {}
            _ => {
                return Err(SetupError::at(
                    "base_url",
                    format!("waha: `base_url` is not an http(s) URL: {base}"),
                ));
            }
        }
        let api_key = settings
            .api_key
            .clone()
            .filter(|k| !k.expose().trim().is_empty());
        Ok(Waha {
            http,
            base: base.to_owned(),
            session: session.to_owned(),
            api_key,
            webhook_secret: settings
                .webhook_secret
                .clone()
                .filter(|s| !s.expose().trim().is_empty()),
        })
    }

    pub async fn send(
        &self,
        _notification_id: Uuid,
        to: &str,
        content: &ChatContent,
    ) -> Result<Accepted, DeliveryError> {
        let (path, body) = request(&self.session, to, content)?;
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(key) = &self.api_key {
            request = request.header("X-Api-Key", key.expose());
        }
        let response = request
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
        let id = message_id(&answer);
        if id.is_none() {
            tracing::warn!(provider = PROVIDER, "WAHA answered without a message id");
        }
        Ok(Accepted {
            provider_message_id: id,
        })
    }
}

/// The path (`/api/sendText`, …) and body for `content`.
fn request(
    session: &str,
    to: &str,
    content: &ChatContent,
) -> Result<(&'static str, Value), DeliveryError> {
    let chat_id = format!("{}@c.us", to.trim_start_matches('+'));
    match (&content.text, &content.media, &content.template) {
        (Some(text), None, None) => Ok((
            "/api/sendText",
            json!({ "session": session, "chatId": chat_id, "text": text }),
        )),
        (None, Some(media), None) => Ok(media_request(session, chat_id, media)),
        (None, None, Some(_)) => Err(DeliveryError::permanent(format!(
            "{PROVIDER}: WhatsApp Web sessions have no message templates; send `text` or `media`"
        ))),
        _ => Err(DeliveryError::permanent(format!(
            "{PROVIDER}: the message needs exactly one of `text`, `media` or `template`"
        ))),
    }
}

fn media_request(session: &str, chat_id: String, media: &Media) -> (&'static str, Value) {
    let given_name = media
        .filename
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned);
    let caption = media.caption.as_deref().filter(|c| !c.is_empty());
    let mut body = Map::new();
    body.insert("session".into(), json!(session));
    body.insert("chatId".into(), json!(chat_id));
    let path = match media.kind {
        MediaKind::Image => {
            let name = given_name
                .clone()
                .unwrap_or_else(|| file_name_of(&media.url));
            let mut file = json!({ "mimetype": mime_type(&name, "image/jpeg"), "url": media.url });
            if let Some(name) = given_name {
                file["filename"] = json!(name);
            }
            body.insert("file".into(), file);
            "/api/sendImage"
        }
        MediaKind::Document => {
            let name = given_name.unwrap_or_else(|| file_name_of(&media.url));
            body.insert(
                "file".into(),
                json!({
                    "mimetype": mime_type(&name, "application/octet-stream"),
                    "filename": name,
                    "url": media.url,
                }),
            );
            "/api/sendFile"
        }
        MediaKind::Audio => {
            body.insert(
                "file".into(),
                json!({ "mimetype": "audio/ogg; codecs=opus", "url": media.url }),
            );
            body.insert("convert".into(), json!(true));
            "/api/sendVoice"
        }
        MediaKind::Video => {
            body.insert(
                "file".into(),
                json!({
                    "mimetype": "video/mp4",
                    "filename": given_name.unwrap_or_else(|| "video.mp4".into()),
                    "url": media.url,
                }),
            );
            body.insert("convert".into(), json!(true));
            "/api/sendVideo"
        }
    };
    if media.kind != MediaKind::Audio
        && let Some(caption) = caption
    {
        body.insert("caption".into(), json!(caption));
    }
    (path, Value::Object(body))
}

/// The last path segment of `url` (`report.pdf`), or `file` when it has none.
fn file_name_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_owned))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "file".into())
}

/// The MIME type of a file name's extension, `fallback` when unknown.
fn mime_type(name: &str, fallback: &'static str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "xml" => "application/xml",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "mp4" => "video/mp4",
        _ => fallback,
    }
}

/// The message id as `message.ack` events name it (see the module docs).
fn message_id(answer: &Value) -> Option<String> {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    match answer.get("id") {
        Some(Value::String(id)) => return non_empty(id),
        Some(Value::Object(id)) => {
            if let Some(serialized) = id.get("_serialized").and_then(Value::as_str) {
                return non_empty(serialized);
            }
        }
        _ => {}
    }
    let key = answer.get("key")?;
    let id = key.get("id")?.as_str().filter(|s| !s.is_empty())?;
    let remote = key.get("remoteJid")?.as_str()?;
    let from_me = key.get("fromMe").and_then(Value::as_bool).unwrap_or(false);
    let chat = remote.replace("@s.whatsapp.net", "@c.us");
    Some(format!("{from_me}_{chat}_{id}"))
}

/// WAHA's error answers: a NestJS error (`{"statusCode","message","error"}`, or a 500's
/// `exception.message`), or the session-status refusal (`{"error","session","status",
/// "expected"}`); a JSON object with none of their texts is not one.
struct WahaError {
    /// `(session, status)` of the session-status refusal.
    session: Option<(String, String)>,
    reason: String,
}

impl WahaError {
    fn parse(body: &[u8]) -> Option<WahaError> {
        let v = serde_json::from_slice::<Value>(body).ok()?;
        let session = match (v.get("status").and_then(Value::as_str), v.get("expected")) {
            (Some(status), Some(_)) => {
                let name = v.get("session").and_then(Value::as_str).unwrap_or("?");
                Some((name.to_owned(), status.to_owned()))
            }
            _ => None,
        };
        Some(WahaError {
            reason: error_text(&v)?,
            session,
        })
    }
}

impl http::DocumentedError for WahaError {
    fn code(&self) -> Option<String> {
        None
    }
    fn reason(&self) -> Option<String> {
        Some(self.reason.clone())
    }
}

/// Classifies a WAHA error answer (see the module docs).
pub(super) fn error_from(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> DeliveryError {
    let answer = http::failed_answer(PROVIDER, status, body, WahaError::parse);
    let Some(error) = &answer.parsed else {
        return answer.classify(headers);
    };
    if status == StatusCode::UNPROCESSABLE_ENTITY
        && let Some((session, session_status)) = &error.session
    {
        let e = DeliveryError::retryable(format!(
            "{PROVIDER} answered {status}: session `{}` is {}, not WORKING (start it, or scan \
             its QR code)",
            http::clean(session, 64),
            http::clean(session_status, 64),
        ));
        return match http::clean_code(session_status) {
            Some(code) => e.with_code(code),
            None => e,
        };
    }
    if status.is_server_error() && error.reason.contains("invalid wid") {
        // The exception text names the chat id, that is the recipient: leave it out.
        return DeliveryError::permanent(format!(
            "{PROVIDER} answered {status}: WhatsApp refused the chat id (invalid wid)"
        ))
        .with_code(INVALID_WID);
    }
    answer.classify(headers)
}

/// The human part of a NestJS error: `exception.message` (500s, whose bodies also echo the
/// request: never copied), `message` (a string or a list), or `error`.
fn error_text(body: &Value) -> Option<String> {
    if let Some(m) = body.pointer("/exception/message").and_then(Value::as_str) {
        return Some(m.to_owned());
    }
    match (body.get("message"), body.get("error")) {
        (Some(Value::String(s)), _) => Some(s.clone()),
        (Some(Value::Array(items)), _) => Some(
            items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        (_, Some(Value::String(s))) => Some(s.clone()),
        (_, Some(Value::Object(o))) => o.get("message").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(kind: MediaKind, url: &str, filename: Option<&str>) -> ChatContent {
        ChatContent {
            text: None,
            media: Some(Media {
                url: url.into(),
                kind,
                caption: Some("cap".into()),
                filename: filename.map(str::to_owned),
            }),
            template: None,
        }
    }

    #[test]
    fn text_goes_to_a_c_us_chat() {
        let content = ChatContent {
            text: Some("Hi there!".into()),
            media: None,
            template: None,
        };
        assert_eq!(
            request("default", "+12132132130", &content).unwrap(),
            (
                "/api/sendText",
                json!({ "session": "default", "chatId": "12132132130@c.us", "text": "Hi there!" })
            )
        );
    }

    #[test]
    fn media_bodies_per_kind() {
        let (path, body) = request(
            "s",
            "+1",
            &media(MediaKind::Image, "https://x.io/a/pic.PNG", None),
        )
        .unwrap();
        assert_eq!(path, "/api/sendImage");
        assert_eq!(
            body,
            json!({
                "session": "s", "chatId": "1@c.us",
                "file": { "mimetype": "image/png", "url": "https://x.io/a/pic.PNG" },
                "caption": "cap",
            })
        );
        let (path, body) = request(
            "s",
            "+1",
            &media(MediaKind::Document, "https://x.io/d?sig=1", Some("r.pdf")),
        )
        .unwrap();
        assert_eq!(path, "/api/sendFile");
        assert_eq!(
            body["file"],
            json!({ "mimetype": "application/pdf", "filename": "r.pdf", "url": "https://x.io/d?sig=1" })
        );
        let (path, body) = request(
            "s",
            "+1",
            &media(MediaKind::Audio, "https://x.io/v.mp3", None),
        )
        .unwrap();
        assert_eq!(path, "/api/sendVoice");
        assert_eq!(body["convert"], true);
        assert!(body.get("caption").is_none());
        let (path, body) =
            request("s", "+1", &media(MediaKind::Video, "https://x.io/v", None)).unwrap();
        assert_eq!(path, "/api/sendVideo");
        assert_eq!(body["file"]["filename"], "video.mp4");
        assert_eq!(body["caption"], "cap");
    }

    #[test]
    fn ids_of_every_engine_shape() {
        let id = "true_11111111111@c.us_3EB0A0B0C0D0E0F0";
        assert_eq!(message_id(&json!({ "id": id })).as_deref(), Some(id));
        assert_eq!(
            message_id(
                &json!({ "id": { "fromMe": true, "id": "3EB0A0B0C0D0E0F0", "_serialized": id } })
            )
            .as_deref(),
            Some(id)
        );
        assert_eq!(
            message_id(&json!({ "key": { "remoteJid": "11111111111@s.whatsapp.net", "fromMe": true, "id": "3EB0A0B0C0D0E0F0" } }))
                .as_deref(),
            Some(id)
        );
        assert_eq!(message_id(&json!({ "id": "" })), None);
    }

    #[test]
    fn errors_are_classified() {
        let h = HeaderMap::new();
        let e = error_from(
            StatusCode::UNPROCESSABLE_ENTITY,
            &h,
            br#"{"error":"Session status is not as expected. Try again later or restart the session","session":"default","status":"SCAN_QR_CODE","expected":["WORKING"]}"#,
        );
        assert!(!e.is_permanent());
        assert_eq!(e.code(), Some("SCAN_QR_CODE"));
        let e = error_from(
            StatusCode::UNPROCESSABLE_ENTITY,
            &h,
            br#"{"statusCode":422,"message":"WAHA Core support only 'default' session.","error":"Unprocessable Entity"}"#,
        );
        assert!(e.is_permanent());
        let e = error_from(
            StatusCode::INTERNAL_SERVER_ERROR,
            &h,
            br#"{"statusCode":500,"exception":{"message":"Evaluation failed: Error: wid error: invalid wid: 1@c.us","name":"Error"},"request":{"body":{"chatId":"1@c.us"}}}"#,
        );
        assert_eq!(
            e,
            DeliveryError::Permanent {
                message: "waha answered 500 Internal Server Error: WhatsApp refused the chat id (invalid wid)"
                    .into(),
                code: Some(INVALID_WID.into()),
            }
        );
        let e = error_from(
            StatusCode::UNAUTHORIZED,
            &h,
            br#"{"message":"Unauthorized","statusCode":401}"#,
        );
        assert_eq!(
            e,
            DeliveryError::permanent("waha answered 401 Unauthorized: Unauthorized")
        );
        let e = error_from(StatusCode::SERVICE_UNAVAILABLE, &h, b"");
        assert!(!e.is_permanent());
        assert_eq!(e.message(), "HTTP 503 Service Unavailable from waha");
    }

    #[test]
    fn setup_drops_a_blank_key() {
        let settings = WahaSettings {
            webhook_secret: None,
            base_url: "http://localhost:3000/".into(),
            session: "default".into(),
            api_key: Some(Secret::new(" ")),
        };
        let waha = Waha::new(&settings, reqwest::Client::new()).unwrap();
        assert!(waha.api_key.is_none());
        assert_eq!(waha.base, "http://localhost:3000");
    }
}
