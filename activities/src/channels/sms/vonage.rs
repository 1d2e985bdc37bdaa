//! SMS through the Vonage SMS API.
//! STUB: to be implemented.

use pombo_contract::{content::TextContent, providers::VonageSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "vonage";

pub struct Vonage {}

impl Vonage {
    #[allow(unused_variables)]
    pub fn new(settings: &VonageSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        Ok(Vonage {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &TextContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("vonage: not implemented yet"))
    }
}
