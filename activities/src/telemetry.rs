//! Prometheus metrics of the worker process: the recorder ([`install_recorder`]) whose
//! handle the worker renders on `GET /metrics`. The activities record:
//!
//! - `pombo_send_attempts_total{channel, provider_type, outcome}`, `outcome` one of `sent`,
//!   `retryable_error`, `permanent_error`;
//! - `pombo_provider_call_seconds{provider_type}`: histogram of provider calls.
//!
//! The API installs its own recorder (`pombo_api::metrics`); in a process running both (the
//! tests), the worker records into the API's, and installs none.

use std::{
    sync::{Mutex, OnceLock},
    time::Duration,
};

use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

/// Bucket bounds, in seconds, of the duration histograms.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Installs the process-wide Prometheus recorder, once: later calls return the same
/// handle. Fails when another recorder is already installed in the process.
pub fn install_recorder() -> Result<&'static PrometheusHandle, BuildError> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    static INSTALLING: Mutex<()> = Mutex::new(());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(SECONDS_BUCKETS)?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
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
    metrics::describe_counter!(
        "pombo_send_attempts_total",
        "Attempts to hand a notification to a provider"
    );
    metrics::describe_histogram!(
        "pombo_provider_call_seconds",
        metrics::Unit::Seconds,
        "Time a provider took to answer a send"
    );
    Ok(HANDLE.get_or_init(|| handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telemetry_install_is_idempotent() {
        let first = install_recorder().unwrap() as *const PrometheusHandle;
        let second = install_recorder().unwrap() as *const PrometheusHandle;
        assert_eq!(first, second);
        metrics::counter!("pombo_send_attempts_total", "channel" => "sms").increment(1);
        let rendered = install_recorder().unwrap().render();
        assert!(
            rendered.contains(r#"pombo_send_attempts_total{channel="sms"} 1"#),
            "{rendered}"
        );
    }
}
