//! Telling a provider that a contact's messages were read: WhatsApp's blue ticks, sent
//! when an agent reads the conversation (`POST /v1/conversations/{id}/read`). Providers
//! without such a call say so ([`Receipt::NoSuchCall`]); nothing is retried (a receipt is a
//! courtesy, and the next read sends a newer one).

use serde::Serialize;
use utoipa::ToSchema;

/// Messages a contact sent that were read.
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    /// The contact, as the conversation names it (`+5511…`, or a platform id).
    pub contact: &'a str,
    /// The provider's ids of the messages read, oldest first; never empty.
    pub message_ids: &'a [String],
}

impl Read<'_> {
    /// The newest message read (WhatsApp Cloud marks it and every earlier one).
    pub fn newest(&self) -> &str {
        self.message_ids
            .last()
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// What the provider was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Receipt {
    /// The provider accepted the read receipt.
    Sent,
    /// The provider has no read receipts (SMS, email, Telegram bots, …).
    NoSuchCall,
}
