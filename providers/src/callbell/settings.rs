//! What a Callbell account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbellSettings {
    #[schema(value_type = String)]
    pub api_token: Secret,
    /// The WhatsApp channel to send from, when the account has several.
    #[serde(default)]
    pub channel_uuid: Option<String>,
    /// A secret our callback URL must carry (`?secret=`): Callbell does not sign its
    /// webhooks, so the URL itself is the credential.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub webhook_secret: Option<Secret>,
    #[serde(default = "CallbellSettings::default_base_url")]
    pub base_url: String,
}

impl CallbellSettings {
    pub fn default_base_url() -> String {
        "https://api.callbell.eu".into()
    }
}
