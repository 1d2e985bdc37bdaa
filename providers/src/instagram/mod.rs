//! Instagram direct messages through Meta's Graph API, and its webhooks.
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

pub use send::Instagram;
pub use settings::InstagramSettings;

impl Provider for Instagram {
    type Settings = InstagramSettings;

    const CHANNEL: Channel = Channel::Instagram;

    const REPLY_WINDOW: Option<std::time::Duration> = None;

    const REPORTS: Option<Reports<InstagramSettings>> = Some(Reports {
        secret: |s| ("app_secret", configured(s.app_secret.as_ref())),
        parse: report::parse,
        handshake: Some(|req, s| crate::report::meta_challenge(req, s.verify_token.as_ref())),
        messages: Some(inbound::parse),
    });

    fn endpoints(settings: &InstagramSettings) -> Vec<Endpoint> {
        vec![Endpoint::url("base_url", &settings.base_url)]
    }

    fn connect(settings: &InstagramSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::Instagram::new(settings, with.http())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        msg.refuse_attachments()?;
        let Content::Instagram(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        Instagram::send(self, msg.notification_id, msg.to, c).await
    }

    async fn mark_read(&self, read: crate::Read<'_>) -> Result<crate::Receipt, DeliveryError> {
        Instagram::mark_read(self, read).await
    }

    async fn fetch_media(
        &self,
        fetch: crate::media::Fetch<'_>,
    ) -> Result<Option<crate::media::Fetched>, DeliveryError> {
        Instagram::fetch_media(self, fetch).await.map(Some)
    }

    async fn callbacks(
        &self,
        _: crate::CallbackSetup<'_>,
    ) -> Result<Option<crate::Callbacks>, crate::CallbackSetupError> {
        Ok(None)
    }
}
