//! Push through Apple Push Notification service (HTTP/2, token auth).
//!
//! `send.rs` is the request and the classification of its answers; it sends no delivery reports.

pub mod send;

use pombo_contract::{content::Content, providers::ApnsSettings};

use crate::{
    Accepted, Connect, DeliveryError, Outbound, Provider, SetupError, send::wrong_channel,
};

pub use send::Apns;

impl Provider for Apns {
    type Settings = ApnsSettings;

    const REPORTS: Option<crate::Reports<ApnsSettings>> = None;

    fn connect(settings: &ApnsSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::Apns::new(settings, with.builder())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        msg.refuse_attachments()?;
        let Content::Push(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        Apns::send(self, msg.notification_id, msg.to, c).await
    }
}
