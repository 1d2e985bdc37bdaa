//! What a Mailgun account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailgunSettings {
    #[schema(value_type = String)]
    pub api_key: Secret,
    /// The sending domain registered in Mailgun.
    pub domain: String,
    pub from: String,
    /// The HTTP webhook signing key (Mailgun's Webhooks page), to verify event signatures.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub webhook_signing_key: Option<Secret>,
    /// `https://api.mailgun.net` (US) or `https://api.eu.mailgun.net` (EU).
    #[serde(default = "MailgunSettings::default_base_url")]
    pub base_url: String,
}

impl MailgunSettings {
    pub fn default_base_url() -> String {
        "https://api.mailgun.net".into()
    }
}
