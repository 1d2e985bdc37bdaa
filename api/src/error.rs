//! Every API error is one JSON shape, RFC 9457 problem details with the offending fields:
//!
//! ```json
//! {"type": "https://pombo.dev/problems/validation", "title": "Invalid request", "status": 422,
//!  "detail": "…", "errors": [{"field": "to", "reason": "not a valid email address: …"}]}
//! ```

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// The content type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// RFC 9457 problem details, served as `application/problem+json`. Some problems add
/// extension members beside these (a file upload's `limit_bytes`, `allowed_content_types`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; stable, so clients can branch on it.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Which fields were wrong and why (validation problems only; absent otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the request: `to`, `content.subject`, `retry.max_attempts`.
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("request body too large")]
    PayloadTooLarge { limit: usize },
    #[error("missing or unknown API key")]
    Unauthorized,
    /// A known key that no longer works: the detail says why (revoked, expired).
    #[error("{0}")]
    KeyRefused(&'static str),
    /// The key is valid but lacks the scope the route needs.
    #[error("this API key lacks the `{0}` scope this request needs")]
    MissingScope(pombo_contract::Scope),
    #[error("this API key's tenant is disabled")]
    TenantDisabled,
    /// An operator's sign-in with a wrong email, password or code: which one is not said.
    #[error("the email, password or code is wrong")]
    SignInFailed,
    /// An operator's session cookie that names no live session (expired, idle, signed out).
    #[error("the operator session has ended: sign in again")]
    NoSession,
    /// A state-changing request with an operator's session but not its CSRF token.
    #[error("send the session's CSRF token in `X-CSRF-Token`")]
    Csrf,
    /// The key may call the route but not do this (grant a scope it does not hold).
    #[error("{0}")]
    Forbidden(String),
    /// A provider callback whose account has no secret to authenticate it: the detail
    /// names the missing setting.
    #[error("{0}")]
    CallbackNoSecret(String),
    /// A provider callback that failed its account's check: the detail names the check
    /// (header, parameter, URL), never a secret.
    #[error("{0}")]
    CallbackSignature(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    /// What was asked for is no longer kept (an event cursor older than retention).
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Unavailable(String),
    /// A WebSocket route called without the upgrade handshake.
    #[error("{0}")]
    UpgradeRequired(String),
    /// A provider refused what the API asked of it on a tenant's behalf, or could not be
    /// reached: the detail quotes the provider (never a credential). A 424, not a 5xx: the
    /// tenant's provider (its settings, its gateway) failed, not Pombo.
    #[error("{0}")]
    Provider(String),
    #[error("too many requests: the limit is {limit} at once; retry in {retry_after_secs} s")]
    RateLimited {
        retry_after_secs: u64,
        limit: u32,
        /// The limit as the IETF draft's `RateLimit-Policy` (`100;w=1;burst=200`), when the
        /// limit is a tenant's request rate.
        policy: Option<String>,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// For a store lookup by id: its `NotFound` becomes a 404 naming what was looked for
    /// (`no such {what}`); other errors map as usual.
    pub fn unless_found(what: &'static str) -> impl Fn(pombo_store::StoreError) -> ApiError {
        move |e| match e {
            pombo_store::StoreError::NotFound => ApiError::NotFound(format!("no such {what}")),
            e => e.into(),
        }
    }

    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, reason)])
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
            ),
            ApiError::MalformedJson(_) => {
                (StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON")
            }
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            ApiError::Unauthorized | ApiError::KeyRefused(_) => {
                (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
            }
            ApiError::MissingScope(_) => (StatusCode::FORBIDDEN, "missing-scope", "Forbidden"),
            ApiError::TenantDisabled => (StatusCode::FORBIDDEN, "tenant-disabled", "Forbidden"),
            ApiError::SignInFailed => {
                (StatusCode::UNAUTHORIZED, "sign-in-failed", "Sign-in failed")
            }
            ApiError::NoSession => (StatusCode::UNAUTHORIZED, "no-session", "Not signed in"),
            ApiError::Csrf => (StatusCode::FORBIDDEN, "csrf", "Forbidden"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::CallbackNoSecret(_) => (
                StatusCode::UNAUTHORIZED,
                "callback-secret-missing",
                "Delivery reports refused",
            ),
            ApiError::CallbackSignature(_) => (
                StatusCode::UNAUTHORIZED,
                "callback-signature",
                "Callback not authenticated",
            ),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::Gone(_) => (StatusCode::GONE, "gone", "No longer kept"),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::UpgradeRequired(_) => (
                StatusCode::UPGRADE_REQUIRED,
                "upgrade-required",
                "WebSocket handshake required",
            ),
            ApiError::Provider(_) => (
                StatusCode::FAILED_DEPENDENCY,
                "provider",
                "The provider refused, or could not be reached",
            ),
            ApiError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

impl From<pombo_store::StoreError> for ApiError {
    fn from(e: pombo_store::StoreError) -> Self {
        use pombo_store::StoreError;
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Conflict(reason) => ApiError::Conflict(reason),
            StoreError::NoKeyring => ApiError::Unavailable(e.to_string()),
            StoreError::Template(reason) => ApiError::field("template", reason),
            e => ApiError::Internal(e.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        let detail = match &self {
            ApiError::Validation(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.reason))
                .collect::<Vec<_>>()
                .join("; "),
            ApiError::PayloadTooLarge { limit } => {
                format!("the request body is larger than the limit of {limit} bytes")
            }
            ApiError::UnsupportedMediaType => {
                "send the body as JSON with `Content-Type: application/json`".into()
            }
            ApiError::Unauthorized => {
                "send a valid API key as `Authorization: Bearer <key>`".into()
            }
            ApiError::Internal(e) => {
                // The cause goes to the log, never to the caller.
                tracing::error!(error = ?e, "internal error");
                "an unexpected error occurred; it has been logged".into()
            }
            other => other.to_string(),
        };
        let rate_limited = match &self {
            ApiError::RateLimited {
                retry_after_secs,
                limit,
                policy,
            } => Some((*retry_after_secs, *limit, policy.clone())),
            _ => None,
        };
        // API keys only: a provider's callback is not authenticated with a bearer token.
        let bearer = matches!(self, ApiError::Unauthorized | ApiError::KeyRefused(_));
        let errors = match self {
            ApiError::Validation(errors) => errors,
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: format!("https://pombo.dev/problems/{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if bearer {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some((retry_after_secs, limit, policy)) = rate_limited {
            use crate::rate_limit::{
                RATELIMIT_LIMIT, RATELIMIT_POLICY, RATELIMIT_REMAINING, RATELIMIT_RESET,
            };
            let headers = response.headers_mut();
            if let Some(policy) = policy.and_then(|p| HeaderValue::from_str(&p).ok()) {
                headers.insert(RATELIMIT_POLICY, policy);
            }
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            headers.insert(RATELIMIT_LIMIT, HeaderValue::from(limit));
            headers.insert(RATELIMIT_REMAINING, HeaderValue::from(0u32));
            headers.insert(RATELIMIT_RESET, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

/// Rendering ran past its wall-clock deadline (fuel stops heavy templates long before, so
/// the server is overloaded) or its process failed: a 503 to retry, not a refusal of the
/// content.
impl From<pombo_renderer::Unavailable> for ApiError {
    fn from(e: pombo_renderer::Unavailable) -> Self {
        ApiError::Unavailable(format!("{e}: the server is busy, try again"))
    }
}
