//! Email through SendGrid's v3 Mail Send API.
//!
//! Docs:
//! - request: <https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send>
//! - errors: <https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors>
//! - rate limits: <https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/rate-limits>
//! - event webhook (`sg_message_id`, custom args):
//!   <https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event>
//!
//! `POST {base_url}/v3/mail/send` with `Authorization: Bearer <api key>` and a JSON body:
//! one personalization (the recipient, plus our notification id as the custom arg
//! `pombo_notification_id`, which SendGrid echoes in every event), the sender, the
//! subject, the content parts (`text/plain` first, then `text/html`, as SendGrid
//! requires) and any `attachments` (`content` in base64, `filename`, `type`,
//! `disposition: attachment`). Success is `202 Accepted` with an empty body and the `X-Message-Id` header:
//! that id is the provider message id (each event's `sg_message_id` starts with it).
//!
//! Errors come as `{"errors":[{"message","field","help"}]}`. SendGrid has no error codes
//! besides the HTTP status, so the error `code` is the first error's `field` (e.g.
//! `personalizations.0.to.0.email` for an invalid recipient, `from` for an unverified
//! sender) or, when SendGrid names no field, the HTTP status. 400, 401, 403 and 413 are
//! final; 429 waits for `Retry-After`, else `X-RateLimit-Reset`; 5xx are transient.

use std::time::Duration;

use crate::SendgridSettings;
use lettre::message::Mailbox;
use pombo_contract::content::EmailContent;
use reqwest::{
    StatusCode,
    header::{AUTHORIZATION, HeaderMap, HeaderValue},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Accepted, Attachment, DeliveryError, SetupError,
    http::{self, ProviderError, retry_after, transport_error},
};

pub const PROVIDER: &str = "sendgrid";

/// The custom arg carrying our notification id; SendGrid echoes it in every event.
pub const NOTIFICATION_ID_ARG: &str = "pombo_notification_id";

pub struct Sendgrid {
    http: reqwest::Client,
    /// `{base_url}/v3/mail/send`.
    url: String,
    /// `Bearer <api key>`, marked sensitive so it never shows in a Debug output.
    auth: HeaderValue,
    from_email: String,
    from_name: Option<String>,
}

impl Sendgrid {
    pub fn new(settings: &SendgridSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        let from: Mailbox = settings.from.trim().parse().map_err(|e| {
            SetupError::at(
                "from",
                format!(
                    "sendgrid: `from` ({}) is not a valid mailbox: {e}",
                    settings.from
                ),
            )
        })?;
        let key = settings.api_key.expose().trim();
        if key.is_empty() {
            return Err(SetupError::at("api_key", "sendgrid: `api_key` is empty"));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            SetupError::at(
                "api_key",
                "sendgrid: `api_key` has characters not allowed in a header",
            )
        })?;
        auth.set_sensitive(true);
        let base = settings.base_url.trim().trim_end_matches('/');
        url::Url::parse(base).map_err(|e| {
            SetupError::at(
                "base_url",
                format!("sendgrid: `base_url` ({base}) is not a URL: {e}"),
            )
        })?;
        Ok(Sendgrid {
            http,
            url: format!("{base}/v3/mail/send"),
            auth,
            from_email: from.email.to_string(),
            from_name: from
                .name
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
        })
    }

    /// The JSON body of a Mail Send request.
    fn body(&self, notification_id: Uuid, to: &str, content: &EmailContent) -> Value {
        let mut from = json!({ "email": self.from_email });
        if let Some(name) = &self.from_name {
            from["name"] = json!(name);
        }
        // SendGrid rejects empty values, and wants text/plain before text/html.
        let mut parts = Vec::new();
        if let Some(text) = content.text.as_deref().filter(|t| !t.trim().is_empty()) {
            parts.push(json!({ "type": "text/plain", "value": text }));
        }
        if let Some(html) = content.html.as_deref().filter(|h| !h.trim().is_empty()) {
            parts.push(json!({ "type": "text/html", "value": html }));
        }
        json!({
            "personalizations": [{
                "to": [{ "email": to }],
                "custom_args": { NOTIFICATION_ID_ARG: notification_id.to_string() },
            }],
            "from": from,
            "subject": content.subject,
            "content": parts,
        })
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

    /// [`Self::send`] with files attached.
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
    /// (the v3 API's `headers`).
    pub async fn send_email(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &EmailContent,
        attachments: &[Attachment],
        unsubscribe: Option<&crate::Unsubscribe>,
    ) -> Result<Accepted, DeliveryError> {
        let mut body = self.body(notification_id, to, content);
        if let Some(link) = unsubscribe {
            body["headers"] = json!({
                crate::Unsubscribe::HEADER: link.header_value(),
                crate::Unsubscribe::POST_HEADER: crate::Unsubscribe::ONE_CLICK,
            });
        }
        if !attachments.is_empty() {
            body["attachments"] = attachments_json(attachments);
        }
        if body["content"].as_array().is_none_or(Vec::is_empty) {
            return Err(DeliveryError::permanent(
                "sendgrid: the email has neither a text nor an html body",
            ));
        }
        let response = self
            .http
            .post(&self.url)
            .header(AUTHORIZATION, self.auth.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        if status.is_success() {
            let id = headers
                .get("x-message-id")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            if id.is_none() {
                // Accepted all the same: failing now would send the email twice.
                tracing::warn!(%notification_id, %status, "sendgrid accepted an email without X-Message-Id");
            }
            return Ok(Accepted {
                provider_message_id: id,
            });
        }
        let body = crate::http::body(PROVIDER, response)
            .await
            .unwrap_or_default();
        Err(error_from(status, &headers, &body))
    }
}

/// SendGrid's `attachments`: each file in base64 (without line breaks), with its name and
/// type, shown as an attachment rather than inline.
fn attachments_json(attachments: &[Attachment]) -> Value {
    use base64::Engine as _;
    Value::Array(
        attachments
            .iter()
            .map(|a| {
                json!({
                    "content": base64::engine::general_purpose::STANDARD.encode(&a.bytes),
                    "filename": a.filename,
                    "type": a.content_type,
                    "disposition": "attachment",
                })
            })
            .collect(),
    )
}

/// SendGrid's documented error body, `{"errors":[{"message","field","help"}]}` with at least
/// one error: its messages (each after its field) and the first field as the code.
fn documented_error(body: &[u8]) -> Option<ProviderError> {
    #[derive(Deserialize)]
    struct ErrorBody {
        errors: Vec<ErrorItem>,
    }
    #[derive(Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        field: Option<String>,
    }
    let items = serde_json::from_slice::<ErrorBody>(body).ok()?.errors;
    if items.is_empty() {
        return None;
    }
    let reason = items
        .iter()
        .map(|e| {
            let message = e.message.as_deref().unwrap_or("(no message)");
            match &e.field {
                Some(field) if !field.is_empty() => format!("{field}: {message}"),
                _ => message.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let code = items
        .iter()
        .find_map(|e| e.field.clone().filter(|f| !f.is_empty()));
    Some(ProviderError {
        code,
        reason: Some(reason),
    })
}

/// Classifies a SendGrid error answer by its status; the code is the first field SendGrid
/// names, else the status.
fn error_from(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> DeliveryError {
    let error = http::failed_answer(PROVIDER, status, body, documented_error)
        .or_status_code()
        .classify(headers);
    if status == StatusCode::TOO_MANY_REQUESTS {
        error.with_retry_after(rate_limit_delay(headers, chrono::Utc::now().timestamp()))
    } else {
        error
    }
}

/// How long a 429 asks us to wait: `Retry-After` when present, else until
/// `X-RateLimit-Reset` (Unix seconds), capped at an hour like `Retry-After`.
fn rate_limit_delay(headers: &HeaderMap, now_unix: i64) -> Option<Duration> {
    if let Some(delay) = retry_after(headers) {
        return Some(delay);
    }
    let reset: i64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let secs = reset.saturating_sub(now_unix).clamp(0, 3600);
    Some(Duration::from_secs(secs as u64))
}

#[cfg(test)]
mod tests {
    use pombo_contract::config::Secret;

    use super::*;

    fn settings(from: &str) -> SendgridSettings {
        SendgridSettings {
            webhook_public_key: None,
            api_key: Secret::new("SG.key"),
            from: from.into(),
            base_url: "https://api.sendgrid.com/".into(),
        }
    }

    #[test]
    fn from_is_parsed_once_with_or_without_a_name() {
        let p = Sendgrid::new(
            &settings("Pombo Alerts <alerts@pombo.test>"),
            reqwest::Client::new(),
        )
        .unwrap();
        assert_eq!(p.from_email, "alerts@pombo.test");
        assert_eq!(p.from_name.as_deref(), Some("Pombo Alerts"));
        assert_eq!(p.url, "https://api.sendgrid.com/v3/mail/send");
        let p = Sendgrid::new(&settings("alerts@pombo.test"), reqwest::Client::new()).unwrap();
        assert_eq!(p.from_name, None);
        assert!(Sendgrid::new(&settings("not a mailbox"), reqwest::Client::new()).is_err());
        assert!(Sendgrid::new(&settings("Name <missing-at>"), reqwest::Client::new()).is_err());
    }

    #[test]
    fn the_key_never_shows_in_debug_or_errors() {
        let mut s = settings("a@pombo.test");
        s.api_key = Secret::new("SG.very-secret");
        let p = Sendgrid::new(&s, reqwest::Client::new()).unwrap();
        assert!(!format!("{:?}", p.auth).contains("very-secret"));
        s.api_key = Secret::new("SG.bad\nkey");
        let e = Sendgrid::new(&s, reqwest::Client::new()).err().unwrap();
        assert!(!e.message.contains("bad"), "{e}");
    }

    #[test]
    fn text_comes_before_html_and_blank_parts_are_left_out() {
        let p = Sendgrid::new(&settings("a@pombo.test"), reqwest::Client::new()).unwrap();
        let id = Uuid::nil();
        let body = p.body(
            id,
            "b@pombo.test",
            &EmailContent {
                subject: "S".into(),
                text: Some("T".into()),
                html: Some("<p>H</p>".into()),
                attachments: Vec::new(),
            },
        );
        assert_eq!(
            body["content"],
            json!([{"type": "text/plain", "value": "T"}, {"type": "text/html", "value": "<p>H</p>"}])
        );
        let body = p.body(
            id,
            "b@pombo.test",
            &EmailContent {
                subject: "S".into(),
                text: Some("  ".into()),
                html: Some("<p>H</p>".into()),
                attachments: Vec::new(),
            },
        );
        assert_eq!(
            body["content"],
            json!([{"type": "text/html", "value": "<p>H</p>"}])
        );
        assert_eq!(body["from"], json!({"email": "a@pombo.test"}));
    }

    #[test]
    fn attachments_are_base64_with_name_type_and_disposition() {
        let files = [Attachment {
            filename: "a.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: b"%PDF\x00\xff".to_vec(),
        }];
        assert_eq!(
            attachments_json(&files),
            json!([{
                "content": "JVBERgD/",
                "filename": "a.pdf",
                "type": "application/pdf",
                "disposition": "attachment",
            }])
        );
    }

    #[test]
    fn rate_limit_prefers_retry_after_then_reset() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", "1000045".parse().unwrap());
        assert_eq!(
            rate_limit_delay(&headers, 1_000_000),
            Some(Duration::from_secs(45))
        );
        // A reset in the past: retry at once.
        assert_eq!(rate_limit_delay(&headers, 2_000_000), Some(Duration::ZERO));
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(
            rate_limit_delay(&headers, 1_000_000),
            Some(Duration::from_secs(7))
        );
        assert_eq!(rate_limit_delay(&HeaderMap::new(), 1_000_000), None);
    }

    #[test]
    fn errors_carry_the_field_as_code() {
        let body = br#"{"errors":[{"message":"Does not contain a valid address.","field":"personalizations.0.to.0.email","help":"http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to"}]}"#;
        let e = error_from(StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert_eq!(
            e,
            DeliveryError::Permanent {
                message: "sendgrid answered 400 Bad Request: personalizations.0.to.0.email: Does not contain a valid address.".into(),
                code: Some("personalizations.0.to.0.email".into()),
            }
        );
        let body = br#"{"errors":[{"field":null,"message":"The provided authorization grant is invalid, expired, or revoked","help":null}]}"#;
        let e = error_from(StatusCode::UNAUTHORIZED, &HeaderMap::new(), body);
        assert!(e.is_permanent());
        assert_eq!(e.code(), Some("401"));
        let e = error_from(StatusCode::PAYLOAD_TOO_LARGE, &HeaderMap::new(), b"");
        assert!(e.is_permanent());
        let e = error_from(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>bad gateway</html>",
        );
        assert!(!e.is_permanent());
        assert_eq!(e.message(), "HTTP 502 Bad Gateway from sendgrid");
        let long = format!(r#"{{"errors":[{{"message":"{}"}}]}}"#, "x".repeat(2000));
        let e = error_from(StatusCode::BAD_GATEWAY, &HeaderMap::new(), long.as_bytes());
        assert!(e.message().chars().count() < 400, "{}", e.message());
    }
}
