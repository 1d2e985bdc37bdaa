//! Fake receiver of outbound webhooks signed per the Standard Webhooks specification:
//! it verifies what a receiver using the reference libraries verifies.
//!
//! - `POST /receive`: needs `webhook-id`, `webhook-timestamp` (unix seconds, within five
//!   minutes of now) and `webhook-signature` (space-separated `v1,<base64>` entries, one of
//!   which must be HMAC-SHA256 of `{id}.{timestamp}.{body}` under [`TEST_SECRET`]). A
//!   missing header or bad signature → 401; a body that is not a JSON object with `type`,
//!   `timestamp` and `data` → 400; otherwise 204.
//! - `POST /status/{code}`: verifies the same way, then answers `code` (a 3xx carries a
//!   `Location` to `/webhook/receive`, to check that senders do not follow it).
//!
//! Spec: <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
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

use crate::FakeState;

/// The signing secret the fake receiver verifies with (24 random bytes, base64).
pub const TEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// How far `webhook-timestamp` may be from now, as in the reference libraries.
const TOLERANCE_SECS: i64 = 5 * 60;

pub fn router() -> Router<FakeState> {
    Router::new()
        .route("/receive", post(receive))
        .route("/status/{code}", post(status))
}

/// Receivers have no documented error shape: a small JSON object.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// `v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` under `secret` (`whsec_…`).
/// `None` when the secret is not base64.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    // jsonwebtoken's HS256 is HMAC-SHA256, base64url-encoded without padding.
    let mac =
        jsonwebtoken::crypto::sign(&signed, &EncodingKey::from_secret(&key), Algorithm::HS256)
            .ok()?;
    let raw = URL_SAFE_NO_PAD.decode(mac).ok()?;
    Some(format!("v1,{}", STANDARD.encode(raw)))
}

/// Checks the Standard Webhooks headers of a request against `secret` at time `now`.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("missing header {name}"))
    };
    let id = header("webhook-id")?;
    let timestamp: i64 = header("webhook-timestamp")?
        .parse()
        .map_err(|_| "webhook-timestamp is not an integer".to_owned())?;
    let signatures = header("webhook-signature")?;
    if now - timestamp > TOLERANCE_SECS {
        return Err("webhook-timestamp is too old".into());
    }
    if timestamp > now + TOLERANCE_SECS {
        return Err("webhook-timestamp is too far in the future".into());
    }
    let expected = sign(secret, id, timestamp, body).ok_or("the receiver's secret is invalid")?;
    let expected = expected.as_bytes();
    let matches = signatures.split(' ').any(|s| {
        s.starts_with("v1,")
            && s.len() == expected.len()
            && s.bytes()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if matches {
        Ok(())
    } else {
        Err("no matching signature".into())
    }
}

/// Signature, then payload shape: what a careful receiver checks before acting.
fn check(headers: &HeaderMap, body: &[u8]) -> Result<(), (StatusCode, String)> {
    let now = chrono::Utc::now().timestamp();
    verify(TEST_SECRET, headers, body, now).map_err(|e| (StatusCode::UNAUTHORIZED, e))?;
    let event: Value = serde_json::from_slice(body)
        .map_err(|_| (StatusCode::BAD_REQUEST, "the body is not JSON".to_owned()))?;
    let well_formed = event["type"].as_str().is_some_and(|t| !t.is_empty())
        && event["timestamp"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
        && event.get("data").is_some();
    if !well_formed {
        return Err((
            StatusCode::BAD_REQUEST,
            "the body must be an object with `type`, `timestamp` (RFC 3339) and `data`".to_owned(),
        ));
    }
    Ok(())
}

async fn receive(headers: HeaderMap, body: Bytes) -> Response {
    match check(&headers, &body) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err((status, message)) => error(status, &message),
    }
}

async fn status(
    State(state): State<FakeState>,
    Path(code): Path<u16>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err((status, message)) = check(&headers, &body) {
        return error(status, &message);
    }
    let Ok(status) = StatusCode::from_u16(code) else {
        return error(StatusCode::BAD_REQUEST, "not an HTTP status code");
    };
    if status.is_redirection() {
        let location = format!("{}/webhook/receive", state.base_url);
        return (status, [("location", location)]).into_response();
    }
    if status.is_success() {
        return status.into_response();
    }
    error(status, &format!("forced status {code}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_published_test_vector() {
        assert_eq!(
            sign(
                TEST_SECRET,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            )
            .unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn verifies_one_of_several_signatures_within_tolerance() {
        let body = br#"{"test": 2432232314}"#;
        let mut headers = HeaderMap::new();
        headers.insert(
            "webhook-id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap(),
        );
        headers.insert("webhook-timestamp", "1614265330".parse().unwrap());
        headers.insert(
            "webhook-signature",
            "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
                .parse()
                .unwrap(),
        );
        assert_eq!(verify(TEST_SECRET, &headers, body, 1614265330 + 60), Ok(()));
        assert!(verify(TEST_SECRET, &headers, body, 1614265330 + 301).is_err());
        assert!(verify(TEST_SECRET, &headers, b"{}", 1614265330).is_err());
        headers.remove("webhook-id");
        assert!(verify(TEST_SECRET, &headers, body, 1614265330).is_err());
    }
}
