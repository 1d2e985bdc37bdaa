//! Telegram through the Bot API.
//!
//! `send.rs` is the request and the classification of its answers; it sends no delivery reports.

pub mod send;

use pombo_contract::{content::Content, providers::TelegramSettings};

use crate::{
    Accepted, Connect, DeliveryError, Outbound, Provider, SetupError, send::wrong_channel,
};

pub use send::Telegram;

impl Provider for Telegram {
    type Settings = TelegramSettings;

    const REPORTS: Option<crate::Reports<TelegramSettings>> = None;

    fn connect(settings: &TelegramSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::Telegram::new(settings, with.http())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        msg.refuse_attachments()?;
        let Content::Telegram(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        Telegram::send(self, msg.notification_id, msg.to, c).await
    }
}
