//! `pombo-fakes`: every provider fake on one port, for `make run` and manual testing.
//! Usage: `pombo-fakes [LISTEN_ADDR]` (default `127.0.0.1:4010`), or
//! `pombo-fakes --print-config BASE_URL` to print Pombo provider accounts for them.

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--print-config") {
        let base = args
            .next()
            .unwrap_or_else(|| "http://127.0.0.1:4010".into());
        print!("{}", pombo_fakes::accounts::config_toml(&base));
        return Ok(());
    }
    tracing_subscriber::fmt().with_env_filter("info").init();
    let addr: SocketAddr = first.unwrap_or_else(|| "127.0.0.1:4010".into()).parse()?;
    let fakes = pombo_fakes::Fakes::start_on(addr).await?;
    tracing::info!("provider fakes listening on http://{}", fakes.addr);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
