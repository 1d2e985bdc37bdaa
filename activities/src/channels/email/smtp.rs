//! Email over SMTP with lettre: any SMTP server (a relay, an ESP's SMTP endpoint, or a
//! local capture server such as maildev).

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Attachment as MimeAttachment, Mailbox, MultiPart, SinglePart, header::ContentType},
    transport::smtp::authentication::Credentials,
};
use pombo_contract::{
    config::{SmtpConfig, SmtpTls},
    content::RenderedEmail,
    providers::SmtpSettings,
};
use uuid::Uuid;

use crate::channels::{Accepted, Attachment, DeliveryError, SetupError};

pub const PROVIDER: &str = "smtp";

pub struct SmtpProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Domain of the sender, used to build globally unique Message-IDs.
    message_id_domain: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("smtp.from `{0}` is not a valid mailbox: {1}")]
    From(String, String),
    #[error("smtp: {0}")]
    Transport(#[from] lettre::transport::smtp::Error),
}

impl SmtpProvider {
    /// A tenant's own SMTP account.
    pub fn from_settings(s: &SmtpSettings) -> Result<Self, SetupError> {
        Self::new(&SmtpConfig {
            enabled: true,
            host: s.host.clone(),
            port: s.port,
            tls: s.tls,
            username: s.username.clone(),
            password: s.password.clone(),
            from: s.from.clone(),
            timeout_secs: SmtpConfig::default().timeout_secs,
        })
        .map_err(|e| SetupError(e.to_string()))
    }

    pub fn new(config: &SmtpConfig) -> Result<Self, SmtpSetupError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                SmtpSetupError::From(config.from.clone(), e.to_string())
            })?;
        let mut builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
        }
        .port(config.port)
        .timeout(Some(Duration::from_secs(config.timeout_secs)));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(SmtpProvider {
            transport: builder.build(),
            message_id_domain: from.email.domain().to_owned(),
            from,
        })
    }

    /// Sends one email. The Message-ID is derived from the notification id, so a duplicate
    /// that slipped through (a crash between the server's reply and our record) is still
    /// recognisable as the same message downstream.
    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        email: &RenderedEmail,
    ) -> Result<Accepted, DeliveryError> {
        self.send_with_attachments(notification_id, to, email, &[])
            .await
    }

    /// [`Self::send`] with files attached: the body (text, html or both as alternatives)
    /// and the attachments as parts of one `multipart/mixed` message.
    pub async fn send_with_attachments(
        &self,
        notification_id: Uuid,
        to: &str,
        email: &RenderedEmail,
        attachments: &[Attachment],
    ) -> Result<Accepted, DeliveryError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| DeliveryError::permanent(format!("invalid recipient address: {e}")))?;
        let message_id = format!("<{notification_id}@{}>", self.message_id_domain);
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(message_id.clone()));
        let body = match (&email.text, &email.html) {
            (Some(text), Some(html)) => Body::Alternative(MultiPart::alternative_plain_html(
                text.clone(),
                html.clone(),
            )),
            (None, Some(html)) => Body::Single(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.clone()),
            ),
            (text, None) => Body::Single(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text.clone().unwrap_or_default()),
            ),
        };
        let message = if attachments.is_empty() {
            match body {
                Body::Single(part) => builder.singlepart(part),
                Body::Alternative(parts) => builder.multipart(parts),
            }
        } else {
            let mut mixed = match body {
                Body::Single(part) => MultiPart::mixed().singlepart(part),
                Body::Alternative(parts) => MultiPart::mixed().multipart(parts),
            };
            for file in attachments {
                mixed = mixed.singlepart(
                    MimeAttachment::new(file.filename.clone())
                        .body(file.bytes.clone(), mime_type(&file.content_type)),
                );
            }
            builder.multipart(mixed)
        }
        .map_err(|e| DeliveryError::permanent(format!("cannot build the email: {e}")))?;

        match self.transport.send(message).await {
            Ok(_) => Ok(Accepted {
                provider_message_id: Some(message_id),
            }),
            Err(e) => Err(classify(&e)),
        }
    }
}

/// The body of an email before any attachment: one part, or text and html as alternatives.
enum Body {
    Single(SinglePart),
    Alternative(MultiPart),
}

/// The stored content type, or `application/octet-stream` when it does not parse as one.
fn mime_type(content_type: &str) -> ContentType {
    ContentType::parse(content_type)
        .or_else(|_| ContentType::parse("application/octet-stream"))
        .expect("application/octet-stream is a content type")
}

/// 5xx replies are final (unknown user, refused authentication, rejected content); 4xx
/// replies, timeouts and connection failures are worth another attempt.
fn classify(e: &lettre::transport::smtp::Error) -> DeliveryError {
    let text = redact_addresses(&e.to_string());
    let code = e.status().map(|c| c.to_string());
    let error = if e.is_permanent() {
        DeliveryError::permanent(format!("SMTP server refused: {text}"))
    } else {
        DeliveryError::retryable(format!("SMTP delivery failed: {text}"))
    };
    match code {
        Some(code) => error.with_code(code),
        None => error,
    }
}

/// SMTP replies often echo the recipient; errors travel into Temporal's history (stored in
/// clear), so addresses are masked there.
pub fn redact_addresses(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains('@') {
                "<redacted>"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_masked_in_error_text() {
        assert_eq!(
            super::redact_addresses("550 5.1.1 <ana@example.com>: user unknown"),
            "550 5.1.1 <redacted> user unknown"
        );
    }
}
