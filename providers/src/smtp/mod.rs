//! Email over SMTP (lettre), to the operator's server or a tenant's.
//!
//! `send.rs` is the request and the classification of its answers; it sends no delivery reports.

pub mod send;
pub mod settings;

use pombo_contract::{Channel, content::Content};

use crate::{
    Accepted, Connect, DeliveryError, Endpoint, Outbound, Provider, SetupError, send::wrong_channel,
};

pub use send::SmtpProvider;
pub use settings::SmtpSettings;

impl Provider for SmtpProvider {
    type Settings = SmtpSettings;

    const CHANNEL: Channel = Channel::Email;

    const REPLY_WINDOW: Option<std::time::Duration> = None;

    const REPORTS: Option<crate::Reports<SmtpSettings>> = None;

    fn endpoints(settings: &SmtpSettings) -> Vec<Endpoint> {
        vec![Endpoint::Host {
            field: "host",
            host: settings.host.clone(),
            port: settings.port,
        }]
    }

    fn connect(settings: &SmtpSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::SmtpProvider::from_settings(settings, with.tenant_policy())
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
