//! What an Evolution API account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvolutionSettings {
    /// The Evolution API server (self-hosted: no default).
    pub base_url: String,
    /// The instance (one connected WhatsApp number).
    pub instance: String,
    #[schema(value_type = String)]
    pub api_key: Secret,
    /// A secret our callback URL must carry (`?secret=`): Evolution does not sign its
    /// webhooks, so the URL itself is the credential.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub webhook_secret: Option<Secret>,
}
