//! SMS through Vonage's SMS API.
//!
//! `send.rs` is the request and the classification of its answers; it sends no delivery reports.

pub mod send;

use pombo_contract::{content::Content, providers::VonageSettings};

use crate::{
    Accepted, Connect, DeliveryError, Outbound, Provider, SetupError, send::wrong_channel,
};

pub use send::Vonage;

impl Provider for Vonage {
    type Settings = VonageSettings;

    const REPORTS: Option<crate::Reports<VonageSettings>> = None;

    fn connect(settings: &VonageSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::Vonage::new(settings, with.http())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        msg.refuse_attachments()?;
        let Content::Sms(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        Vonage::send(self, msg.notification_id, msg.to, c).await
    }
}
