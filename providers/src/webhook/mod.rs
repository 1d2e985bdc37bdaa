//! Webhooks to a tenant's URL, signed as Standard Webhooks.
//!
//! `send.rs` is the request and the classification of its answers; it sends no delivery reports.

pub mod send;
pub mod settings;

use pombo_contract::{Channel, content::Content};

use crate::{
    Accepted, Connect, DeliveryError, Endpoint, Outbound, Provider, SetupError, send::wrong_channel,
};

pub use send::Webhook;
pub use settings::WebhookSettings;

impl Provider for Webhook {
    type Settings = WebhookSettings;

    const CHANNEL: Channel = Channel::Webhook;

    const REPLY_WINDOW: Option<std::time::Duration> = None;

    const REPORTS: Option<crate::Reports<WebhookSettings>> = None;

    fn endpoints(_: &WebhookSettings) -> Vec<Endpoint> {
        // Its target is each notification's `to`, checked before each send.
        Vec::new()
    }

    fn connect(settings: &WebhookSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::Webhook::new(settings, with.policy())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        msg.refuse_attachments()?;
        let Content::Webhook(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        Webhook::send(self, msg.notification_id, msg.to, c).await
    }

    async fn mark_read(&self, _: crate::Read<'_>) -> Result<crate::Receipt, DeliveryError> {
        Ok(crate::Receipt::NoSuchCall)
    }

    async fn fetch_media(
        &self,
        _: crate::media::Fetch<'_>,
    ) -> Result<Option<crate::media::Fetched>, DeliveryError> {
        Ok(None)
    }

    async fn callbacks(
        &self,
        _: crate::CallbackSetup<'_>,
    ) -> Result<Option<crate::Callbacks>, crate::CallbackSetupError> {
        Ok(None)
    }
}
