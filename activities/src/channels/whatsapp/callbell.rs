//! WhatsApp through Callbell.
//! STUB: to be implemented.

use pombo_contract::{content::ChatContent, providers::CallbellSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "callbell";

pub struct Callbell {}

impl Callbell {
    #[allow(unused_variables)]
    pub fn new(settings: &CallbellSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        Ok(Callbell {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &ChatContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("callbell: not implemented yet"))
    }
}
