//! WhatsApp through a WAHA session.
//! STUB: to be implemented.

use pombo_contract::{content::ChatContent, providers::WahaSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "waha";

pub struct Waha {}

impl Waha {
    #[allow(unused_variables)]
    pub fn new(settings: &WahaSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        Ok(Waha {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &ChatContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("waha: not implemented yet"))
    }
}
