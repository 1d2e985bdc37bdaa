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

/// The settings of the fakes' account `name`.
pub fn fake_account(fakes: &Fakes, name: &str) -> ProviderSettings {
    on_fakes(fakes)
        .into_iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("the fakes have no account `{name}`"))
        .settings
}

/// Registers `settings` as a tenant account of the app's dev tenant named `name`: its
/// callback path (`/v1/callbacks/<type>/<id>`).
pub async fn tenant_account(
    app: &super::TestApp,
    name: &str,
    settings: &ProviderSettings,
) -> String {
    let (code, created) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&serde_json::json!({"name": name, "settings": settings})),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    format!(
        "/v1/callbacks/{}/{}",
        settings.kind(),
        created["id"].as_str().unwrap()
    )
}

/// The fakes' account `name`, registered as a tenant account under the same name: its
/// callback path.
pub async fn fakes_tenant_account(app: &super::TestApp, name: &str) -> String {
    tenant_account(app, name, &fake_account(&app.fakes, name)).await
}

/// The messages of the dev tenant's conversation with `address`, newest first.
pub async fn messages_with(app: &super::TestApp, address: &str) -> Vec<serde_json::Value> {
    let (code, page) = app.call("GET", "/v1/conversations", None).await;
    assert_eq!(code, 200, "{page}");
    let conversation = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["contact"]["address"] == address)
        .unwrap_or_else(|| panic!("no conversation with {address}: {page}"))
        .clone();
    let path = format!(
        "/v1/conversations/{}/messages",
        conversation["id"].as_str().unwrap()
    );
    let (code, page) = app.call("GET", &path, None).await;
    assert_eq!(code, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}
