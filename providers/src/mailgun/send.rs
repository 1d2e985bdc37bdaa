//! Email through Mailgun's Messages API.
//!
//! Docs:
//! - request: <https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages/post-v3--domain-name--messages>
//! - authentication: <https://documentation.mailgun.com/docs/mailgun/api-reference/authentication/>
//! - response codes: <https://documentation.mailgun.com/docs/mailgun/quickstart-guide/responses>
//! - webhook payloads (`message.headers.message-id`, `user-variables`):
//!   <https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads>
//!
//! `POST {base_url}/v3/{domain}/messages` with HTTP Basic auth `api:<api key>` and a form
//! (`application/x-www-form-urlencoded`, which Mailgun accepts besides multipart):
//! `from`, `to`, `subject`, `text` and/or `html`, and the user variable
//! `v:pombo_notification_id`, which Mailgun echoes in every event's `user-variables`.
//! With attachments the same fields go as `multipart/form-data`, each file as an
//! `attachment` part with its file name and content type.
//!
//! Success is `200 {"id":"<20240613121326.4d9e1c3a0e5b7f8a@mg.example.com>","message":"Queued. Thank you."}`.
//! The provider message id is that id **without the angle brackets**: Mailgun's events
//! and webhooks name the message by `event-data.message.headers.message-id`, which is
//! the bare `20240613121326.4d9e1c3a0e5b7f8a@mg.example.com`.
//!
//! Errors: `400 {"message": "..."}` (a missing or invalid parameter, e.g. `to parameter is
//! not a valid address. please check documentation`) and 401/403 (`Forbidden`, plain
//! text: a bad key, or a sandbox domain's unauthorised recipient) and 404 (`Domain not
//! found`) are final; 429 (honouring `Retry-After`) and 5xx are transient. Mailgun has no
//! error codes besides the HTTP status, so the error `code` is the status (`"400"`).

use crate::MailgunSettings;
use pombo_contract::content::EmailContent;
use reqwest::{
    StatusCode,
    header::{AUTHORIZATION, HeaderMap, HeaderValue},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    Accepted, Attachment, DeliveryError, SetupError,
    http::{self, ProviderError, transport_error},
};

pub const PROVIDER: &str = "mailgun";

/// The user variable carrying our notification id; Mailgun echoes it in every event.
pub const NOTIFICATION_ID_VAR: &str = "v:pombo_notification_id";

pub struct Mailgun {
    http: reqwest::Client,
    /// `{base_url}/v3/{domain}/messages`, the domain percent-encoded as one path segment.
    url: url::Url,
    /// `Basic base64(api:<api key>)`, marked sensitive so it never shows in a Debug output.
    auth: HeaderValue,
    /// The sender as Mailgun's `from` wants it (`Name <address>` or a bare address).
    from: String,
}

impl Mailgun {
    pub fn new(settings: &MailgunSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        let from: lettre::message::Mailbox = settings.from.trim().parse().map_err(|e| {
            SetupError::at(
                "from",
                format!(
                    "mailgun: `from` ({}) is not a valid mailbox: {e}",
                    settings.from
                ),
            )
        })?;
        let key = settings.api_key.expose().trim();
        if key.is_empty() {
            return Err(SetupError::at("api_key", "mailgun: `api_key` is empty"));
        }
        use base64::Engine as _;
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("api:{key}"));
        let mut auth = HeaderValue::from_str(&format!("Basic {credentials}")).map_err(|_| {
            SetupError::at("api_key", "mailgun: `api_key` cannot be sent in a header")
        })?;
        auth.set_sensitive(true);
        let domain = settings.domain.trim();
        // Mailgun answers a cryptic 200 "Mailgun Magnificent API" when a `/` confuses its
        // routing, so refuse such a domain here rather than lose the email.
        if domain.is_empty()
            || domain.contains(['/', '?', '#', '%'])
            || domain.contains(char::is_whitespace)
        {
            return Err(SetupError::at(
                "domain",
                format!(
                    "mailgun: `domain` ({}) is not a sending domain",
                    settings.domain
                ),
            ));
        }
        let base = settings.base_url.trim().trim_end_matches('/');
        let mut url = url::Url::parse(base).map_err(|e| {
            SetupError::at(
                "base_url",
                format!("mailgun: `base_url` ({base}) is not a URL: {e}"),
            )
        })?;
        url.path_segments_mut()
            .map_err(|_| {
                SetupError::at(
                    "base_url",
                    format!("mailgun: `base_url` ({base}) cannot have a path"),
                )
            })?
            .pop_if_empty()
            .extend(["v3", domain, "messages"]);
        Ok(Mailgun {
            http,
            url,
            auth,
            from: from.to_string(),
        })
    }

    /// The form fields of a send request, in order.
    fn form(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &EmailContent,
    ) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("from", self.from.clone()),
            ("to", to.to_owned()),
            ("subject", content.subject.clone()),
        ];
        if let Some(text) = content.text.as_deref().filter(|t| !t.trim().is_empty()) {
            form.push(("text", text.to_owned()));
        }
        if let Some(html) = content.html.as_deref().filter(|h| !h.trim().is_empty()) {
            form.push(("html", html.to_owned()));
        }
        form.push((NOTIFICATION_ID_VAR, notification_id.to_string()));
        form
    }

    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &EmailContent,
    ) -> Result<Accepted, DeliveryError> {
        self.send_with_attachments(notification_id, to, content, &[])
            .await
    }

    /// [`Self::send`] with files attached (the request becomes `multipart/form-data`).
    pub async fn send_with_attachments(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &EmailContent,
        attachments: &[Attachment],
    ) -> Result<Accepted, DeliveryError> {
        self.send_email(notification_id, to, content, attachments, None)
            .await
    }

    /// [`Self::send_with_attachments`] with a one-click unsubscribe link in the headers
    /// (Mailgun's `h:` fields).
    pub async fn send_email(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &EmailContent,
        attachments: &[Attachment],
        unsubscribe: Option<&crate::Unsubscribe>,
    ) -> Result<Accepted, DeliveryError> {
        let mut form = self.form(notification_id, to, content);
        if let Some(link) = unsubscribe {
            form.push(("h:List-Unsubscribe", link.header_value()));
            form.push((
                "h:List-Unsubscribe-Post",
                crate::Unsubscribe::ONE_CLICK.to_owned(),
            ));
        }
        if !form.iter().any(|(k, _)| *k == "text" || *k == "html") {
            return Err(DeliveryError::permanent(
                "mailgun: the email has neither a text nor an html body",
            ));
        }
        let request = self
            .http
            .post(self.url.clone())
            .header(AUTHORIZATION, self.auth.clone());
        let request = if attachments.is_empty() {
            request.form(&form)
        } else {
            request.multipart(multipart(form, attachments)?)
        };
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::http::body(PROVIDER, response)
            .await
            .unwrap_or_default();
        if status.is_success() {
            return accepted(status, &body);
        }
        Err(error_from(status, &headers, &body))
    }
}

/// The form as `multipart/form-data`, followed by one `attachment` file part per file.
fn multipart(
    form: Vec<(&'static str, String)>,
    attachments: &[Attachment],
) -> Result<reqwest::multipart::Form, DeliveryError> {
    let mut multipart = reqwest::multipart::Form::new();
    for (name, value) in form {
        multipart = multipart.text(name, value);
    }
    for file in attachments {
        let part = reqwest::multipart::Part::bytes(file.bytes.clone())
            .file_name(file.filename.clone())
            .mime_str(&file.content_type)
            .or_else(|_| {
                reqwest::multipart::Part::bytes(file.bytes.clone())
                    .file_name(file.filename.clone())
                    .mime_str("application/octet-stream")
            })
            .map_err(|e| DeliveryError::permanent(format!("mailgun: cannot attach a file: {e}")))?;
        multipart = multipart.part("attachment", part);
    }
    Ok(multipart)
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    id: Option<String>,
}

/// Reads the id of a queued message, as Mailgun's events name it (without `<>`).
fn accepted(status: StatusCode, body: &[u8]) -> Result<Accepted, DeliveryError> {
    let id = serde_json::from_slice::<SendResponse>(body)
        .ok()
        .and_then(|r| r.id)
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
        .filter(|id| !id.is_empty());
    match id {
        Some(id) => Ok(Accepted {
            provider_message_id: Some(id),
        }),
        // Mailgun answers 200 with a page ("Mailgun Magnificent API") to a request it
        // routed nowhere: nothing was queued, and retrying the same URL cannot help.
        // What it said is not quoted: whatever answered is not Mailgun's API.
        None => Err(DeliveryError::permanent(format!(
            "{} without a message id (check `base_url` and `domain`)",
            http::unrecognised(PROVIDER, status)
        ))
        .with_code(status.as_u16().to_string())),
    }
}

/// Mailgun's documented error body, `{"message": "…"}`; nothing else is.
fn documented_error(body: &[u8]) -> Option<ProviderError> {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: String,
    }
    let body = serde_json::from_slice::<ErrorBody>(body).ok()?;
    Some(ProviderError {
        code: None,
        reason: Some(body.message),
    })
}

/// Classifies a Mailgun error answer by its status, which is also its code (Mailgun has no
/// codes of its own). Its message is kept only from its JSON error body; the plain-text
/// ones (`Forbidden`) say no more than the status.
fn error_from(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> DeliveryError {
    http::failed_answer(PROVIDER, status, body, documented_error)
        .or_status_code()
        .classify(headers)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pombo_contract::config::Secret;

    use super::*;

    fn settings(domain: &str, base_url: &str) -> MailgunSettings {
        MailgunSettings {
            webhook_signing_key: None,
            api_key: Secret::new("key-abc"),
            domain: domain.into(),
            from: "Pombo <noreply@mg.pombo.test>".into(),
            base_url: base_url.into(),
        }
    }

    #[test]
    fn url_has_the_domain_as_one_segment() {
        let p = Mailgun::new(
            &settings("mg.pombo.test", "https://api.eu.mailgun.net/"),
            reqwest::Client::new(),
        )
        .unwrap();
        assert_eq!(
            p.url.as_str(),
            "https://api.eu.mailgun.net/v3/mg.pombo.test/messages"
        );
        let p = Mailgun::new(
            &settings("mg.pombo.test", "http://127.0.0.1:4010/mailgun"),
            reqwest::Client::new(),
        )
        .unwrap();
        assert_eq!(
            p.url.as_str(),
            "http://127.0.0.1:4010/mailgun/v3/mg.pombo.test/messages"
        );
        for bad in ["", "a/b", "mg.pombo.test?x", "a b"] {
            assert!(
                Mailgun::new(
                    &settings(bad, "https://api.mailgun.net"),
                    reqwest::Client::new()
                )
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn from_is_validated_and_the_key_stays_hidden() {
        let mut s = settings("mg.pombo.test", "https://api.mailgun.net");
        s.api_key = Secret::new("key-very-secret");
        let p = Mailgun::new(&s, reqwest::Client::new()).unwrap();
        assert_eq!(p.from, "Pombo <noreply@mg.pombo.test>");
        assert!(!format!("{:?}", p.auth).contains("very-secret"));
        s.from = "not a mailbox".into();
        assert!(Mailgun::new(&s, reqwest::Client::new()).is_err());
    }

    #[test]
    fn the_id_is_kept_without_angle_brackets() {
        let a = accepted(StatusCode::OK, br#"{"id":"<20240613121326.4d9e1c3a0e5b7f8a@mg.pombo.test>","message":"Queued. Thank you."}"#)
            .unwrap();
        assert_eq!(
            a.provider_message_id.as_deref(),
            Some("20240613121326.4d9e1c3a0e5b7f8a@mg.pombo.test")
        );
        let e = accepted(StatusCode::OK, b"Mailgun Magnificent API").unwrap_err();
        assert!(e.is_permanent());
        assert_eq!(
            e.message(),
            "HTTP 200 OK from mailgun without a message id (check `base_url` and `domain`)"
        );
    }

    #[test]
    fn errors_are_classified_by_status() {
        let e = error_from(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"message":"to parameter is not a valid address. please check documentation"}"#,
        );
        assert_eq!(
            e,
            DeliveryError::Permanent {
                message: "mailgun answered 400 Bad Request: to parameter is not a valid address. please check documentation"
                    .into(),
                code: Some("400".into()),
            }
        );
        let e = error_from(StatusCode::UNAUTHORIZED, &HeaderMap::new(), b"Forbidden");
        assert_eq!(e.message(), "HTTP 401 Unauthorized from mailgun");
        assert!(e.is_permanent());
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        let e = error_from(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
        assert_eq!(
            e,
            DeliveryError::Retryable {
                message: "HTTP 429 Too Many Requests from mailgun".into(),
                code: Some("429".into()),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
    }
}
