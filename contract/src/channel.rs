use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every channel the source documents ask for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Push,
    Whatsapp,
    Instagram,
    Telegram,
    Webhook,
    /// The recipient's inbox in the tenant's own app (`GET /v1/recipients/{id}/inbox`).
    InApp,
}

impl Channel {
    pub const ALL: [Channel; 8] = [
        Channel::Email,
        Channel::Sms,
        Channel::Push,
        Channel::Whatsapp,
        Channel::Instagram,
        Channel::Telegram,
        Channel::Webhook,
        Channel::InApp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::Whatsapp => "whatsapp",
            Channel::Instagram => "instagram",
            Channel::Telegram => "telegram",
            Channel::Webhook => "webhook",
            Channel::InApp => "in_app",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown channel `{s}`"))
    }
}
