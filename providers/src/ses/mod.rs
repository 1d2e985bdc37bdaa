//! Email through Amazon SES v2 (SigV4-signed `SendEmail`).
//!
//! `send.rs` is the request and the classification of its answers; it sends no delivery reports.

pub mod send;

use pombo_contract::{content::Content, providers::SesSettings};

use crate::{
    Accepted, Connect, DeliveryError, Outbound, Provider, SetupError, send::wrong_channel,
};

pub use send::Ses;

impl Provider for Ses {
    type Settings = SesSettings;

    const REPORTS: Option<crate::Reports<SesSettings>> = None;

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
}
