//! Push through Firebase Cloud Messaging HTTP v1.
//!
//! Two steps, as Google documents them:
//! 1. The service account's key signs a JWT (RS256; `iss` = `client_email`, `scope` =
//!    `firebase.messaging`, `aud` = `token_uri`, `iat`, `exp` = `iat` + 1 h), exchanged at
//!    `token_uri` (form `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…`)
//!    for an access token, cached until shortly before it expires.
//!    <https://developers.google.com/identity/protocols/oauth2/service-account#httprest>
//! 2. `POST {base_url}/v1/projects/{project_id}/messages:send` with `Authorization: Bearer`
//!    and `{"message":{"token","notification":{"title","body","image"},"data"}}`; FCM
//!    answers `{"name":"projects/<project>/messages/<id>"}`, which is the provider message id.
//!    <https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send>
//!    <https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages>
//!
//! Errors come as `{"error":{"code","message","status","details":[{"@type":
//! "type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode"}]}}`
//! (<https://firebase.google.com/docs/cloud-messaging/error-codes>,
//! <https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode>). `UNREGISTERED`,
//! `INVALID_ARGUMENT`, `SENDER_ID_MISMATCH` and `THIRD_PARTY_AUTH_ERROR` are final;
//! `QUOTA_EXCEEDED`, `UNAVAILABLE` and `INTERNAL` are worth retrying (honouring
//! `Retry-After`). A plain 401 (`UNAUTHENTICATED`, no FCM code) means the access token was
//! refused: it is dropped and the send retried once with a fresh one.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use crate::FcmSettings;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pombo_contract::content::PushContent;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::{
    Accepted, DeliveryError, SetupError,
    http::{self, transport_error},
};

pub const PROVIDER: &str = "fcm";

/// The OAuth 2.0 scope FCM's send endpoint requires.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google accepts assertions valid for at most an hour.
const ASSERTION_SECS: i64 = 3600;
const FCM_ERROR_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";

pub struct Fcm {
    http: reqwest::Client,
    send_url: String,
    token_uri: String,
    client_email: String,
    key: EncodingKey,
    /// The current access token; the lock is held while fetching a new one, so concurrent
    /// sends wait for that one exchange instead of each making their own.
    token: Mutex<Option<AccessToken>>,
}

#[derive(Clone)]
struct AccessToken {
    value: String,
    refresh_at: Instant,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl http::DocumentedError for OAuthError {
    fn code(&self) -> Option<String> {
        Some(self.error.clone())
    }
    fn reason(&self) -> Option<String> {
        Some(match &self.error_description {
            Some(d) => format!("{}: {d}", self.error),
            None => self.error.clone(),
        })
    }
}

#[derive(Deserialize)]
struct SendResponse {
    name: String,
}

#[derive(Deserialize)]
struct GoogleErrorBody {
    error: GoogleError,
}

#[derive(Deserialize)]
struct GoogleError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
}

/// How one messages:send attempt ended.
enum Attempt {
    Sent(String),
    /// 401 without an FCM error code: the access token was refused.
    TokenRefused(DeliveryError),
}

impl Fcm {
    pub fn new(settings: &FcmSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        let project_id = settings.project_id.trim();
        let project_ok = !project_id.is_empty()
            && project_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'));
        if !project_ok {
            return Err(SetupError::at(
                "project_id",
                "fcm: project_id must be the Firebase project's id (letters, digits, `-`)",
            ));
        }
        if settings.client_email.trim().is_empty() {
            return Err(SetupError::at(
                "client_email",
                "fcm: client_email (the service account's) is required",
            ));
        }
        let base_url = http_url("base_url", &settings.base_url)?;
        let token_uri = http_url("token_uri", &settings.token_uri)?;
        let key = rsa_key(settings.private_key.expose())?;
        Ok(Fcm {
            http,
            send_url: format!("{base_url}/v1/projects/{project_id}/messages:send"),
            token_uri,
            client_email: settings.client_email.trim().to_owned(),
            key,
            token: Mutex::new(None),
        })
    }

    pub async fn send(
        &self,
        _notification_id: Uuid,
        to: &str,
        content: &PushContent,
    ) -> Result<Accepted, DeliveryError> {
        let body = message(to, content);
        let token = self.access_token().await?;
        let name = match self.post(&token, &body).await? {
            Attempt::Sent(name) => name,
            Attempt::TokenRefused(_) => {
                // Revoked, or expired earlier than announced: one more try with a new token.
                self.forget(&token).await;
                let token = self.access_token().await?;
                match self.post(&token, &body).await? {
                    Attempt::Sent(name) => name,
                    Attempt::TokenRefused(e) => return Err(e),
                }
            }
        };
        Ok(Accepted {
            provider_message_id: Some(name),
        })
    }

    async fn post(&self, access_token: &str, body: &Value) -> Result<Attempt, DeliveryError> {
        let response = self
            .http
            .post(&self.send_url)
            .bearer_auth(access_token)
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text =
            String::from_utf8_lossy(&crate::http::body(PROVIDER, response).await?).into_owned();
        if status.is_success() {
            return match serde_json::from_str::<SendResponse>(&text) {
                Ok(r) => Ok(Attempt::Sent(r.name)),
                Err(_) => Err(DeliveryError::permanent(format!(
                    "fcm answered {status} without a message name; it may or may not have \
                     been sent"
                ))),
            };
        }
        let error = send_error(status, &headers, text.as_bytes());
        if status == StatusCode::UNAUTHORIZED && error.code() != Some("THIRD_PARTY_AUTH_ERROR") {
            return Ok(Attempt::TokenRefused(error));
        }
        Err(error)
    }

    /// The cached access token, or a new one when it is missing or about to expire.
    async fn access_token(&self) -> Result<String, DeliveryError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Drops `refused` from the cache, unless another send already replaced it.
    async fn forget(&self, refused: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == refused) {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<AccessToken, DeliveryError> {
        const WHO: &str = "fcm token endpoint";
        let iat = chrono::Utc::now().timestamp();
        let claims = AssertionClaims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat,
            exp: iat + ASSERTION_SECS,
        };
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| {
                DeliveryError::permanent(format!("fcm: cannot sign the token request: {e}"))
            })?;
        let started = Instant::now();
        let response = self
            .http
            .post(&self.token_uri)
            .form(&[("grant_type", JWT_BEARER), ("assertion", &assertion)])
            .send()
            .await
            .map_err(|e| transport_error(WHO, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = String::from_utf8_lossy(&crate::http::body(WHO, response).await?).into_owned();
        if !status.is_success() {
            return Err(http::failed_answer(WHO, status, text.as_bytes(), |b| {
                serde_json::from_slice::<OAuthError>(b).ok()
            })
            .classify(&headers));
        }
        let token: TokenResponse = serde_json::from_str(&text).map_err(|_| {
            DeliveryError::retryable(format!("{WHO} answered {status} without an access_token"))
        })?;
        if let Some(kind) = &token.token_type
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(DeliveryError::permanent(format!(
                "{WHO} issued a `{kind}` token, not a bearer token"
            )));
        }
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        Ok(AccessToken {
            value: token.access_token,
            refresh_at: started + lifetime - refresh_margin(lifetime),
        })
    }
}

/// How long before its announced expiry a token is replaced: five minutes, or half its
/// life when that is shorter.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 2).min(Duration::from_secs(300))
}

/// The HTTP v1 `{"message": …}` for one device.
fn message(to: &str, content: &PushContent) -> Value {
    let mut notification = json!({ "title": content.title, "body": content.body });
    if let Some(image) = &content.image_url {
        notification["image"] = json!(image);
    }
    let mut message = json!({ "token": to, "notification": notification });
    if !content.data.is_empty() {
        message["data"] = json!(content.data);
    }
    json!({ "message": message })
}

/// Google's error body as FCM documents it, with the FCM `errorCode` of its details.
struct SendError {
    fcm_code: Option<String>,
    status: Option<String>,
    message: String,
}

impl SendError {
    fn parse(body: &[u8]) -> Option<SendError> {
        let GoogleErrorBody { error } = serde_json::from_slice::<GoogleErrorBody>(body).ok()?;
        let fcm_code = error
            .details
            .iter()
            .find(|d| d.get("@type").and_then(Value::as_str) == Some(FCM_ERROR_TYPE))
            .and_then(|d| d.get("errorCode"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some(SendError {
            fcm_code,
            status: error.status,
            message: error.message,
        })
    }
}

impl http::DocumentedError for SendError {
    /// The FCM `errorCode`, else Google's `status`.
    fn code(&self) -> Option<String> {
        self.fcm_code.clone().or(self.status.clone())
    }
    fn reason(&self) -> Option<String> {
        Some(match self.code() {
            Some(c) => format!("{c}: {}", self.message),
            None => self.message.clone(),
        })
    }
}

/// Classifies a messages:send error answer by its FCM error code, falling back on the
/// HTTP status. The code is the FCM `errorCode`, else Google's `status`.
fn send_error(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> DeliveryError {
    let answer = http::failed_answer(PROVIDER, status, body, SendError::parse);
    let fcm_code = answer.parsed.as_ref().and_then(|e| e.fcm_code.clone());
    match fcm_code.as_deref() {
        Some(
            "UNREGISTERED" | "INVALID_ARGUMENT" | "SENDER_ID_MISMATCH" | "THIRD_PARTY_AUTH_ERROR",
        ) => answer.permanent(),
        Some("QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL") => answer.retryable(headers),
        _ => answer.classify(headers),
    }
}

fn http_url(field: &'static str, value: &str) -> Result<String, SetupError> {
    let value = value.trim().trim_end_matches('/');
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(value.to_owned())
        }
        _ => Err(SetupError::at(
            field,
            format!("fcm: {field} must be an http(s) URL"),
        )),
    }
}

/// Parses the service account's PEM key (PKCS#8 as Google issues it, or PKCS#1), also when
/// pasted with literal `\n` as in the JSON key file, and checks it can sign.
fn rsa_key(pem: &str) -> Result<EncodingKey, SetupError> {
    let pem = pem.trim().replace("\\n", "\n");
    let invalid = || {
        SetupError::at(
            "private_key",
            "fcm: private_key is not an RSA private key in PEM form",
        )
    };
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| invalid())?;
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &BTreeMap::<&str, &str>::new(),
        &key,
    )
    .map_err(|_| invalid())?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    fn content() -> PushContent {
        PushContent {
            title: "Hi".into(),
            body: "There".into(),
            data: BTreeMap::new(),
            image_url: None,
        }
    }

    #[test]
    fn message_omits_what_is_not_set() {
        assert_eq!(
            message("tok", &content()),
            json!({"message": {"token": "tok", "notification": {"title": "Hi", "body": "There"}}})
        );
        let mut c = content();
        c.image_url = Some("https://img.example/a.png".into());
        c.data.insert("k".into(), "v".into());
        assert_eq!(
            message("tok", &c),
            json!({"message": {
                "token": "tok",
                "notification": {"title": "Hi", "body": "There", "image": "https://img.example/a.png"},
                "data": {"k": "v"},
            }})
        );
    }

    fn google(code: u16, status: &str, fcm: Option<&str>) -> String {
        let mut e = json!({"error": {"code": code, "message": "m", "status": status}});
        if let Some(f) = fcm {
            e["error"]["details"] = json!([
                {"@type": "type.googleapis.com/google.rpc.BadRequest"},
                {"@type": FCM_ERROR_TYPE, "errorCode": f},
            ]);
        }
        e.to_string()
    }

    #[test]
    fn errors_are_classified_by_fcm_code() {
        let h = HeaderMap::new();
        let cases = [
            (404, "NOT_FOUND", Some("UNREGISTERED"), true, "UNREGISTERED"),
            (
                400,
                "INVALID_ARGUMENT",
                Some("INVALID_ARGUMENT"),
                true,
                "INVALID_ARGUMENT",
            ),
            (
                403,
                "PERMISSION_DENIED",
                Some("SENDER_ID_MISMATCH"),
                true,
                "SENDER_ID_MISMATCH",
            ),
            (
                401,
                "UNAUTHENTICATED",
                Some("THIRD_PARTY_AUTH_ERROR"),
                true,
                "THIRD_PARTY_AUTH_ERROR",
            ),
            (
                429,
                "RESOURCE_EXHAUSTED",
                Some("QUOTA_EXCEEDED"),
                false,
                "QUOTA_EXCEEDED",
            ),
            (
                503,
                "UNAVAILABLE",
                Some("UNAVAILABLE"),
                false,
                "UNAVAILABLE",
            ),
            (500, "INTERNAL", Some("INTERNAL"), false, "INTERNAL"),
            (403, "PERMISSION_DENIED", None, true, "PERMISSION_DENIED"),
            (401, "UNAUTHENTICATED", None, true, "UNAUTHENTICATED"),
        ];
        for (code, status, fcm, permanent, expected) in cases {
            let s = StatusCode::from_u16(code).unwrap();
            let e = send_error(s, &h, google(code, status, fcm).as_bytes());
            assert_eq!(e.is_permanent(), permanent, "{code} {fcm:?}");
            assert_eq!(e.code(), Some(expected));
        }
        let e = send_error(StatusCode::BAD_GATEWAY, &h, b"<html>bad gateway</html>");
        assert!(!e.is_permanent());
        assert_eq!(e.code(), None);
        assert_eq!(e.message(), "HTTP 502 Bad Gateway from fcm");
    }

    #[test]
    fn tokens_are_replaced_before_they_expire() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3599)),
            Duration::from_secs(300)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(120)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn keys_that_do_not_parse_are_refused() {
        assert!(rsa_key("not a key").is_err());
        let ec = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9WLmSarM0WmZ3ZXO\n3VL0BPM1+URL1zsbgRpFtOLsxkuhRANCAAS3oR8A9IE8yyLVlbtKYpcLuTwGBMX5\nQ6n5V6aiOR6i1bf0MlOVB6TF/pRdPzRNStydUa8FaUmf5W3qYwizHEzl\n-----END PRIVATE KEY-----\n";
        assert!(
            rsa_key(ec).is_err(),
            "an EC key is not a service-account key"
        );
    }
}
