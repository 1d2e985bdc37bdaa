//! Liveness and readiness, for orchestrators and `make run`.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{error::ApiError, state::AppState};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database and Temporal both answer.
#[utoipa::path(
    get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = crate::error::Problem))
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let mut down = Vec::new();
    if let Err(e) = state.db.ping().await {
        down.push(format!("database: {e}"));
    }
    if let Err(e) = state.dispatcher.check().await {
        down.push(format!("temporal: {e:#}"));
    }
    if down.is_empty() {
        Ok(Json(Health { status: "ready" }))
    } else {
        Err(ApiError::Unavailable(down.join("; ")))
    }
}
