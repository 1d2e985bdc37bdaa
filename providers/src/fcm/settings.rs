//! What an FCM account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FcmSettings {
    pub project_id: String,
    /// The service account's `client_email`.
    pub client_email: String,
    /// The service account's `private_key` (PEM, RSA).
    #[schema(value_type = String)]
    pub private_key: Secret,
    /// The service account's `token_uri`, where the signed JWT is exchanged for a token.
    #[serde(default = "FcmSettings::default_token_uri")]
    pub token_uri: String,
    #[serde(default = "FcmSettings::default_base_url")]
    pub base_url: String,
}

impl FcmSettings {
    pub fn default_token_uri() -> String {
        "https://oauth2.googleapis.com/token".into()
    }
    pub fn default_base_url() -> String {
        "https://fcm.googleapis.com".into()
    }
}
