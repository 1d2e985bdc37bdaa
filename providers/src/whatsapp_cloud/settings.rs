//! What a WhatsApp Cloud account is configured with: a `[[providers]]` entry of the configuration,
//! or an account a tenant saved through `/v1/providers` (stored sealed).

use crate::settings::{default_graph_api_version, default_graph_base_url};
use pombo_contract::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsappCloudSettings {
    /// The business phone number's id in Meta.
    pub phone_number_id: String,
    #[schema(value_type = String)]
    pub access_token: Secret,
    /// The app secret, to verify `X-Hub-Signature-256` on Meta's callbacks.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub app_secret: Option<Secret>,
    /// The verify token typed into Meta's webhook settings, echoed on its `GET` handshake.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub verify_token: Option<Secret>,
    #[serde(default = "default_graph_base_url")]
    pub base_url: String,
    #[serde(default = "default_graph_api_version")]
    pub api_version: String,
}
