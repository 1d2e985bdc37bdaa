//! What a Telegram bot account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelegramSettings {
    #[schema(value_type = String)]
    pub bot_token: Secret,
    /// Checked against `X-Telegram-Bot-Api-Secret-Token` on updates, if set.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret_token: Option<Secret>,
    #[serde(default = "TelegramSettings::default_base_url")]
    pub base_url: String,
}

impl TelegramSettings {
    pub fn default_base_url() -> String {
        "https://api.telegram.org".into()
    }
}
