//! WhatsApp through a WAHA gateway session, and its webhooks (HMAC-SHA512).
//!
//! `send.rs` is the request and the classification of its answers; `report.rs` what its
//! callbacks say of our messages; `inbound.rs` the messages people send in.

pub mod callbacks;
pub mod events;
pub mod inbound;
pub mod instance;
pub mod media;
pub mod read;
pub mod report;
pub mod send;
pub mod settings;

use pombo_contract::{Channel, content::Content};

use crate::{
    Accepted, Connect, DeliveryError, Endpoint, Outbound, Provider, Reports, SetupError,
    report::configured, send::wrong_channel,
};

pub use send::Waha;
pub use settings::WahaSettings;

impl Provider for Waha {
    type Settings = WahaSettings;

    const CHANNEL: Channel = Channel::Whatsapp;

    const REPLY_WINDOW: Option<std::time::Duration> = None;

    const REPORTS: Option<Reports<WahaSettings>> = Some(Reports {
        secret: |s| ("webhook_secret", configured(s.webhook_secret.as_ref())),
        parse: report::parse,
        handshake: None,
        messages: Some(inbound::parse),
    });

    fn endpoints(settings: &WahaSettings) -> Vec<Endpoint> {
        vec![Endpoint::url("base_url", &settings.base_url)]
    }

    fn connect(settings: &WahaSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::Waha::new(settings, with.http())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        msg.refuse_attachments()?;
        let Content::Whatsapp(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        Waha::send(self, msg.notification_id, msg.to, c).await
    }

    async fn mark_read(&self, read: crate::Read<'_>) -> Result<crate::Receipt, DeliveryError> {
        Waha::mark_read(self, read).await
    }

    async fn fetch_media(
        &self,
        fetch: crate::media::Fetch<'_>,
    ) -> Result<Option<crate::media::Fetched>, DeliveryError> {
        Waha::fetch_media(self, fetch).await.map(Some)
    }

    async fn callbacks(
        &self,
        setup: crate::CallbackSetup<'_>,
    ) -> Result<Option<crate::Callbacks>, crate::CallbackSetupError> {
        Waha::callbacks(self, setup).await.map(Some)
    }
}
