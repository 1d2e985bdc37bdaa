//! Email through SendGrid's v3 Mail Send API, and its Event Webhook (signed with ECDSA).
//!
//! `send.rs` is the request and the classification of its answers; `report.rs` what its callbacks mean.

pub mod report;
pub mod send;
pub mod settings;

use pombo_contract::{Channel, content::Content};

use crate::{
    Accepted, Connect, DeliveryError, Endpoint, Outbound, Provider, Reports, SetupError,
    send::wrong_channel,
};

pub use send::Sendgrid;
pub use settings::SendgridSettings;

impl Provider for Sendgrid {
    type Settings = SendgridSettings;

    const CHANNEL: Channel = Channel::Email;

    const REPLY_WINDOW: Option<std::time::Duration> = None;

    const REPORTS: Option<Reports<SendgridSettings>> = Some(Reports {
        secret: |s| {
            (
                "webhook_public_key",
                s.webhook_public_key
                    .as_deref()
                    .filter(|k| !k.trim().is_empty()),
            )
        },
        parse: report::parse,
        handshake: None,
        messages: None,
    });

    fn endpoints(settings: &SendgridSettings) -> Vec<Endpoint> {
        vec![Endpoint::url("base_url", &settings.base_url)]
    }

    fn connect(settings: &SendgridSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::Sendgrid::new(settings, with.http())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        let Content::Email(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        self.send_email(
            msg.notification_id,
            msg.to,
            c,
            msg.attachments,
            msg.unsubscribe,
        )
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
