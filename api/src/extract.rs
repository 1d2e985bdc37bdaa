//! Request extractors that fail with problem JSON: JSON bodies whose errors name the
//! offending field, path segments and query strings. axum's own `Json`, `Path`, `Query`
//! and `Bytes` answer their rejections in plain text, which the OpenAPI document does not
//! describe: handlers use these instead. (The caller's key and tenant: [`crate::auth`].)

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::PathRejection},
    http::{StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::{
    error::{ApiError, FieldError},
    state::AppState,
};

pub use crate::auth::Tenant;

/// A JSON body, deserialised (not validated: each handler checks its own rules and lists
/// every bad field). Syntax errors are 400 with the position; a body that parses but does
/// not fit the type is 422 with the path of the field and serde's reason.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = state.config.api.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Path parameters. A segment that does not parse as its type (a malformed id) names
/// nothing: 404, as an unknown id of the right shape is.
pub struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::path::ErrorKind;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParams(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(ApiError::NotFound(match e.kind() {
                    ErrorKind::ParseErrorAtKey { key, value, .. } => {
                        format!("no such {key}: `{value}` is not one")
                    }
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        format!("no such {key}: it is not UTF-8")
                    }
                    _ => "no such resource".to_owned(),
                }))
            }
            // Only a route without the parameters its handler reads: a bug, not the caller's.
            Err(e) => Err(ApiError::Internal(anyhow::anyhow!(
                "path parameters: {}",
                e.body_text()
            ))),
        }
    }
}

/// A query string. One that does not fit its type (`limit=abc`, an unknown channel) is
/// 422 naming the parameter.
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query()).map(QueryParams)
    }
}

/// Parses a raw query string (`None`: none given) into `T`; 422 naming the parameter.
pub fn parse_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    let query = query.unwrap_or_default();
    let parsed = url::form_urlencoded::parse(query.as_bytes());
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(parsed)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." {
            "query".to_owned()
        } else {
            path
        };
        ApiError::field(field, e.into_inner().to_string())
    })
}

/// The raw request body, for handlers that check it themselves (provider callbacks):
/// over `api.max_body_bytes` is 413.
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config.api.max_body_bytes;
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit }
                } else {
                    ApiError::field("body", rejection.body_text())
                }
            })
    }
}

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
pub fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses a request body that must be one JSON object (every body of this API is).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so that broken JSON is a 400 whatever its content. `IgnoredAny` checks
    // it without building a tree: a 10,000-recipient batch is parsed once into its type.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    // serde's derived structs also take an array of their fields in order, so `[null,
    // null]` would pass for a body of optional fields (schemathesis found it); `Strict`
    // refuses that below the top too.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let mut json = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(crate::strict::Strict(&mut json)).map_err(|e| {
        let path = e.path().to_string();
        let reason = strip_position(&e.into_inner().to_string());
        ApiError::Validation(vec![FieldError::new(
            field_path("", &path, &reason),
            reason,
        )])
    })
}

pub use pombo_contract::content::field_path;

/// serde_json appends "at line 1 column 42" to data errors; the field path says it better.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The `Idempotency-Key` header, if the request has one (`POST /v1/notifications` and
/// `/v1/notifications/batch`).
pub fn idempotency_header(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| ApiError::field("Idempotency-Key", "must be printable ASCII"))
        })
        .transpose()
}
