//! The Pombo HTTP API: accepts notifications, starts their workflows, and serves their
//! status. One module per resource; errors in one problem format ([`error`]).

pub mod admin_cli;
pub mod admin_page;
pub mod analytics;
pub mod auth;
pub mod batches;
pub mod callbacks;
pub mod conversations;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod extract;
pub mod files;
pub mod health;
pub mod hub;
pub mod metrics;
pub mod notifications;
pub mod openapi;
pub mod operators;
pub mod paging;
pub mod providers;
pub mod rate_limit;
pub mod recipients;
pub mod routing_rules;
pub mod state;
pub mod stream;
pub mod strict;
pub mod suppressions;
pub mod templates;
pub mod tenants;
pub mod tls;
pub mod tracking;
pub mod webhooks;

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State},
    routing::get,
};
use pombo_config::Config;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::{dispatch::Dispatcher, error::ApiError, state::AppState};

/// Name of the tenant that `dev_api_key` belongs to.
pub const DEV_TENANT: &str = "dev";

/// Connects to the database, applies migrations and prepares the dev tenant if configured.
pub async fn prepare(config: Config) -> anyhow::Result<AppState> {
    metrics::install_recorder()?;
    if let Some(paths) = &config.api.tls {
        tls::check(paths)?;
    }
    let db = pombo_store::open(&config.database_url)
        .await
        .context("opening the database")?;
    if let Some(key) = &config.dev_api_key {
        pombo_store::tenants::ensure_with_key(&db, DEV_TENANT, key.expose())
            .await
            .context("preparing the dev tenant")?;
    }
    let dispatcher = Arc::new(Dispatcher::new(
        db.clone(),
        config.temporal.clone(),
        config.delivery.clone(),
    ));
    let keyring = pombo_store::sealed::Keyring::from_config(&config.encryption)
        .context("loading the encryption keys")?
        .map(Arc::new);
    if keyring.is_none() {
        tracing::warn!(
            "encryption.keys is empty: recipients and content are stored in clear, and tenants cannot register provider accounts, until a key is configured"
        );
    }
    pombo_store::sealed::install(keyring.as_deref().cloned());
    let rate_limiter = Arc::new(rate_limit::RateLimiter::new(&config.api.rate_limit));
    let callback_limiter = Arc::new(rate_limit::CallbackLimiter::new(
        &config.api.callback_rate_limit,
    ));
    let object_store =
        Arc::new(files::ObjectStore::new(&config.storage).context("configuring object storage")?);
    object_store.ensure_bucket_in_background();
    let renderer = pombo_renderer::Renderer::start(&config.render)
        .await
        .context("starting the render processes")?;
    let providers = Arc::new(
        pombo_providers::outbound::OutboundClients::new(config.outbound.clone())
            .context("building the providers' HTTP clients")?,
    );
    let streams = Arc::new(stream::Streams::new(db.clone(), &config));
    Ok(AppState {
        streams,
        db,
        config: Arc::new(config),
        dispatcher,
        keyring,
        rate_limiter,
        callback_limiter,
        sign_in_throttle: Default::default(),
        object_store,
        renderer,
        providers,
    })
}

/// The documented routes: each handler's `#[utoipa::path]` is both its route and its entry
/// in the OpenAPI document, so the two cannot disagree.
pub fn api_routes(state: &AppState) -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .merge(notifications::router())
        .merge(batches::router())
        .merge(conversations::router())
        .merge(events::router())
        .merge(analytics::router())
        .merge(stream::router())
        .merge(providers::router())
        .merge(recipients::router())
        .merge(routing_rules::router())
        .merge(suppressions::router())
        .merge(tracking::router())
        .merge(templates::router())
        .merge(files::router())
        .merge(tenants::router())
        .merge(webhooks::router())
        .merge(hub::router(state))
        .merge(callbacks::router(state))
        .merge(operators::router())
}

pub fn router(state: AppState) -> Router {
    let (api, document) = api_routes(&state).split_for_parts();
    Router::new()
        .route("/", get(index))
        .merge(api)
        .merge(admin_page::router())
        .merge(metrics::router())
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi::finish(document)))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(rate_limit::headers))
        .layer(DefaultBodyLimit::max(state.config.api.max_body_bytes))
        // The path, not the query: a stream token travels in it (`?token=`).
        // A trace's root span is named by the route, not the path (ids stay out of span
        // names); the log lines inside it name its trace (`pombo_telemetry::WithTraceId`).
        .layer(TraceLayer::new_for_http().make_span_with(
            |request: &axum::http::Request<axum::body::Body>| {
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("unmatched", |p| p.as_str());
                let span = tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    otel.name = %format_args!("{} {route}", request.method()),
                    otel.kind = "server",
                    http.route = route,
                );
                span
            },
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
}

async fn index(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "name": "pombo",
        "version": env!("CARGO_PKG_VERSION"),
        "links": {
            "notifications": "/v1/notifications",
            "providers": "/v1/providers",
            "recipients": "/v1/recipients",
            "routing_rules": "/v1/routing-rules",
            "templates": "/v1/templates",
            "keys": "/v1/keys",
            "openapi": "/openapi.json",
            "docs": "/docs/",
            "admin": "/admin",
            "temporal_ui": state.config.temporal.ui_url,
        }
    }))
}

/// Prepares and serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run(prepare(config).await?, listener, shutdown).await
}

/// Serves a prepared API on `listener` until `shutdown` resolves, with the dispatch sweep
/// running beside it.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let every = Duration::from_secs(state.config.api.dispatch_sweep_secs.max(1));
    let grace = Duration::from_secs(state.config.api.dispatch_grace_secs);
    // The sweeps only where configured (`api.sweeps`): replicas need not all poll for them.
    let sweeps = state.config.api.sweeps.then(|| {
        let dispatcher = state.dispatcher.clone();
        let batch_state = state.clone();
        let hub_state = state.clone();
        let backlog_db = state.db.clone();
        [
            tokio::spawn(dispatch::sweep_forever("notification", every, move || {
                let dispatcher = dispatcher.clone();
                let db = backlog_db.clone();
                async move {
                    let started = dispatcher.sweep(grace).await;
                    // The backlog's age after the sweep: what workers have not caught up on.
                    if let Err(e) = metrics::record_backlog(&db).await {
                        tracing::debug!(error = %e, "backlog age not measured");
                    }
                    started
                }
            })),
            tokio::spawn(dispatch::sweep_forever("batch", every, move || {
                let state = batch_state.clone();
                async move { batches::dispatch::sweep(&state, grace).await }
            })),
            tokio::spawn(dispatch::sweep_forever("hub bridge", every, move || {
                let state = hub_state.clone();
                async move { hub::bridge::sweep(&state).await }
            })),
        ]
    });
    let starter = tokio::spawn(state.dispatcher.clone().run_queue());
    let tls = state.config.api.tls.clone();
    tracing::info!(address = %listener.local_addr()?, https = tls.is_some(), "API listening");
    let app = router(state);
    // With each connection's peer address: provider callbacks are limited per client address.
    let result = match &tls {
        Some(paths) => tls::serve(listener, app, paths, shutdown).await,
        None => axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Into::into),
    };
    for sweep in sweeps.into_iter().flatten() {
        sweep.abort();
    }
    starter.abort();
    result
}
