//! Fake of the `vonage` provider. TODO: speak its documented wire format.

use axum::{Json, Router, http::StatusCode, response::{IntoResponse, Response}};

use crate::FakeState;

pub fn router() -> Router<FakeState> {
    Router::new()
}

/// The provider's documented error body for `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
