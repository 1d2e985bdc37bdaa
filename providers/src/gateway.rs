//! WhatsApp gateways whose instances Pombo manages (an Evolution API instance, a WAHA
//! session: one connected WhatsApp number each): created on the gateway, paired by
//! scanning a QR code with the phone, watched, and logged out and deleted. Each gateway's
//! calls are its folder's `instance.rs`; other providers have no instances.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{Client, DeliveryError};

/// Where an instance stands with WhatsApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// Paired and online: it sends and receives.
    Connected,
    /// Waiting for its QR code to be scanned (`GET …/instance/qr`).
    Pairing,
    /// Starting, or reconnecting.
    Connecting,
    /// Logged out, stopped or failed: pair it again.
    Disconnected,
}

impl Connection {
    pub const ALL: [Connection; 4] = [
        Connection::Connected,
        Connection::Pairing,
        Connection::Connecting,
        Connection::Disconnected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Connection::Connected => "connected",
            Connection::Pairing => "pairing",
            Connection::Connecting => "connecting",
            Connection::Disconnected => "disconnected",
        }
    }
}

impl std::str::FromStr for Connection {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Connection::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown connection `{s}`"))
    }
}

/// An instance as its gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Instance {
    /// Its name on the gateway (the account's `instance` or `session`).
    pub name: String,
    pub connection: Connection,
    /// The gateway's own word for it (`open`, `SCAN_QR_CODE`, …).
    pub gateway_state: String,
}

/// What the phone scans to pair the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Pairing {
    /// The QR code's text, for a client that draws it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr: Option<String>,
    /// The QR code as an image (`data:image/png;base64,…`), when the gateway draws it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A code to type on the phone instead of scanning, when the gateway gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairing_code: Option<String>,
}

/// What to do with an account's instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceOp {
    Create,
    Read,
    Delete,
}

impl Client {
    /// Whether this account's provider is a gateway with instances.
    pub fn has_instances(&self) -> bool {
        matches!(self, Client::Evolution(_) | Client::Waha(_))
    }

    /// Creates, reads or deletes (logging it out first) the account's instance on its
    /// gateway; `Ok(None)` when the provider has no instances, and after a delete.
    pub async fn instance(&self, op: InstanceOp) -> Result<Option<Instance>, DeliveryError> {
        match self {
            Client::Evolution(e) => e.instance(op).await,
            Client::Waha(w) => w.instance(op).await,
            _ => Ok(None),
        }
    }

    /// The QR code that pairs the account's instance; `Ok(None)` when the provider has no
    /// instances.
    pub async fn pairing(&self) -> Result<Option<Pairing>, DeliveryError> {
        match self {
            Client::Evolution(e) => e.pairing().await.map(Some),
            Client::Waha(w) => w.pairing().await.map(Some),
            _ => Ok(None),
        }
    }
}

/// What a gateway's webhook said of its instance (`connection.update`, `session.status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceUpdate {
    pub connection: Connection,
    /// The gateway's own word (`open`, `SCAN_QR_CODE`, …).
    pub gateway_state: String,
    /// When, by the gateway's clock.
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One event a gateway's webhook can send, and what Pombo does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayEvent {
    /// Its name, as the gateway's webhook configuration spells it.
    pub name: &'static str,
    /// What it carries.
    pub meaning: &'static str,
    /// What Pombo does with it; `None`: it is answered 200 and nothing is kept.
    pub pombo: Option<&'static str>,
}

impl GatewayEvent {
    pub(crate) const fn read(
        name: &'static str,
        meaning: &'static str,
        pombo: &'static str,
    ) -> Self {
        GatewayEvent {
            name,
            meaning,
            pombo: Some(pombo),
        }
    }

    pub(crate) const fn skipped(name: &'static str, meaning: &'static str) -> Self {
        GatewayEvent {
            name,
            meaning,
            pombo: None,
        }
    }
}

/// The event catalogue of a gateway provider type (`evolution`, `waha`); `None` for the
/// providers without instances.
pub fn catalogue(kind: &str) -> Option<&'static [GatewayEvent]> {
    match kind {
        "evolution" => Some(crate::evolution::events::CATALOGUE),
        "waha" => Some(crate::waha::events::CATALOGUE),
        _ => None,
    }
}

/// What a gateway account's callback says of its instance, once authenticated like its
/// reports; nothing for other providers and other events.
pub fn instance_updates(
    req: &crate::CallbackRequest<'_>,
    settings: &crate::ProviderSettings,
) -> Result<Vec<InstanceUpdate>, crate::CallbackError> {
    match settings {
        crate::ProviderSettings::Evolution(s) => crate::evolution::events::instance_updates(req, s),
        crate::ProviderSettings::Waha(s) => crate::waha::events::instance_updates(req, s),
        _ => Ok(Vec::new()),
    }
}
