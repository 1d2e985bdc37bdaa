//! Fake of the Telegram Bot API's `sendMessage` (`POST /bot<token>/sendMessage`), and
//! `setWebhook` / `getWebhookInfo` (the bot's webhook, read back from what was set).
//!
//! Answers as the Bot API documents (<https://core.telegram.org/bots/api#making-requests>):
//! `{"ok": true, "result": <Message>}`, or `{"ok": false, "error_code", "description",
//! "parameters"?}` with the HTTP status equal to `error_code`.
//! - The token (`<bot id>:<secret>`, letters, digits, `_`, `-`) must look like one
//!   BotFather issues, else 404 `Not Found` (what Telegram answers for a malformed token);
//!   a token whose secret starts with `revoked` → 401 `Unauthorized` (a revoked token).
//! - Method names are case-insensitive; any method but `sendMessage` → 404 `Not Found`.
//! - Parameters as JSON, form-encoded or in the query string: `chat_id` (else 400
//!   `Bad Request: chat_id is empty`) and `text` of 1 to 4096 characters (else 400
//!   `Bad Request: message text is empty` / `Bad Request: message is too long`).
//!
//! Magic chat ids (Telegram documents none):
//! - `400` → 400 `Bad Request: chat not found`;
//! - `403` → 403 `Forbidden: bot was blocked by the user`;
//! - `429` → 429 `Too Many Requests: retry after 7` with `parameters.retry_after` 7 (in
//!   the body only, as flood control answers);
//! - `-400` → 400 `Bad Request: group chat was upgraded to a supergroup chat` with
//!   `parameters.migrate_to_chat_id` -1000000000400.
//!
//! Any other numeric chat exists (positive: a private chat; negative: a group, or a
//! supergroup below -1000000000000); an `@channelusername` is a channel whose numeric id
//! comes from [`channel_id_for`]. `message_id`s count from 1 in each chat of each fake
//! server, as Telegram's are unique within a chat only.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
};
use serde_json::{Value, json};

use crate::FakeState;

pub fn router() -> Router<FakeState> {
    Router::new()
        .route("/{bot}/{method}", any(method))
        .route("/file/{bot}/{*path}", axum::routing::get(file))
}

/// The provider's documented error body for `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    failure(status, message, None)
}

/// The numeric id of the channel `@username` (a supergroup-style id, -100…).
pub fn channel_id_for(username: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in username
        .trim_start_matches('@')
        .to_ascii_lowercase()
        .bytes()
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    -1_000_000_000_000 - (h % 1_000_000_000) as i64
}

/// The id of the fake bot with this token (the digits before the colon).
fn bot_id(token: &str) -> i64 {
    token
        .split_once(':')
        .and_then(|(id, _)| id.parse().ok())
        .unwrap_or(0)
}

fn failure(status: StatusCode, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({
        "ok": false,
        "error_code": status.as_u16(),
        "description": description,
    });
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (status, Json(body)).into_response()
}

fn bad_request(description: &str) -> Response {
    failure(StatusCode::BAD_REQUEST, description, None)
}

fn well_formed(token: &str) -> bool {
    match token.split_once(':') {
        Some((id, secret)) => {
            !id.is_empty()
                && id.chars().all(|c| c.is_ascii_digit())
                && secret.len() >= 30
                && secret
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
        None => false,
    }
}

/// Parameters from the query string, then a JSON or form-encoded body.
fn params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    if let Some(q) = query {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap_or_default();
        out.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
            out.extend(map);
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        out.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
    }
    out
}

/// Next `message_id` in `chat` of the fake server at `server`.
fn next_message_id(server: &str, chat: i64) -> i64 {
    static COUNTERS: LazyLock<Mutex<HashMap<(String, i64), i64>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut counters = COUNTERS.lock().expect("telegram counters lock");
    let n = counters.entry((server.to_owned(), chat)).or_insert(0);
    *n += 1;
    *n
}

/// `setWebhook`: an https URL (Telegram refuses others: `Bad Request: bad webhook: An HTTPS
/// URL must be provided for webhook`; the fake also takes loopback http, where tests and
/// `make run` listen) and a `secret_token` of 1 to 256 of `A-Z a-z 0-9 _ -`.
fn set_webhook(params: &HashMap<String, Value>) -> Response {
    let url = params
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let loopback = url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost");
    if !url.is_empty() && !url.starts_with("https://") && !loopback {
        return bad_request("Bad Request: bad webhook: An HTTPS URL must be provided for webhook");
    }
    if let Some(secret) = params.get("secret_token") {
        let secret = secret.as_str().unwrap_or_default();
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if secret.is_empty() || secret.len() > 256 || !secret.chars().all(allowed) {
            return bad_request("Bad Request: secret token contains unallowed characters");
        }
    }
    let description = if url.is_empty() {
        "Webhook was deleted"
    } else {
        "Webhook was set"
    };
    Json(json!({ "ok": true, "result": true, "description": description })).into_response()
}

/// `getWebhookInfo`: what the last `setWebhook` of this bot set as JSON, nothing after a
/// `deleteWebhook` (the fake keeps no other state: it reads its own record of requests).
fn webhook_info(state: &FakeState, bot: &str) -> Response {
    let set: HashMap<String, Value> = state
        .inbox
        .of("telegram")
        .into_iter()
        .rfind(|r| {
            r.path.eq_ignore_ascii_case(&format!("/{bot}/setWebhook"))
                || r.path
                    .eq_ignore_ascii_case(&format!("/{bot}/deleteWebhook"))
        })
        // After a `deleteWebhook`, no URL.
        .filter(|r| !r.path.to_ascii_lowercase().ends_with("/deletewebhook"))
        .and_then(|r| serde_json::from_str(&r.body).ok())
        .unwrap_or_default();
    let mut info = json!({
        "url": set.get("url").cloned().unwrap_or(json!("")),
        "has_custom_certificate": false,
        "pending_update_count": 0,
    });
    if let Some(updates) = set.get("allowed_updates") {
        info["allowed_updates"] = updates.clone();
    }
    Json(json!({ "ok": true, "result": info })).into_response()
}

async fn method(
    State(state): State<FakeState>,
    Path((bot, method)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = bot.strip_prefix("bot").filter(|t| well_formed(t)) else {
        return failure(StatusCode::NOT_FOUND, "Not Found", None);
    };
    if token
        .split_once(':')
        .is_some_and(|(_, s)| s.starts_with("revoked"))
    {
        return failure(StatusCode::UNAUTHORIZED, "Unauthorized", None);
    }
    let params = params(query.as_deref(), &headers, &body);
    if method.eq_ignore_ascii_case("setWebhook") {
        return set_webhook(&params);
    }
    if method.eq_ignore_ascii_case("getWebhookInfo") {
        return webhook_info(&state, &bot);
    }
    if method.eq_ignore_ascii_case("deleteWebhook") {
        return Json(json!({ "ok": true, "result": true, "description": "Webhook was deleted" }))
            .into_response();
    }
    if method.eq_ignore_ascii_case("getFile") {
        return get_file(&state, &params);
    }
    if !method.eq_ignore_ascii_case("sendMessage") {
        return failure(StatusCode::NOT_FOUND, "Not Found", None);
    }

    let chat_id = match params.get("chat_id") {
        Some(Value::Number(n)) => n.as_i64().map(ChatRef::Id),
        Some(Value::String(s)) if s.starts_with('@') && s.len() > 1 => {
            Some(ChatRef::Username(s.clone()))
        }
        Some(Value::String(s)) => s.trim().parse().ok().map(ChatRef::Id),
        _ => None,
    };
    let Some(chat_ref) = chat_id else {
        return bad_request("Bad Request: chat_id is empty");
    };
    let text = match params.get("text") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return bad_request("Bad Request: message text is empty"),
    };
    if text.chars().count() > 4096 {
        return bad_request("Bad Request: message is too long");
    }

    let chat = match &chat_ref {
        ChatRef::Id(400) => return bad_request("Bad Request: chat not found"),
        ChatRef::Id(403) => {
            return failure(
                StatusCode::FORBIDDEN,
                "Forbidden: bot was blocked by the user",
                None,
            );
        }
        ChatRef::Id(429) => {
            return failure(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests: retry after 7",
                Some(json!({ "retry_after": 7 })),
            );
        }
        ChatRef::Id(-400) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "Bad Request: group chat was upgraded to a supergroup chat",
                Some(json!({ "migrate_to_chat_id": -1_000_000_000_400i64 })),
            );
        }
        ChatRef::Id(id) if *id > 0 => {
            json!({ "id": id, "first_name": "Fake", "last_name": "User", "type": "private" })
        }
        ChatRef::Id(id) if *id <= -1_000_000_000_000 => {
            json!({ "id": id, "title": "Fake supergroup", "type": "supergroup" })
        }
        ChatRef::Id(id) => json!({ "id": id, "title": "Fake group", "type": "group" }),
        ChatRef::Username(name) => json!({
            "id": channel_id_for(name),
            "title": "Fake channel",
            "username": name.trim_start_matches('@'),
            "type": "channel",
        }),
    };
    let chat_id = chat["id"].as_i64().unwrap_or_default();
    let message_id = next_message_id(&state.base_url, chat_id);
    let mut message = json!({
        "message_id": message_id,
        "chat": chat,
        "date": chrono::Utc::now().timestamp(),
        "text": text,
    });
    if matches!(chat_ref, ChatRef::Username(_)) {
        // Channel posts are signed by the channel, not by the bot.
        message["sender_chat"] = message["chat"].clone();
    } else {
        message["from"] = json!({
            "id": bot_id(token),
            "is_bot": true,
            "first_name": "Pombo Fake Bot",
            "username": "pombo_fake_bot",
        });
    }
    Json(json!({ "ok": true, "result": message })).into_response()
}

enum ChatRef {
    Id(i64),
    Username(String),
}

/// An `Update` as the Bot API posts it to a bot's webhook when the user `chat_id` (a
/// private chat's id is the user's) writes `text`
/// (<https://core.telegram.org/bots/api#update>): `{"update_id","message":{"message_id",
/// "from":{"id","is_bot":false,"first_name","language_code"},"chat":{"id","first_name",
/// "type":"private"},"date","text"}}`, with `X-Telegram-Bot-Api-Secret-Token` when the
/// webhook was set with a `secret_token`.
pub fn message_update(
    secret_token: Option<&str>,
    (chat_id, first_name): (i64, &str),
    message_id: i64,
    text: &str,
    date: i64,
) -> crate::FakeCallback {
    let body = serde_json::json!({
        "update_id": 100_000_000 + message_id,
        "message": {
            "message_id": message_id,
            "from": {
                "id": chat_id,
                "is_bot": false,
                "first_name": first_name,
                "language_code": "pt-br",
            },
            "chat": { "id": chat_id, "first_name": first_name, "type": "private" },
            "date": date,
            "text": text,
        },
    });
    update(secret_token, &body)
}

/// `getFile`: the file's path, for a `file_id` the fake keeps (`crate::media`).
fn get_file(state: &FakeState, params: &HashMap<String, Value>) -> Response {
    let file_id = params
        .get("file_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match state.media.get(file_id) {
        Some(stored) => Json(json!({
            "ok": true,
            "result": {
                "file_id": file_id,
                "file_unique_id": format!("u{}", file_id.len()),
                "file_size": stored.bytes.len(),
                "file_path": format!("documents/{file_id}"),
            },
        }))
        .into_response(),
        None => bad_request("Bad Request: invalid file_id"),
    }
}

/// `GET /file/bot<token>/<file_path>`: the bytes of a path `getFile` gave.
async fn file(
    State(state): State<FakeState>,
    Path((bot, path)): Path<(String, String)>,
) -> Response {
    if bot.strip_prefix("bot").filter(|t| well_formed(t)).is_none() {
        return failure(StatusCode::NOT_FOUND, "Not Found", None);
    }
    let id = path.strip_prefix("documents/").unwrap_or_default();
    crate::media::serve(state.media.get(id))
}

/// An `edited_message` update: the message `message_id` of the chat, with its new text and
/// `edit_date`.
pub fn edited_message_update(
    secret_token: Option<&str>,
    (chat_id, first_name): (i64, &str),
    message_id: i64,
    text: &str,
    (date, edit_date): (i64, i64),
) -> crate::FakeCallback {
    let body = serde_json::json!({
        "update_id": 200_000_000 + message_id,
        "edited_message": {
            "message_id": message_id,
            "from": { "id": chat_id, "is_bot": false, "first_name": first_name },
            "chat": { "id": chat_id, "first_name": first_name, "type": "private" },
            "date": date,
            "edit_date": edit_date,
            "text": text,
        },
    });
    update(secret_token, &body)
}

/// An update as the Bot API posts it, with the webhook's secret token.
fn update(secret_token: Option<&str>, body: &Value) -> crate::FakeCallback {
    crate::FakeCallback {
        content_type: "application/json".into(),
        headers: secret_token
            .map(|s| vec![("X-Telegram-Bot-Api-Secret-Token".to_owned(), s.to_owned())])
            .unwrap_or_default(),
        body: body.to_string(),
    }
}
