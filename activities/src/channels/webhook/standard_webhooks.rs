//! Outbound webhooks signed per the Standard Webhooks specification.
//! STUB: to be implemented.

use pombo_contract::recipient::RecipientRules;
use pombo_contract::{content::WebhookContent, providers::WebhookSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "standard_webhooks";

pub struct Webhook {}

impl Webhook {
    #[allow(unused_variables)]
    pub fn new(settings: &WebhookSettings, rules: RecipientRules) -> Result<Self, SetupError> {
        Ok(Webhook {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &WebhookContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("standard_webhooks: not implemented yet"))
    }
}
