//! WhatsApp through Callbell, and its message status webhooks.
//!
//! `send.rs` is the request and the classification of its answers; `report.rs` what its
//! callbacks say of our messages; `inbound.rs` the messages people send in.

pub mod inbound;
pub mod report;
pub mod send;

use pombo_contract::{content::Content, providers::CallbellSettings};

use crate::{
    Accepted, Connect, DeliveryError, Outbound, Provider, Reports, SetupError, report::configured,
    send::wrong_channel,
};

pub use send::Callbell;

impl Provider for Callbell {
    type Settings = CallbellSettings;

    const REPORTS: Option<Reports<CallbellSettings>> = Some(Reports {
        secret: |s| ("webhook_secret", configured(s.webhook_secret.as_ref())),
        parse: report::parse,
        handshake: None,
        messages: Some(inbound::parse),
    });

    fn connect(settings: &CallbellSettings, with: &Connect<'_>) -> Result<Self, SetupError> {
        send::Callbell::new(settings, with.http())
    }

    async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        msg.refuse_attachments()?;
        let Content::Whatsapp(c) = msg.content else {
            return Err(wrong_channel(msg.content));
        };
        Callbell::send(self, msg.notification_id, msg.to, c).await
    }
}
