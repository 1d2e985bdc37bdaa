//! Provider callbacks: `POST /v1/callbacks/{type}/{account}`, one module per provider
//! that verifies the provider's signature and parses its documented payload into
//! [`ProviderEvent`]s. The handler ([`handler`]) records each event and signals the
//! notification's workflow.
//!
//! `{account}` is the provider account's id (a tenant's account) or its name (a
//! server-wide account from the configuration): the account holds the secret that
//! verifies the callback.

pub mod callbell;
pub mod evolution;
pub mod handler;
pub mod instagram;
pub mod mailgun;
pub mod sendgrid;
pub mod twilio;
pub mod waha;
pub mod whatsapp_cloud;

use axum::{
    Router,
    http::{HeaderMap, Method},
    routing::get,
};
pub use pombo_contract::delivery::{DeliveryStatus, ProviderEvent};

pub fn router() -> Router<crate::state::AppState> {
    Router::new().route(
        "/v1/callbacks/{kind}/{account}",
        get(handler::receive).post(handler::receive),
    )
}

/// A callback as received, before any parsing.
#[derive(Debug, Clone, Copy)]
pub struct CallbackRequest<'a> {
    pub method: &'a Method,
    /// The full URL the provider called, as it sees it (scheme, host, path and query):
    /// Twilio signs it. Built from `api.public_url` when set.
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

impl CallbackRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(self.query.unwrap_or("")).ok()?;
        pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Missing or wrong signature (or secret) while the account has a secret: 401, and
    /// nothing is recorded.
    #[error("signature check failed: {0}")]
    BadSignature(String),
    /// Not the provider's documented payload: 400.
    #[error("malformed callback: {0}")]
    Malformed(String),
}

/// Compares secrets in constant time.
pub fn secure_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Parses a timestamp in seconds since the epoch (as string or number).
pub fn unix_time(value: &serde_json::Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let secs = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.parse::<f64>().ok()?,
        _ => return None,
    };
    // Milliseconds when the number is too large to be seconds.
    let millis = if secs > 1e11 { secs } else { secs * 1000.0 };
    chrono::DateTime::from_timestamp_millis(millis as i64)
}

/// Meta's webhook handshake (WhatsApp Cloud, Instagram): `GET ?hub.mode=subscribe&
/// hub.verify_token=…&hub.challenge=…` must echo the challenge when the token matches.
pub fn meta_challenge(
    req: &CallbackRequest<'_>,
    verify_token: Option<&pombo_contract::config::Secret>,
) -> Result<String, CallbackError> {
    let Some(expected) = verify_token else {
        return Err(CallbackError::BadSignature(
            "the account has no verify_token".into(),
        ));
    };
    let mode = req.query_param("hub.mode");
    let token = req.query_param("hub.verify_token").unwrap_or_default();
    let challenge = req.query_param("hub.challenge");
    match (mode.as_deref(), challenge) {
        (Some("subscribe"), Some(challenge))
            if secure_eq(token.as_bytes(), expected.expose().as_bytes()) =>
        {
            Ok(challenge)
        }
        (Some("subscribe"), Some(_)) => Err(CallbackError::BadSignature(
            "hub.verify_token does not match".into(),
        )),
        _ => Err(CallbackError::Malformed(
            "expected hub.mode=subscribe with hub.challenge".into(),
        )),
    }
}
