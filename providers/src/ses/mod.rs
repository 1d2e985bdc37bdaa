//! Email through Amazon SES v2 (SigV4-signed `SendEmail`).
//!
//! `send.rs` is the request and the classification of its answers; it sends no delivery reports.

pub mod send;
pub mod settings;

use pombo_contract::{Channel, content::Content};

use crate::{
    Accepted, Connect, DeliveryError, Endpoint, Outbound, Provider, SetupError, send::wrong_channel,
};

pub use send::Ses;
pub use settings::SesSettings;

impl Provider for Ses {
    type Settings = SesSettings;

    const CHANNEL: Channel = Channel::Email;

    const REPLY_WINDOW: Option<std::time::Duration> = None;

    const REPORTS: Option<crate::Reports<SesSettings>> = None;

    fn endpoints(settings: &SesSettings) -> Vec<Endpoint> {
        // Without `base_url`, the region names the endpoint.
        let field = match settings.base_url.as_deref().map(str::trim) {
            Some(u) if !u.is_empty() => "base_url",
            _ => "region",
        };
        vec![Endpoint::url(field, &settings.endpoint())]
    }

    fn connect(settings: &SesSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::Ses::new(settings, with.http())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        let Content::Email(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        self.send_with_attachments(msg.notification_id, msg.to, c, msg.attachments)
            .await
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
