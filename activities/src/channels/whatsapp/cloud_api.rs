//! WhatsApp through Meta's WhatsApp Cloud API.
//! STUB: to be implemented.

use pombo_contract::{content::ChatContent, providers::WhatsappCloudSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "cloud_api";

pub struct WhatsappCloud {}

impl WhatsappCloud {
    #[allow(unused_variables)]
    pub fn new(settings: &WhatsappCloudSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        Ok(WhatsappCloud {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &ChatContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("cloud_api: not implemented yet"))
    }
}
