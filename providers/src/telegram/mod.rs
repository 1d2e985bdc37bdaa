//! Telegram through the Bot API.
//!
//! `send.rs` is the request and the classification of its answers; `inbound.rs` the updates
//! people's messages arrive in (Telegram reports no delivery).

pub mod callbacks;
pub mod inbound;
pub mod media;
pub mod send;
pub mod settings;

use pombo_contract::{Channel, content::Content};

use crate::{
    Accepted, Connect, DeliveryError, Endpoint, Outbound, Provider, Reports, SetupError,
    report::configured, send::wrong_channel,
};

pub use send::Telegram;
pub use settings::TelegramSettings;

impl Provider for Telegram {
    type Settings = TelegramSettings;

    const CHANNEL: Channel = Channel::Telegram;

    const REPLY_WINDOW: Option<std::time::Duration> = None;

    const REPORTS: Option<Reports<TelegramSettings>> = Some(Reports {
        secret: |s| ("secret_token", configured(s.secret_token.as_ref())),
        parse: inbound::reports,
        handshake: None,
        messages: Some(inbound::parse),
    });

    fn endpoints(settings: &TelegramSettings) -> Vec<Endpoint> {
        vec![Endpoint::url("base_url", &settings.base_url)]
    }

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

    async fn mark_read(&self, _: crate::Read<'_>) -> Result<crate::Receipt, DeliveryError> {
        Ok(crate::Receipt::NoSuchCall)
    }

    async fn fetch_media(
        &self,
        fetch: crate::media::Fetch<'_>,
    ) -> Result<Option<crate::media::Fetched>, DeliveryError> {
        Telegram::fetch_media(self, fetch).await.map(Some)
    }

    async fn callbacks(
        &self,
        setup: crate::CallbackSetup<'_>,
    ) -> Result<Option<crate::Callbacks>, crate::CallbackSetupError> {
        Telegram::callbacks(self, setup).await.map(Some)
    }
}
