//! What a Twilio account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    pub account_sid: String,
    #[schema(value_type = String)]
    pub auth_token: Secret,
    /// Sender number (E.164); or give `messaging_service_sid`.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// Where Twilio posts status callbacks (our `/v1/callbacks/twilio`), if set.
    #[serde(default)]
    pub status_callback_url: Option<String>,
    #[serde(default = "TwilioSettings::default_base_url")]
    pub base_url: String,
}

impl TwilioSettings {
    pub fn default_base_url() -> String {
        "https://api.twilio.com".into()
    }
}
