//! `pombo-fakes`: every provider fake on one port, for `make run` and manual testing.
//! Usage: `pombo-fakes [LISTEN_ADDR]` (default `127.0.0.1:4010`).

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4010".into())
        .parse()?;
    let fakes = pombo_fakes::Fakes::start_on(addr).await?;
    tracing::info!("provider fakes listening on http://{}", fakes.addr);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
