//! Fake of the Vonage (Nexmo) SMS API's send endpoint (`POST /sms/json`).
//!
//! Like the real API it answers `200 OK` with `{"message-count", "messages": [...]}` even
//! when it refuses a message: each part carries a `status` (`"0"` accepted) and, when
//! refused, an `error-text` (codes: <https://developer.vonage.com/en/api-errors/sms>).
//! Parameters come form-encoded (as the OpenAPI definition documents) or as JSON.
//! - `api_key`/`api_secret` missing → status 2 `Missing api_key` / `Missing api_secret`;
//!   not the shapes Vonage issues (an 8-character alphanumeric key, a 16-character
//!   alphanumeric secret) → status 4 `Bad Credentials`.
//! - `from`, `to`, `text` missing → status 2 `Missing <name> param`; `to` not 7 to 15
//!   digits (E.164 without the `+`) → status 3; `type` other than `text`/`unicode` →
//!   status 3; `client-ref` longer than 40 characters → status 3.
//!
//! Magic recipients (Vonage documents no test numbers), chosen by the last four digits
//! of `to`:
//! - `…0029` → status 29 `Non White-listed Destination - rejected` (what a trial account
//!   gets for a number it has not whitelisted);
//! - `…0006` → status 6 `Unroutable message - rejected`;
//! - `…0007` → status 7 `Number barred.`.
//!
//! Success: one entry per SMS part (160/153 GSM characters or 70/67 with `type=unicode`),
//! each with its `message-id` from [`message_id_for`], so a test can check that a client
//! returns exactly what the fake answered, and the `client-ref` echoed.

use axum::{
    Json, Router,
    body::Bytes,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

use crate::FakeState;

pub fn router() -> Router<FakeState> {
    Router::new().route("/sms/json", post(send_sms))
}

/// The provider's documented error body for `status`: one refused part with the Vonage
/// status code closest to the HTTP one (1 throttled for 429, 4 for 401/403, 3 for other
/// 4xx, 5 internal error otherwise).
pub fn error(status: StatusCode, message: &str) -> Response {
    let code = match status.as_u16() {
        429 => "1",
        401 | 403 => "4",
        400..=499 => "3",
        _ => "5",
    };
    (status, Json(refusal(code, message))).into_response()
}

/// The `message-id` of part `part` (0-based) of a request with this body: 16 uppercase
/// hex digits, the shape of Vonage's ids.
pub fn message_id_for(body: &str, part: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body.as_bytes().iter().chain(part.to_string().as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016X}")
}

fn refusal(status: &str, text: &str) -> Value {
    json!({
        "message-count": "1",
        "messages": [{ "status": status, "error-text": text }],
    })
}

fn refused(status: &str, text: &str) -> Response {
    (StatusCode::OK, Json(refusal(status, text))).into_response()
}

fn params(headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return Vec::new();
        };
        map.into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect()
    } else {
        serde_urlencoded::from_bytes(body).unwrap_or_default()
    }
}

/// SMS parts: 160/153 characters for `text`, 70/67 for `unicode`.
fn parts(text: &str, unicode: bool) -> usize {
    let len = text.chars().count();
    let (single, part) = if unicode { (70, 67) } else { (160, 153) };
    if len <= single { 1 } else { len.div_ceil(part) }
}

async fn send_sms(headers: HeaderMap, body: Bytes) -> Response {
    let params = params(&headers, &body);
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(api_key) = field("api_key") else {
        return refused("2", "Missing api_key");
    };
    let Some(api_secret) = field("api_secret") else {
        return refused("2", "Missing api_secret");
    };
    let alnum = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_alphanumeric());
    if !alnum(api_key, 8) || !alnum(api_secret, 16) {
        return refused("4", "Bad Credentials");
    }
    let Some(_from) = field("from") else {
        return refused("2", "Missing from param");
    };
    let Some(to) = field("to") else {
        return refused("2", "Missing to param");
    };
    let Some(text) = field("text") else {
        return refused("2", "Missing text param");
    };
    if !((7..=15).contains(&to.len()) && to.chars().all(|c| c.is_ascii_digit())) {
        return refused("3", "Invalid to param");
    }
    let unicode = match field("type").unwrap_or("text") {
        "text" => false,
        "unicode" => true,
        _ => return refused("3", "Invalid type param"),
    };
    let client_ref = field("client-ref");
    if client_ref.is_some_and(|r| r.chars().count() > 40) {
        return refused("3", "Invalid client-ref param");
    }
    if to.ends_with("0029") {
        return refused("29", "Non White-listed Destination - rejected");
    }
    if to.ends_with("0006") {
        return refused("6", "Unroutable message - rejected");
    }
    if to.ends_with("0007") {
        return refused("7", "Number barred.");
    }

    let body = String::from_utf8_lossy(&body);
    let count = parts(text, unicode);
    let messages: Vec<Value> = (0..count)
        .map(|i| {
            let mut m = json!({
                "to": to,
                "message-id": message_id_for(&body, i),
                "status": "0",
                "remaining-balance": "15.53590000",
                "message-price": "0.03330000",
                "network": "23410",
            });
            if let Some(r) = client_ref {
                m["client-ref"] = json!(r);
            }
            m
        })
        .collect();
    Json(json!({
        "message-count": count.to_string(),
        "messages": messages,
    }))
    .into_response()
}
