//! Delivery channels. Each provider turns a rendered message into one request to its
//! service and classifies the outcome: sent (with the provider's message id), a transient
//! failure worth retrying, or a permanent refusal that no retry can fix.

pub mod email;

/// A provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The provider's id for this message, used to match its later status callbacks.
    pub provider_message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth another attempt: timeouts, connection failures, 4xx SMTP replies, 5xx/429 HTTP.
    #[error("{0}")]
    Retryable(String),
    /// No attempt can succeed: bad recipient, refused credentials, rejected content.
    #[error("{0}")]
    Permanent(String),
}
