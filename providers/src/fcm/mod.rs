//! Push through Firebase Cloud Messaging HTTP v1 (service-account OAuth).
//!
//! `send.rs` is the request and the classification of its answers; it sends no delivery reports.

pub mod send;

use pombo_contract::{content::Content, providers::FcmSettings};

use crate::{
    Accepted, Connect, DeliveryError, Outbound, Provider, SetupError, send::wrong_channel,
};

pub use send::Fcm;

impl Provider for Fcm {
    type Settings = FcmSettings;

    const REPORTS: Option<crate::Reports<FcmSettings>> = None;

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
}
