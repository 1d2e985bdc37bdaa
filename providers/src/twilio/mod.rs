//! SMS through Twilio Programmable Messaging, and its status callbacks (signed with the auth token).
//!
//! `send.rs` is the request, `report.rs` what its callbacks mean, `codes.rs` its error codes
//! (which decide a retry, and the words of delivery errors), `inbound.rs` the messages people
//! send in.

pub mod codes;
pub mod inbound;
pub mod media;
pub mod report;
pub mod send;
pub mod settings;

use pombo_contract::{Channel, content::Content};

use crate::{
    Accepted, Connect, DeliveryError, Endpoint, Outbound, Provider, Reports, SetupError,
    report::configured, send::wrong_channel,
};

pub use send::Twilio;
pub use settings::TwilioSettings;

impl Provider for Twilio {
    type Settings = TwilioSettings;

    const CHANNEL: Channel = Channel::Sms;

    const REPLY_WINDOW: Option<std::time::Duration> = None;

    const REPORTS: Option<Reports<TwilioSettings>> = Some(Reports {
        secret: |s| ("auth_token", configured(Some(&s.auth_token))),
        parse: report::parse,
        handshake: None,
        messages: Some(inbound::parse),
    });

    fn endpoints(settings: &TwilioSettings) -> Vec<Endpoint> {
        vec![Endpoint::url("base_url", &settings.base_url)]
    }

    fn connect(settings: &TwilioSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::Twilio::new(settings, with.http())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        msg.refuse_attachments()?;
        let Content::Sms(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        Twilio::send(self, msg.notification_id, msg.to, c).await
    }

    async fn mark_read(&self, _: crate::Read<'_>) -> Result<crate::Receipt, DeliveryError> {
        Ok(crate::Receipt::NoSuchCall)
    }

    async fn fetch_media(
        &self,
        fetch: crate::media::Fetch<'_>,
    ) -> Result<Option<crate::media::Fetched>, DeliveryError> {
        Twilio::fetch_media(self, fetch).await.map(Some)
    }

    async fn callbacks(
        &self,
        _: crate::CallbackSetup<'_>,
    ) -> Result<Option<crate::Callbacks>, crate::CallbackSetupError> {
        Ok(None)
    }
}
