//! What a Vonage account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VonageSettings {
    pub api_key: String,
    #[schema(value_type = String)]
    pub api_secret: Secret,
    /// Sender id: a number or an alphanumeric name.
    pub from: String,
    #[serde(default = "VonageSettings::default_base_url")]
    pub base_url: String,
}

impl VonageSettings {
    pub fn default_base_url() -> String {
        "https://rest.nexmo.com".into()
    }
}
