//! Fake of a WAHA server: `POST /api/{sendText,sendImage,sendFile,sendVoice,sendVideo}`,
//! `POST /api/sendSeen` (read receipts), and sessions: `POST /api/sessions`, `GET`/`PUT`/
//! `DELETE /api/sessions/{session}` (its configuration with its webhooks, read back from
//! what was put), `POST /api/sessions/{session}/logout`, `GET /api/{session}/auth/qr`
//! ([`DEFAULT_SESSION`] exists and works).
//!
//! Checks what WAHA checks (<https://waha.devlike.pro/docs/how-to/send-messages/>, OpenAPI
//! schemas `MessageTextRequest`, `MessageImageRequest`, …): `X-Api-Key` when one is sent, the
//! JSON body's `session` and `chatId`, `text` for texts, `file` with `url` and `mimetype` for
//! media (`filename` too for videos), and the `convert` flag of voice and video.
//!
//! A server without `WAHA_API_KEY` accepts requests without the header, so the fake does too;
//! a key starting with `invalid` gets WAHA's `401 {"message":"Unauthorized","statusCode":401}`.
//!
//! Answers `201` with the sent message. The session name picks the engine whose answer shape
//! the fake plays (all three name the same id, see [`serialized_id`]):
//! - `noweb`: a Baileys message, `{"key":{"remoteJid":"…@s.whatsapp.net","fromMe":true,
//!   "id":<key id>},"message":{…},"messageTimestamp":…,"status":"PENDING"}`;
//! - `webjs`: a whatsapp-web.js message, whose `id` is `{"fromMe","remote","id","_serialized"}`;
//! - any other: the OpenAPI `WAMessage`, whose `id` is the serialized string.
//!
//! Errors (NestJS shape, `{"statusCode","message","error"}`, unless said otherwise):
//! - a missing or wrong field: `400` with the validation messages;
//! - session [`MISSING_SESSION`] (`missing`): WAHA's `404` "We didn't find a session with
//!   name 'missing'. …";
//! - session [`UNPAIRED_SESSION`] (`unpaired`): WAHA's `422 {"error":"Session status is not as
//!   expected. Try again later or restart the session","session","status":"SCAN_QR_CODE",
//!   "expected":["WORKING"]}`;
//! - chat [`INVALID_CHAT`] (`15005550001@c.us`, i.e. `+15005550001`): the WEBJS engine's
//!   `500` for a chat id WhatsApp refuses, whose `exception.message` reads
//!   `Evaluation failed: Error: wid error: invalid wid` (WAHA itself does not check that a
//!   number has WhatsApp: real servers answer `201` for unknown numbers).

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

use crate::{FakeState, callbacks::FakeCallback, inbox::Position};

pub const MISSING_SESSION: &str = "missing";
pub const UNPAIRED_SESSION: &str = "unpaired";
pub const INVALID_CHAT: &str = "15005550001@c.us";

pub fn router() -> Router<FakeState> {
    Router::new()
        .route("/api/sendText", post(send))
        .route("/api/sendImage", post(send))
        .route("/api/sendFile", post(send))
        .route("/api/sendVoice", post(send))
        .route("/api/sendVideo", post(send))
        .route("/api/sendSeen", post(send_seen))
        .route(
            "/api/sessions/{session}",
            axum::routing::get(get_session)
                .put(update_session)
                .delete(delete_session),
        )
        .route("/api/sessions", post(create_session))
        .route("/api/sessions/{session}/logout", post(logout))
        .route("/api/{session}/auth/qr", axum::routing::get(qr))
        .route("/api/files/{session}/{file}", axum::routing::get(file))
}

/// The session every fake account sends through: it exists and works from the start (until
/// it is deleted).
pub const DEFAULT_SESSION: &str = "default";

/// The status of `session`, replayed from the requests before the `n`-th (the fake keeps no
/// other state): `None` when it does not exist. Created sessions wait for a QR code scan,
/// which never comes (`SCAN_QR_CODE`); logging out stops them (`STOPPED`).
fn session_status(state: &FakeState, n: usize, session: &str) -> Option<&'static str> {
    let mut current = (session == DEFAULT_SESSION).then_some("WORKING");
    for r in state.inbox.of("waha").iter().take(n.saturating_sub(1)) {
        let this = r.path == format!("/api/sessions/{session}");
        if r.method == "POST" && r.path == "/api/sessions" {
            let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            if body["name"] == session && current.is_none() {
                current = Some(if body["start"] == false {
                    "STOPPED"
                } else {
                    "SCAN_QR_CODE"
                });
            }
        } else if r.method == "DELETE" && this {
            current = None;
        } else if r.method == "POST"
            && r.path == format!("/api/sessions/{session}/logout")
            && current.is_some()
        {
            current = Some("STOPPED");
        }
    }
    current
}

/// The API key check, then the session: its status, or the answer refusing.
// The early answer of a handler, returned as is: boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
fn existing(
    state: &FakeState,
    n: usize,
    headers: &HeaderMap,
    session: &str,
) -> Result<&'static str, Response> {
    if let Some(refusal) = refused(headers) {
        return Err(refusal);
    }
    session_status(state, n, session).ok_or_else(|| no_such_session(session))
}

fn no_such_session(session: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("We didn't find a session with name '{session}'."),
    )
}

/// `POST /api/sessions` `{"name","start"?,"config"?}`: `201` with the session; a name in use
/// is `422 … already exists`.
async fn create_session(
    State(state): State<FakeState>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if let Some(refusal) = refused(&headers) {
        return refusal;
    }
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
        return nest_error(StatusCode::BAD_REQUEST, json!(["name must be a string"]));
    };
    if session_status(&state, n, name).is_some() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Session '{name}' already exists. Use PUT to update it."),
        );
    }
    let status = if body["start"] == false {
        "STOPPED"
    } else {
        "STARTING"
    };
    (
        StatusCode::CREATED,
        Json(json!({
            "name": name,
            "status": status,
            "config": body.get("config").cloned().unwrap_or(json!({})),
        })),
    )
        .into_response()
}

/// `POST /api/sessions/{session}/logout`.
async fn logout(
    State(state): State<FakeState>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    axum::extract::Path(session): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    match existing(&state, n, &headers, &session) {
        Err(refusal) => refusal,
        Ok(_) => (StatusCode::CREATED, Json(json!({}))).into_response(),
    }
}

/// `DELETE /api/sessions/{session}`.
async fn delete_session(
    State(state): State<FakeState>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    axum::extract::Path(session): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    match existing(&state, n, &headers, &session) {
        Err(refusal) => refusal,
        Ok(_) => Json(json!({})).into_response(),
    }
}

/// `GET /api/{session}/auth/qr?format=raw`: `{"value"}` while the session waits for a scan;
/// otherwise WAHA's `422` (status not as expected).
async fn qr(
    State(state): State<FakeState>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    axum::extract::Path(session): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    match existing(&state, n, &headers, &session) {
        Err(refusal) => refusal,
        Ok("SCAN_QR_CODE") => {
            Json(json!({ "value": format!("2@fake-qr-{session},pombo") })).into_response()
        }
        Ok(status) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": "Session status is not as expected. Try again later or restart the session",
                "session": session,
                "status": status,
                "expected": ["SCAN_QR_CODE"],
            })),
        )
            .into_response(),
    }
}

/// `GET /api/sessions/{session}`: `{"name","status","config"}`, the configuration being the
/// last one `PUT` (the fake keeps no other state: it reads its own record of requests).
async fn get_session(
    State(state): State<FakeState>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    axum::extract::Path(session): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    match existing(&state, n, &headers, &session) {
        Err(refusal) => refusal,
        Ok(status) => Json(session_info(&state, &session, status)).into_response(),
    }
}

/// `PUT /api/sessions/{session}` with `{"config"}`: each webhook needs an http(s) `url` and
/// `events` from WAHA's catalogue. WAHA restarts the session to apply it; the fake answers
/// at once with the session.
async fn update_session(
    State(state): State<FakeState>,
    axum::Extension(Position(n)): axum::Extension<Position>,
    axum::extract::Path(session): axum::extract::Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let status = match existing(&state, n, &headers, &session) {
        Ok(status) => status,
        Err(refusal) => return refusal,
    };
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let mut problems = Vec::new();
    for hook in body["config"]["webhooks"].as_array().into_iter().flatten() {
        let url = hook["url"].as_str().unwrap_or_default();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            problems.push(format!("config.webhooks.url must be a URL: {url}"));
        }
        for event in hook["events"].as_array().into_iter().flatten() {
            if !event.as_str().is_some_and(|e| EVENTS.contains(&e)) {
                problems.push(format!("config.webhooks.events: {event} is not an event"));
            }
        }
    }
    if !problems.is_empty() {
        return nest_error(StatusCode::BAD_REQUEST, json!(problems));
    }
    let mut info = session_info(&state, &session, status);
    info["config"] = body["config"].clone();
    Json(info).into_response()
}

fn session_info(state: &FakeState, session: &str, status: &str) -> Value {
    let config = state
        .inbox
        .of("waha")
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path == format!("/api/sessions/{session}"))
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .next_back()
        .map(|body| body["config"].clone())
        .unwrap_or(json!({ "webhooks": [] }));
    json!({ "name": session, "status": status, "config": config })
}

fn refused(headers: &HeaderMap) -> Option<Response> {
    let key = headers.get("x-api-key")?.to_str().unwrap_or_default();
    (key.is_empty() || key.starts_with("invalid"))
        .then(|| error(StatusCode::UNAUTHORIZED, "Unauthorized"))
}

/// WAHA's webhook events (<https://waha.devlike.pro/docs/how-to/events/>).
pub const EVENTS: &[&str] = &[
    "session.status",
    "message",
    "message.reaction",
    "message.any",
    "message.ack",
    "message.waiting",
    "message.revoked",
    "message.edited",
    "state.change",
    "group.join",
    "group.leave",
    "group.v2.join",
    "group.v2.leave",
    "group.v2.update",
    "group.v2.participants",
    "presence.update",
    "poll.vote",
    "poll.vote.failed",
    "chat.archive",
    "call.received",
    "call.accepted",
    "call.rejected",
    "label.upsert",
    "label.deleted",
    "label.chat.added",
    "label.chat.deleted",
    "event.response",
    "event.response.failed",
    "engine.event",
];

/// `POST /api/sendSeen`: `{"session","chatId","messageIds"?}` (`SendSeenRequest`), answered
/// `201 {}`.
async fn send_seen(headers: HeaderMap, raw: Bytes) -> Response {
    if let Some(key) = headers.get("x-api-key") {
        let key = key.to_str().unwrap_or_default();
        if key.is_empty() || key.starts_with("invalid") {
            return error(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
    }
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let mut problems = Vec::new();
    if body["session"].as_str().is_none_or(str::is_empty) {
        problems.push("session must be a string");
    }
    if !body["chatId"].as_str().is_some_and(|c| c.contains('@')) {
        problems.push("chatId must be a chat id like 11111111111@c.us");
    }
    if let Some(ids) = body.get("messageIds")
        && !ids
            .as_array()
            .is_some_and(|ids| ids.iter().all(Value::is_string))
    {
        problems.push("each value in messageIds must be a string");
    }
    if !problems.is_empty() {
        return nest_error(StatusCode::BAD_REQUEST, json!(problems));
    }
    if body["session"] == MISSING_SESSION {
        return error(
            StatusCode::NOT_FOUND,
            &format!("We didn't find a session with name '{MISSING_SESSION}'."),
        );
    }
    (StatusCode::CREATED, Json(json!({}))).into_response()
}

/// The provider's documented error body for `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    nest_error(status, json!(message))
}

fn nest_error(status: StatusCode, message: Value) -> Response {
    (
        status,
        Json(json!({
            "statusCode": status.as_u16(),
            "message": message,
            "error": status.canonical_reason().unwrap_or("Error"),
        })),
    )
        .into_response()
}

/// The engine's own id (`3EB0…`) for the `nth` (1-based) request with this exact body.
pub fn key_id(body: &str, nth: usize) -> String {
    let mut h = DefaultHasher::new();
    (body, nth).hash(&mut h);
    format!("3EB0{:016X}", h.finish())
}

/// The id WAHA gives a message sent to `chat_id` (`…@c.us`): `true_{chatId}_{key id}`, as
/// `message.ack` events name it.
pub fn serialized_id(chat_id: &str, key_id: &str) -> String {
    format!("true_{chat_id}_{key_id}")
}

async fn send(
    State(state): State<FakeState>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if let Some(key) = headers.get("x-api-key") {
        let key = key.to_str().unwrap_or_default();
        if key.is_empty() || key.starts_with("invalid") {
            return error(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
    }
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = match serde_json::from_slice::<Value>(&raw) {
        Ok(v @ Value::Object(_)) if json_type => v,
        _ => json!({}),
    };
    let action = uri.path().rsplit('/').next().unwrap_or_default().to_owned();
    let str_of = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).map(str::to_owned);

    let mut problems = Vec::new();
    let session = str_of(&body, "session").unwrap_or_default();
    if session.is_empty() {
        problems.push("session must be a string".to_owned());
    }
    let chat_id = str_of(&body, "chatId").unwrap_or_default();
    if !chat_id.contains('@') {
        problems.push("chatId must be a chat id like 11111111111@c.us".to_owned());
    }
    if action == "sendText" {
        if str_of(&body, "text").is_none_or(|t| t.is_empty()) {
            problems.push("text should not be empty".to_owned());
        }
    } else {
        let file = body.get("file").cloned().unwrap_or(Value::Null);
        if str_of(&file, "url").is_none() {
            problems.push("file.url must be a string".to_owned());
        }
        if str_of(&file, "mimetype").is_none() {
            problems.push("file.mimetype must be a string".to_owned());
        }
        if action == "sendVideo" && str_of(&file, "filename").is_none() {
            problems.push("file.filename must be a string".to_owned());
        }
        if matches!(action.as_str(), "sendVoice" | "sendVideo")
            && !body.get("convert").is_some_and(Value::is_boolean)
        {
            problems.push("convert must be a boolean value".to_owned());
        }
    }
    if !problems.is_empty() {
        return nest_error(StatusCode::BAD_REQUEST, json!(problems));
    }

    if session == MISSING_SESSION {
        return error(
            StatusCode::NOT_FOUND,
            &format!(
                "We didn't find a session with name '{session}'.\nPlease start it first by using \
                 POST /api/sessions/{session}/start request"
            ),
        );
    }
    if session == UNPAIRED_SESSION {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": "Session status is not as expected. Try again later or restart the session",
                "session": session,
                "status": "SCAN_QR_CODE",
                "expected": ["WORKING"],
            })),
        )
            .into_response();
    }
    if chat_id == INVALID_CHAT {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({
                "statusCode": 500,
                "timestamp": chrono::Utc::now().to_rfc3339(),
                "exception": {
                    "message": format!("Evaluation failed: Error: wid error: invalid wid: {chat_id}"),
                    "name": "Error",
                },
                "request": { "path": uri.path(), "method": "POST", "body": body, "query": {} },
                "version": { "engine": "WEBJS", "tier": "CORE" },
            })),
        )
            .into_response();
    }

    let raw = String::from_utf8_lossy(&raw);
    let nth = state
        .inbox
        .of("waha")
        .iter()
        .filter(|r| r.body == raw)
        .count()
        .max(1);
    let key_id = key_id(&raw, nth);
    let serialized = serialized_id(&chat_id, &key_id);
    let now = chrono::Utc::now().timestamp();
    let text = str_of(&body, "text").or_else(|| str_of(&body, "caption"));
    let answer = match session.as_str() {
        "noweb" => json!({
            "key": {
                "remoteJid": chat_id.replace("@c.us", "@s.whatsapp.net"),
                "fromMe": true,
                "id": key_id,
            },
            "message": { "extendedTextMessage": { "text": text } },
            "messageTimestamp": now.to_string(),
            "status": "PENDING",
        }),
        "webjs" => json!({
            "_data": {},
            "id": { "fromMe": true, "remote": chat_id, "id": key_id, "_serialized": serialized },
            "ack": 0,
            "hasMedia": action != "sendText",
            "body": text,
            "type": if action == "sendText" { "chat" } else { "media" },
            "timestamp": now,
            "from": "10000000000@c.us",
            "to": chat_id,
            "fromMe": true,
        }),
        _ => json!({
            "id": serialized,
            "timestamp": now,
            "from": "10000000000@c.us",
            "fromMe": true,
            "source": "api",
            "to": chat_id,
            "body": text,
            "hasMedia": action != "sendText",
            "ack": 1,
            "ackName": "SERVER",
        }),
    };
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// The `ack` number WAHA gives an `ackName` (`WAMessageAck`), `None` for unknown names.
fn ack_number(name: &str) -> Option<i64> {
    Some(match name {
        "ERROR" => -1,
        "PENDING" => 0,
        "SERVER" => 1,
        "DEVICE" => 2,
        "READ" => 3,
        "PLAYED" => 4,
        _ => return None,
    })
}

/// WAHA's webhook signature: hex HMAC-SHA512 of the raw body with the webhook's `hmac.key`.
pub fn hmac_signature(key: &str, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key.as_bytes()).expect("any key size");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A `message.ack` webhook as WAHA posts it for a message `session` sent
/// (<https://waha.devlike.pro/docs/how-to/events/#messageack>): the envelope
/// `{"id":"evt_…","timestamp":<at, ms>,"event":"message.ack","session","metadata","me",
/// "payload","engine","environment"}` around `{"id":<message_id>,"from":<chat>,"to":<chat>,
/// "participant":null,"fromMe":true,"ack","ackName"}` (`ack_name`: `SERVER`, `DEVICE`,
/// `READ`, `PLAYED`, `ERROR`, `PENDING`; the chat is taken from the serialized id). With
/// `hmac_key`, signed as WAHA signs: `X-Webhook-Hmac` ([`hmac_signature`]) and
/// `X-Webhook-Hmac-Algorithm: sha512`.
pub fn ack_callback(
    hmac_key: Option<&str>,
    session: &str,
    message_id: &str,
    ack_name: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> FakeCallback {
    let chat = message_id.split('_').nth(1).unwrap_or_default();
    let millis = at.timestamp_millis();
    let event_id = format!("evt_{:026x}", message_id_hash(message_id, ack_name));
    let body = json!({
        "id": event_id,
        "timestamp": millis,
        "event": "message.ack",
        "session": session,
        "metadata": {},
        "me": { "id": "10000000000@c.us", "pushName": "Pombo" },
        "payload": {
            "id": message_id,
            "from": chat,
            "to": chat,
            "participant": null,
            "fromMe": true,
            "ack": ack_number(ack_name),
            "ackName": ack_name,
        },
        "engine": "WEBJS",
        "environment": { "version": "2024.10.1", "engine": "WEBJS", "tier": "CORE" },
    })
    .to_string();
    let mut headers = vec![
        ("User-Agent".to_owned(), "WAHA/2024.10.1".to_owned()),
        ("X-Webhook-Request-Id".to_owned(), event_id),
        ("X-Webhook-Timestamp".to_owned(), millis.to_string()),
    ];
    if let Some(key) = hmac_key {
        headers.push(("X-Webhook-Hmac".into(), hmac_signature(key, &body)));
        headers.push(("X-Webhook-Hmac-Algorithm".into(), "sha512".into()));
    }
    FakeCallback {
        content_type: "application/json".into(),
        headers,
        body,
    }
}

fn message_id_hash(message_id: &str, ack_name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (message_id, ack_name).hash(&mut h);
    h.finish()
}

/// A `message` webhook as WAHA posts it when `from` (a chat id, `5511…@c.us`) writes to
/// `session` (<https://waha.devlike.pro/docs/how-to/events/#message>): `payload` is
/// `{"id":"false_<chat>_<key>","timestamp","from","fromMe":false,"to","body","hasMedia",
/// "media":{"url","mimetype","filename"}|null,"ack":1,"ackName":"SERVER","replyTo":null,
/// "_data":{"notifyName"}}`. Signed like acks when `hmac_key` is given.
pub fn message_event(
    hmac_key: Option<&str>,
    session: &str,
    (from, name): (&str, &str),
    key_id: &str,
    body_text: &str,
    media: Option<(&str, &str)>,
    timestamp: i64,
) -> FakeCallback {
    let id = format!("false_{from}_{key_id}");
    let body = json!({
        "id": format!("evt_{:026x}", message_id_hash(&id, "message")),
        "timestamp": timestamp * 1000,
        "event": "message",
        "session": session,
        "metadata": {},
        "me": { "id": "10000000000@c.us", "pushName": "Pombo" },
        "payload": {
            "id": id,
            "timestamp": timestamp,
            "from": from,
            "fromMe": false,
            "to": "10000000000@c.us",
            "body": body_text,
            "hasMedia": media.is_some(),
            "media": media.map(|(url, mimetype)| json!({
                "url": url,
                "mimetype": mimetype,
                "filename": null,
            })),
            "ack": 1,
            "ackName": "SERVER",
            "replyTo": null,
            "_data": { "notifyName": name },
        },
        "engine": "WEBJS",
        "environment": { "version": "2024.10.1", "engine": "WEBJS", "tier": "CORE" },
    })
    .to_string();
    signed(hmac_key, body)
}

/// `GET /api/files/{session}/{file}`: a received file (`payload.media.url`), behind the
/// same key as the API.
async fn file(
    State(state): State<FakeState>,
    axum::extract::Path((_session, file)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refused(&headers) {
        return refused;
    }
    crate::media::serve(state.media.get(&file))
}

/// Any other event of the session (`session.status` with `{"status"}`, `message.revoked`
/// with `{"after","before","revokedMessageId"}`, `message.edited` with the message's new
/// `body` and `editedMessageId`), signed like [`message_event`].
pub fn session_event(
    hmac_key: Option<&str>,
    session: &str,
    event: &str,
    payload: Value,
    timestamp_ms: i64,
) -> FakeCallback {
    let body = json!({
        "id": format!("evt_{:026x}", message_id_hash(&payload.to_string(), event)),
        "timestamp": timestamp_ms,
        "event": event,
        "session": session,
        "metadata": {},
        "me": { "id": "10000000000@c.us", "pushName": "Pombo" },
        "payload": payload,
        "engine": "WEBJS",
        "environment": { "version": "2024.10.1", "engine": "WEBJS", "tier": "CORE" },
    })
    .to_string();
    signed(hmac_key, body)
}

/// A webhook as WAHA posts it: JSON, signed with HMAC-SHA512 when the session has a key.
fn signed(hmac_key: Option<&str>, body: String) -> FakeCallback {
    let mut headers = vec![("User-Agent".to_owned(), "WAHA/2024.10.1".to_owned())];
    if let Some(key) = hmac_key {
        headers.push(("X-Webhook-Hmac".into(), hmac_signature(key, &body)));
        headers.push(("X-Webhook-Hmac-Algorithm".into(), "sha512".into()));
    }
    FakeCallback {
        content_type: "application/json".into(),
        headers,
        body,
    }
}
