//! Fake of Twilio Programmable Messaging's Create Message
//! (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`).
//!
//! Checks what Twilio checks, answering its documented error body
//! `{"code", "message", "more_info", "status"}`:
//! - HTTP Basic auth whose user is the Account SID of the path (`AC` + 32 hex digits) and
//!   whose password looks like an Auth Token (32 hex digits); missing or otherwise → 401,
//!   code 20003 `Authenticate`.
//! - Form fields (`application/x-www-form-urlencoded`): `To` (else 21604), `From` or
//!   `MessagingServiceSid` (else 21603), a non-empty `Body` (else 21602) of at most 1600
//!   characters (else 21617), an http(s) `StatusCallback` when given (else 21609).
//!
//! Magic values: the ones Twilio documents for its test credentials
//! (<https://www.twilio.com/docs/iam/test-credentials>), answered with 400 and:
//! - `To`: `+15005550001` → 21211 invalid number; `+15005550002` → 21612 unroutable;
//!   `+15005550003` → 21408 no permission for the region; `+15005550004` → 21610
//!   unsubscribed (blocked) recipient; `+15005550009` → 21614 not SMS-capable. Any other
//!   `To` that is not `+` and digits → 21211.
//! - `From`: `+15005550001` → 21212 invalid sender; `+15005550007` → 21606 not owned /
//!   not SMS-capable; `+15005550008` → 21611 sender's queue is full. Other senders pass.
//!
//! Success: `201 Created` with the Message resource, `status` `queued` (or `accepted` when
//! sent through a Messaging Service), `sid` from [`sid_for`] so a test can check that a
//! client returns exactly what the fake answered.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine as _;
use serde_json::json;

use crate::FakeState;

pub fn router() -> Router<FakeState> {
    Router::new().route(
        "/2010-04-01/Accounts/{account_sid}/Messages.json",
        post(create_message),
    )
}

/// The provider's documented error body for `status`, with the Twilio code that goes with
/// it (20003 for 401, 20429 for 429, 20500 for 500, 20503 for 503…).
pub fn error(status: StatusCode, message: &str) -> Response {
    let code = match status.as_u16() {
        401 => 20003,
        405 => 20004,
        s => 20000 + u32::from(s),
    };
    twilio_error(status, code, message)
}

/// The `sid` the fake answers for a request with this (form) body: `SM` and 32 lowercase
/// hex digits of a hash of the body.
pub fn sid_for(body: &str) -> String {
    format!("SM{}", hex::encode(hash128(body.as_bytes())))
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

fn bad_request(code: u32, message: &str) -> Response {
    twilio_error(StatusCode::BAD_REQUEST, code, message)
}

/// Two FNV-1a passes with different offsets: stable, dependency-free, 128 bits.
fn hash128(bytes: &[u8]) -> [u8; 16] {
    let fnv = |mut h: u64| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_be_bytes());
    out[8..].copy_from_slice(&fnv(0x6c62_272e_07bb_0142).to_be_bytes());
    out
}

fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].chars().all(|c| c.is_ascii_hexdigit())
}

/// `Authorization: Basic base64(user:password)`.
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Segments Twilio would bill: 160/153 GSM characters, or 70/67 UCS-2 ones.
fn segments(body: &str) -> usize {
    let gsm = body
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " \n\r@$_!\"#%&'()*+,-./:;<=>?".contains(c));
    let len = body.chars().count();
    let (single, part) = if gsm { (160, 153) } else { (70, 67) };
    if len <= single { 1 } else { len.div_ceil(part) }
}

async fn create_message(
    State(state): State<FakeState>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authenticated = match basic_auth(&headers) {
        Some((user, token)) => {
            user == account_sid
                && is_sid(&account_sid, "AC")
                && token.len() == 32
                && token.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    };
    if !authenticated {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let form: Vec<(String, String)> =
        if content_type.starts_with("application/x-www-form-urlencoded") {
            serde_urlencoded::from_bytes(&body).unwrap_or_default()
        } else {
            Vec::new()
        };
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };

    let Some(to) = field("To") else {
        return bad_request(21604, "A 'To' phone number is required.");
    };
    let from = field("From");
    let service = field("MessagingServiceSid");
    if from.is_none() && service.is_none() {
        return bad_request(21603, "A 'From' phone number is required.");
    }
    let Some(text) = field("Body") else {
        return bad_request(21602, "Message body is required.");
    };
    if text.chars().count() > 1600 {
        return bad_request(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    if let Some(callback) = field("StatusCallback")
        && !(callback.starts_with("https://") || callback.starts_with("http://"))
    {
        return bad_request(21609, "Invalid StatusCallback url");
    }
    match from {
        Some("+15005550001") => {
            return bad_request(
                21212,
                "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.",
            );
        }
        Some("+15005550007") => {
            return bad_request(
                21606,
                "The 'From' phone number provided (+15005550007) is not a valid message-capable Twilio phone number for this destination.",
            );
        }
        Some("+15005550008") => {
            return bad_request(
                21611,
                "This 'From' number has exceeded the maximum number of queued messages",
            );
        }
        _ => {}
    }
    let plausible = to
        .strip_prefix('+')
        .is_some_and(|d| (7..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()));
    match to {
        "+15005550001" => {
            return bad_request(
                21211,
                &format!("The 'To' number {to} is not a valid phone number."),
            );
        }
        "+15005550002" => {
            return bad_request(
                21612,
                &format!(
                    "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number via SMS."
                ),
            );
        }
        "+15005550003" => {
            return bad_request(
                21408,
                &format!(
                    "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}."
                ),
            );
        }
        "+15005550004" => {
            return bad_request(21610, "Attempt to send to unsubscribed recipient");
        }
        "+15005550009" => {
            return bad_request(
                21614,
                &format!("'To' number {to} is not a valid mobile number"),
            );
        }
        _ if !plausible => {
            return bad_request(
                21211,
                &format!("The 'To' number {to} is not a valid phone number."),
            );
        }
        _ => {}
    }

    let sid = sid_for(&String::from_utf8_lossy(&body));
    let now = chrono::Utc::now().to_rfc2822();
    let uri = format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json");
    let message = json!({
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": text,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": segments(text).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        // Without a Messaging Service a new message is `queued`; with one, `accepted`.
        "status": if service.is_some() { "accepted" } else { "queued" },
        "subresource_uris": {
            "media": format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"),
        },
        "to": to,
        "uri": uri,
    });
    tracing::debug!(base = %state.base_url, %sid, "twilio fake accepted a message");
    (StatusCode::CREATED, Json(message)).into_response()
}
