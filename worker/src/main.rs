use pombo_config::Config;
use pombo_contract::config::LogFormat;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load()?;
    init_tracing(config.log_format);
    match std::env::args().nth(1).as_deref() {
        // Last step of a key rotation: re-seal everything sealed with an older key.
        Some("reseal") => pombo_worker::reseal(&config).await,
        Some(other) => anyhow::bail!("unknown command `{other}`; usage: pombo-worker [reseal]"),
        None => pombo_worker::run(config, shutdown_signal()).await,
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,temporalio_sdk_core=warn".into());
    // Colours only for a person at a terminal: in a log file they are escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
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
