//! WhatsApp through an Evolution API instance.
//! STUB: to be implemented.

use pombo_contract::{content::ChatContent, providers::EvolutionSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "evolution";

pub struct Evolution {}

impl Evolution {
    #[allow(unused_variables)]
    pub fn new(settings: &EvolutionSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        Ok(Evolution {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &ChatContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("evolution: not implemented yet"))
    }
}
