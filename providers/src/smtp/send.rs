//! Email over SMTP with lettre: any SMTP server (a relay, an ESP's SMTP endpoint, or a
//! local capture server such as maildev).
//!
//! A tenant's SMTP server is a target the tenant chose: lettre resolves names itself, so
//! the outbound guard resolves and checks the host before each connection and lettre
//! connects to the address it chose (TLS still verifies the certificate for the host name).

use std::{sync::Arc, time::Duration};

use crate::SmtpSettings;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Attachment as MimeAttachment, Mailbox, MultiPart, SinglePart,
        header::{ContentType, HeaderName, HeaderValue},
    },
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use pombo_contract::{
    config::{SmtpConfig, SmtpTls},
    content::RenderedEmail,
    outbound::OutboundPolicy,
};
use uuid::Uuid;

use crate::{
    Accepted, Attachment, DeliveryError, SetupError,
    outbound::{SmtpAddressError, smtp_address},
};

pub const PROVIDER: &str = "smtp";

pub struct SmtpProvider {
    transport: Transport,
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

enum Transport {
    /// One pooled transport to a server named once: the operator's.
    Fixed(AsyncSmtpTransport<Tokio1Executor>),
    /// A tenant's server: a transport to the address the guard chose, for each send.
    Guarded {
        config: Box<SmtpConfig>,
        policy: Arc<OutboundPolicy>,
    },
}

impl SmtpProvider {
    /// A tenant's own SMTP account; `guard` is the outbound policy its host must pass
    /// (`None` only for an operator's account).
    pub fn from_settings(
        s: &SmtpSettings,
        guard: Option<Arc<OutboundPolicy>>,
    ) -> Result<Self, SetupError> {
        let config = SmtpConfig {
            enabled: true,
            host: s.host.clone(),
            port: s.port,
            tls: s.tls,
            username: s.username.clone(),
            password: s.password.clone(),
            from: s.from.clone(),
            timeout_secs: SmtpConfig::default().timeout_secs,
        };
        let Some(policy) = guard else {
            return Self::new(&config).map_err(|e| SetupError::new(e.to_string()));
        };
        // Built once here for its checks (TLS parameters); the sends build their own.
        transport_to(&config, &config.host)
            .map_err(|e| SetupError::at("host", format!("smtp: {e}")))?;
        let from = mailbox(&config).map_err(|e| SetupError::at("from", e.to_string()))?;
        Ok(SmtpProvider {
            message_id_domain: from.email.domain().to_owned(),
            from,
            transport: Transport::Guarded {
                config: Box::new(config),
                policy,
            },
        })
    }

    pub fn new(config: &SmtpConfig) -> Result<Self, SmtpSetupError> {
        let from = mailbox(config)?;
        Ok(SmtpProvider {
            transport: Transport::Fixed(transport_to(config, &config.host)?),
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
        self.send_email(notification_id, to, email, attachments, None)
            .await
    }

    /// [`Self::send_with_attachments`] with a one-click unsubscribe link in the headers.
    pub async fn send_email(
        &self,
        notification_id: Uuid,
        to: &str,
        email: &RenderedEmail,
        attachments: &[Attachment],
        unsubscribe: Option<&crate::Unsubscribe>,
    ) -> Result<Accepted, DeliveryError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| DeliveryError::permanent(format!("invalid recipient address: {e}")))?;
        let message_id = format!("<{notification_id}@{}>", self.message_id_domain);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(message_id.clone()));
        if let Some(link) = unsubscribe {
            for (name, value) in [
                (crate::Unsubscribe::HEADER, link.header_value()),
                (
                    crate::Unsubscribe::POST_HEADER,
                    crate::Unsubscribe::ONE_CLICK.to_owned(),
                ),
            ] {
                builder = builder.raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str(name),
                    value,
                ));
            }
        }
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

        let sent = match &self.transport {
            Transport::Fixed(transport) => transport.send(message).await,
            Transport::Guarded { config, policy } => {
                let address = smtp_address(policy, &config.host, config.port)
                    .await
                    .map_err(|e| match e {
                        SmtpAddressError::Refused(refused) => {
                            DeliveryError::permanent(format!("{PROVIDER}: `host`: {refused}"))
                                .with_code("target_refused")
                        }
                        SmtpAddressError::Lookup(_) => {
                            DeliveryError::retryable(format!("{PROVIDER}: {e}"))
                        }
                    })?;
                let transport = transport_to(config, &address.to_string()).map_err(|e| {
                    DeliveryError::permanent(format!("{PROVIDER}: cannot connect: {e}"))
                })?;
                transport.send(message).await
            }
        };
        match sent {
            Ok(_) => Ok(Accepted {
                provider_message_id: Some(message_id),
            }),
            Err(e) => Err(classify(&e)),
        }
    }
}

fn mailbox(config: &SmtpConfig) -> Result<Mailbox, SmtpSetupError> {
    config
        .from
        .parse()
        .map_err(|e: lettre::address::AddressError| {
            SmtpSetupError::From(config.from.clone(), e.to_string())
        })
}

/// A transport that connects to `connect_to` (the host itself, or the address the guard
/// chose for it) and checks TLS certificates for `config.host`.
fn transport_to(
    config: &SmtpConfig,
    connect_to: &str,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
    let tls = match config.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(TlsParameters::new(config.host.clone())?),
        SmtpTls::Tls => Tls::Wrapper(TlsParameters::new(config.host.clone())?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(connect_to)
        .port(config.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(config.timeout_secs)));
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok(builder.build())
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
