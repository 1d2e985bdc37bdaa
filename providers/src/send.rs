//! What every send takes and answers: the message on its way ([`Outbound`]), the provider's
//! acceptance ([`Accepted`]) or refusal, classified as retryable or permanent
//! ([`DeliveryError`]), and settings that cannot work ([`SetupError`]). The retry policy
//! (`pombo_contract::retry`) acts on that classification; providers only classify.

use std::time::Duration;

use pombo_contract::content::Content;
use uuid::Uuid;

/// A provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The provider's id for this message, used to match its later status callbacks.
    pub provider_message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth another attempt: timeouts, connection failures, 4xx SMTP replies, 5xx/429 HTTP.
    #[error("{message}")]
    Retryable {
        message: String,
        /// The provider's own error code, when it gives one.
        code: Option<String>,
        /// The provider asked us to wait this long (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// No attempt with this provider can succeed: bad recipient, refused credentials,
    /// rejected content.
    #[error("{message}")]
    Permanent {
        message: String,
        code: Option<String>,
    },
}

impl DeliveryError {
    pub fn retryable(message: impl Into<String>) -> Self {
        DeliveryError::Retryable {
            message: message.into(),
            code: None,
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError::Permanent {
            message: message.into(),
            code: None,
        }
    }

    /// Attaches the provider's error code (Twilio `21211`, Meta `131026`, …).
    pub fn with_code(mut self, provider_code: impl Into<String>) -> Self {
        match &mut self {
            DeliveryError::Retryable { code, .. } | DeliveryError::Permanent { code, .. } => {
                *code = Some(provider_code.into())
            }
        }
        self
    }

    /// Attaches the delay the provider asked for; meaningful on retryable errors only.
    pub fn with_retry_after(mut self, delay: Option<Duration>) -> Self {
        if let DeliveryError::Retryable { retry_after, .. } = &mut self {
            *retry_after = delay;
        }
        self
    }

    pub fn message(&self) -> &str {
        match self {
            DeliveryError::Retryable { message, .. } | DeliveryError::Permanent { message, .. } => {
                message
            }
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            DeliveryError::Retryable { code, .. } | DeliveryError::Permanent { code, .. } => {
                code.as_deref()
            }
        }
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, DeliveryError::Permanent { .. })
    }
}

/// A provider account's settings cannot work (a key that does not parse, a bad sender).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SetupError {
    /// The setting at fault, as named in the settings (`account_sid`), when it is one.
    pub field: Option<&'static str>,
    pub message: String,
}

impl SetupError {
    /// `field` of the settings cannot work: the API names it in its 422.
    pub fn at(field: &'static str, message: impl Into<String>) -> Self {
        SetupError {
            field: Some(field),
            message: message.into(),
        }
    }

    /// Not about one setting (a client that cannot be built).
    pub fn new(message: impl Into<String>) -> Self {
        SetupError {
            field: None,
            message: message.into(),
        }
    }
}

/// One message on its way to a provider: already rendered, recipient already validated.
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    /// Our notification id: providers that accept an idempotency key or a reference get it.
    pub notification_id: Uuid,
    pub to: &'a str,
    pub content: &'a Content,
    /// Files to attach (email), downloaded from object storage by the send activity.
    pub attachments: &'a [Attachment],
    /// A one-click unsubscribe link for the email's headers (non-alert categories).
    pub unsubscribe: Option<&'a Unsubscribe>,
}

/// A one-click unsubscribe link (RFC 8058): an email carrying it gets `List-Unsubscribe:
/// <url>` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, which mailbox providers
/// show as an "Unsubscribe" button that POSTs to the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub url: String,
}

impl Unsubscribe {
    pub const HEADER: &'static str = "List-Unsubscribe";
    pub const POST_HEADER: &'static str = "List-Unsubscribe-Post";
    /// The `List-Unsubscribe-Post` value, and the body mailbox providers POST.
    pub const ONE_CLICK: &'static str = "List-Unsubscribe=One-Click";

    /// The `List-Unsubscribe` value.
    pub fn header_value(&self) -> String {
        format!("<{}>", self.url)
    }
}

/// A file attached to an email, as the provider sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    // The bytes would flood logs and errors.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Outbound<'_> {
    /// Refuses files for a provider that cannot send them: sending without them would lose
    /// part of the message without a word.
    pub fn refuse_attachments(&self) -> Result<(), DeliveryError> {
        if self.attachments.is_empty() {
            Ok(())
        } else {
            Err(DeliveryError::permanent(
                "this provider does not send attachments",
            ))
        }
    }
}

/// A message of a channel the provider does not deliver (routing never picks it; a
/// tenant's account of the wrong type named explicitly could).
pub fn wrong_channel(content: &Content) -> DeliveryError {
    DeliveryError::permanent(format!(
        "this provider does not deliver the `{}` channel",
        content.channel()
    ))
}
