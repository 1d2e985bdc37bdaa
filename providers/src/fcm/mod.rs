//! Push through Firebase Cloud Messaging HTTP v1 (service-account OAuth).
//!
//! `send.rs` is the request and the classification of its answers; it sends no delivery reports.

pub mod send;
pub mod settings;

use pombo_contract::{Channel, content::Content};

use crate::{
    Accepted, Connect, DeliveryError, Endpoint, Outbound, Provider, SetupError, send::wrong_channel,
};

pub use send::Fcm;
pub use settings::FcmSettings;

impl Provider for Fcm {
    type Settings = FcmSettings;

    const CHANNEL: Channel = Channel::Push;

    const REPLY_WINDOW: Option<std::time::Duration> = None;

    const REPORTS: Option<crate::Reports<FcmSettings>> = None;

    fn endpoints(settings: &FcmSettings) -> Vec<Endpoint> {
        vec![
            Endpoint::url("token_uri", &settings.token_uri),
            Endpoint::url("base_url", &settings.base_url),
        ]
    }

    fn connect(settings: &FcmSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::Fcm::new(settings, with.http())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        msg.refuse_attachments()?;
        let Content::Push(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        Fcm::send(self, msg.notification_id, msg.to, c).await
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
