//! What an Amazon SES account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SesSettings {
    /// The AWS region whose SES endpoint sends (`us-east-1`, `eu-west-1`, …); it is also
    /// part of every request's signature.
    #[serde(default = "SesSettings::default_region")]
    pub region: String,
    /// An IAM access key allowed `ses:SendEmail`.
    pub access_key_id: String,
    #[schema(value_type = String)]
    pub secret_access_key: Secret,
    /// For temporary credentials (STS): the session token that goes with the key.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub session_token: Option<Secret>,
    /// Sender (`Name <address>` or a bare address), a verified identity in SES.
    pub from: String,
    /// The configuration set to send with: SES publishes the delivery events of its
    /// event destinations (SNS, EventBridge, …).
    #[serde(default)]
    pub configuration_set: Option<String>,
    /// The API endpoint; by default `https://email.{region}.amazonaws.com`.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl SesSettings {
    pub fn default_region() -> String {
        "us-east-1".into()
    }

    /// The endpoint requests go to: `base_url`, else the region's public endpoint.
    pub fn endpoint(&self) -> String {
        match self.base_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => url.to_owned(),
            _ => format!("https://email.{}.amazonaws.com", self.region.trim()),
        }
    }
}
