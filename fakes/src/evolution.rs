//! Fake of an Evolution API v2 server: `POST /message/{sendText,sendMedia,sendTemplate}/{instance}`,
//! `POST /chat/markMessageAsRead/{instance}` (read receipts), instances (`POST
//! /instance/create`, `GET /instance/connectionState|connect/{instance}`, `DELETE
//! /instance/logout|delete/{instance}`; [`DEFAULT_INSTANCE`] exists and is connected), and
//! the instance's webhook
//! (`POST /webhook/set/{instance}`, `GET /webhook/find/{instance}`, read back from what was
//! set).
//!
//! Checks what Evolution checks, in its order (<https://doc.evolution-api.com/v2/api-reference/message-controller/send-text>,
//! source: github.com/EvolutionAPI/evolution-api): the instance exists, then the `apikey`
//! header, then the JSON schema of the body (`number` and `text`; `number`, `mediatype` in
//! `image|document|video|audio` and `media` as a URL; `number`, `name`, `language`).
//!
//! Answers `201` with the sent message, `{"key":{"remoteJid":"<number>@s.whatsapp.net",
//! "fromMe":true,"id":<id>},"message":{…},"messageTimestamp":…,"status":"PENDING",…}`; the id is
//! [`message_id`] of the request body (`BAE5…`, or `wamid.…` for templates).
//!
//! Errors have Evolution's shape, `{"status","error","response":{"message":…}}`:
//! - instance [`MISSING_INSTANCE`] (`missing`): `404`, `The "missing" instance does not exist`;
//! - no `apikey`, or one starting with `invalid`: `401 … {"message":"Unauthorized"}`;
//! - a body that fails the schema: `400` with the schema messages;
//! - magic number [`NOT_ON_WHATSAPP`] (`15005550001`, i.e. `+15005550001`): `400` with
//!   `[{"jid":…,"exists":false,"number":…}]`, Evolution's "not on WhatsApp" answer;
//! - instance [`DISCONNECTED_INSTANCE`] (`disconnected`): `400 ["Error: Connection Closed"]`,
//!   what Evolution answers when the WhatsApp connection is down;
//! - `sendTemplate` on an instance whose name does not start with `business` (a Baileys
//!   instance): `500 {"message":"Method not available in the Baileys service"}`; instances named
//!   `business…` play the WhatsApp Cloud API integration and send templates.

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

use crate::{FakeState, callbacks::FakeCallback, inbox::Position};

pub const MISSING_INSTANCE: &str = "missing";
pub const DISCONNECTED_INSTANCE: &str = "disconnected";
pub const NOT_ON_WHATSAPP: &str = "15005550001";

pub fn router() -> Router<FakeState> {
    Router::new()
        .route("/message/sendText/{instance}", post(send_text))
        .route("/message/sendMedia/{instance}", post(send_media))
        .route("/message/sendTemplate/{instance}", post(send_template))
        .route("/chat/markMessageAsRead/{instance}", post(mark_read))
        .route(
            "/chat/getBase64FromMediaMessage/{instance}",
            post(media_base64),
        )
        .route("/webhook/set/{instance}", post(set_webhook))
        .route("/instance/create", post(create_instance))
        .route(
            "/instance/connectionState/{instance}",
            axum::routing::get(connection_state),
        )
        .route("/instance/connect/{instance}", axum::routing::get(connect))
        .route("/instance/logout/{instance}", axum::routing::delete(logout))
        .route(
            "/instance/delete/{instance}",
            axum::routing::delete(delete_instance),
        )
        .route("/webhook/find/{instance}", axum::routing::get(find_webhook))
}

/// The provider's documented error body for `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    let message = if status == StatusCode::UNAUTHORIZED {
        json!(message)
    } else {
        json!([message])
    };
    answer_error(status, message)
}

fn answer_error(status: StatusCode, message: Value) -> Response {
    (
        status,
        Json(json!({
            "status": status.as_u16(),
            "error": status.canonical_reason().unwrap_or("Error"),
            "response": { "message": message },
        })),
    )
        .into_response()
}

/// The key id the fake answers for the `nth` (1-based) request with this exact body.
pub fn message_id(body: &str, nth: usize) -> String {
    let mut h = DefaultHasher::new();
    (body, nth).hash(&mut h);
    format!("BAE5{:012X}", h.finish() >> 16)
}

/// The `wamid` the fake answers for a template (Cloud API instances).
pub fn template_message_id(body: &str, nth: usize) -> String {
    format!("wamid.{}", message_id(body, nth))
}

enum Kind {
    Text,
    Media,
    Template,
}

async fn send_text(s: State<FakeState>, p: Path<String>, h: HeaderMap, b: Bytes) -> Response {
    handle(Kind::Text, s, p, h, b).await
}

async fn send_media(s: State<FakeState>, p: Path<String>, h: HeaderMap, b: Bytes) -> Response {
    handle(Kind::Media, s, p, h, b).await
}

async fn send_template(s: State<FakeState>, p: Path<String>, h: HeaderMap, b: Bytes) -> Response {
    handle(Kind::Template, s, p, h, b).await
}

/// The instance every fake account sends through: it exists and is connected from the
/// start (until it is deleted).
pub const DEFAULT_INSTANCE: &str = "pombo";

/// Where an instance stands, replayed from the requests before the `n`-th (the fake keeps
/// no other state): `None` when it does not exist, else whether it is connected. Created
/// instances wait for a QR code scan, which never comes (`connecting`); logging out
/// disconnects.
fn instance_state(state: &FakeState, n: usize, instance: &str) -> Option<bool> {
    let mut current = (instance == DEFAULT_INSTANCE).then_some(true);
    for r in state.inbox.of("evolution").iter().take(n.saturating_sub(1)) {
        let named = |path: &str| r.path == format!("{path}/{instance}");
        if r.method == "POST" && r.path == "/instance/create" {
            let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            if body["instanceName"] == instance && current.is_none() {
                current = Some(false);
            }
        } else if r.method == "DELETE" && named("/instance/delete") {
            current = None;
        } else if r.method == "DELETE" && named("/instance/logout") && current.is_some() {
            current = Some(false);
        }
    }
    current
}

/// The API key check, then the instance: whether it is connected, or the answer refusing.
// The early answer of a handler, returned as is: boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
fn existing(
    state: &FakeState,
    n: usize,
    headers: &HeaderMap,
    instance: &str,
) -> Result<bool, Response> {
    if let Some(refusal) = refused(headers) {
        return Err(refusal);
    }
    instance_state(state, n, instance).ok_or_else(|| no_such_instance(instance))
}

fn no_such_instance(instance: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("The \"{instance}\" instance does not exist"),
    )
}

/// `POST /instance/create` `{"instanceName","integration","qrcode"}`: `201` with the instance,
/// its token (`hash`) and, with `qrcode: true`, its first QR code; a name in use is `403`.
async fn create_instance(
    State(state): State<FakeState>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if let Some(refusal) = refused(&headers) {
        return refusal;
    }
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let Some(name) = body["instanceName"].as_str().filter(|n| !n.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "instanceName is required");
    };
    if !matches!(
        body["integration"].as_str(),
        Some("WHATSAPP-BAILEYS" | "WHATSAPP-BUSINESS" | "EVOLUTION")
    ) {
        return error(StatusCode::BAD_REQUEST, "Invalid integration");
    }
    if instance_state(&state, n, name).is_some() {
        return error(
            StatusCode::FORBIDDEN,
            &format!("This name \"{name}\" is already in use."),
        );
    }
    let mut answer = json!({
        "instance": {
            "instanceName": name,
            "instanceId": format!("inst-{name}"),
            "integration": body["integration"],
            "status": "connecting",
        },
        "hash": format!("hash-{name}"),
    });
    if body["qrcode"] == true {
        answer["qrcode"] = qr_code(name);
    }
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// The QR code of `instance`, shaped as `/instance/connect` answers it.
pub fn qr_code(instance: &str) -> Value {
    json!({
        "pairingCode": null,
        "code": format!("2@fake-qr-{instance},pombo"),
        "base64": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "count": 1,
    })
}

/// `GET /instance/connectionState/{instance}`: `{"instance":{"instanceName","state"}}`,
/// `open` when connected, `connecting` while waiting for its QR code.
async fn connection_state(
    State(state): State<FakeState>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    Path(instance): Path<String>,
    headers: HeaderMap,
) -> Response {
    match existing(&state, n, &headers, &instance) {
        Err(refusal) => refusal,
        Ok(open) => Json(json!({
            "instance": {
                "instanceName": instance,
                "state": if open { "open" } else { "connecting" },
            }
        }))
        .into_response(),
    }
}

/// `GET /instance/connect/{instance}`: its QR code, or its state when connected already.
async fn connect(
    State(state): State<FakeState>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    Path(instance): Path<String>,
    headers: HeaderMap,
) -> Response {
    match existing(&state, n, &headers, &instance) {
        Err(refusal) => refusal,
        Ok(true) => Json(json!({
            "instance": { "instanceName": instance, "state": "open" }
        }))
        .into_response(),
        Ok(false) => Json(qr_code(&instance)).into_response(),
    }
}

/// `DELETE /instance/logout/{instance}`: `400 … is not connected` unless it is.
async fn logout(
    State(state): State<FakeState>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    Path(instance): Path<String>,
    headers: HeaderMap,
) -> Response {
    match existing(&state, n, &headers, &instance) {
        Err(refusal) => refusal,
        Ok(false) => error(
            StatusCode::BAD_REQUEST,
            &format!("The \"{instance}\" instance is not connected"),
        ),
        Ok(true) => Json(json!({
            "status": "SUCCESS",
            "error": false,
            "response": { "message": "Instance logged out" },
        }))
        .into_response(),
    }
}

/// `DELETE /instance/delete/{instance}`.
async fn delete_instance(
    State(state): State<FakeState>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    Path(instance): Path<String>,
    headers: HeaderMap,
) -> Response {
    match existing(&state, n, &headers, &instance) {
        Err(refusal) => refusal,
        Ok(_) => Json(json!({
            "status": "SUCCESS",
            "error": false,
            "response": { "message": "Instance deleted" },
        }))
        .into_response(),
    }
}

/// The API key check of every route: 401 without one, or with one starting `invalid`.
fn refused(headers: &HeaderMap) -> Option<Response> {
    let key = headers
        .get("apikey")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    (key.is_empty() || key.starts_with("invalid"))
        .then(|| error(StatusCode::UNAUTHORIZED, "Unauthorized"))
}

/// `POST /webhook/set/{instance}`: `{"webhook":{"enabled","url","headers","byEvents",
/// "base64","events"}}` (`WebhookDto`); `url` must be an http(s) URL and `events` names from
/// Evolution's catalogue. Answers `201` with the stored webhook.
async fn set_webhook(Path(instance): Path<String>, headers: HeaderMap, raw: Bytes) -> Response {
    if let Some(refusal) = refused(&headers) {
        return refusal;
    }
    if instance == MISSING_INSTANCE {
        return error(
            StatusCode::NOT_FOUND,
            &format!("The \"{instance}\" instance does not exist"),
        );
    }
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let hook = &body["webhook"];
    let url = hook["url"].as_str().unwrap_or_default();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return error(StatusCode::BAD_REQUEST, "webhook.url is not a valid URL");
    }
    let events = hook["events"].as_array().cloned().unwrap_or_default();
    if let Some(bad) = events
        .iter()
        .find(|e| !e.as_str().is_some_and(|e| EVENTS.contains(&e)))
    {
        return error(StatusCode::BAD_REQUEST, &format!("{bad} is not an event"));
    }
    (StatusCode::CREATED, Json(stored_webhook(&instance, hook))).into_response()
}

/// `GET /webhook/find/{instance}`: the last webhook set, or `null`.
async fn find_webhook(
    State(state): State<FakeState>,
    Path(instance): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = refused(&headers) {
        return refusal;
    }
    let last = state
        .inbox
        .of("evolution")
        .into_iter()
        .filter(|r| r.path == format!("/webhook/set/{instance}"))
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .next_back();
    match last {
        Some(body) => Json(stored_webhook(&instance, &body["webhook"])).into_response(),
        None => Json(Value::Null).into_response(),
    }
}

/// The webhook record Evolution answers with (its database row).
fn stored_webhook(instance: &str, hook: &Value) -> Value {
    json!({
        "id": format!("wh-{instance}"),
        "url": hook["url"],
        "headers": hook.get("headers").cloned().unwrap_or(json!({})),
        "enabled": hook["enabled"].as_bool().unwrap_or(true),
        "events": hook["events"],
        "webhookByEvents": hook["byEvents"].as_bool().unwrap_or(false),
        "webhookBase64": hook["base64"].as_bool().unwrap_or(false),
        "instanceId": format!("inst-{instance}"),
    })
}

/// Evolution's event catalogue (`src/api/types/wa.types.ts`, `Events`), as webhook
/// settings name them.
pub const EVENTS: &[&str] = &[
    "APPLICATION_STARTUP",
    "QRCODE_UPDATED",
    "MESSAGES_SET",
    "MESSAGES_UPSERT",
    "MESSAGES_EDITED",
    "MESSAGES_UPDATE",
    "MESSAGES_DELETE",
    "SEND_MESSAGE",
    "CONTACTS_SET",
    "CONTACTS_UPSERT",
    "CONTACTS_UPDATE",
    "PRESENCE_UPDATE",
    "CHATS_SET",
    "CHATS_UPSERT",
    "CHATS_UPDATE",
    "CHATS_DELETE",
    "GROUPS_UPSERT",
    "GROUP_UPDATE",
    "GROUP_PARTICIPANTS_UPDATE",
    "CONNECTION_UPDATE",
    "LABELS_EDIT",
    "LABELS_ASSOCIATION",
    "CALL",
    "TYPEBOT_START",
    "TYPEBOT_CHANGE_STATUS",
];

/// `POST /chat/markMessageAsRead/{instance}`: `{"readMessages":[{"remoteJid","fromMe","id"}]}`
/// (`ReadMessageDto`), answered `201 {"message":"Read messages","read":"success"}`.
async fn mark_read(Path(instance): Path<String>, headers: HeaderMap, raw: Bytes) -> Response {
    if instance == MISSING_INSTANCE {
        return error(
            StatusCode::NOT_FOUND,
            &format!("The \"{instance}\" instance does not exist"),
        );
    }
    let key = headers
        .get("apikey")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if key.is_empty() || key.starts_with("invalid") {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let keys = body["readMessages"].as_array().cloned().unwrap_or_default();
    let well_formed = |k: &Value| {
        k["remoteJid"].as_str().is_some_and(|j| j.contains('@'))
            && k["fromMe"].is_boolean()
            && k["id"].as_str().is_some_and(|id| !id.is_empty())
    };
    if keys.is_empty() || !keys.iter().all(well_formed) {
        return error(
            StatusCode::BAD_REQUEST,
            "readMessages must be a list of {remoteJid, fromMe, id}",
        );
    }
    (
        StatusCode::CREATED,
        Json(json!({"message": "Read messages", "read": "success"})),
    )
        .into_response()
}

async fn handle(
    kind: Kind,
    State(state): State<FakeState>,
    Path(instance): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if instance == MISSING_INSTANCE {
        return error(
            StatusCode::NOT_FOUND,
            &format!("The \"{instance}\" instance does not exist"),
        );
    }
    let key = headers
        .get("apikey")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if key.is_empty() || key.starts_with("invalid") {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    // Express parses JSON bodies only when they say so; anything else reaches the schema empty.
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = if json_type {
        match serde_json::from_slice::<Value>(&raw) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return answer_error(
                    StatusCode::BAD_REQUEST,
                    json!(["Unexpected token in JSON body"]),
                );
            }
        }
    } else {
        json!({})
    };

    let required: &[&str] = match kind {
        Kind::Text => &["number", "text"],
        Kind::Media => &["number", "mediatype"],
        Kind::Template => &["name", "language"],
    };
    let mut problems: Vec<String> = required
        .iter()
        .filter(|f| body.get(**f).is_none())
        .map(|f| format!("instance requires property \"{f}\""))
        .collect();
    for field in [
        "number",
        "text",
        "mediatype",
        "media",
        "caption",
        "fileName",
        "name",
        "language",
    ] {
        if body.get(field).is_some_and(|v| !v.is_string()) {
            problems.push(format!("{field} is not of a type(s) string"));
        }
    }
    if let Some(t) = body.get("mediatype").and_then(Value::as_str)
        && !["image", "document", "video", "audio"].contains(&t)
    {
        problems.push("mediatype is not one of enum values: image,document,video,audio".into());
    }
    if !problems.is_empty() {
        return answer_error(StatusCode::BAD_REQUEST, json!(problems));
    }
    let str_of = |f: &str| body.get(f).and_then(Value::as_str).unwrap_or_default();

    let number: String = str_of("number")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if matches!(kind, Kind::Template) && number.is_empty() {
        return answer_error(StatusCode::BAD_REQUEST, json!(["Invalid format"]));
    }
    match kind {
        Kind::Text if str_of("text").trim().is_empty() => {
            return error(StatusCode::BAD_REQUEST, "Text is required");
        }
        Kind::Media => {
            let media = str_of("media");
            if !(media.starts_with("http://") || media.starts_with("https://")) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Owned media must be a url or base64",
                );
            }
        }
        Kind::Template if !instance.starts_with("business") => {
            return answer_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!("Method not available in the Baileys service"),
            );
        }
        _ => {}
    }
    if instance == DISCONNECTED_INSTANCE {
        return error(StatusCode::BAD_REQUEST, "Error: Connection Closed");
    }
    let jid = format!("{number}@s.whatsapp.net");
    if number == NOT_ON_WHATSAPP {
        return answer_error(
            StatusCode::BAD_REQUEST,
            json!([{ "jid": jid, "exists": false, "number": number }]),
        );
    }

    let raw = String::from_utf8_lossy(&raw);
    let nth = state
        .inbox
        .of("evolution")
        .iter()
        .filter(|r| r.body == raw)
        .count()
        .max(1);
    let (id, message, message_type) = match kind {
        Kind::Text => (
            message_id(&raw, nth),
            json!({ "conversation": str_of("text") }),
            "conversation".to_owned(),
        ),
        Kind::Media => {
            let media_type = format!("{}Message", str_of("mediatype"));
            let mut message = serde_json::Map::new();
            message.insert(
                media_type.clone(),
                json!({ "url": str_of("media"), "caption": body.get("caption") }),
            );
            (message_id(&raw, nth), Value::Object(message), media_type)
        }
        Kind::Template => (
            template_message_id(&raw, nth),
            json!({ "templateMessage": { "name": str_of("name") } }),
            "templateMessage".to_owned(),
        ),
    };
    (
        StatusCode::CREATED,
        Json(json!({
            "key": { "remoteJid": jid, "fromMe": true, "id": id },
            "pushName": "",
            "status": "PENDING",
            "message": message,
            "messageType": message_type,
            "messageTimestamp": chrono::Utc::now().timestamp(),
            "instanceId": "6e1b5f4e-0000-4000-8000-fa4e00000001",
            "source": "unknown",
        })),
    )
        .into_response()
}

/// Our callback URL as set on the instance's webhook: Evolution does not sign its webhooks,
/// so an account with a webhook secret puts it in the URL, `?secret=<secret>`.
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

/// A `MESSAGES_UPDATE` webhook as Evolution v2 posts it for a message `instance` sent to
/// `number` (digits): `{"event":"messages.update","instance","data":{…},"destination",
/// "date_time","sender","server_url","apikey"}` (`webhook.controller.ts`), unsigned (see
/// [`webhook_url`]). `date_time` is `at` as Evolution writes it (`toISOString()`, on a server
/// running in UTC).
///
/// The update is a Baileys one (`whatsapp.baileys.service.ts`: `{"messageId","keyId",
/// "remoteJid","fromMe":true,"status","instanceId"}`, `status` in `SERVER_ACK`,
/// `DELIVERY_ACK`, `READ`, `PLAYED`, `ERROR`, `PENDING`, `DELETED`), or, for a `wamid.…`
/// key id, a WhatsApp Cloud API one (`whatsapp.business.service.ts`: `fromMe: false`,
/// `participant` = the recipient, `status` in `SENT`, `DELIVERED`, `READ`, `FAILED`).
pub fn status_callback(
    instance: &str,
    key_id: &str,
    number: &str,
    status: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> FakeCallback {
    let jid = format!("{number}@s.whatsapp.net");
    let instance_id = "6e1b5f4e-0000-4000-8000-fa4e00000001";
    let row_id = {
        let mut h = DefaultHasher::new();
        key_id.hash(&mut h);
        format!("cm{:023x}", h.finish())
    };
    let data = if key_id.starts_with("wamid.") {
        json!({
            "messageId": row_id,
            "keyId": key_id,
            "remoteJid": jid,
            "fromMe": false,
            "participant": jid,
            "status": status,
            "instanceId": instance_id,
        })
    } else {
        json!({
            "messageId": row_id,
            "keyId": key_id,
            "remoteJid": jid,
            "fromMe": true,
            "status": status,
            "instanceId": instance_id,
        })
    };
    let body = json!({
        "event": "messages.update",
        "instance": instance,
        "data": data,
        "destination": "https://pombo.example/v1/callbacks/evolution",
        "date_time": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "sender": "5511900000000@s.whatsapp.net",
        "server_url": "http://localhost:8080",
        "apikey": null,
    });
    FakeCallback {
        content_type: "application/json".into(),
        headers: Vec::new(),
        body: body.to_string(),
    }
}

/// A `MESSAGES_UPSERT` webhook as Evolution v2 posts it when `number` (digits) writes to
/// `instance` (`whatsapp.baileys.service.ts`, `messages.upsert`): `data` is Baileys'
/// `{"key":{"remoteJid","fromMe":false,"id"},"pushName","message":{…},"messageType",
/// "messageTimestamp","instanceId","source"}`, where `message` is e.g.
/// `json!({"conversation": "Oi"})` and `message_type` its key (`conversation`,
/// `imageMessage`, …). Unsigned (see [`webhook_url`]).
pub fn messages_upsert(
    instance: &str,
    key_id: &str,
    (number, push_name): (&str, &str),
    (message_type, message): (&str, Value),
    timestamp: i64,
) -> FakeCallback {
    instance_event(
        instance,
        "messages.upsert",
        json!({
            "key": {
                "remoteJid": format!("{number}@s.whatsapp.net"),
                "fromMe": false,
                "id": key_id,
            },
            "pushName": push_name,
            "status": "DELIVERY_ACK",
            "message": message,
            "messageType": message_type,
            "messageTimestamp": timestamp,
            "instanceId": "6e1b5f4e-0000-4000-8000-fa4e00000001",
            "source": "android",
        }),
    )
}

/// `POST /chat/getBase64FromMediaMessage/{instance}` with `{"message":{"key":{"id"}},
/// "convertToMp4"}`: `{"mediaType","fileName","mimetype","base64"}` of a message the fake
/// keeps a file for (`crate::media`, by the key id), 400 for any other.
async fn media_base64(headers: HeaderMap, State(state): State<FakeState>, body: Bytes) -> Response {
    if let Some(refused) = refused(&headers) {
        return refused;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = body
        .pointer("/message/key/id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(file) = state.media.get(id) else {
        return error(StatusCode::BAD_REQUEST, "Message not found");
    };
    use base64::Engine;
    Json(json!({
        "mediaType": "imageMessage",
        "fileName": format!("{id}.bin"),
        "caption": null,
        "size": {"fileLength": file.bytes.len()},
        "mimetype": file.content_type,
        "base64": base64::engine::general_purpose::STANDARD.encode(&file.bytes),
    }))
    .into_response()
}

/// The webhook of any other event of the instance (`connection.update` with
/// `{"instance","state","statusReason"}`, `qrcode.updated` with `{"qrcode":{…}}`,
/// `messages.delete` with the deleted message's key): the same envelope as
/// [`messages_upsert`].
pub fn instance_event(instance: &str, event: &str, data: Value) -> FakeCallback {
    let body = json!({
        "event": event,
        "instance": instance,
        "data": data,
        "destination": "https://pombo.example/v1/callbacks/evolution",
        "date_time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "sender": "5511900000000@s.whatsapp.net",
        "server_url": "http://localhost:8080",
        "apikey": null,
    });
    FakeCallback {
        content_type: "application/json".into(),
        headers: Vec::new(),
        body: body.to_string(),
    }
}
