//! WhatsApp through Meta's Cloud API, and its webhooks (signed with the app secret).
//!
//! `send.rs` is the request and the classification of its answers; `report.rs` what its
//! callbacks say of our messages; `inbound.rs` the messages people send in.

pub mod inbound;
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

pub use send::WhatsappCloud;
pub use settings::WhatsappCloudSettings;

impl Provider for WhatsappCloud {
    type Settings = WhatsappCloudSettings;

    const CHANNEL: Channel = Channel::Whatsapp;

    /// Meta's customer-service window: free-form messages only within 24 hours of the
    /// contact's last message, templates any time.
    const REPLY_WINDOW: Option<std::time::Duration> =
        Some(std::time::Duration::from_secs(24 * 3600));

    const REPORTS: Option<Reports<WhatsappCloudSettings>> = Some(Reports {
        secret: |s| ("app_secret", configured(s.app_secret.as_ref())),
        parse: report::parse,
        handshake: Some(|req, s| crate::report::meta_challenge(req, s.verify_token.as_ref())),
        messages: Some(inbound::parse),
    });

    fn endpoints(settings: &WhatsappCloudSettings) -> Vec<Endpoint> {
        vec![Endpoint::url("base_url", &settings.base_url)]
    }

    fn connect(settings: &WhatsappCloudSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::WhatsappCloud::new(settings, with.http())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        msg.refuse_attachments()?;
        let Content::Whatsapp(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        WhatsappCloud::send(self, msg.notification_id, msg.to, c).await
    }

    async fn mark_read(&self, read: crate::Read<'_>) -> Result<crate::Receipt, DeliveryError> {
        WhatsappCloud::mark_read(self, read).await
    }

    async fn fetch_media(
        &self,
        fetch: crate::media::Fetch<'_>,
    ) -> Result<Option<crate::media::Fetched>, DeliveryError> {
        WhatsappCloud::fetch_media(self, fetch).await.map(Some)
    }

    async fn callbacks(
        &self,
        _: crate::CallbackSetup<'_>,
    ) -> Result<Option<crate::Callbacks>, crate::CallbackSetupError> {
        Ok(None)
    }
}
