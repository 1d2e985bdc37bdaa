//! Fake of Instagram messaging through Meta's Graph API (Messenger Platform for Instagram):
//! `POST /{version}/{account_id}/messages`.
//!
//! Checks what the real Send API checks: a Bearer access token (header, or the
//! `access_token` query parameter), a JSON body with `recipient.id` and a `message` holding
//! either `text` (UTF-8, at most 1000 bytes) or an `attachment` of type `image`, `video`,
//! `audio` or `file` with `payload.url` (or a reusable `payload.attachment_id`). Answers
//! the documented `{"recipient_id":"<IGSID>","message_id":"<mid>"}` (see [`mid`]) or a
//! Graph API error `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`.
//!
//! Magic values (Meta documents no test users, so these are ours):
//! - access token [`INVALID_TOKEN`] → 401, code `190` (also for a missing token);
//! - recipient [`UNAVAILABLE_USER`] → 400, code `551`, subcode `1545041` ("This person
//!   isn't available right now");
//! - recipient [`OUTSIDE_WINDOW_USER`] → 400, code `10`, subcode `2534022` ("This message
//!   is sent outside of allowed window");
//! - recipient [`NO_SUCH_USER`] → 400, code `100`, subcode `2018001` ("No matching user
//!   found");
//! - recipient [`RATE_LIMITED_USER`] → 400, code `613` ("Calls to this api have exceeded
//!   the rate limit").
//!
//! Docs: <https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message>,
//! <https://developers.facebook.com/docs/messenger-platform/error-codes>.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::{FakeState, callbacks::FakeCallback, whatsapp_cloud::hub_signature};

/// An access token the fake treats as expired.
pub const INVALID_TOKEN: &str = "invalid-token";
/// Recipient answered with `551` / `1545041`.
pub const UNAVAILABLE_USER: &str = "17841400000000551";
/// Recipient answered with `10` / `2534022`.
pub const OUTSIDE_WINDOW_USER: &str = "17841400000000010";
/// Recipient answered with `100` / `2018001`.
pub const NO_SUCH_USER: &str = "17841400000000100";
/// Recipient answered with `613`.
pub const RATE_LIMITED_USER: &str = "17841400000000613";

const ATTACHMENT_TYPES: &[&str] = &["image", "video", "audio", "file", "MEDIA_SHARE"];

pub fn router() -> Router<FakeState> {
    Router::new()
        .route("/{version}/{account_id}/messages", post(send))
        .route("/cdn/{id}", axum::routing::get(attachment))
}

/// The `message_id` the fake answers for the `n`-th request it received (1-based) from
/// `account_id`: shaped like Instagram's (base64 of an `ig_message_item` reference).
pub fn mid(account_id: &str, n: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "ig_message_item:1:IGMessageThread:{account_id}:{:039}",
        340_282_366_841_710_300_000_000_000_000_000_000_000u128 + n as u128
    ))
}

/// The documented Graph error body for `status`, for injected faults.
pub fn error(status: StatusCode, message: &str) -> Response {
    let code = match status.as_u16() {
        401 => 190,
        403 => 10,
        429 => 613,
        s if s >= 500 => 2,
        _ => 100,
    };
    graph_error(status, code, None, message)
}

fn graph_error(status: StatusCode, code: i64, subcode: Option<i64>, message: &str) -> Response {
    let mut error = json!({
        "message": message,
        "type": if code == 190 { "OAuthException" } else { "IGApiException" },
        "code": code,
        "fbtrace_id": crate::whatsapp_cloud::fbtrace_id(),
    });
    if let Some(sub) = subcode {
        error["error_subcode"] = json!(sub);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

fn invalid(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, 100, None, message)
}

async fn send(
    State(state): State<FakeState>,
    Path((version, account_id)): Path<(String, String)>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !version.starts_with('v') || version[1..].parse::<f32>().is_err() {
        return graph_error(
            StatusCode::BAD_REQUEST,
            2500,
            None,
            &format!("Unknown path components: /{version}/{account_id}/messages"),
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
                None,
                "Invalid OAuth access token - Cannot parse access token",
            );
        }
        Some(INVALID_TOKEN) => {
            return graph_error(
                StatusCode::UNAUTHORIZED,
                190,
                Some(463),
                "Error validating access token: Session has expired.",
            );
        }
        Some(_) => {}
    }
    if account_id != "me" && !account_id.chars().all(|c| c.is_ascii_digit()) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(33),
            &format!("Unsupported post request. Object with ID '{account_id}' does not exist"),
        );
    }
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let request: Value = match (is_json, serde_json::from_slice(&body)) {
        (true, Ok(v @ Value::Object(_))) => v,
        _ => {
            return invalid(
                "(#100) The request body must be JSON (Content-Type: application/json)",
            );
        }
    };
    let Some(recipient) = request["recipient"]["id"]
        .as_str()
        .filter(|r| !r.is_empty())
    else {
        return invalid("(#100) param recipient must be non-empty.");
    };
    // A sender action instead of a message: `mark_seen` (read receipts), `typing_on|off`,
    // answered with the recipient alone.
    if let Some(action) = request.get("sender_action") {
        if !matches!(
            action.as_str(),
            Some("mark_seen" | "typing_on" | "typing_off")
        ) {
            return invalid(
                "(#100) param sender_action must be one of {mark_seen, typing_on, typing_off}",
            );
        }
        if request.get("message").is_some() {
            return invalid("(#100) sender_action cannot be sent with message");
        }
        return (StatusCode::OK, Json(json!({ "recipient_id": recipient }))).into_response();
    }
    let message = &request["message"];
    if !message.is_object() {
        return invalid("(#100) param message must be non-empty.");
    }
    match (message.get("text"), message.get("attachment")) {
        (Some(text), None) => {
            let Some(text) = text.as_str().filter(|t| !t.trim().is_empty()) else {
                return invalid("(#100) param message[text] must be a non-empty UTF-8 string.");
            };
            if text.len() > 1000 {
                return invalid(
                    "(#100) Length of param message[text] must be less than or equal to 1000",
                );
            }
        }
        (None, Some(attachment)) => {
            let kind = attachment["type"].as_str().unwrap_or("");
            if !ATTACHMENT_TYPES.contains(&kind) {
                return invalid(&format!(
                    "(#100) param message[attachment][type] must be one of {{image, video, audio, file, MEDIA_SHARE}}, not `{kind}`"
                ));
            }
            let payload = &attachment["payload"];
            let url_ok = payload["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://"));
            let id_ok = payload["attachment_id"].is_string() || payload["id"].is_string();
            if !(url_ok || id_ok) {
                return invalid(
                    "(#100) param message[attachment][payload][url] must be a valid URL",
                );
            }
            if payload.get("caption").is_some() || attachment.get("caption").is_some() {
                return invalid("(#100) Unknown parameter: caption");
            }
        }
        (Some(_), Some(_)) => {
            return invalid(
                "(#100) Only one of message[text] or message[attachment] may be given.",
            );
        }
        (None, None) => {
            return invalid("(#100) Must send either message[text] or message[attachment].");
        }
    }
    match recipient {
        UNAVAILABLE_USER => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                551,
                Some(1545041),
                "This person isn't available right now.",
            );
        }
        OUTSIDE_WINDOW_USER => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                10,
                Some(2534022),
                "(#10) This message is sent outside of allowed window.",
            );
        }
        NO_SUCH_USER => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                Some(2018001),
                "(#100) No matching user found",
            );
        }
        RATE_LIMITED_USER => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                613,
                None,
                "(#613) Calls to this api have exceeded the rate limit.",
            );
        }
        _ => {}
    }
    let n = state.inbox.of("instagram").len();
    Json(json!({ "recipient_id": recipient, "message_id": mid(&account_id, n) })).into_response()
}

/// A `messaging_seen` webhook, as Meta sends it when the user `sender_igsid` reads the
/// message `mid` the account `account_id` sent them at `unix_ms` (milliseconds since the
/// epoch). Signed with `X-Hub-Signature-256` when `app_secret` is given.
///
/// Docs: <https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook>
pub fn read_webhook(
    app_secret: Option<&str>,
    account_id: &str,
    sender_igsid: &str,
    mid: &str,
    unix_ms: i64,
) -> FakeCallback {
    let body = json!({
        "object": "instagram",
        "entry": [{
            "id": account_id,
            // When Meta sent the notification: a moment after the read.
            "time": unix_ms + 785,
            "messaging": [{
                "sender": { "id": sender_igsid },
                "recipient": { "id": account_id },
                "timestamp": unix_ms,
                "read": { "mid": mid },
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

/// A `messages` webhook, as Meta sends it when the user `sender_igsid` writes `text` to the
/// account `account_id` at `unix_ms`: `messaging[{sender, recipient, timestamp,
/// message: {mid, text}}]`. Signed with `X-Hub-Signature-256` when `app_secret` is given.
///
/// Docs: <https://developers.facebook.com/docs/instagram-platform/webhooks/examples>
pub fn message_webhook(
    app_secret: Option<&str>,
    account_id: &str,
    sender_igsid: &str,
    mid: &str,
    text: &str,
    unix_ms: i64,
) -> FakeCallback {
    let body = json!({
        "object": "instagram",
        "entry": [{
            "id": account_id,
            "time": unix_ms + 412,
            "messaging": [{
                "sender": { "id": sender_igsid },
                "recipient": { "id": account_id },
                "timestamp": unix_ms,
                "message": { "mid": mid, "text": text },
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

/// An attachment's `payload.url` (Meta's CDN: the URL is the credential).
async fn attachment(
    axum::extract::State(state): axum::extract::State<crate::FakeState>,
    Path(id): Path<String>,
) -> Response {
    crate::media::serve(state.media.get(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_webhooks_name_the_mid_and_are_signed() {
        let mid = mid("17841400000000001", 1);
        let callback = read_webhook(
            Some("secret"),
            "17841400000000001",
            "1234",
            &mid,
            1_700_000_000_000,
        );
        let body: Value = serde_json::from_str(&callback.body).unwrap();
        assert_eq!(
            body["entry"][0]["messaging"][0]["read"]["mid"],
            mid.as_str()
        );
        assert_eq!(body["entry"][0]["id"], "17841400000000001");
        assert_eq!(
            callback.headers,
            vec![(
                "X-Hub-Signature-256".to_owned(),
                hub_signature("secret", callback.body.as_bytes())
            )]
        );
        assert!(read_webhook(None, "1", "2", "m", 0).headers.is_empty());
    }
}
