//! What an APNs account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApnsSettings {
    pub team_id: String,
    /// Id of the `.p8` signing key.
    pub key_id: String,
    /// The `.p8` key (PEM, EC P-256).
    #[schema(value_type = String)]
    pub private_key: Secret,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// `https://api.push.apple.com`, or `https://api.sandbox.push.apple.com` for
    /// development builds.
    #[serde(default = "ApnsSettings::default_base_url")]
    pub base_url: String,
}

impl ApnsSettings {
    pub fn default_base_url() -> String {
        "https://api.push.apple.com".into()
    }
}
