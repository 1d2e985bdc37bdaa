//! Delivery channels, one folder per channel and one module per provider
//! (`sms/twilio.rs`). Each provider turns a rendered message into the request its service
//! documents and classifies the outcome: accepted (with the provider's message id), a
//! transient failure worth retrying, or a permanent refusal that no retry can fix.

pub mod email;
pub(crate) mod http;
pub mod instagram;
pub mod outbound;
pub mod push;
pub mod sms;
pub mod telegram;
pub mod webhook;
pub mod whatsapp;

use std::time::Duration;

use pombo_contract::{content::Content, providers::ProviderSettings};
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

/// A ready-to-use client of one provider account.
pub enum Provider {
    Smtp(email::smtp::SmtpProvider),
    Sendgrid(email::sendgrid::Sendgrid),
    Mailgun(email::mailgun::Mailgun),
    Ses(email::ses::Ses),
    Twilio(sms::twilio::Twilio),
    Vonage(sms::vonage::Vonage),
    Fcm(push::fcm::Fcm),
    Apns(push::apns::Apns),
    WhatsappCloud(whatsapp::cloud_api::WhatsappCloud),
    Callbell(whatsapp::callbell::Callbell),
    Evolution(whatsapp::evolution::Evolution),
    Waha(whatsapp::waha::Waha),
    Instagram(instagram::graph_api::Instagram),
    Telegram(telegram::bot_api::Telegram),
    Webhook(webhook::standard_webhooks::Webhook),
}

impl Provider {
    /// Builds the client for `settings`. The HTTP client of `clients` for this `trust` is
    /// shared by every HTTP provider (one connection pool); APNs (HTTP/2 only) builds its
    /// own from the same guarded builder. A tenant's endpoints are checked against the
    /// outbound rule first; webhooks, whose target is each notification's, always are.
    pub fn new(
        settings: &ProviderSettings,
        clients: &outbound::OutboundClients,
        trust: outbound::Trust,
    ) -> Result<Provider, SetupError> {
        clients.check(settings, trust)?;
        let http = clients.http(trust).clone();
        let guard = (trust == outbound::Trust::Tenant).then(|| clients.policy().clone());
        Ok(match settings {
            ProviderSettings::Smtp(s) => {
                Provider::Smtp(email::smtp::SmtpProvider::from_settings(s, guard)?)
            }
            ProviderSettings::Sendgrid(s) => {
                Provider::Sendgrid(email::sendgrid::Sendgrid::new(s, http)?)
            }
            ProviderSettings::Mailgun(s) => {
                Provider::Mailgun(email::mailgun::Mailgun::new(s, http)?)
            }
            ProviderSettings::Ses(s) => Provider::Ses(email::ses::Ses::new(s, http)?),
            ProviderSettings::Twilio(s) => Provider::Twilio(sms::twilio::Twilio::new(s, http)?),
            ProviderSettings::Vonage(s) => Provider::Vonage(sms::vonage::Vonage::new(s, http)?),
            ProviderSettings::Fcm(s) => Provider::Fcm(push::fcm::Fcm::new(s, http)?),
            ProviderSettings::Apns(s) => {
                Provider::Apns(push::apns::Apns::new(s, clients.builder(trust))?)
            }
            ProviderSettings::WhatsappCloud(s) => {
                Provider::WhatsappCloud(whatsapp::cloud_api::WhatsappCloud::new(s, http)?)
            }
            ProviderSettings::Callbell(s) => {
                Provider::Callbell(whatsapp::callbell::Callbell::new(s, http)?)
            }
            ProviderSettings::Evolution(s) => {
                Provider::Evolution(whatsapp::evolution::Evolution::new(s, http)?)
            }
            ProviderSettings::Waha(s) => Provider::Waha(whatsapp::waha::Waha::new(s, http)?),
            ProviderSettings::Instagram(s) => {
                Provider::Instagram(instagram::graph_api::Instagram::new(s, http)?)
            }
            ProviderSettings::Telegram(s) => {
                Provider::Telegram(telegram::bot_api::Telegram::new(s, http)?)
            }
            ProviderSettings::Webhook(s) => Provider::Webhook(
                webhook::standard_webhooks::Webhook::new(s, clients.policy().clone())?,
            ),
        })
    }

    /// Every rule the send applies to `settings`, without sending anything: what the API
    /// runs when a tenant saves an account, so one that cannot send is refused then, naming
    /// the setting, rather than failing the tenant's next notification. (Endpoints are
    /// checked against the outbound rule by the caller, with its own policy.)
    pub fn check_settings(settings: &ProviderSettings) -> Result<(), SetupError> {
        static CLIENTS: std::sync::LazyLock<Result<outbound::OutboundClients, SetupError>> =
            std::sync::LazyLock::new(|| outbound::OutboundClients::new(Default::default()));
        let clients = CLIENTS.as_ref().map_err(Clone::clone)?;
        Provider::new(settings, clients, outbound::Trust::Operator).map(drop)
    }

    pub async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
        let id = msg.notification_id;
        let to = msg.to;
        let files = msg.attachments;
        if !files.is_empty()
            && !matches!(
                self,
                Provider::Smtp(_) | Provider::Sendgrid(_) | Provider::Mailgun(_) | Provider::Ses(_)
            )
        {
            // Sending without them would lose part of the message without a word.
            return Err(DeliveryError::permanent(
                "this provider does not send attachments",
            ));
        }
        match (self, msg.content) {
            (Provider::Smtp(p), Content::Email(c)) => {
                p.send_with_attachments(id, to, c, files).await
            }
            (Provider::Sendgrid(p), Content::Email(c)) => {
                p.send_with_attachments(id, to, c, files).await
            }
            (Provider::Mailgun(p), Content::Email(c)) => {
                p.send_with_attachments(id, to, c, files).await
            }
            (Provider::Ses(p), Content::Email(c)) => {
                p.send_with_attachments(id, to, c, files).await
            }
            (Provider::Twilio(p), Content::Sms(c)) => p.send(id, to, c).await,
            (Provider::Vonage(p), Content::Sms(c)) => p.send(id, to, c).await,
            (Provider::Fcm(p), Content::Push(c)) => p.send(id, to, c).await,
            (Provider::Apns(p), Content::Push(c)) => p.send(id, to, c).await,
            (Provider::WhatsappCloud(p), Content::Whatsapp(c)) => p.send(id, to, c).await,
            (Provider::Callbell(p), Content::Whatsapp(c)) => p.send(id, to, c).await,
            (Provider::Evolution(p), Content::Whatsapp(c)) => p.send(id, to, c).await,
            (Provider::Waha(p), Content::Whatsapp(c)) => p.send(id, to, c).await,
            (Provider::Instagram(p), Content::Instagram(c)) => p.send(id, to, c).await,
            (Provider::Telegram(p), Content::Telegram(c)) => p.send(id, to, c).await,
            (Provider::Webhook(p), Content::Webhook(c)) => p.send(id, to, c).await,
            (_, content) => Err(DeliveryError::permanent(format!(
                "this provider does not deliver the `{}` channel",
                content.channel()
            ))),
        }
    }
}
