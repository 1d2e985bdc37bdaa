//! Fake of Meta's WhatsApp Cloud API: `POST /{version}/{phone_number_id}/messages`.
//!
//! Checks what the real endpoint checks: a Bearer access token (header, or the
//! `access_token` query parameter), a JSON body with `messaging_product: "whatsapp"`, a
//! `to`, a known `type` and its object (`text.body`, a media `link` or `id`, a template
//! `name` and `language.code`). Answers the documented success body
//! `{"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],"messages":[{"id":"wamid.…"}]}`
//! (see [`wamid`]) or a Graph API error
//! `{"error":{"message","type","code","error_data":{"messaging_product","details"},"fbtrace_id"}}`.
//!
//! Magic values (Meta documents no test numbers, so these are ours):
//! - access token [`INVALID_TOKEN`] → 401, code `190` (also for a missing token);
//! - `to` [`NOT_ALLOWED_NUMBER`] → 400, code `131030` (recipient not in allowed list, what
//!   a test-mode business number answers for unregistered recipients);
//! - `to` [`UNDELIVERABLE_NUMBER`] → 400, code `131026` (message undeliverable);
//! - `to` [`OUTSIDE_WINDOW_NUMBER`] → 400, code `131047` (re-engagement: more than 24 h
//!   since the customer's last message) for anything but a template;
//! - `to` [`PAIR_RATE_LIMITED_NUMBER`] → 400, code `131056` (pair rate limit);
//! - template [`MISSING_TEMPLATE`] → 404, code `132001` (template does not exist);
//!   template `hello_world` (Meta's sample) takes no parameters: giving some → 400, code
//!   `132000` (parameter count mismatch).
//!
//! The real service reports some of these (131026, 131047) in a `failed` status webhook
//! after accepting the message; the fake answers them synchronously so that callers can
//! exercise their classification.
//!
//! Docs: <https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages>,
//! <https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes>.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::{FakeState, callbacks::FakeCallback, inbox::Position};

/// An access token the fake treats as expired.
pub const INVALID_TOKEN: &str = "invalid-token";
/// `to` (digits, as WhatsApp takes it) answered with `131030`.
pub const NOT_ALLOWED_NUMBER: &str = "14155550100";
/// `to` answered with `131026`.
pub const UNDELIVERABLE_NUMBER: &str = "14155550126";
/// `to` answered with `131047` unless the message is a template.
pub const OUTSIDE_WINDOW_NUMBER: &str = "14155550147";
/// `to` answered with `131056`.
pub const PAIR_RATE_LIMITED_NUMBER: &str = "14155550156";
/// A template name answered with `132001`.
pub const MISSING_TEMPLATE: &str = "does_not_exist";

const MEDIA_TYPES: &[&str] = &["image", "video", "audio", "document", "sticker"];
const OTHER_TYPES: &[&str] = &["location", "contacts", "interactive", "reaction"];

pub fn router() -> Router<FakeState> {
    Router::new()
        .route("/{version}/{phone_number_id}/messages", post(send))
        .route("/{version}/{media_id}", axum::routing::get(media_url))
        .route("/lookaside/{media_id}", axum::routing::get(media_download))
}

/// The `wamid` the fake answers to `wa_id` when that is the `n`-th request it received
/// (1-based, counting every recipient's):
/// shaped like Meta's (`wamid.` + base64 of a small record holding the recipient's id).
pub fn wamid(wa_id: &str, n: usize) -> String {
    let mut raw = vec![0x1c, 0x18, wa_id.len().min(0x7f) as u8];
    raw.extend_from_slice(wa_id.as_bytes());
    raw.extend_from_slice(&[0x15, 0x02, 0x00, 0x11, 0x18, 0x12]);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in wa_id.bytes().chain((n as u64).to_le_bytes()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    raw.extend_from_slice(format!("{hash:016X}{:02X}", n % 256).as_bytes());
    raw.push(0x00);
    format!("wamid.{}", STANDARD.encode(raw))
}

/// The documented Graph error body for `status`, for injected faults.
pub fn error(status: StatusCode, message: &str) -> Response {
    let code = match status.as_u16() {
        401 => 190,
        403 => 10,
        429 => 130429,
        503 => 131016,
        s if s >= 500 => 131000,
        _ => 100,
    };
    graph_error(status, code, message, message)
}

fn graph_error(status: StatusCode, code: i64, message: &str, details: &str) -> Response {
    let body = json!({
        "error": {
            "message": format!("(#{code}) {message}"),
            "type": "OAuthException",
            "code": code,
            "error_data": { "messaging_product": "whatsapp", "details": details },
            "fbtrace_id": fbtrace_id(),
        }
    });
    (status, Json(body)).into_response()
}

pub(crate) fn fbtrace_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("A{}", &id[..22])
}

fn invalid(details: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter", details)
}

async fn send(
    Path((version, phone_number_id)): Path<(String, String)>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !version.starts_with('v') || version[1..].parse::<f32>().is_err() {
        return graph_error(
            StatusCode::BAD_REQUEST,
            2500,
            "Unknown path components",
            &format!("Unknown path components: /{version}"),
        );
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| query.get("access_token").cloned());
    match token.as_deref().map(str::trim) {
        None | Some("") => {
            return graph_error(
                StatusCode::UNAUTHORIZED,
                190,
                "Invalid OAuth access token - Cannot parse access token",
                "An access token is required: Authorization: Bearer <token>",
            );
        }
        Some(INVALID_TOKEN) => {
            return graph_error(
                StatusCode::UNAUTHORIZED,
                190,
                "Error validating access token: Session has expired",
                "The access token has expired. Get a new access token.",
            );
        }
        Some(_) => {}
    }
    if !phone_number_id.chars().all(|c| c.is_ascii_digit()) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported post request",
            &format!("Object with ID '{phone_number_id}' does not exist"),
        );
    }
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let message: Value = match (is_json, serde_json::from_slice(&body)) {
        (true, Ok(v @ Value::Object(_))) => v,
        _ => {
            return invalid(
                "The request body must be a JSON object (Content-Type: application/json)",
            );
        }
    };
    if message["messaging_product"] != "whatsapp" {
        return invalid("The parameter messaging_product is required and must be `whatsapp`");
    }
    // Marking a received message read: `{"status":"read","message_id":"wamid…"}`, answered
    // `{"success":true}` (the mark-message-as-read guide).
    if let Some(status) = message.get("status") {
        if status != "read" {
            return invalid("Param status must be `read`");
        }
        return match message["message_id"].as_str() {
            Some(id) if id.starts_with("wamid.") => {
                (StatusCode::OK, Json(json!({"success": true}))).into_response()
            }
            _ => invalid(
                "The parameter message_id is required and must be a received message's wamid",
            ),
        };
    }
    if let Some(rt) = message.get("recipient_type")
        && rt != "individual"
        && rt != "group"
    {
        return invalid("Param recipient_type must be one of {individual, group}");
    }
    let Some(to) = message["to"].as_str().filter(|t| !t.is_empty()) else {
        return invalid("The parameter to is required");
    };
    let wa_id: String = to.chars().filter(char::is_ascii_digit).collect();
    if wa_id.len() < 7 || to.chars().any(|c| c.is_alphabetic()) {
        return invalid("Param to must be a valid phone number");
    }
    let kind = message["type"].as_str().unwrap_or("text");
    let object = &message[kind];
    let mut template = false;
    match kind {
        "text" => {
            let body = object["body"].as_str().unwrap_or("");
            if body.trim().is_empty() {
                return invalid("Param text['body'] is required");
            }
            if body.chars().count() > 4096 {
                return invalid("Param text['body'] must be at most 4096 characters long");
            }
            if let Some(p) = object.get("preview_url")
                && !p.is_boolean()
            {
                return invalid("Param text['preview_url'] must be a boolean");
            }
        }
        k if MEDIA_TYPES.contains(&k) => {
            let link = object["link"].as_str();
            let id = object["id"].as_str();
            match (link, id) {
                (Some(l), None) if l.starts_with("https://") || l.starts_with("http://") => {}
                (None, Some(_)) => {}
                _ => {
                    return invalid(&format!(
                        "Param {k} must have exactly one of `link` (a URL) or `id`"
                    ));
                }
            }
            if (k == "audio" || k == "sticker") && object.get("caption").is_some() {
                return invalid(&format!("Param {k}['caption'] is not supported"));
            }
            if k != "document" && object.get("filename").is_some() {
                return invalid(&format!("Param {k}['filename'] is not supported"));
            }
        }
        "template" => {
            template = true;
            let Some(name) = object["name"].as_str().filter(|n| !n.is_empty()) else {
                return invalid("Param template['name'] is required");
            };
            if object["language"]["code"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                return invalid("Param template['language']['code'] is required");
            }
            if name == MISSING_TEMPLATE {
                return graph_error(
                    StatusCode::NOT_FOUND,
                    132001,
                    "Template name does not exist in the translation",
                    &format!(
                        "template name ({name}) does not exist in {}",
                        object["language"]["code"]
                    ),
                );
            }
            let parameters: usize = object["components"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .map(|c| c["parameters"].as_array().map_or(0, Vec::len))
                        .sum()
                })
                .unwrap_or(0);
            if name == "hello_world" && parameters != 0 {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    132000,
                    "Number of parameters does not match the expected number of params",
                    &format!(
                        "body: number of localizable_params ({parameters}) does not match the expected number of params (0)"
                    ),
                );
            }
            if let Some(components) = object.get("components") {
                let ok = components.as_array().is_some_and(|cs| {
                    cs.iter().all(|c| {
                        c["type"].is_string()
                            && c["parameters"].as_array().is_some_and(|ps| {
                                ps.iter()
                                    .all(|p| p["type"] != "text" || p["text"].is_string())
                            })
                    })
                });
                if !ok {
                    return invalid("Param template['components'] is malformed");
                }
            }
        }
        k if OTHER_TYPES.contains(&k) => {}
        other => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                131051,
                "Unsupported message type",
                &format!("Message type `{other}` is not supported"),
            );
        }
    }
    match wa_id.as_str() {
        NOT_ALLOWED_NUMBER => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                131030,
                "Recipient phone number not in allowed list",
                "Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again.",
            );
        }
        UNDELIVERABLE_NUMBER => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                131026,
                "Message Undeliverable.",
                "Message failed to send because the recipient is not a WhatsApp user or cannot receive messages.",
            );
        }
        OUTSIDE_WINDOW_NUMBER if !template => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                131047,
                "Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            );
        }
        PAIR_RATE_LIMITED_NUMBER => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                131056,
                "(Business Account, Consumer Account) pair rate limit hit",
                "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
            );
        }
        _ => {}
    }
    let mut sent = json!({ "id": wamid(&wa_id, n) });
    if template {
        sent["message_status"] = json!("accepted");
    }
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": wa_id }],
        "messages": [sent],
    }))
    .into_response()
}

/// The WhatsApp Business Account id the fake's webhooks name (Meta's documented example).
pub const WABA_ID: &str = "102290129340398";
/// The display number the fake's webhooks name (Meta's documented example).
pub const DISPLAY_PHONE_NUMBER: &str = "15550783881";

/// Meta's `X-Hub-Signature-256` value for `body` under the app secret:
/// `sha256=<hex HMAC-SHA256(app_secret, body)>` (shared by every Meta webhook).
pub fn hub_signature(app_secret: &str, body: &[u8]) -> String {
    // jsonwebtoken's HS256 is HMAC-SHA256, base64url-encoded without padding.
    let mac = jsonwebtoken::crypto::sign(
        body,
        &EncodingKey::from_secret(app_secret.as_bytes()),
        Algorithm::HS256,
    )
    .expect("HS256 signs with any key");
    let raw = URL_SAFE_NO_PAD
        .decode(mac)
        .expect("jsonwebtoken encodes base64url");
    format!("sha256={}", hex::encode(raw))
}

/// One status of [`status_webhook`]: `(wamid, status, unix seconds, Some((error code,
/// error title)))`.
pub type WebhookStatus<'a> = (&'a str, &'a str, i64, Option<(i64, &'a str)>);

/// A `messages` webhook carrying `statuses`, as Meta sends it for the business number
/// `phone_number_id`: one entry per status `(wamid, status, unix seconds, error)`, where
/// `status` is `sent`, `delivered`, `read` or `failed` (any other word is sent as given)
/// and `error` is the `(code, title)` of a failure. Signed with `X-Hub-Signature-256` when
/// `app_secret` is given.
///
/// Docs: <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/>
pub fn status_webhook(
    app_secret: Option<&str>,
    phone_number_id: &str,
    statuses: &[WebhookStatus<'_>],
) -> FakeCallback {
    let statuses: Vec<Value> = statuses
        .iter()
        .map(|&(wamid, status, timestamp, error)| {
            let mut object = json!({
                "id": wamid,
                "status": status,
                "timestamp": timestamp.to_string(),
                "recipient_id": recipient_of(wamid),
            });
            if status == "sent" {
                object["conversation"] = json!({
                    "id": "a75d17ad06104c51166f948319b03c6a",
                    "expiration_timestamp": (timestamp + 86_400).to_string(),
                    "origin": { "type": "utility" },
                });
            }
            if status == "sent" || status == "delivered" {
                object["pricing"] = json!({
                    "billable": true,
                    "pricing_model": "PMP",
                    "type": "regular",
                    "category": "utility",
                });
            }
            if let Some((code, title)) = error {
                object["errors"] = json!([{
                    "code": code,
                    "title": title,
                    "message": title,
                    "error_data": { "details": error_details(code, title) },
                    "href": "/documentation/business-messaging/whatsapp/support/error-codes",
                }]);
            }
            object
        })
        .collect();
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": WABA_ID,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": DISPLAY_PHONE_NUMBER,
                        "phone_number_id": phone_number_id,
                    },
                    "statuses": statuses,
                },
                "field": "messages",
            }],
        }],
    })
    .to_string();
    let headers = app_secret
        .map(|secret| {
            vec![(
                "X-Hub-Signature-256".to_owned(),
                hub_signature(secret, body.as_bytes()),
            )]
        })
        .unwrap_or_default();
    FakeCallback {
        content_type: "application/json".into(),
        headers,
        body,
    }
}

/// The recipient a [`wamid`] was made for, or a sample number for other ids.
fn recipient_of(wamid: &str) -> String {
    let raw = wamid
        .strip_prefix("wamid.")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_default();
    match raw.get(2).map(|&len| usize::from(len)) {
        Some(len) if raw.len() >= 3 + len && raw[..2] == [0x1c, 0x18] => {
            String::from_utf8_lossy(&raw[3..3 + len]).into_owned()
        }
        _ => "16505551234".into(),
    }
}

/// `error_data.details` of the failures the fake knows, else the title.
fn error_details(code: i64, title: &str) -> String {
    match code {
        131026 => "Message failed to send because the recipient is not a WhatsApp user or cannot receive messages.".into(),
        131047 => "Message failed to send because more than 24 hours have passed since the customer last replied to this number.".into(),
        131049 => "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.".into(),
        131056 => "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.".into(),
        _ => title.to_owned(),
    }
}

/// A `messages` webhook carrying one message a person sent to the business number
/// `phone_number_id`, as Meta sends it: `value.contacts[{profile.name, wa_id}]` and
/// `value.messages[{from, id, timestamp, type, <type>: {…}}]`, where `message` is the
/// type's object, e.g. `("text", json!({"body": "Oi"}))` or
/// `("image", json!({"id": "1479…", "mime_type": "image/jpeg", "sha256": "…"}))`. Signed
/// with `X-Hub-Signature-256` when `app_secret` is given.
///
/// Docs: <https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples>
pub fn inbound_webhook(
    app_secret: Option<&str>,
    phone_number_id: &str,
    (wa_id, name): (&str, &str),
    wamid: &str,
    timestamp: i64,
    (kind, message): (&str, Value),
) -> FakeCallback {
    let mut item = json!({
        "from": wa_id,
        "id": wamid,
        "timestamp": timestamp.to_string(),
        "type": kind,
    });
    item[kind] = message;
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": WABA_ID,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": DISPLAY_PHONE_NUMBER,
                        "phone_number_id": phone_number_id,
                    },
                    "contacts": [{ "profile": { "name": name }, "wa_id": wa_id }],
                    "messages": [item],
                },
                "field": "messages",
            }],
        }],
    })
    .to_string();
    let headers = app_secret
        .map(|secret| {
            vec![(
                "X-Hub-Signature-256".to_owned(),
                hub_signature(secret, body.as_bytes()),
            )]
        })
        .unwrap_or_default();
    FakeCallback {
        content_type: "application/json".into(),
        headers,
        body,
    }
}

/// The bearer token check of the media routes: 401 (code 190) without one or with the
/// invalid one.
fn media_refused(headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    (token.is_empty() || token == INVALID_TOKEN).then(|| {
        graph_error(
            StatusCode::UNAUTHORIZED,
            190,
            "Invalid OAuth access token - Cannot parse access token",
            "An access token is required: Authorization: Bearer <token>",
        )
    })
}

/// `GET /{version}/{media_id}` ("Retrieve Media URL"): `{"messaging_product","url",
/// "mime_type","sha256","file_size","id"}`, the URL on this fake's lookaside route.
async fn media_url(
    axum::extract::State(state): axum::extract::State<FakeState>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = media_refused(&headers) {
        return refused;
    }
    let Some(file) = state.media.get(&media_id) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            &format!("Unsupported get request. Object with ID '{media_id}' does not exist"),
            "The media id is unknown or expired",
        );
    };
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&file.bytes));
    Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{}/whatsapp_cloud/lookaside/{media_id}", state.base_url),
        "mime_type": file.content_type,
        "sha256": sha256,
        "file_size": file.bytes.len(),
        "id": media_id,
    }))
    .into_response()
}

/// `GET` of the media URL ("Download Media"): the bytes, with the same bearer token.
async fn media_download(
    axum::extract::State(state): axum::extract::State<FakeState>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = media_refused(&headers) {
        return refused;
    }
    crate::media::serve(state.media.get(&media_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wamids_look_like_metas_and_differ_per_request() {
        let a = wamid("16503879439", 1);
        assert!(a.starts_with("wamid.HBgLMTY1MDM4Nzk0Mzk"), "{a}");
        assert_ne!(a, wamid("16503879439", 2));
        assert_eq!(a, wamid("16503879439", 1));
    }

    #[test]
    fn hub_signature_is_hmac_sha256_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            hub_signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn status_webhooks_name_the_recipient_of_the_wamid() {
        let callback = status_webhook(
            Some("secret"),
            "106540352242922",
            &[(
                &wamid("5511987654321", 3),
                "failed",
                1_700_000_000,
                Some((131026, "Message undeliverable")),
            )],
        );
        let body: Value = serde_json::from_str(&callback.body).unwrap();
        let status = &body["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert_eq!(status["recipient_id"], "5511987654321");
        assert_eq!(status["timestamp"], "1700000000");
        assert_eq!(status["errors"][0]["code"], 131026);
        assert_eq!(
            callback.headers,
            vec![(
                "X-Hub-Signature-256".to_owned(),
                hub_signature("secret", callback.body.as_bytes())
            )]
        );
    }
}
