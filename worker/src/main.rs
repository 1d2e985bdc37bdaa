use pombo_config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load()?;
    // Logs, and traces when OTEL_EXPORTER_OTLP_ENDPOINT is set; sent on the way out.
    let _telemetry = pombo_telemetry::init(
        "pombo-worker",
        config.log_format,
        "info,temporalio_sdk_core=warn",
    );
    match std::env::args().nth(1).as_deref() {
        // Last step of a key rotation: re-seal everything sealed with an older key.
        Some("reseal") => pombo_worker::reseal(&config).await,
        Some(other) => anyhow::bail!("unknown command `{other}`; usage: pombo-worker [reseal]"),
        None => pombo_worker::run(config, shutdown_signal()).await,
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
