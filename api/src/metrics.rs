//! Prometheus metrics: `GET /metrics` in the text exposition format, and the middleware that
//! counts and times every request.
//!
//! The recorder is process-wide ([`install_recorder`], called by [`crate::prepare`]); the
//! API's own counters are bumped where things happen:
//!
//! - `pombo_http_requests_total{method, route, status}` and
//!   `pombo_http_request_duration_seconds{method, route}` (histogram), by [`track`]. `route`
//!   is the matched route template (`/v1/notifications/{id}`), never the raw path, so the
//!   number of series stays bounded; requests that match no route count as `unmatched`.
//! - `pombo_notifications_accepted_total{channel, priority}`: notifications stored.
//! - `pombo_callbacks_total{provider, outcome}`: provider callback events, `outcome` one of
//!   `recorded`, `parked`, `refused` (bad signature), `malformed`.
//! - `pombo_rate_limited_total`: requests refused with `429`.
//! - `pombo_unstarted_oldest_seconds`: how long the oldest accepted notification has waited
//!   for its workflow's start (0: none waits), set by the API's sweep ([`record_backlog`]);
//!   `deploy/prometheus/pombo-alerts.yml` alerts on it.

use std::{
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::{Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::{error::ApiError, state::AppState};

/// Bucket bounds, in seconds, of the duration histograms.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder, once: later calls return the same
/// handle. Fails when another recorder is already installed in the process.
pub fn install_recorder() -> anyhow::Result<&'static PrometheusHandle> {
    static INSTALLING: Mutex<()> = Mutex::new(());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(SECONDS_BUCKETS)
        .expect("the buckets are not empty")
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    // Histograms hold their samples until drained: drain them between scrapes too.
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("pombo-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep thread not started; scrapes still drain");
    }
    describe();
    Ok(HANDLE.get_or_init(|| handle))
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!("pombo_http_requests_total", "HTTP requests answered");
    describe_histogram!(
        "pombo_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request"
    );
    describe_counter!(
        "pombo_notifications_accepted_total",
        "Notifications accepted and stored"
    );
    describe_counter!("pombo_callbacks_total", "Provider callback events received");
    describe_counter!(
        "pombo_rate_limited_total",
        "Requests refused by the per-tenant rate limit"
    );
    metrics::describe_gauge!(
        "pombo_unstarted_oldest_seconds",
        Unit::Seconds,
        "How long the oldest accepted notification has waited for its workflow to start"
    );
}

/// Sets `pombo_unstarted_oldest_seconds` from the database.
pub async fn record_backlog(db: &pombo_store::Db) -> Result<(), pombo_store::StoreError> {
    let oldest = pombo_store::notifications::oldest_unstarted(db).await?;
    let waited = oldest.map_or(0.0, |at| {
        (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0
    });
    metrics::gauge!("pombo_unstarted_oldest_seconds").set(waited);
    Ok(())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

/// The process's metrics, in the Prometheus text exposition format.
async fn render() -> Result<Response, ApiError> {
    let handle = HANDLE
        .get()
        .ok_or_else(|| ApiError::Unavailable("the metrics recorder is not installed".into()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response())
}

/// Middleware: counts and times every request by method, route template and status.
pub async fn track(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "pombo_http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => status,
    )
    .increment(1);
    metrics::histogram!(
        "pombo_http_request_duration_seconds",
        "method" => method,
        "route" => route,
    )
    .record(start.elapsed().as_secs_f64());
    response
}

/// The method as a label: any method outside the standard ones is `other`, so a client
/// cannot mint new series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, extract::Path, http::StatusCode};
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn metrics_route_label_is_the_template_not_the_raw_path() {
        let recorder = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        let app = Router::new()
            .route(
                "/v1/notifications/{id}",
                get(|Path(id): Path<String>| async move { id }),
            )
            .layer(axum::middleware::from_fn(track));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let id = "0198c1c5-3b1e-7c3a-9d2f-5a4b3c2d1e0f";
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                for path in [format!("/v1/notifications/{id}"), "/nowhere/42".into()] {
                    let request = Request::get(path).body(Body::empty()).unwrap();
                    app.clone().oneshot(request).await.unwrap();
                }
                let request = Request::builder()
                    .method("BREW")
                    .uri("/v1/notifications/x")
                    .body(Body::empty())
                    .unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            })
        });
        let rendered = handle.render();
        assert!(
            rendered.contains(
                r#"pombo_http_requests_total{method="GET",route="/v1/notifications/{id}",status="200"} 1"#
            ),
            "{rendered}"
        );
        assert!(
            rendered.contains(
                r#"pombo_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
            ),
            "{rendered}"
        );
        assert!(
            rendered.contains(r#"method="other",route="/v1/notifications/{id}",status="405""#),
            "{rendered}"
        );
        assert!(
            rendered.contains(
                r#"pombo_http_request_duration_seconds_count{method="GET",route="/v1/notifications/{id}"} 1"#
            ),
            "{rendered}"
        );
        assert!(
            !rendered.contains(id),
            "a raw id became a label: {rendered}"
        );
        assert!(!rendered.contains("/nowhere"), "{rendered}");
    }

    #[test]
    fn metrics_install_is_idempotent() {
        let first = install_recorder().unwrap() as *const PrometheusHandle;
        let second = install_recorder().unwrap() as *const PrometheusHandle;
        assert_eq!(first, second);
    }
}
