//! Server-wide provider accounts pointing at a test's own provider fakes. The fakes give
//! them as the configuration file's tables (JSON); they are read here as Pombo reads them.

use pombo_config::ProviderAccountConfig;
use pombo_fakes::Fakes;
use pombo_providers::ProviderSettings;
use serde::de::DeserializeOwned;

/// Every non-email provider of the fakes, in failover order per channel (email goes to
/// maildev over SMTP).
pub fn on_fakes(fakes: &Fakes) -> Vec<ProviderAccountConfig> {
    pombo_fakes::accounts::accounts(&format!("http://{}", fakes.addr))
        .into_iter()
        .map(read)
        .collect()
}

/// Only the accounts named.
pub fn only(fakes: &Fakes, names: &[&str]) -> Vec<ProviderAccountConfig> {
    on_fakes(fakes)
        .into_iter()
        .filter(|a| names.contains(&a.name.as_str()))
        .collect()
}

/// A Twilio account of the fake at `base_url`.
pub fn fake_twilio(base_url: &str) -> ProviderSettings {
    read(pombo_fakes::accounts::twilio(base_url))
}

/// Settings or an account the fakes wrote, read as the configuration reads them.
pub fn read<T: DeserializeOwned>(json: serde_json::Value) -> T {
    serde_json::from_value(json).expect("the fakes' accounts are valid settings")
}
