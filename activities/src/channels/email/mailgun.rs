//! Email through Mailgun's Messages API.
//! STUB: to be implemented.

use pombo_contract::{content::EmailContent, providers::MailgunSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "mailgun";

pub struct Mailgun {}

impl Mailgun {
    #[allow(unused_variables)]
    pub fn new(settings: &MailgunSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        Ok(Mailgun {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &EmailContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("mailgun: not implemented yet"))
    }
}
