//! Server-wide provider accounts pointing at a test's own provider fakes.

use pombo_contract::config::ProviderAccountConfig;
use pombo_fakes::Fakes;

/// Every non-email provider of the fakes, in failover order per channel (email goes to
/// maildev over SMTP).
pub fn on_fakes(fakes: &Fakes) -> Vec<ProviderAccountConfig> {
    pombo_fakes::accounts::accounts(&format!("http://{}", fakes.addr))
}

/// Only the accounts named.
pub fn only(fakes: &Fakes, names: &[&str]) -> Vec<ProviderAccountConfig> {
    on_fakes(fakes)
        .into_iter()
        .filter(|a| names.contains(&a.name.as_str()))
        .collect()
}
