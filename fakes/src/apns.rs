//! Fake of the Apple Push Notification service provider API (HTTP/2, token-based auth).
//!
//! `POST /3/device/{device token}` below `/apns`, over HTTP/2 only: clients reach it with
//! HTTP/2 prior knowledge (h2c), since the fake has no TLS; an HTTP/1.x request gets 505.
//! As Apple documents (<https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns>,
//! <https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns>,
//! <https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns>)
//! the fake checks, in this order:
//! - `authorization: bearer <JWT>`: missing → 403 `MissingProviderToken`; not ES256, a `kid`
//!   other than [`TEST_KEY_ID`], an `iss` other than [`TEST_TEAM_ID`], or a signature that
//!   does not verify with [`TEST_P8_PUBLIC_KEY_PEM`] → 403 `InvalidProviderToken`; an `iat`
//!   more than an hour old → 403 `ExpiredProviderToken`;
//! - `apns-topic` present (→ 400 `MissingTopic`), `apns-push-type` one of Apple's values
//!   (→ 400 `InvalidPushType`), `apns-priority` 1, 5 or 10 (→ 400 `BadPriority`), `apns-id`
//!   a canonical UUID (→ 400 `BadMessageId`);
//! - the device token hexadecimal, of even length and at least 64 digits (→ 400
//!   `BadDeviceToken`);
//! - a payload: non-empty (→ 400 `PayloadEmpty`), at most 4 KB (→ 413 `PayloadTooLarge`), a
//!   JSON object with an `aps` dictionary (→ 400 `BadPayload`: Apple documents no reason
//!   for this case, the string is the fake's own).
//!
//! Success is 200 with an empty body and an `apns-id` header: the request's, or a new UUID.
//! Errors are `{"reason":"…"}` (410 adds `"timestamp"`, milliseconds since the epoch).
//!
//! Device tokens that trigger Apple's permanent errors (Apple has no magic test tokens, so
//! these prefixes are the fake's own):
//! - starting with `baddbadd` ([`BAD_DEVICE_TOKEN`]): 400 `BadDeviceToken`;
//! - starting with `deaddead` ([`UNREGISTERED_DEVICE_TOKEN`]): 410 `Unregistered`;
//! - starting with `0f0f0f0f` ([`NOT_FOR_TOPIC_DEVICE_TOKEN`]): 400 `DeviceTokenNotForTopic`.
//!
//! A queued fault answers with [`error`]: its message may be one of Apple's reason strings
//! (`"ExpiredProviderToken"`, `"TooManyProviderTokenUpdates"`, …); otherwise the reason
//! follows the status (429 `TooManyRequests`, 503 `ServiceUnavailable`, …).

use axum::{
    Json, Router,
    body::Bytes,
    extract::Path,
    http::{HeaderMap, StatusCode, Uri, Version},
    response::{IntoResponse, Response},
    routing::post,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::FakeState;

/// A throwaway EC P-256 key (PKCS#8, like Apple's `.p8` files) generated once with
/// `openssl genpkey` for these tests: it protects nothing. Use it as the `.p8` key, with
/// [`TEST_KEY_ID`] and [`TEST_TEAM_ID`], against this fake.
pub const TEST_P8_PRIVATE_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9WLmSarM0WmZ3ZXO
3VL0BPM1+URL1zsbgRpFtOLsxkuhRANCAAS3oR8A9IE8yyLVlbtKYpcLuTwGBMX5
Q6n5V6aiOR6i1bf0MlOVB6TF/pRdPzRNStydUa8FaUmf5W3qYwizHEzl
-----END PRIVATE KEY-----
";

/// The public half of [`TEST_P8_PRIVATE_KEY_PEM`]: what the fake verifies provider tokens
/// with.
pub const TEST_P8_PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEt6EfAPSBPMsi1ZW7SmKXC7k8BgTF
+UOp+VemojkeotW39DJTlQekxf6UXT80TUrcnVGvBWlJn+Vt6mMIsxxM5Q==
-----END PUBLIC KEY-----
";

/// The id of [`TEST_P8_PRIVATE_KEY_PEM`] (the provider token's `kid`), as Apple's examples
/// spell key ids.
pub const TEST_KEY_ID: &str = "ABC123DEFG";
/// The team the test key belongs to (the provider token's `iss`).
pub const TEST_TEAM_ID: &str = "DEF123GHIJ";

/// A well-formed device token the fake answers 400 `BadDeviceToken` for.
pub const BAD_DEVICE_TOKEN: &str =
    "baddbadd00000000000000000000000000000000000000000000000000000000";
/// A well-formed device token the fake answers 410 `Unregistered` for.
pub const UNREGISTERED_DEVICE_TOKEN: &str =
    "deaddead00000000000000000000000000000000000000000000000000000000";
/// A well-formed device token the fake answers 400 `DeviceTokenNotForTopic` for.
pub const NOT_FOR_TOPIC_DEVICE_TOKEN: &str =
    "0f0f0f0f00000000000000000000000000000000000000000000000000000000";

/// Apple's maximum payload for regular remote notifications.
const MAX_PAYLOAD: usize = 4096;

/// Apple's documented reason strings, with their status.
const REASONS: &[(u16, &str)] = &[
    (400, "BadCollapseId"),
    (400, "BadDeviceToken"),
    (400, "BadExpirationDate"),
    (400, "BadMessageId"),
    (400, "BadPriority"),
    (400, "BadTopic"),
    (400, "DeviceTokenNotForTopic"),
    (400, "DuplicateHeaders"),
    (400, "IdleTimeout"),
    (400, "InvalidPushType"),
    (400, "MissingDeviceToken"),
    (400, "MissingTopic"),
    (400, "PayloadEmpty"),
    (400, "TopicDisallowed"),
    (403, "BadCertificate"),
    (403, "BadCertificateEnvironment"),
    (403, "ExpiredProviderToken"),
    (403, "Forbidden"),
    (403, "InvalidProviderToken"),
    (403, "MissingProviderToken"),
    (403, "UnrelatedKeyIdInToken"),
    (403, "BadEnvironmentKeyInToken"),
    (404, "BadPath"),
    (405, "MethodNotAllowed"),
    (410, "ExpiredToken"),
    (410, "Unregistered"),
    (413, "PayloadTooLarge"),
    (429, "TooManyProviderTokenUpdates"),
    (429, "TooManyRequests"),
    (500, "InternalServerError"),
    (503, "ServiceUnavailable"),
    (503, "Shutdown"),
];

pub fn router() -> Router<FakeState> {
    Router::new()
        .route(
            "/3/device/{token}",
            post(push)
                .fallback(|| async { reason(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed") }),
        )
        .fallback(not_found)
}

/// Apple's error body for `status`: `message` if it is one of Apple's reason strings, else
/// the reason that status usually carries.
pub fn error(status: StatusCode, message: &str) -> Response {
    if REASONS.iter().any(|(_, r)| *r == message) {
        return reason(status, message);
    }
    let default = match status.as_u16() {
        400 => "BadDeviceToken",
        403 => "Forbidden",
        404 => "BadPath",
        405 => "MethodNotAllowed",
        410 => "Unregistered",
        413 => "PayloadTooLarge",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalServerError",
    };
    reason(status, default)
}

fn reason(status: StatusCode, reason: &str) -> Response {
    let body = if status == StatusCode::GONE {
        json!({ "reason": reason, "timestamp": chrono::Utc::now().timestamp_millis() })
    } else {
        json!({ "reason": reason })
    };
    (status, Json(body)).into_response()
}

async fn not_found(uri: Uri) -> Response {
    if matches!(uri.path(), "/3/device" | "/3/device/") {
        return reason(StatusCode::BAD_REQUEST, "MissingDeviceToken");
    }
    reason(StatusCode::NOT_FOUND, "BadPath")
}

#[derive(Deserialize)]
struct ProviderClaims {
    iss: String,
    iat: i64,
}

/// Checks the provider token: ES256, signed by the test key, `kid` and `iss` matching, issued
/// within the hour.
fn check_provider_token(headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(Box::new(reason(
            StatusCode::FORBIDDEN,
            "MissingProviderToken",
        )));
    };
    let invalid = || Box::new(reason(StatusCode::FORBIDDEN, "InvalidProviderToken"));
    let jwt = match auth.split_once(' ') {
        Some((scheme, jwt)) if scheme.eq_ignore_ascii_case("bearer") => jwt.trim(),
        _ => return Err(invalid()),
    };
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| invalid())?;
    if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(TEST_KEY_ID) {
        return Err(invalid());
    }
    let key = DecodingKey::from_ec_pem(TEST_P8_PUBLIC_KEY_PEM.as_bytes()).expect("test key");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.set_required_spec_claims::<&str>(&[]);
    let claims = jsonwebtoken::decode::<ProviderClaims>(jwt, &key, &validation)
        .map_err(|_| invalid())?
        .claims;
    if claims.iss != TEST_TEAM_ID {
        return Err(invalid());
    }
    let now = chrono::Utc::now().timestamp();
    if claims.iat > now + 60 {
        return Err(invalid());
    }
    if now - claims.iat > 3600 {
        return Err(Box::new(reason(
            StatusCode::FORBIDDEN,
            "ExpiredProviderToken",
        )));
    }
    Ok(())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn push(
    version: Version,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if version != Version::HTTP_2 {
        return (
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "APNs speaks HTTP/2 only (use HTTP/2 prior knowledge against this fake)",
        )
            .into_response();
    }
    if let Err(response) = check_provider_token(&headers) {
        return *response;
    }
    if header(&headers, "apns-topic").is_none_or(|t| t.trim().is_empty()) {
        return reason(StatusCode::BAD_REQUEST, "MissingTopic");
    }
    const PUSH_TYPES: &[&str] = &[
        "alert",
        "background",
        "location",
        "voip",
        "complication",
        "fileprovider",
        "mdm",
        "liveactivity",
        "pushtotalk",
        "widgets",
    ];
    if let Some(kind) = header(&headers, "apns-push-type")
        && !PUSH_TYPES.contains(&kind)
    {
        return reason(StatusCode::BAD_REQUEST, "InvalidPushType");
    }
    if let Some(priority) = header(&headers, "apns-priority")
        && !matches!(priority, "1" | "5" | "10")
    {
        return reason(StatusCode::BAD_REQUEST, "BadPriority");
    }
    let apns_id = match header(&headers, "apns-id") {
        Some(id) => match uuid::Uuid::try_parse(id) {
            // Apple wants the canonical 8-4-4-4-12 form.
            Ok(_) if id.len() == 36 => id.to_owned(),
            _ => return reason(StatusCode::BAD_REQUEST, "BadMessageId"),
        },
        None => uuid::Uuid::new_v4().hyphenated().to_string(),
    };
    let token_ok = token.len() >= 64
        && token.len().is_multiple_of(2)
        && token.chars().all(|c| c.is_ascii_hexdigit());
    if !token_ok {
        return reason(StatusCode::BAD_REQUEST, "BadDeviceToken");
    }
    let token = token.to_ascii_lowercase();
    if token.starts_with("baddbadd") {
        return reason(StatusCode::BAD_REQUEST, "BadDeviceToken");
    }
    if token.starts_with("deaddead") {
        return reason(StatusCode::GONE, "Unregistered");
    }
    if token.starts_with("0f0f0f0f") {
        return reason(StatusCode::BAD_REQUEST, "DeviceTokenNotForTopic");
    }
    if body.is_empty() {
        return reason(StatusCode::BAD_REQUEST, "PayloadEmpty");
    }
    if body.len() > MAX_PAYLOAD {
        return reason(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge");
    }
    let payload_ok = serde_json::from_slice::<Value>(&body)
        .ok()
        .is_some_and(|v| v.get("aps").is_some_and(Value::is_object));
    if !payload_ok {
        return reason(StatusCode::BAD_REQUEST, "BadPayload");
    }
    (StatusCode::OK, [("apns-id", apns_id)]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_tokens_are_well_formed() {
        for t in [
            BAD_DEVICE_TOKEN,
            UNREGISTERED_DEVICE_TOKEN,
            NOT_FOR_TOPIC_DEVICE_TOKEN,
        ] {
            assert_eq!(t.len(), 64);
            assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn the_test_key_pair_matches() {
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some(TEST_KEY_ID.into());
        let jwt = jsonwebtoken::encode(
            &header,
            &json!({ "iss": TEST_TEAM_ID, "iat": chrono::Utc::now().timestamp() }),
            &jsonwebtoken::EncodingKey::from_ec_pem(TEST_P8_PRIVATE_KEY_PEM.as_bytes()).unwrap(),
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("authorization", format!("bearer {jwt}").parse().unwrap());
        assert!(check_provider_token(&headers).is_ok());
    }
}
