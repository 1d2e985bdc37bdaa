//! `pombo-admin`: tenants and API keys, straight against the database (see
//! `pombo_api::admin_cli`). Configured like the API (`POMBO_CONFIG`, `POMBO_*`).

use pombo_config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let output = pombo_api::admin_cli::run(&config, &args).await?;
    eprint!("{}", output.stderr);
    print!("{}", output.stdout);
    Ok(())
}
