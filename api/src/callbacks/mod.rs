//! Provider callbacks: `POST /v1/callbacks/{type}/{account}`, one module per provider
//! that verifies the provider's signature and parses its documented payload into
//! [`ProviderEvent`]s. The handler ([`handler`]) records each event and signals the
//! notification's workflow.
//!
//! `{account}` is the provider account's id (a tenant's account) or its name (a
//! server-wide account from the configuration): the account holds the secret that
//! verifies the callback. An account without that secret has every callback refused
//! ([`required_secret`]), and every callback is limited per client address
//! ([`crate::rate_limit::CallbackLimiter`]).

pub mod callbell;
pub mod evolution;
pub mod handler;
pub mod instagram;
pub mod mailgun;
pub mod sendgrid;
pub mod twilio;
pub mod waha;
pub mod whatsapp_cloud;

use std::net::SocketAddr;
use utoipa_axum::{router::OpenApiRouter, routes};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
pub use pombo_contract::delivery::{DeliveryStatus, ProviderEvent};

use crate::state::AppState;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handler::handshake, handler::receive))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_by_address,
        ))
}

/// Limits callbacks per client address (the connection's peer): refuses an address over its
/// request rate or its failed authentications with 429 before any work, and counts this
/// request's 401 or 404 (an unknown account: someone probing) as a failure. Without a peer
/// address (the router served without connect info) nothing is limited.
async fn limit_by_address(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(address) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return next.run(request).await;
    };
    if let Err(e) = state.callback_limiter.admit(address) {
        tracing::warn!(%address, "callback refused: over the client address's limit");
        return e.into_response();
    }
    let response = next.run(request).await;
    if matches!(
        response.status(),
        StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND
    ) {
        state.callback_limiter.failed(address);
    }
    response
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

/// Refuses every report through an account that has no secret to authenticate it with,
/// naming the missing setting: before any parsing, for every provider. The account may
/// still send; its reports are refused until the setting is given.
pub fn required_secret(
    settings: &pombo_contract::providers::ProviderSettings,
) -> Result<(), CallbackError> {
    use pombo_contract::providers::ProviderSettings as S;
    let (secret, setting) = match settings {
        S::WhatsappCloud(s) => (configured(s.app_secret.as_ref()), "app_secret"),
        S::Instagram(s) => (configured(s.app_secret.as_ref()), "app_secret"),
        S::Sendgrid(s) => (
            s.webhook_public_key
                .as_deref()
                .filter(|k| !k.trim().is_empty()),
            "webhook_public_key",
        ),
        S::Mailgun(s) => (
            configured(s.webhook_signing_key.as_ref()),
            "webhook_signing_key",
        ),
        S::Callbell(s) => (configured(s.webhook_secret.as_ref()), "webhook_secret"),
        S::Evolution(s) => (configured(s.webhook_secret.as_ref()), "webhook_secret"),
        S::Waha(s) => (configured(s.webhook_secret.as_ref()), "webhook_secret"),
        S::Twilio(s) => (configured(Some(&s.auth_token)), "auth_token"),
        // Providers without callbacks: their parse refuses every request.
        _ => return Ok(()),
    };
    match secret {
        Some(_) => Ok(()),
        None => Err(CallbackError::NoSecret(setting)),
    }
}

/// The account's secret, unless it is absent or blank (a blank one verifies nothing).
pub fn configured(secret: Option<&pombo_contract::config::Secret>) -> Option<&str> {
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
    verify_token: Option<&pombo_contract::config::Secret>,
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
