//! Outbound webhooks signed per the Standard Webhooks specification.
//!
//! Each notification is one `POST` to the recipient URL with
//! - `content-type: application/json` and the body
//!   `{"type":<event type>,"timestamp":<RFC 3339>,"data":<payload>}`; `timestamp` is when the
//!   event happened (the notification's creation, read from its UUIDv7 id), so it is the
//!   same on every attempt;
//! - `webhook-id: msg_<notification id>`: the same on every attempt, so receivers can
//!   deduplicate retries. It is also the provider message id we record;
//! - `webhook-timestamp`: the attempt's time, in unix seconds;
//! - `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key
//!   being the base64-decoded part of the `whsec_…` secret.
//!
//! Outcome, as the spec suggests: 2xx delivered; 3xx final (redirects are not followed:
//! the URL should be updated); 410 Gone final (the receiver unsubscribed); 408, 425, 429
//! and 5xx retried (honouring `Retry-After`), as are timeouts and connection failures;
//! any other 4xx final. The HTTP status is the error `code`; nothing of a refusal's body
//! is kept (receivers have no documented error shape; see [`crate::http`]).
//!
//! Server-side request forgery: the target is the tenant's, so the client is always the
//! outbound guard's ([`crate::outbound`]): the URL is checked before each send
//! (https, not a private literal address or local name, unless it is one of the
//! operator's `outbound.allowed_private_targets`), every name resolution is filtered at
//! connect time, and no redirect is followed.
//!
//! Spec: <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>
//! (<https://www.standardwebhooks.com/>).

use std::{sync::Arc, time::Duration};

use crate::WebhookSettings;
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use pombo_contract::{content::WebhookContent, outbound::OutboundPolicy};
use reqwest::{StatusCode, header::CONTENT_TYPE};
use sha2::Sha256;
use uuid::Uuid;

use crate::{
    Accepted, DeliveryError, SetupError,
    http::{self, ProviderError, transport_error},
    outbound::guarded_builder,
};

pub const PROVIDER: &str = "standard_webhooks";

/// The whole attempt, connection included: the spec recommends 15 to 30 s.
const TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Webhook {
    http: reqwest::Client,
    key: Vec<u8>,
    policy: Arc<OutboundPolicy>,
}

impl Webhook {
    pub fn new(
        settings: &WebhookSettings,
        policy: Arc<OutboundPolicy>,
    ) -> Result<Self, SetupError> {
        let key = decode_secret(settings.secret.expose())?;
        let http = guarded_builder(&policy)
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("Pombo-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SetupError::new(format!("webhook: cannot build the HTTP client: {e}")))?;
        Ok(Webhook { http, key, policy })
    }

    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &WebhookContent,
    ) -> Result<Accepted, DeliveryError> {
        let url = self.policy.check_url(to).map_err(|refused| {
            DeliveryError::permanent(format!("{PROVIDER}: the webhook URL {refused}"))
                .with_code("target_refused")
        })?;
        let id = webhook_id(notification_id);
        let body = event_body(notification_id, content);
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(&self.key, &id, timestamp, body.as_bytes());

        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        if status.is_success() {
            // The body of a 2xx is of no interest: not reading it spares a slow receiver.
            return Ok(Accepted {
                provider_message_id: Some(id),
            });
        }
        // Nor is a refusal's: see [`refusal`].
        Err(refusal(status, response.headers()))
    }
}

/// `whsec_<base64>` (the prefix is optional, as in the reference libraries) to key bytes.
fn decode_secret(secret: &str) -> Result<Vec<u8>, SetupError> {
    let encoded = secret.trim();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    let key = STANDARD.decode(encoded).map_err(|_| {
        SetupError::at(
            "secret",
            "webhook: `secret` must be `whsec_` followed by base64 (of 24 to 64 bytes)",
        )
    })?;
    if !(24..=64).contains(&key.len()) {
        return Err(SetupError::at(
            "secret",
            format!(
                "webhook: `secret` must encode 24 to 64 bytes, not {}",
                key.len()
            ),
        ));
    }
    Ok(key)
}

/// The `webhook-id`: stable across attempts of the same notification, with no `.` (the
/// spec forbids one, since it delimits the signed content).
fn webhook_id(notification_id: Uuid) -> String {
    format!("msg_{notification_id}")
}

/// The event body, serialised once: what is signed is exactly what is sent.
fn event_body(notification_id: Uuid, content: &WebhookContent) -> String {
    let occurred = notification_id
        .get_timestamp()
        .and_then(|ts| {
            let (secs, nanos) = ts.to_unix();
            chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
        })
        .unwrap_or_else(chrono::Utc::now);
    let event = serde_json::json!({
        "type": content.event_type,
        "timestamp": occurred.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": content.payload,
    });
    serde_json::to_string(&event).expect("JSON serialises")
}

/// `v1,<base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// A non-2xx answer, classified as the spec suggests. Receivers have no documented error
/// shape, so nothing of the body is kept: the status says it (and is the code).
fn refusal(status: StatusCode, headers: &reqwest::header::HeaderMap) -> DeliveryError {
    let answer =
        http::failed_answer(PROVIDER, status, b"", |_| None::<ProviderError>).or_status_code();
    if status.is_redirection() {
        let location = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| format!(" to {}", http::clean(l, http::MAX_REASON)))
            .unwrap_or_default();
        return DeliveryError::permanent(format!(
            "{PROVIDER}: the receiver answered {status}{location}; redirects are not followed, \
             update the webhook URL"
        ))
        .with_code(status.as_u16().to_string());
    }
    if status == StatusCode::GONE {
        return DeliveryError::permanent(format!(
            "{PROVIDER}: the receiver answered 410 Gone: it no longer accepts these webhooks"
        ))
        .with_code(status.as_u16().to_string());
    }
    answer.classify(headers)
}

#[cfg(test)]
mod tests {
    use pombo_contract::config::Secret;

    use super::*;

    /// The test vector the Standard Webhooks reference libraries check
    /// (libraries' tests in github.com/standard-webhooks/standard-webhooks).
    #[test]
    fn signature_matches_the_published_test_vector() {
        let key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn signature_matches_the_rust_reference_library_vector() {
        let key = decode_secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(
            sign(
                &key,
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn secrets_must_be_base64_of_24_to_64_bytes() {
        assert!(decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(decode_secret("whsec_not base64!").is_err());
        assert!(decode_secret("whsec_c2hvcnQ=").is_err());
        let e = Webhook::new(
            &WebhookSettings {
                secret: Secret::new("whsec_c2hvcnQ="),
            },
            Arc::new(OutboundPolicy::default()),
        )
        .err()
        .unwrap();
        assert!(!e.message.contains("c2hvcnQ"), "the secret leaked: {e}");
    }

    #[test]
    fn the_body_timestamp_is_the_notifications_creation() {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, 1_700_000_000, 123_000_000);
        let id = Uuid::new_v7(ts);
        let content = WebhookContent {
            event_type: "order.shipped".into(),
            payload: serde_json::json!({ "order": 42 }),
        };
        assert_eq!(
            event_body(id, &content),
            r#"{"data":{"order":42},"timestamp":"2023-11-14T22:13:20.123Z","type":"order.shipped"}"#
        );
        assert_eq!(webhook_id(id), format!("msg_{id}"));
        assert!(!webhook_id(id).contains('.'));
    }

    #[test]
    fn statuses_are_classified_as_the_spec_suggests() {
        let h = reqwest::header::HeaderMap::new();
        let permanent = |s: u16| refusal(StatusCode::from_u16(s).unwrap(), &h).is_permanent();
        for s in [301, 302, 307, 308, 400, 401, 403, 404, 410, 422] {
            assert!(permanent(s), "{s}");
        }
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(!permanent(s), "{s}");
        }
        assert_eq!(refusal(StatusCode::GONE, &h).code(), Some("410"));
        let e = refusal(StatusCode::INTERNAL_SERVER_ERROR, &h);
        assert_eq!(
            e.message(),
            "HTTP 500 Internal Server Error from standard_webhooks"
        );
        assert_eq!(e.code(), Some("500"));
    }
}
