//! What every report parser takes and answers: the callback as received
//! ([`CallbackRequest`]), the events it reports ([`ProviderEvent`]) or why it is refused
//! ([`CallbackError`]), and the checks parsers share (constant-time comparison, Meta's
//! handshake, epoch times).
//!
//! Every report is authenticated: a forged `failed` would fire paid fallbacks and a forged
//! `read` suppress them. A provider's [`crate::Reports`] names the setting that
//! authenticates its reports; the registry refuses every report of an account without it
//! before its parser runs.

use http::{HeaderMap, Method};
pub use pombo_contract::delivery::{DeliveryStatus, ProviderEvent};

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
    /// The account has no secret to check reports with (the named setting): every report
    /// through it is refused, 401, and nothing is recorded. An unauthenticated report could
    /// be anyone's: a forged `failed` fires paid fallbacks, a forged `read` suppresses them.
    #[error("the account has no `{0}`")]
    NoSecret(&'static str),
    /// Missing or wrong signature (or secret): 401, and nothing is recorded. The reason
    /// names the check that failed, never a secret's value.
    #[error("signature check failed: {0}")]
    BadSignature(String),
    /// Not the provider's documented payload: 400.
    #[error("malformed callback: {0}")]
    Malformed(String),
}

/// The account's secret, unless it is absent or blank (a blank one verifies nothing).
pub fn configured(secret: Option<&pombo_contract::secret::Secret>) -> Option<&str> {
    secret.map(|s| s.expose()).filter(|s| !s.trim().is_empty())
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
    verify_token: Option<&pombo_contract::secret::Secret>,
) -> Result<String, CallbackError> {
    let Some(expected) = configured(verify_token) else {
        return Err(CallbackError::NoSecret("verify_token"));
    };
    let mode = req.query_param("hub.mode");
    let token = req.query_param("hub.verify_token").unwrap_or_default();
    let challenge = req.query_param("hub.challenge");
    match (mode.as_deref(), challenge) {
        (Some("subscribe"), Some(challenge))
            if secure_eq(token.as_bytes(), expected.as_bytes()) =>
        {
            Ok(challenge)
        }
        (Some("subscribe"), Some(_)) => Err(CallbackError::BadSignature(
            "`hub.verify_token` does not match the account's verify_token".into(),
        )),
        _ => Err(CallbackError::Malformed(
            "expected hub.mode=subscribe with hub.challenge".into(),
        )),
    }
}
