//! Provider callbacks: `POST /v1/callbacks/{type}/{account}`. The route finds the account
//! and hands the raw request to its provider (`pombo_providers::parse_report`: each
//! provider's `report.rs` verifies its signature and parses its documented payload into
//! [`ProviderEvent`]s); the handler ([`handler`]) records each event and signals the
//! notification's workflow.
//!
//! `{account}` is the provider account's id (a tenant's account) or its name (a
//! server-wide account from the configuration): the account holds the secret that
//! verifies the callback. An account without that secret has every callback refused
//! (`pombo_providers::required_secret`), and every callback is limited per client address
//! ([`crate::rate_limit::CallbackLimiter`]).

pub mod handler;

use std::net::SocketAddr;
use utoipa_axum::{router::OpenApiRouter, routes};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
pub use pombo_providers::report::{
    CallbackError, CallbackRequest, DeliveryStatus, ProviderEvent, meta_challenge,
};

use crate::state::AppState;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handler::handshake, handler::receive))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_by_address,
        ))
}

/// Limits callbacks (and the chat hub's protocol, also authenticated by a secret in the
/// request) per client address (the connection's peer): refuses an address over its
/// request rate or its failed authentications with 429 before any work, and counts this
/// request's 401 or 404 (an unknown account: someone probing) as a failure. Without a peer
/// address (the router served without connect info) nothing is limited.
pub(crate) async fn limit_by_address(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
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
