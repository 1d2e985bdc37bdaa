//! What a WAHA account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WahaSettings {
    /// The WAHA server (self-hosted: no default).
    pub base_url: String,
    #[serde(default = "WahaSettings::default_session")]
    pub session: String,
    /// `X-Api-Key`, when the server requires one.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Secret>,
    /// The HMAC key configured on the session's webhook (`X-Webhook-Hmac`, SHA-512).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub webhook_secret: Option<Secret>,
}

impl WahaSettings {
    pub fn default_session() -> String {
        "default".into()
    }
}
