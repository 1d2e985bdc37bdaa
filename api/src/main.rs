use anyhow::Context;
use pombo_config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load()?;
    // Logs, and traces when OTEL_EXPORTER_OTLP_ENDPOINT is set; sent on the way out.
    let _telemetry = pombo_telemetry::init(
        "pombo-api",
        config.log_format,
        "info,tower_http=info,temporalio_client=warn",
    );
    let listen = config.listen;
    // Ready before reachable: whoever waits for the port (`make run`, a readiness probe)
    // finds the migrations applied and the dev tenant made. A port bound first accepts
    // connections into its backlog while that is still going on.
    let state = pombo_api::prepare(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    pombo_api::run(state, listener, shutdown_signal()).await
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
