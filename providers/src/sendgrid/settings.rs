//! What a SendGrid account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendgridSettings {
    #[schema(value_type = String)]
    pub api_key: Secret,
    /// Sender (`Name <address>` or a bare address), verified in SendGrid.
    pub from: String,
    /// The Signed Event Webhook's verification key (base64 DER of an ECDSA P-256 public
    /// key, from SendGrid's Mail Settings). When set, unsigned or forged events are refused.
    #[serde(default)]
    pub webhook_public_key: Option<String>,
    #[serde(default = "SendgridSettings::default_base_url")]
    pub base_url: String,
}

impl SendgridSettings {
    pub fn default_base_url() -> String {
        "https://api.sendgrid.com".into()
    }
}
