//! SMS through the Vonage (formerly Nexmo) SMS API: one `POST /sms/json`.
//!
//! - Send an SMS: <https://developer.vonage.com/en/api/sms#send-an-sms> (form-encoded
//!   `api_key`, `api_secret`, `from`, `to` as digits without `+`, `text`, `type`,
//!   `client-ref`; OpenAPI definition at
//!   <https://github.com/Nexmo/api-specification/blob/master/definitions/sms.yml>).
//! - The answer is `200 OK` even when the message is refused: each part of the message has a
//!   `status` (`"0"` accepted) and, when refused, an `error-text`. Status codes:
//!   <https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms> and
//!   <https://developer.vonage.com/en/api-errors/sms>.
//! - Delivery receipts name each part by its `messageId` and echo `client-ref`:
//!   <https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts>.

use crate::VonageSettings;
use pombo_contract::{config::Secret, content::TextContent};
use serde::Deserialize;
use uuid::Uuid;

use crate::{Accepted, DeliveryError, SetupError, http};

pub const PROVIDER: &str = "vonage";

pub struct Vonage {
    http: reqwest::Client,
    url: String,
    api_key: String,
    api_secret: Secret,
    from: String,
}

impl Vonage {
    pub fn new(settings: &VonageSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        if settings.api_key.trim().is_empty() || settings.api_secret.expose().is_empty() {
            return Err(SetupError::at(
                "api_key",
                "vonage: api_key and api_secret are required",
            ));
        }
        let from = settings.from.trim();
        if from.is_empty() {
            return Err(SetupError::at(
                "from",
                "vonage: `from` (a number or an alphanumeric sender id) is required",
            ));
        }
        // Numbers go without the `+`, like `to`; alphanumeric sender ids stay as they are.
        let from = match from.strip_prefix('+') {
            Some(digits) if digits.chars().all(|c| c.is_ascii_digit()) => digits,
            _ => from,
        };
        Ok(Vonage {
            http,
            url: format!("{}/sms/json", settings.base_url.trim_end_matches('/')),
            api_key: settings.api_key.clone(),
            api_secret: settings.api_secret.clone(),
            from: from.to_owned(),
        })
    }

    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &TextContent,
    ) -> Result<Accepted, DeliveryError> {
        let to_digits = to.strip_prefix('+').unwrap_or(to);
        let client_ref = notification_id.to_string();
        let form = [
            ("api_key", self.api_key.as_str()),
            ("api_secret", self.api_secret.expose()),
            ("from", self.from.as_str()),
            ("to", to_digits),
            ("text", content.text.as_str()),
            ("type", message_type(&content.text)),
            ("client-ref", client_ref.as_str()),
        ];
        let response = self
            .http
            .post(&self.url)
            .form(&form)
            .send()
            .await
            .map_err(|e| http::transport_error(PROVIDER, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::http::body(PROVIDER, response).await?;
        if !status.is_success() {
            // Vonage refuses with `200` and a status per part; anything else is a gateway or
            // proxy in between, or a fault: classified by HTTP status, keeping Vonage's
            // status code and error-text when the body is its documented answer.
            let answer =
                http::failed_answer(PROVIDER, status, &body, |b| Refusal::parse(b, to_digits));
            return Err(answer.classify(&headers));
        }
        let parsed = serde_json::from_slice::<SmsResponse>(&body).ok();
        // The first part that was refused, if any.
        let refused = parsed
            .as_ref()
            .and_then(|r| r.messages.iter().find(|m| m.status.trim() != "0"));

        let Some(parsed) = &parsed else {
            // 200 without the documented body: we cannot tell whether Vonage took the
            // message. Retrying risks a duplicate, but not retrying risks a silent loss.
            return Err(DeliveryError::retryable(format!(
                "{PROVIDER} answered {status} with an unexpected body"
            )));
        };
        if let Some(m) = refused {
            let code = m.status.trim();
            let message = format!(
                "{PROVIDER} refused the message: {}",
                http::clean(&describe(m, to_digits), http::MAX_REASON)
            );
            let e = match classify(code) {
                Class::Retryable => {
                    DeliveryError::retryable(message).with_retry_after(http::retry_after(&headers))
                }
                Class::Permanent => DeliveryError::permanent(message),
            };
            return Err(match http::clean_code(code) {
                Some(code) => e.with_code(code),
                None => e,
            });
        }
        let id = parsed
            .messages
            .first()
            .and_then(|m| m.message_id.clone())
            .filter(|id| !id.is_empty());
        if id.is_none() {
            tracing::warn!(%notification_id, "vonage accepted the message without a message-id");
        }
        Ok(Accepted {
            provider_message_id: id,
        })
    }
}

/// `status N (error-text)`, without the recipient's number.
fn describe(m: &MessagePart, to_digits: &str) -> String {
    let text = m.error_text.as_deref().unwrap_or("no error-text");
    let text = http::redact_recipient(text, to_digits);
    format!("status {}: {}", m.status.trim(), text)
}

/// The documented answer when it names a refused part: its status is the code, its
/// error-text (without the recipient's number) the reason.
struct Refusal {
    status: String,
    text: String,
}

impl Refusal {
    fn parse(body: &[u8], to_digits: &str) -> Option<Refusal> {
        let response = serde_json::from_slice::<SmsResponse>(body).ok()?;
        let m = response.messages.iter().find(|m| m.status.trim() != "0")?;
        Some(Refusal {
            status: m.status.trim().to_owned(),
            text: describe(m, to_digits),
        })
    }
}

impl http::DocumentedError for Refusal {
    fn code(&self) -> Option<String> {
        Some(self.status.clone())
    }
    fn reason(&self) -> Option<String> {
        Some(self.text.clone())
    }
}

#[derive(Debug, Deserialize)]
struct SmsResponse {
    #[serde(default)]
    messages: Vec<MessagePart>,
}

/// One part of the message (long texts are split, each part with its own id and status).
#[derive(Debug, Deserialize)]
struct MessagePart {
    #[serde(default)]
    status: String,
    #[serde(rename = "message-id")]
    message_id: Option<String>,
    #[serde(rename = "error-text")]
    error_text: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Retryable,
    Permanent,
}

/// Vonage's `status` codes, as its troubleshooting guide describes them.
fn classify(status: &str) -> Class {
    match status {
        // 1 Throttled: sending faster than the account's limit.
        // 5 Internal Error: "if the error persists, contact support".
        // 9 Partner Quota Violation: not enough credit; "top-up and retry".
        // 10 Too Many Existing Binds: "back-off and retry".
        "1" | "5" | "9" | "10" => Class::Retryable,
        // 2 Missing Parameters, 3 Invalid Parameters, 4 Invalid Credentials,
        // 6 Invalid Message (e.g. unroutable prefix), 7 Number Barred,
        // 8 Partner Account Barred, 11 Account Not Enabled For HTTP, 12 Message Too Long,
        // 14 Invalid Signature, 15 Invalid Sender Address, 22 Invalid Network Code,
        // 23 Invalid Callback Url, 29 Non-Whitelisted Destination,
        // 32 Signature And API Secret Disallowed, 33 Number De-activated, and any code
        // the guide does not list.
        _ => Class::Permanent,
    }
}

/// `unicode` when the text has a character outside the GSM 03.38 alphabet (basic table
/// and its extension), which `text` messages cannot carry; `text` otherwise.
fn message_type(text: &str) -> &'static str {
    if text.chars().all(is_gsm7) {
        "text"
    } else {
        "unicode"
    }
}

fn is_gsm7(c: char) -> bool {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENSION: &str = "\u{c}^{}\\[~]|€";
    BASIC.contains(c) || EXTENSION.contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_split_into_transient_and_final() {
        for code in ["1", "5", "9", "10"] {
            assert_eq!(classify(code), Class::Retryable, "{code}");
        }
        for code in [
            "2", "3", "4", "6", "7", "8", "11", "12", "14", "15", "22", "23", "29", "32", "33",
            "999",
        ] {
            assert_eq!(classify(code), Class::Permanent, "{code}");
        }
    }

    #[test]
    fn unicode_only_when_gsm_cannot_carry_the_text() {
        assert_eq!(message_type("Hello {name}, 50% off! [ok] €5 @home"), "text");
        assert_eq!(message_type("Olá! Já é sábado"), "unicode"); // á is not GSM
        assert_eq!(message_type("Ça va? Ñandu, über"), "text");
        assert_eq!(message_type("ação"), "unicode");
        assert_eq!(message_type("ok 👍"), "unicode");
        assert_eq!(message_type("Привет"), "unicode");
    }

    #[test]
    fn refusals_are_described_without_the_number() {
        let m = MessagePart {
            status: "29".into(),
            message_id: None,
            error_text: Some("Non White-listed Destination - rejected 447700900029".into()),
        };
        assert_eq!(
            describe(&m, "447700900029"),
            "status 29: Non White-listed Destination - rejected [recipient]"
        );
    }

    #[test]
    fn numeric_senders_lose_the_plus() {
        let settings = |from: &str| VonageSettings {
            api_key: "abcd1234".into(),
            api_secret: Secret::new("abcdef0123456789"),
            from: from.into(),
            base_url: VonageSettings::default_base_url(),
        };
        let http = reqwest::Client::new();
        assert_eq!(
            Vonage::new(&settings("+447700900000"), http.clone())
                .unwrap()
                .from,
            "447700900000"
        );
        assert_eq!(
            Vonage::new(&settings("Pombo"), http.clone()).unwrap().from,
            "Pombo"
        );
        assert!(Vonage::new(&settings(" "), http).is_err());
    }
}
