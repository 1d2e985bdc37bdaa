//! Push through Apple Push Notification service (HTTP/2, token auth).
//! STUB: to be implemented.

use pombo_contract::{content::PushContent, providers::ApnsSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "apns";

pub struct Apns {}

impl Apns {
    #[allow(unused_variables)]
    pub fn new(settings: &ApnsSettings) -> Result<Self, SetupError> {
        Ok(Apns {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &PushContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("apns: not implemented yet"))
    }
}
