//! A collector stand-in for the run with traces on (`POMBO_BENCH_OTLP=1`): it takes the API's
//! and the worker's OTLP/HTTP exports and counts them, so the run pays for making, batching
//! and sending every span, as it would with a real collector on the same network.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use axum::{Router, body::Bytes, extract::State, routing::post};

#[derive(Default)]
struct Counts {
    exports: AtomicU64,
    bytes: AtomicU64,
}

pub struct Sink {
    /// `http://127.0.0.1:PORT`: the `OTEL_EXPORTER_OTLP_ENDPOINT` to give the processes.
    pub endpoint: String,
    counts: Arc<Counts>,
}

impl Sink {
    pub async fn start() -> anyhow::Result<Sink> {
        let counts = Arc::new(Counts::default());
        let app = Router::new()
            .route(
                "/v1/traces",
                post(
                    |State(counts): State<Arc<Counts>>, body: Bytes| async move {
                        counts.exports.fetch_add(1, Ordering::Relaxed);
                        counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                        ""
                    },
                ),
            )
            .with_state(counts.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Sink { endpoint, counts })
    }

    /// Exports received, and their bytes.
    pub fn received(&self) -> (u64, u64) {
        (
            self.counts.exports.load(Ordering::Relaxed),
            self.counts.bytes.load(Ordering::Relaxed),
        )
    }
}
