//! Telegram through the Bot API.
//! STUB: to be implemented.

use pombo_contract::{content::TextContent, providers::TelegramSettings};
use uuid::Uuid;

use crate::channels::{Accepted, DeliveryError, SetupError};

pub const PROVIDER: &str = "bot_api";

pub struct Telegram {}

impl Telegram {
    #[allow(unused_variables)]
    pub fn new(settings: &TelegramSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        Ok(Telegram {})
    }

    #[allow(unused_variables)]
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &TextContent,
    ) -> Result<Accepted, DeliveryError> {
        Err(DeliveryError::permanent("bot_api: not implemented yet"))
    }
}
