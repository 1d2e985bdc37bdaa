//! Push through Apple Push Notification service (HTTP/2, token-based auth).
//!
//! Apple's documentation:
//! - <https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns>
//!   `POST {base_url}/3/device/{device token}` over HTTP/2, headers `authorization: bearer
//!   <provider token>`, `apns-topic` (the bundle id), `apns-push-type`, `apns-priority`,
//!   `apns-id` (a UUID APNs echoes back: the provider message id).
//! - <https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns>
//!   the provider token: a JWT signed ES256 with the `.p8` key, header `{alg, kid: key id}`,
//!   claims `{iss: team id, iat}`; refresh it no more than once every 20 minutes
//!   (`TooManyProviderTokenUpdates`) and no less than once an hour
//!   (`ExpiredProviderToken`).
//! - <https://developer.apple.com/documentation/usernotifications/generating-a-remote-notification>
//!   the payload: `{"aps":{"alert":{"title","body"},"mutable-content":1}, custom keys…}`.
//! - <https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns>
//!   success is 200 with an `apns-id` header; errors are `{"reason":"…"}` with 400, 403,
//!   404, 405, 410, 413, 429, 500 or 503.
//!
//! An image cannot travel in an alert by itself: the app's notification service extension
//! downloads it. The payload sets `mutable-content: 1` and carries the URL as the top-level
//! custom key `image_url` for that extension to read.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use crate::ApnsSettings;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pombo_contract::content::PushContent;
use reqwest::{StatusCode, header::HeaderMap};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::{
    Accepted, DeliveryError, SetupError,
    http::{self, transport_error},
};

pub const PROVIDER: &str = "apns";

/// A provider token is reused this long, between Apple's 20-minute floor and one-hour
/// ceiling (with room for clock skew).
pub const TOKEN_REFRESH_AFTER: Duration = Duration::from_secs(45 * 60);

/// The custom payload key the image URL travels in, for the app's service extension.
pub const IMAGE_URL_KEY: &str = "image_url";

pub struct Apns {
    http: reqwest::Client,
    base_url: String,
    topic: String,
    team_id: String,
    key_id: String,
    key: EncodingKey,
    /// The current provider token; shared by every send on this account.
    token: Mutex<Option<ProviderToken>>,
}

struct ProviderToken {
    value: String,
    issued: Instant,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

#[derive(Deserialize)]
struct ErrorBody {
    reason: String,
    #[serde(default)]
    timestamp: Option<i64>,
}

/// How one request ended.
enum Attempt {
    Sent(String),
    /// 403 `ExpiredProviderToken`: APNs considers the provider token too old.
    TokenExpired(DeliveryError),
}

impl Apns {
    /// `builder`: the outbound guard's for a tenant's account (HTTP/2 settings are added).
    pub fn new(
        settings: &ApnsSettings,
        builder: reqwest::ClientBuilder,
    ) -> Result<Self, SetupError> {
        let id_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
        if !id_ok(settings.team_id.trim()) {
            return Err(SetupError::at(
                "team_id",
                "apns: team_id must be the 10-character Apple team id",
            ));
        }
        if !id_ok(settings.key_id.trim()) {
            return Err(SetupError::at(
                "key_id",
                "apns: key_id must be the 10-character id of the .p8 key",
            ));
        }
        let topic = settings.topic.trim();
        if topic.is_empty() || reqwest::header::HeaderValue::from_str(topic).is_err() {
            return Err(SetupError::at(
                "topic",
                "apns: topic must be the app's bundle id",
            ));
        }
        let base_url = settings.base_url.trim().trim_end_matches('/');
        match url::Url::parse(base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(SetupError::at(
                    "base_url",
                    "apns: base_url must be an http(s) URL",
                ));
            }
        }
        let key = ec_key(settings.private_key.expose())?;
        // HTTP/2 only: with prior knowledge over plain http (local fakes speak h2c), and
        // with ALPN offering only `h2` over https, as APNs requires.
        let http = builder
            .http2_prior_knowledge()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            // APNs wants long-lived connections; pings keep idle ones healthy.
            .http2_keep_alive_interval(Duration::from_secs(60))
            .http2_keep_alive_timeout(Duration::from_secs(20))
            .http2_keep_alive_while_idle(true)
            .build()
            .map_err(|e| SetupError::new(format!("apns: cannot build the HTTP/2 client: {e}")))?;
        Ok(Apns {
            http,
            base_url: base_url.to_owned(),
            topic: topic.to_owned(),
            team_id: settings.team_id.trim().to_owned(),
            key_id: settings.key_id.trim().to_owned(),
            key,
            token: Mutex::new(None),
        })
    }

    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &PushContent,
    ) -> Result<Accepted, DeliveryError> {
        let payload = payload(content)?;
        let url = format!("{}/3/device/{to}", self.base_url);
        let apns_id = notification_id.hyphenated().to_string();
        let token = self.provider_token().await?;
        let id = match self.post(&url, &token, &apns_id, &payload).await? {
            Attempt::Sent(id) => id,
            Attempt::TokenExpired(_) => {
                // APNs thinks our token is over an hour old (clock skew, a long pause): sign
                // a new one and try once more.
                self.forget(&token).await;
                let token = self.provider_token().await?;
                match self.post(&url, &token, &apns_id, &payload).await? {
                    Attempt::Sent(id) => id,
                    Attempt::TokenExpired(e) => return Err(e),
                }
            }
        };
        Ok(Accepted {
            provider_message_id: Some(id),
        })
    }

    async fn post(
        &self,
        url: &str,
        token: &str,
        apns_id: &str,
        payload: &Value,
    ) -> Result<Attempt, DeliveryError> {
        let response = self
            .http
            .post(url)
            .header("authorization", format!("bearer {token}"))
            .header("apns-topic", &self.topic)
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header("apns-id", apns_id)
            .json(payload)
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::http::body(PROVIDER, response).await?;
        if status.is_success() {
            let echoed = headers
                .get("apns-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or(apns_id);
            return Ok(Attempt::Sent(echoed.to_owned()));
        }
        let error = response_error(status, &headers, &body);
        if error.code() == Some("ExpiredProviderToken") {
            return Ok(Attempt::TokenExpired(error));
        }
        Err(error)
    }

    /// The current provider token, or a new one once it is [`TOKEN_REFRESH_AFTER`] old.
    async fn provider_token(&self) -> Result<String, DeliveryError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && token.issued.elapsed() < TOKEN_REFRESH_AFTER
        {
            return Ok(token.value.clone());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = Claims {
            iss: &self.team_id,
            iat: chrono::Utc::now().timestamp(),
        };
        let value = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| {
            DeliveryError::permanent(format!("apns: cannot sign the provider token: {e}"))
        })?;
        *cached = Some(ProviderToken {
            value: value.clone(),
            issued: Instant::now(),
        });
        Ok(value)
    }

    /// Drops `expired` from the cache, unless another send already replaced it.
    async fn forget(&self, expired: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == expired) {
            *cached = None;
        }
    }
}

/// The notification's JSON: the alert in `aps`, the data keys at the top level.
fn payload(content: &PushContent) -> Result<Value, DeliveryError> {
    let mut aps = json!({ "alert": { "title": content.title, "body": content.body } });
    if content.image_url.is_some() {
        aps["mutable-content"] = json!(1);
    }
    let mut root = serde_json::Map::new();
    root.insert("aps".into(), aps);
    for (key, value) in &content.data {
        if key == "aps" || (key == IMAGE_URL_KEY && content.image_url.is_some()) {
            return Err(DeliveryError::permanent(format!(
                "apns: the data key `{key}` is reserved in the APNs payload"
            )));
        }
        root.insert(key.clone(), json!(value));
    }
    if let Some(image) = &content.image_url {
        root.insert(IMAGE_URL_KEY.into(), json!(image));
    }
    Ok(Value::Object(root))
}

impl http::DocumentedError for ErrorBody {
    fn code(&self) -> Option<String> {
        Some(self.reason.clone())
    }
    fn reason(&self) -> Option<String> {
        Some(match self.timestamp {
            Some(ms) => format!("{} (inactive since {ms} ms after the epoch)", self.reason),
            None => self.reason.clone(),
        })
    }
}

/// Classifies an error answer by Apple's `reason` (`{"reason":"…","timestamp"?}`), which
/// also becomes the error's code.
fn response_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> DeliveryError {
    let answer = http::failed_answer(PROVIDER, status, body, |b| {
        serde_json::from_slice::<ErrorBody>(b).ok()
    });
    let transient_reason = answer.parsed.as_ref().is_some_and(|e| {
        matches!(
            e.reason.as_str(),
            // Transient whatever the status says: rate limits, an idle connection, outages.
            "TooManyRequests"
                | "TooManyProviderTokenUpdates"
                | "IdleTimeout"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "Shutdown"
        )
    });
    if transient_reason {
        answer.retryable(headers)
    } else {
        // BadDeviceToken, DeviceTokenNotForTopic, Unregistered, ExpiredToken,
        // InvalidProviderToken, PayloadTooLarge…: final 4xx (and 5xx stay retryable).
        answer.classify(headers)
    }
}

/// Parses the `.p8` key (PKCS#8 PEM, EC P-256), also when pasted with literal `\n`, and
/// checks it can sign.
fn ec_key(pem: &str) -> Result<EncodingKey, SetupError> {
    let pem = pem.trim().replace("\\n", "\n");
    let invalid = || {
        SetupError::at(
            "private_key",
            "apns: private_key is not a .p8 key (PKCS#8 PEM, EC P-256)",
        )
    };
    let key = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|_| invalid())?;
    jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &BTreeMap::<&str, &str>::new(),
        &key,
    )
    .map_err(|_| invalid())?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> PushContent {
        PushContent {
            title: "Hi".into(),
            body: "There".into(),
            data: BTreeMap::new(),
            image_url: None,
        }
    }

    #[test]
    fn payload_puts_the_alert_in_aps_and_data_at_the_top() {
        assert_eq!(
            payload(&content()).unwrap(),
            json!({"aps": {"alert": {"title": "Hi", "body": "There"}}})
        );
        let mut c = content();
        c.data.insert("order".into(), "42".into());
        c.image_url = Some("https://img.example/a.png".into());
        assert_eq!(
            payload(&c).unwrap(),
            json!({
                "aps": {"alert": {"title": "Hi", "body": "There"}, "mutable-content": 1},
                "order": "42",
                "image_url": "https://img.example/a.png",
            })
        );
        let mut c = content();
        c.data.insert("aps".into(), "x".into());
        assert!(payload(&c).unwrap_err().is_permanent());
    }

    #[test]
    fn reasons_decide_the_outcome() {
        let h = HeaderMap::new();
        let cases = [
            (400, "BadDeviceToken", true),
            (400, "DeviceTokenNotForTopic", true),
            (410, "Unregistered", true),
            (403, "InvalidProviderToken", true),
            (403, "ExpiredProviderToken", true),
            (413, "PayloadTooLarge", true),
            (429, "TooManyRequests", false),
            (429, "TooManyProviderTokenUpdates", false),
            (400, "IdleTimeout", false),
            (500, "InternalServerError", false),
            (503, "ServiceUnavailable", false),
        ];
        for (status, reason, permanent) in cases {
            let body = json!({ "reason": reason }).to_string();
            let e = response_error(StatusCode::from_u16(status).unwrap(), &h, body.as_bytes());
            assert_eq!(e.is_permanent(), permanent, "{status} {reason}");
            assert_eq!(e.code(), Some(reason));
        }
        let e = response_error(StatusCode::BAD_GATEWAY, &h, b"<html>");
        assert!(!e.is_permanent());
        assert_eq!(e.code(), None);
        assert_eq!(e.message(), "HTTP 502 Bad Gateway from apns");
    }

    #[test]
    fn the_token_lives_between_20_and_60_minutes() {
        assert!(TOKEN_REFRESH_AFTER >= Duration::from_secs(20 * 60));
        assert!(TOKEN_REFRESH_AFTER < Duration::from_secs(60 * 60));
    }

    #[test]
    fn keys_that_do_not_parse_are_refused() {
        assert!(ec_key("garbage").is_err());
    }
}
