//! SMS through Twilio Programmable Messaging.
//! STUB: to be implemented.

use pombo_contract::{content::TextContent, providers::TwilioSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "twilio";

pub struct Twilio {}

impl Twilio {
    #[allow(unused_variables)]
    pub fn new(settings: &TwilioSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        Ok(Twilio {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &TextContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("twilio: not implemented yet"))
    }
}
