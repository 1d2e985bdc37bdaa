//! Email through SendGrid's v3 Mail Send API.
//! STUB: to be implemented.

use pombo_contract::{content::EmailContent, providers::SendgridSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "sendgrid";

pub struct Sendgrid {}

impl Sendgrid {
    #[allow(unused_variables)]
    pub fn new(settings: &SendgridSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        Ok(Sendgrid {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &EmailContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("sendgrid: not implemented yet"))
    }
}
