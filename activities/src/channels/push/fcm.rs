//! Push through Firebase Cloud Messaging HTTP v1.
//! STUB: to be implemented.

use pombo_contract::{content::PushContent, providers::FcmSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "fcm";

pub struct Fcm {}

impl Fcm {
    #[allow(unused_variables)]
    pub fn new(settings: &FcmSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        Ok(Fcm {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &PushContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("fcm: not implemented yet"))
    }
}
