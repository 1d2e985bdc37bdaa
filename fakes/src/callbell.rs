//! Fake of Callbell's Messages API: `POST /v1/messages/send`.
//!
//! Checks what Callbell documents (<https://docs.callbell.eu/api/reference/messages_api/post_send_messages>):
//! `Authorization: Bearer <token>`, a JSON body with `from`, `type`, `content` and `to` (or
//! `bsuid`), `content.text` for text messages, `content.url` for attachments, and
//! `template_uuid` + `optin_contact: true` together for templates. `channel_uuid` is accepted
//! but not required (older docs default it to the main channel).
//!
//! Answers `200 {"message":{"uuid":<32 hex>,"status":"enqueued"}}`; the uuid is
//! [`message_uuid`] of the request body, so a test can tell which uuid it got.
//!
//! Errors use the body shape of Callbell's one documented error, `{"error","code"?}`:
//! - a token starting with `invalid` (or no bearer token): `401 {"error":"Unauthorized"}`;
//! - missing or wrong fields: `422 {"error":…}`;
//! - magic recipient [`INVALID_NUMBER`] (`+15005550001`): `422 {"error":"… not a valid
//!   WhatsApp number"}` (Callbell documents no body for this: the wording is the fake's);
//! - a template sent to [`WALLET_DEPLETED`] (`+15005550402`): the documented
//!   `402 {"error":"Your WhatsApp wallet is out of credit. …","code":"whatsapp_wallet_depleted_credit"}`.

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

use crate::{FakeState, callbacks::FakeCallback};

/// A recipient Callbell refuses as not a WhatsApp number.
pub const INVALID_NUMBER: &str = "+15005550001";
/// A recipient whose template sends hit an empty WhatsApp wallet (`402`).
pub const WALLET_DEPLETED: &str = "+15005550402";

const TYPES: &[&str] = &["text", "image", "document", "audio", "video"];

pub fn router() -> Router<FakeState> {
    Router::new()
        .route("/v1/messages/send", post(send))
        .route("/uploads/{id}", axum::routing::get(attachment))
}

/// The provider's documented error body for `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn error_with_code(status: StatusCode, message: &str, code: &str) -> Response {
    (status, Json(json!({ "error": message, "code": code }))).into_response()
}

/// The uuid the fake answers for the `nth` (1-based) request with this exact body.
pub fn message_uuid(body: &str, nth: usize) -> String {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        (body, nth, salt).hash(&mut h);
        h.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

async fn send(State(state): State<FakeState>, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if token.is_empty() || token.starts_with("invalid") {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Content-Type must be application/json",
        );
    }
    let Ok(Value::Object(msg)) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body is not a JSON object",
        );
    };
    fn text(v: Option<&Value>) -> Option<&str> {
        v.and_then(Value::as_str).filter(|s| !s.trim().is_empty())
    }

    let Some(to) = text(msg.get("to")).or(text(msg.get("bsuid"))) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`to` or `bsuid` is required",
        );
    };
    if text(msg.get("from")).is_none() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "`from` is required");
    }
    let kind = text(msg.get("type")).unwrap_or_default();
    if !TYPES.contains(&kind) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("`type` must be one of {}", TYPES.join(", ")),
        );
    }
    let Some(content) = msg.get("content").filter(|c| c.is_object()) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "`content` is required");
    };
    if kind == "text" && text(content.get("text")).is_none() && !msg.contains_key("template_uuid") {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`content.text` is required",
        );
    }
    if kind != "text" && text(content.get("url")).is_none() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`content.url` is required",
        );
    }
    let template = msg.contains_key("template_uuid");
    if template {
        if text(msg.get("template_uuid")).is_none() {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`template_uuid` must be a string",
            );
        }
        if msg.get("optin_contact") != Some(&Value::Bool(true)) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "template messages need `template_uuid` and `optin_contact`",
            );
        }
        if let Some(values) = msg.get("template_values")
            && !values
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string))
        {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`template_values` must be a list of strings",
            );
        }
    }
    if to == INVALID_NUMBER {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The phone number is not a valid WhatsApp number",
        );
    }
    if template && to == WALLET_DEPLETED {
        return error_with_code(
            StatusCode::PAYMENT_REQUIRED,
            "Your WhatsApp wallet is out of credit. Add credit to your wallet to keep sending \
             outbound WhatsApp template messages.",
            "whatsapp_wallet_depleted_credit",
        );
    }

    let body = String::from_utf8_lossy(&body);
    let nth = state
        .inbox
        .of("callbell")
        .iter()
        .filter(|r| r.body == body)
        .count()
        .max(1);
    let uuid = message_uuid(&body, nth);
    (
        StatusCode::OK,
        Json(json!({ "message": { "uuid": uuid, "status": "enqueued" } })),
    )
        .into_response()
}

/// Our callback URL as configured on Callbell: Callbell does not sign its webhooks, so an
/// account with a webhook secret puts it in the URL, `?secret=<secret>`.
pub fn webhook_url(url: &str, secret: Option<&str>) -> String {
    match secret {
        None => url.to_owned(),
        Some(secret) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            let query = serde_urlencoded::to_string([("secret", secret)]).expect("strings encode");
            format!("{url}{sep}{query}")
        }
    }
}

/// A `message_status_updated` webhook as Callbell posts it
/// (<https://docs.callbell.eu/api/reference/webhooks/message_events/message_status_updated>):
/// `{"event":"message_status_updated","payload":{"uuid","status","contact","messageStatusPayload"}}`,
/// unsigned (see [`webhook_url`]). `status` is Callbell's word (`enqueued`, `sent`,
/// `delivered`, `read`, `failed`…). The inner `messageStatusPayload` is Gupshup's
/// `message-event` payload, as in the docs' example: `payload.ts` (`at`, in seconds) for
/// `sent`/`delivered`/`read`, `payload.{code,reason}` from `failure` (`(code, reason)`) for
/// `failed`, `payload.{type,whatsappMessageId}` for `enqueued`.
pub fn status_callback(
    message_uuid: &str,
    status: &str,
    at: chrono::DateTime<chrono::Utc>,
    failure: Option<(&str, &str)>,
) -> FakeCallback {
    // Gupshup's ids of the message: its own (a UUID) and WhatsApp's.
    let hex: String = message_uuid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .chain(std::iter::repeat('0'))
        .take(32)
        .collect();
    let gs_id = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    let wamid = format!("gBGGM2MSRxl_{}", &hex[..15]);
    let destination = "331122334455";
    let inner = match status {
        "enqueued" => json!({
            "id": gs_id,
            "type": "enqueued",
            "payload": { "type": "session", "whatsappMessageId": wamid },
            "destination": destination,
        }),
        "failed" => {
            let (code, reason) = failure.unwrap_or(("1002", "Number Does Not Exists On WhatsApp"));
            let code = code
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(code));
            json!({
                "id": gs_id,
                "type": "failed",
                "payload": { "code": code, "reason": reason },
                "destination": destination,
            })
        }
        _ => json!({
            "id": wamid,
            "gsId": gs_id,
            "type": status,
            "payload": { "ts": at.timestamp() },
            "destination": destination,
        }),
    };
    let body = json!({
        "event": "message_status_updated",
        "payload": {
            "uuid": message_uuid,
            "status": status,
            "contact": {
                "href": "https://dash.callbell.eu/contacts/eb2b914a977e4ab896e7b886698b3eac",
                "conversationHref": "https://dash.callbell.eu/chat/f3670b13446b412796238b1cd78899f9",
                "name": "John Doe",
                "tags": ["Lead"],
                "uuid": "eb2b914a977e4ab896e7b886698b3eac",
                "source": "whatsapp",
                "avatarUrl": null,
                "createdAt": "2022-10-12T15:57:16Z",
                "phoneNumber": destination,
            },
            "messageStatusPayload": inner,
        },
    });
    FakeCallback {
        content_type: "application/json".into(),
        headers: Vec::new(),
        body: body.to_string(),
    }
}

/// A `message_created` webhook, as Callbell posts it when `phone` (digits) writes `text` to
/// the channel: `{"event":"message_created","payload":{"uuid","to","from","text",
/// "status":"received","channel":"whatsapp","createdAt","attachments":[],"contact":{"uuid",
/// "name","phoneNumber","href","conversationHref"}}}`. Unsigned (see [`webhook_url`]).
///
/// Docs: <https://docs.callbell.eu/api/reference/webhooks/message_events/message_created>
pub fn message_created(uuid: &str, (phone, name): (&str, &str), text: &str) -> FakeCallback {
    let body = json!({
        "event": "message_created",
        "payload": {
            "uuid": uuid,
            "to": "+390000000000",
            "from": phone,
            "text": text,
            "status": "received",
            "channel": "whatsapp",
            "createdAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "attachments": [],
            "contact": {
                "uuid": "eb2b914a977e4ab896e7b886698b3eac",
                "name": name,
                "phoneNumber": phone,
                "href": "https://dash.callbell.eu/contacts/eb2b914a977e4ab896e7b886698b3eac",
                "conversationHref": "https://dash.callbell.eu/chat/f3670b13446b412796238b1cd78899f9",
            },
        },
    });
    FakeCallback {
        content_type: "application/json".into(),
        headers: Vec::new(),
        body: body.to_string(),
    }
}

/// An attachment URL of a `message_created` (Callbell's storage, no token).
async fn attachment(
    axum::extract::State(state): axum::extract::State<crate::FakeState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    crate::media::serve(state.media.get(&id))
}
