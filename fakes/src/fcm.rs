//! Fake of Firebase Cloud Messaging HTTP v1, together with the Google OAuth 2.0 token
//! endpoint its service accounts use.
//!
//! Routes, below `/fcm`:
//! - `POST /token`: Google's token endpoint for the service-account flow
//!   (<https://developers.google.com/identity/protocols/oauth2/service-account>). Form
//!   `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`. The assertion
//!   must be RS256 and verify with [`TEST_SERVICE_ACCOUNT_PUBLIC_KEY_PEM`] (the public half
//!   of [`TEST_SERVICE_ACCOUNT_PRIVATE_KEY_PEM`]: the only service-account key this fake
//!   knows), with `iss` (the `client_email`), `scope`, `aud` = this endpoint's URL
//!   (`…/fcm/token`), `iat` and `exp` at most an hour after `iat`. Answers
//!   `{"access_token","expires_in":3599,"token_type":"Bearer"}`, or Google's OAuth error
//!   body `{"error":"invalid_grant","error_description":…}` (400).
//! - `POST /v1/projects/{project_id}/messages:send`
//!   (<https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send>):
//!   needs `Authorization: Bearer <access token this fake issued>` (else 401
//!   `UNAUTHENTICATED`), a scope covering `firebase.messaging` (else 403), a service
//!   account of that project when its `client_email` names one
//!   (`…@<project>.iam.gserviceaccount.com`, else 403 `PERMISSION_DENIED`), a JSON
//!   `{"message":{…}}` with exactly one of `token`/`topic`/`condition`, string
//!   `notification` fields and string `data` values (else 400 `INVALID_ARGUMENT`). Answers
//!   `{"name":"projects/<project>/messages/0:<micros>%<16 hex>"}`.
//!
//! Errors use Google's error body (<https://firebase.google.com/docs/cloud-messaging/error-codes>):
//! `{"error":{"code","message","status","details":[{"@type":
//! "type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":…}]}}`.
//!
//! Registration tokens that trigger FCM's documented permanent errors (FCM has no
//! documented magic test tokens, so these prefixes are the fake's own):
//! - starting with `unregistered:` ([`UNREGISTERED_TOKEN`]): 404 `UNREGISTERED`, the app
//!   instance is gone;
//! - starting with `sender-id-mismatch:` ([`SENDER_ID_MISMATCH_TOKEN`]): 403
//!   `SENDER_ID_MISMATCH`;
//! - starting with `third-party-auth-error:` ([`THIRD_PARTY_AUTH_ERROR_TOKEN`]): 401
//!   `THIRD_PARTY_AUTH_ERROR` (APNs or Web Push refused the project's credentials);
//! - shorter than 100 characters or with characters other than letters, digits, `_`, `-`,
//!   `:`: 400 `INVALID_ARGUMENT` ("The registration token is not a valid FCM registration
//!   token").
//!
//! A queued fault answers with [`error`]: its message may be an FCM error code
//! (`"THIRD_PARTY_AUTH_ERROR"`, …); otherwise the code follows the status (401 is
//! `UNAUTHENTICATED` without an FCM code, as for an expired access token). Faults hit
//! whichever `/fcm` request comes next, the token endpoint included.

use std::sync::OnceLock;

use axum::{
    Json, Router,
    body::Bytes,
    extract::Path,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::FakeState;

/// A throwaway RSA key generated once with `openssl genpkey` for these tests: it protects
/// nothing. Use it as the service account's `private_key` against this fake.
pub const TEST_SERVICE_ACCOUNT_PRIVATE_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDrCH5jx+LCNx78
nVv1AADcSbWgtMzKo359M3MVe77cPs7CFdBp4UB+PxRmElg5SpJoaDKhwfwlwOEQ
OirAMmkWthBRLflqVcHV9G4E7gkrZVuSz4LTkOWQAIVQ3EzSrKKrAX4w/Hvuhi5g
NunlZLTzGjXuaCucEKtiHY68Ve258W+NTM3zjpo8J4k76lV9G66aK4FilTDLzwr7
5AoFaomT1Q2TAX0SdVZFDGVkcWZz4LsRAE4sDiCk7N6LF9bUe36Is2K4I3sLwT8z
Kc0BngQHlSZR9OlJxfHd2GeLrT4lbvb4IDg2puRm0Fp+5RUoZQhy2X09mrNVNa7Z
aZDrr4ZXAgMBAAECggEAcZZ8Rsrem1A6aInAXGqw/8Wbwtw+MRzMz8NithpFBnpQ
QFp8i/8xxRHFUQNCogWZNl5NQgHXU4OhAc+qw5JZWYGJ50HZzXs+n6Fu3nEP+2oT
1KL3LjpTx8GIrKibdCG8x/qDuzb6yi8NELDZX2TJUsfzEpJDqTwhJ9zzE7BPoNHS
I9EFHVYrPBlP/V49KbJt+HIX2rNK7lZOv8qBq0BdWXXLzaHnSxVrjR7Ff1iNMIPM
LZEcwiyGqK/qjFReW3dxi83aLyeFSwAo1RpAiqFhUzm7UcQM5p1Sr0mplUS9zsk6
gOy+5vnscIpTJWdYGiTmCoM82sKSEeJlAGp8t5l++QKBgQD4PtS+4Cq2DWgGTBjU
PsQdfLll4+odVSlp25foadiZXppvTU0rB43IgnkQyIAhRDNWZa3dhbgohthsuDxM
K1zLEEEUYDd+zFhaHbMGzgZf5ccYOHHQjJObAZZb4iQ3GAxVlYpQogDKeDhHM1Ln
EhmBTjHfAd0gzOE/LVji5amMwwKBgQDyYAHFS4FfPOmWt6zB0N3akAQXwRTtvKX+
DxyaFrt8bywCyLF524jksz1/Fx7srFfl5hzLEUIWXnHq/ONDV1Vxwcr2zxPq9oBH
dosWsnDzO0O9x2XlnHwM1cXfq1O0wETaDxtE0M0II3KyJxceUnQqapVGlfJo4RbQ
wPJWLmLW3QKBgQCUA8KN3NMaoXu45X6YbqQ4gLl6ix54RuLef1Rf+1xudf3XB1xP
n71mJIVTAHmFXEjP5uh4ANcBMwWwLVmmgORfH13ubEAqlmTHtpWcJROf8j13r5AN
LQSFk7i3KGs3fls8XGGQGkgmcO/9ZBi2NhCHDLynn1Dd0cssBDnPb+hcSQKBgQDE
+YtW2QcZ7Dn2F+2ZUfKK5pG88Fje4HqSX5uiCqlx9jNxS8MYQncdTiHDQHoMY//H
QdzSl4L7BORV0hGsL7SsD4+wRxhr0srryQY+euRaeCaUfBFuql8SW0VFgkoz0jHi
eXZy1bJbU9uptyUNqnrn4djRFZl87LkLDFOmAGqpLQKBgQDNjo3TWmhMFTp3upE0
cWSNOeuEfpiE8QHbm9hWnc+qtRIXXahkMJYNeTKv9lctbbAMek/q2eczBeeSpRf8
gm7KlkyKC75k47vcMHuPdSsfiyNLJi7+Pjh+cVJ+z5lIeWb3ZB6CpN4THS/pGF9f
EaAKDmfvEDo7318PkauAfxRvCw==
-----END PRIVATE KEY-----
";

/// The public half of [`TEST_SERVICE_ACCOUNT_PRIVATE_KEY_PEM`]: what the fake token
/// endpoint verifies assertions with.
pub const TEST_SERVICE_ACCOUNT_PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA6wh+Y8fiwjce/J1b9QAA
3Em1oLTMyqN+fTNzFXu+3D7OwhXQaeFAfj8UZhJYOUqSaGgyocH8JcDhEDoqwDJp
FrYQUS35alXB1fRuBO4JK2Vbks+C05DlkACFUNxM0qyiqwF+MPx77oYuYDbp5WS0
8xo17mgrnBCrYh2OvFXtufFvjUzN846aPCeJO+pVfRuumiuBYpUwy88K++QKBWqJ
k9UNkwF9EnVWRQxlZHFmc+C7EQBOLA4gpOzeixfW1Ht+iLNiuCN7C8E/MynNAZ4E
B5UmUfTpScXx3dhni60+JW72+CA4NqbkZtBafuUVKGUIctl9PZqzVTWu2WmQ66+G
VwIDAQAB
-----END PUBLIC KEY-----
";

/// A Firebase project id to use against this fake.
pub const TEST_PROJECT_ID: &str = "pombo-test";
/// A service account of [`TEST_PROJECT_ID`].
pub const TEST_CLIENT_EMAIL: &str = "pombo-sender@pombo-test.iam.gserviceaccount.com";

/// A well-formed registration token the fake answers 404 `UNREGISTERED` for.
pub const UNREGISTERED_TOKEN: &str = "unregistered:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx2uMmm3t8V3sVpX1n9u6Shy7zPnAYrO2CkDq1ASNzXX5zOv0QZg1kHzsL0xUqVY6bUWdcW";
/// A well-formed registration token the fake answers 403 `SENDER_ID_MISMATCH` for.
pub const SENDER_ID_MISMATCH_TOKEN: &str = "sender-id-mismatch:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx2uMmm3t8V3sVpX1n9u6Shy7zPnAYrO2CkDq1ASNzXX5zOv0QZg1kHzsL0xUq";
/// A well-formed registration token the fake answers 401 `THIRD_PARTY_AUTH_ERROR` for.
pub const THIRD_PARTY_AUTH_ERROR_TOKEN: &str = "third-party-auth-error:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx2uMmm3t8V3sVpX1n9u6Shy7zPnAYrO2CkDq1ASNzXX5zOv0QZg1kHzsL0x";

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const FCM_ERROR_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";
const BAD_REQUEST_TYPE: &str = "type.googleapis.com/google.rpc.BadRequest";
const SCOPES_FOR_FCM: &[&str] = &[
    "https://www.googleapis.com/auth/firebase.messaging",
    "https://www.googleapis.com/auth/cloud-platform",
];
/// Issued access tokens live this long, as Google's do.
const ACCESS_TOKEN_SECS: i64 = 3599;

pub fn router() -> Router<FakeState> {
    Router::new()
        .route("/token", post(token))
        .route("/v1/projects/{project_id}/messages:send", post(send))
}

/// Google's error body for `status`. `message` may be an FCM error code, which then goes in
/// the `FcmError` detail.
pub fn error(status: StatusCode, message: &str) -> Response {
    let known = [
        "UNSPECIFIED_ERROR",
        "INVALID_ARGUMENT",
        "UNREGISTERED",
        "SENDER_ID_MISMATCH",
        "QUOTA_EXCEEDED",
        "UNAVAILABLE",
        "INTERNAL",
        "THIRD_PARTY_AUTH_ERROR",
    ];
    if known.contains(&message) {
        return google_error(status, &format!("{message} (injected)"), Some(message));
    }
    let code = match status.as_u16() {
        400 => Some("INVALID_ARGUMENT"),
        404 => Some("UNREGISTERED"),
        429 => Some("QUOTA_EXCEEDED"),
        500 => Some("INTERNAL"),
        503 => Some("UNAVAILABLE"),
        _ => None,
    };
    google_error(status, message, code)
}

/// `{"error":{"code","message","status","details"?}}` with an `FcmError` detail if `fcm_code`.
fn google_error(status: StatusCode, message: &str, fcm_code: Option<&str>) -> Response {
    let details: Vec<Value> = fcm_code
        .map(|c| json!({ "@type": FCM_ERROR_TYPE, "errorCode": c }))
        .into_iter()
        .collect();
    google_error_with(status, message, details)
}

fn google_error_with(status: StatusCode, message: &str, details: Vec<Value>) -> Response {
    let mut error = json!({
        "code": status.as_u16(),
        "message": message,
        "status": canonical_status(status),
    });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

/// The `google.rpc.Code` name Google's HTTP mapping gives `status`.
fn canonical_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        413 => "INVALID_ARGUMENT",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

fn invalid_argument(field: &str, description: &str) -> Response {
    google_error_with(
        StatusCode::BAD_REQUEST,
        description,
        vec![json!({
            "@type": BAD_REQUEST_TYPE,
            "fieldViolations": [{ "field": field, "description": description }],
        })],
    )
}

/// The OAuth 2.0 error body of Google's token endpoint.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The claims of a service account's assertion.
#[derive(Deserialize)]
struct Assertion {
    iss: String,
    #[serde(default)]
    scope: Option<String>,
    iat: i64,
    exp: i64,
}

/// What the fake's own access tokens carry (they are HS256 JWTs under a per-process key,
/// behind Google's `ya29.` prefix).
#[derive(Serialize, Deserialize)]
struct AccessClaims {
    sub: String,
    scope: String,
    iat: i64,
    exp: i64,
    /// Makes every token unique, even two issued in the same second.
    jti: String,
}

fn access_token_secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(rand::random)
}

async fn token(headers: HeaderMap, body: Bytes) -> Response {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Expected Content-Type application/x-www-form-urlencoded",
        );
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        Some(JWT_BEARER) => {}
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: grant_type",
            );
        }
    }
    let Some(assertion) = field("assertion") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let claims = match verify_assertion(assertion) {
        Ok(c) => c,
        Err(description) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description);
        }
    };
    let Some(scope) = claims.scope.filter(|s| !s.trim().is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    };
    let now = chrono::Utc::now().timestamp();
    let access = AccessClaims {
        sub: claims.iss,
        scope,
        iat: now,
        exp: now + ACCESS_TOKEN_SECS,
        jti: uuid::Uuid::new_v4().simple().to_string(),
    };
    let jwt = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &access,
        &EncodingKey::from_secret(access_token_secret()),
    )
    .expect("HS256 signs");
    Json(json!({
        "access_token": format!("ya29.{jwt}"),
        "expires_in": ACCESS_TOKEN_SECS,
        "token_type": "Bearer",
    }))
    .into_response()
}

/// Checks an assertion the way Google documents it: RS256 signed by the account's key,
/// `aud` the token endpoint, `exp` in the future and at most an hour after `iat`.
fn verify_assertion(assertion: &str) -> Result<Assertion, &'static str> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| "Invalid JWT: malformed")?;
    if header.alg != Algorithm::RS256 {
        return Err("Invalid JWT Signature.");
    }
    let key = DecodingKey::from_rsa_pem(TEST_SERVICE_ACCOUNT_PUBLIC_KEY_PEM.as_bytes())
        .expect("test public key parses");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    // `aud` must be the URL the assertion was posted to; the fake's own host may be named
    // differently by the client (127.0.0.1, localhost, a container name), so only the
    // endpoint's path is compared.
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(assertion, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => "Invalid JWT Signature.",
            ErrorKind::ExpiredSignature => {
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
                 timeframe. Check your iat and exp values in the JWT claim."
            }
            _ => "Invalid JWT: malformed claims",
        }
    })?;
    let aud_ok = data
        .claims
        .get("aud")
        .and_then(Value::as_str)
        .and_then(|a| url_path(a))
        .is_some_and(|p| p == "/fcm/token");
    if !aud_ok {
        return Err("Invalid JWT: Failed audience check.");
    }
    let claims: Assertion =
        serde_json::from_value(data.claims).map_err(|_| "Invalid JWT: malformed claims")?;
    let now = chrono::Utc::now().timestamp();
    if claims.exp - claims.iat > 3600 || claims.iat > now + 60 {
        return Err(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
             timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    Ok(claims)
}

/// The path of an absolute `http(s)` URL.
fn url_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    rest.find('/').map(|i| &rest[i..])
}

/// Checks a bearer access token: issued by this fake (this process), not expired.
fn verify_access_token(headers: &HeaderMap) -> Result<AccessClaims, Box<Response>> {
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Box::new(google_error(
            StatusCode::UNAUTHORIZED,
            "Request is missing required authentication credential. Expected OAuth 2 access \
             token, login cookie or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project.",
            None,
        )));
    };
    let invalid = || {
        Box::new(google_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project.",
            None,
        ))
    };
    let token = auth
        .strip_prefix("Bearer ")
        .and_then(|t| t.strip_prefix("ya29."))
        .ok_or_else(invalid)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp"]);
    jsonwebtoken::decode::<AccessClaims>(
        token,
        &DecodingKey::from_secret(access_token_secret()),
        &validation,
    )
    .map(|d| d.claims)
    .map_err(|_| invalid())
}

async fn send(Path(project_id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let claims = match verify_access_token(&headers) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let scopes_ok = claims
        .scope
        .split_whitespace()
        .any(|s| SCOPES_FOR_FCM.contains(&s));
    if !scopes_ok {
        return google_error(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
            None,
        );
    }
    let account_project = claims
        .sub
        .split_once('@')
        .and_then(|(_, domain)| domain.strip_suffix(".iam.gserviceaccount.com"));
    if account_project.is_some_and(|p| p != project_id) {
        return google_error(
            StatusCode::FORBIDDEN,
            &format!(
                "Permission 'cloudmessaging.messages.create' denied on resource \
                 '//cloudresourcemanager.googleapis.com/projects/{project_id}' (or it may not exist)."
            ),
            None,
        );
    }
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid JSON payload received. Expected Content-Type application/json.",
            None,
        );
    }
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid JSON payload received. Unexpected token.",
            None,
        );
    };
    if let Some(unknown) = request
        .keys()
        .find(|k| !["message", "validate_only", "validateOnly"].contains(&k.as_str()))
    {
        return invalid_argument(
            unknown,
            &format!(
                "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
            ),
        );
    }
    let Some(Value::Object(message)) = request.get("message") else {
        return invalid_argument("message", "Request contains an invalid argument.");
    };
    if let Err(response) = check_message(message) {
        return *response;
    }
    let Some(token) = message.get("token").and_then(Value::as_str) else {
        // Topic and condition messages are accepted as is.
        return Json(json!({ "name": message_name(&project_id) })).into_response();
    };
    let well_formed = (100..=4096).contains(&token.len())
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'));
    if !well_formed {
        return google_error(
            StatusCode::BAD_REQUEST,
            "The registration token is not a valid FCM registration token",
            Some("INVALID_ARGUMENT"),
        );
    }
    if token.starts_with("unregistered:") {
        return google_error(
            StatusCode::NOT_FOUND,
            "Requested entity was not found.",
            Some("UNREGISTERED"),
        );
    }
    if token.starts_with("sender-id-mismatch:") {
        return google_error(
            StatusCode::FORBIDDEN,
            "SenderId mismatch",
            Some("SENDER_ID_MISMATCH"),
        );
    }
    if token.starts_with("third-party-auth-error:") {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "Auth error from APNS or Web Push Service",
            Some("THIRD_PARTY_AUTH_ERROR"),
        );
    }
    Json(json!({ "name": message_name(&project_id) })).into_response()
}

/// The fields of a `Message` this fake checks.
fn check_message(message: &serde_json::Map<String, Value>) -> Result<(), Box<Response>> {
    let targets = ["token", "topic", "condition"]
        .iter()
        .filter(|k| message.get(**k).is_some_and(|v| !v.is_null()))
        .count();
    if targets != 1 {
        return Err(Box::new(invalid_argument(
            "message",
            "Exactly one of message.token, message.topic or message.condition must be set.",
        )));
    }
    for key in ["token", "topic", "condition"] {
        if let Some(v) = message.get(key)
            && !v.is_string()
        {
            return Err(Box::new(invalid_argument(
                &format!("message.{key}"),
                &format!("Invalid value at 'message.{key}' (TYPE_STRING)"),
            )));
        }
    }
    if let Some(notification) = message.get("notification") {
        let Some(fields) = notification.as_object() else {
            return Err(Box::new(invalid_argument(
                "message.notification",
                "Invalid value at 'message.notification' (type.googleapis.com/google.firebase.fcm.v1.Notification)",
            )));
        };
        for (key, value) in fields {
            if !["title", "body", "image"].contains(&key.as_str()) {
                return Err(Box::new(invalid_argument(
                    &format!("message.notification.{key}"),
                    &format!(
                        "Invalid JSON payload received. Unknown name \"{key}\" at 'message.notification': Cannot find field."
                    ),
                )));
            }
            if !value.is_string() {
                return Err(Box::new(invalid_argument(
                    &format!("message.notification.{key}"),
                    &format!("Invalid value at 'message.notification.{key}' (TYPE_STRING)"),
                )));
            }
        }
    }
    if let Some(data) = message.get("data") {
        let Some(entries) = data.as_object() else {
            return Err(Box::new(invalid_argument(
                "message.data",
                "Invalid value at 'message.data' (Map)",
            )));
        };
        for (i, (key, value)) in entries.iter().enumerate() {
            if !value.is_string() {
                return Err(Box::new(invalid_argument(
                    &format!("message.data[{i}].value"),
                    &format!("Invalid value at 'message.data[{i}].value' (TYPE_STRING), {value}"),
                )));
            }
            let reserved =
                key == "from" || key == "gcm" || key.starts_with("google") || key == "message_type";
            if reserved {
                return Err(Box::new(google_error(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid data payload key: {key}"),
                    Some("INVALID_ARGUMENT"),
                )));
            }
        }
    }
    Ok(())
}

/// `projects/<project>/messages/0:<micros>%<16 hex>`, the shape FCM's names have.
fn message_name(project_id: &str) -> String {
    let micros = chrono::Utc::now().timestamp_micros();
    let suffix: [u8; 8] = rand::random();
    format!(
        "projects/{project_id}/messages/0:{micros}%{}",
        hex::encode(suffix)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_tokens_are_well_formed() {
        for t in [
            UNREGISTERED_TOKEN,
            SENDER_ID_MISMATCH_TOKEN,
            THIRD_PARTY_AUTH_ERROR_TOKEN,
        ] {
            assert!(t.len() >= 100, "{t}");
            assert!(
                t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
            );
        }
    }

    #[test]
    fn the_test_key_pair_matches() {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": TEST_CLIENT_EMAIL,
            "scope": SCOPES_FOR_FCM[0],
            "aud": "http://127.0.0.1:1/fcm/token",
            "iat": now,
            "exp": now + 3600,
        });
        let jwt = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &EncodingKey::from_rsa_pem(TEST_SERVICE_ACCOUNT_PRIVATE_KEY_PEM.as_bytes()).unwrap(),
        )
        .unwrap();
        let verified = verify_assertion(&jwt).map_err(str::to_owned).unwrap();
        assert_eq!(verified.iss, TEST_CLIENT_EMAIL);
    }
}
