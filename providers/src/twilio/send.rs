//! SMS through Twilio Programmable Messaging: one `POST` to the Messages resource.
//!
//! - Create a Message: <https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource>
//!   (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `From` or
//!   `MessagingServiceSid`, `Body`, `StatusCallback`; HTTP Basic auth `AccountSid:AuthToken`;
//!   answers `201 Created` with the Message, whose `sid` is `SM` + 32 hex digits).
//! - Initial status (`queued`, or `accepted` through a Messaging Service):
//!   <https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks>
//! - Error bodies `{code, message, more_info, status}` and codes: <https://www.twilio.com/docs/api/errors>
//!   (20003 authentication, 20429 too many requests, 21211 invalid `To`, 21408 region not
//!   enabled, 21610 unsubscribed recipient, 21611 `From` queue full, 21612 unroutable,
//!   21614 not a mobile number…).
//! - Test credentials and their magic numbers: <https://www.twilio.com/docs/iam/test-credentials>

use crate::TwilioSettings;
use pombo_contract::{config::Secret, content::TextContent};
use serde::Deserialize;
use uuid::Uuid;

use super::codes::{Class, classify};
use crate::{Accepted, DeliveryError, SetupError, http};

pub const PROVIDER: &str = "twilio";

pub struct Twilio {
    pub(super) http: reqwest::Client,
    pub(super) url: String,
    pub(super) account_sid: String,
    pub(super) auth_token: Secret,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    status_callback_url: Option<String>,
}

impl Twilio {
    pub fn new(settings: &TwilioSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        if !is_sid(&settings.account_sid, "AC") {
            return Err(SetupError::at(
                "account_sid",
                "twilio: account_sid must be `AC` followed by 32 hexadecimal digits",
            ));
        }
        if settings.auth_token.expose().is_empty() {
            return Err(SetupError::at("auth_token", "twilio: auth_token is empty"));
        }
        let from = settings.from.clone().filter(|f| !f.trim().is_empty());
        let messaging_service_sid = settings
            .messaging_service_sid
            .clone()
            .filter(|s| !s.trim().is_empty());
        if from.is_none() && messaging_service_sid.is_none() {
            return Err(SetupError::at(
                "from",
                "twilio: give `from` (a sender number) or `messaging_service_sid`",
            ));
        }
        if let Some(sid) = &messaging_service_sid
            && !is_sid(sid, "MG")
        {
            return Err(SetupError::at(
                "messaging_service_sid",
                "twilio: messaging_service_sid must be `MG` followed by 32 hexadecimal digits",
            ));
        }
        let status_callback_url = settings
            .status_callback_url
            .clone()
            .filter(|u| !u.trim().is_empty());
        // Twilio calls it, not Pombo: it only has to be a URL Twilio can call.
        if let Some(url) = &status_callback_url
            && !matches!(url::Url::parse(url), Ok(u) if matches!(u.scheme(), "http" | "https"))
        {
            return Err(SetupError::at(
                "status_callback_url",
                "twilio: status_callback_url must be an http(s) URL",
            ));
        }
        let base = settings.base_url.trim_end_matches('/');
        Ok(Twilio {
            http,
            url: format!(
                "{base}/2010-04-01/Accounts/{}/Messages.json",
                settings.account_sid
            ),
            account_sid: settings.account_sid.clone(),
            auth_token: settings.auth_token.clone(),
            from,
            messaging_service_sid,
            status_callback_url,
        })
    }

    /// The form fields of the Create Message request, in the order they are sent.
    fn form<'a>(&'a self, to: &'a str, content: &'a TextContent) -> Vec<(&'static str, &'a str)> {
        let mut form = vec![("To", to)];
        if let Some(from) = &self.from {
            form.push(("From", from.as_str()));
        }
        if let Some(sid) = &self.messaging_service_sid {
            form.push(("MessagingServiceSid", sid.as_str()));
        }
        form.push(("Body", content.text.as_str()));
        if let Some(url) = &self.status_callback_url {
            form.push(("StatusCallback", url.as_str()));
        }
        form
    }

    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &TextContent,
    ) -> Result<Accepted, DeliveryError> {
        let response = self
            .http
            .post(&self.url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&self.form(to, content))
            .send()
            .await
            .map_err(|e| http::transport_error(PROVIDER, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::http::body(PROVIDER, response).await?;

        if status.is_success() {
            let sid = serde_json::from_slice::<MessageResource>(&body)
                .ok()
                .and_then(|m| m.sid)
                .filter(|sid| !sid.is_empty());
            if sid.is_none() {
                tracing::warn!(
                    %notification_id,
                    %status,
                    "twilio accepted the message but its answer has no `sid`"
                );
            }
            return Ok(Accepted {
                provider_message_id: sid,
            });
        }

        let answer = http::failed_answer(PROVIDER, status, &body, |b| TwilioError::parse(b, to));
        let code = answer.parsed.as_ref().and_then(|e| e.code);
        Err(match classify(status, code) {
            Class::Retryable => answer.retryable(&headers),
            Class::Permanent => answer.permanent(),
        })
    }
}

/// `prefix` followed by 32 hexadecimal digits: the shape of every Twilio SID.
fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].chars().all(|c| c.is_ascii_hexdigit())
}

#[derive(Debug, Deserialize)]
struct MessageResource {
    sid: Option<String>,
}

/// Twilio's error body: `{"code": 21211, "message": "…", "more_info": "…", "status": 400}`,
/// with at least a code or a message.
#[derive(Debug, Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioError {
    /// The documented error, the recipient's number left out of its message.
    fn parse(body: &[u8], to: &str) -> Option<TwilioError> {
        let mut e = serde_json::from_slice::<TwilioError>(body).ok()?;
        if e.code.is_none() && e.message.is_none() {
            return None;
        }
        // Twilio's messages quote the phone numbers.
        e.message = e.message.map(|m| http::redact_recipient(m.trim(), to));
        Some(e)
    }
}

impl http::DocumentedError for TwilioError {
    fn code(&self) -> Option<String> {
        self.code.map(|c| c.to_string())
    }
    fn reason(&self) -> Option<String> {
        let message = self.message.as_deref().unwrap_or("");
        Some(match self.code {
            Some(code) => format!("error {code}: {message}"),
            None => message.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_have_their_prefix_and_32_hex_digits() {
        assert!(is_sid("AC0123456789abcdef0123456789abcdef", "AC"));
        assert!(!is_sid("AC0123456789abcdef0123456789abcde", "AC"));
        assert!(!is_sid("MG0123456789abcdef0123456789abcdef", "AC"));
        assert!(!is_sid("AC0123456789abcdef0123456789abcdeg", "AC"));
        assert!(!is_sid("AC/../../0123456789abcdef0123456789", "AC"));
    }

    #[test]
    fn recipient_is_redacted_from_messages() {
        assert_eq!(
            http::redact_recipient(
                "The 'To' number +15005550001 is not a valid phone number.",
                "+15005550001"
            ),
            "The 'To' number [recipient] is not a valid phone number."
        );
    }

    fn settings() -> TwilioSettings {
        TwilioSettings {
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            auth_token: Secret::new("0123456789abcdef0123456789abcdef"),
            from: None,
            messaging_service_sid: None,
            status_callback_url: None,
            base_url: TwilioSettings::default_base_url(),
        }
    }

    #[test]
    fn setup_needs_a_sender_and_well_formed_sids() {
        let http = reqwest::Client::new();
        assert!(Twilio::new(&settings(), http.clone()).is_err());
        let with_from = TwilioSettings {
            from: Some("+15005550006".into()),
            ..settings()
        };
        assert!(Twilio::new(&with_from, http.clone()).is_ok());
        let bad_sid = TwilioSettings {
            account_sid: "ACnope".into(),
            ..with_from.clone()
        };
        assert!(Twilio::new(&bad_sid, http.clone()).is_err());
        let bad_service = TwilioSettings {
            messaging_service_sid: Some("nope".into()),
            ..with_from.clone()
        };
        assert!(Twilio::new(&bad_service, http.clone()).is_err());
        // The status callback is Twilio's to call: any http(s) URL, nothing else.
        for (url, ok) in [
            ("https://pombo.example.com/v1/callbacks/twilio/main", true),
            ("http://10.0.0.7/cb", true),
            ("", true),
            ("ftp://pombo.example.com/cb", false),
            ("not a url", false),
        ] {
            let with_callback = TwilioSettings {
                status_callback_url: Some(url.into()),
                ..with_from.clone()
            };
            let made = Twilio::new(&with_callback, http.clone());
            assert_eq!(made.is_ok(), ok, "{url}");
            if let Err(e) = made {
                assert_eq!(e.field, Some("status_callback_url"));
            }
        }
    }
}
