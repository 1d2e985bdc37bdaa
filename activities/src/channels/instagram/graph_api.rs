//! Instagram Direct messages through Meta's Graph API.
//! STUB: to be implemented.

use pombo_contract::{content::ChatContent, providers::InstagramSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "graph_api";

pub struct Instagram {}

impl Instagram {
    #[allow(unused_variables)]
    pub fn new(settings: &InstagramSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        Ok(Instagram {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &ChatContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("graph_api: not implemented yet"))
    }
}
