//! What every HTTP provider shares: classifying transport failures and status codes, and
//! turning a failed answer into an attempt error that carries no raw body bytes
//! ([`failed_answer`]).

use std::time::Duration;

use reqwest::{StatusCode, header::HeaderMap};

use super::DeliveryError;

/// A request that got no answer: connection refused, TLS failure, timeout. Worth retrying,
/// unless the outbound guard refused the target: that is final, and says which rule.
/// The URL is dropped from the message, since some providers put credentials in it
/// (Telegram's bot token is a path segment).
pub fn transport_error(provider: &str, e: reqwest::Error) -> DeliveryError {
    if let Some(refused) = super::outbound::refusal(&e) {
        return DeliveryError::permanent(format!("{provider}: {refused}"))
            .with_code("target_refused");
    }
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    DeliveryError::retryable(format!("{provider}: {what}: {e}"))
}

/// The most of an answer's body that is read. Providers answer with small JSON or XML
/// documents (a few KiB); a target that answers without end (a tenant's own server behind a
/// provider account's `base_url`) must not fill the worker's memory.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The body of `response`, cut at [`MAX_ANSWER_BYTES`]: what is past the cap is never read
/// (the connection is dropped), and a cut body simply fails to parse as the provider's.
pub async fn body(
    provider: &str,
    mut response: reqwest::Response,
) -> Result<Vec<u8>, DeliveryError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(provider, e))?
    {
        let room = MAX_ANSWER_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(body)
}

/// `text` with every occurrence of the recipient's address `to` (any case) replaced by
/// `[recipient]`: providers quote the address in their errors, and attempt errors are kept
/// (and shown) longer than the notification's personal data.
pub fn redact_recipient(text: &str, to: &str) -> String {
    let to = to.trim();
    if to.is_empty() {
        return text.to_owned();
    }
    let lower = text.to_ascii_lowercase();
    let needle = to.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    while let Some(at) = lower[rest..].find(&needle) {
        out.push_str(&text[rest..rest + at]);
        out.push_str("[recipient]");
        rest += at + needle.len();
    }
    out.push_str(&text[rest..]);
    out
}

/// 408, 425, 429 and 5xx: the answers most providers document as transient.
pub fn is_transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.as_u16() == 425
}

/// The longest reason an attempt error keeps from a provider's error answer, in characters.
pub const MAX_REASON: usize = 300;
/// The longest provider error code kept, in characters.
pub const MAX_CODE: usize = 64;

/// What a provider's documented error answer says, once its own parser has read it: the
/// provider's error code and its message. [`failed_answer`] cleans both before they reach
/// an attempt error.
pub trait DocumentedError {
    /// The provider's own code (`21211`, `MessageRejected`, `UNREGISTERED`…).
    fn code(&self) -> Option<String>;
    /// The provider's message, in words.
    fn reason(&self) -> Option<String>;
}

/// A documented error with nothing to classify by but its code and reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub code: Option<String>,
    pub reason: Option<String>,
}

impl DocumentedError for ProviderError {
    fn code(&self) -> Option<String> {
        self.code.clone()
    }
    fn reason(&self) -> Option<String> {
        self.reason.clone()
    }
}

/// A failed HTTP answer, reduced to what an attempt error may carry: the tenant reads
/// attempt errors back, and a provider's `base_url` may point at something that is not the
/// provider (a proxy's page, an internal service). So the body's bytes never travel as
/// they came: only the provider's code and reason, and only when the body is the
/// provider's documented error shape, cleaned and bounded.
#[derive(Debug)]
pub struct FailedAnswer<T> {
    pub status: StatusCode,
    /// The documented error the body was, for the provider's own classification; `None`
    /// when the body was anything else.
    pub parsed: Option<T>,
    /// `<provider> answered <status>: <reason>`, or `HTTP <status> from <provider>` when the
    /// body was not the provider's documented error.
    pub message: String,
    /// The provider's code, cleaned ([`clean_code`]).
    pub code: Option<String>,
}

/// Reads a failed answer's `body` with the provider's own `parse`r (which returns `None` for
/// anything but the provider's documented error shape) and keeps, from what it read, the
/// code and a short reason: see [`FailedAnswer`].
pub fn failed_answer<T: DocumentedError>(
    provider: &str,
    status: StatusCode,
    body: &[u8],
    parse: impl FnOnce(&[u8]) -> Option<T>,
) -> FailedAnswer<T> {
    let parsed = parse(body);
    let (message, code) = match &parsed {
        Some(error) => {
            let reason = error
                .reason()
                .map(|r| clean(&r, MAX_REASON))
                .filter(|r| !r.is_empty());
            let message = match reason {
                Some(reason) => format!("{provider} answered {status}: {reason}"),
                None => format!("{provider} answered {status}"),
            };
            (message, error.code().as_deref().and_then(clean_code))
        }
        None => (unrecognised(provider, status), None),
    };
    FailedAnswer {
        status,
        parsed,
        message,
        code,
    }
}

/// What an attempt error says of an answer that is not the provider's documented one: its
/// status, and not a byte of its body.
pub fn unrecognised(provider: &str, status: StatusCode) -> String {
    format!("HTTP {status} from {provider}")
}

impl<T> FailedAnswer<T> {
    /// The HTTP status as the code when the provider gave none (providers without codes of
    /// their own: Mailgun, webhooks).
    pub fn or_status_code(mut self) -> Self {
        if self.code.is_none() {
            self.code = Some(self.status.as_u16().to_string());
        }
        self
    }

    /// Worth another attempt, after `Retry-After` when the answer has one.
    pub fn retryable(self, headers: &HeaderMap) -> DeliveryError {
        let e = DeliveryError::retryable(self.message).with_retry_after(retry_after(headers));
        with_code(e, self.code)
    }

    /// Final.
    pub fn permanent(self) -> DeliveryError {
        with_code(DeliveryError::permanent(self.message), self.code)
    }

    /// Classified the way most providers document their answers: 408, 425, 429 and 5xx are
    /// transient (429 honours `Retry-After`); any other 4xx is final.
    pub fn classify(self, headers: &HeaderMap) -> DeliveryError {
        if is_transient(self.status) {
            self.retryable(headers)
        } else {
            self.permanent()
        }
    }
}

fn with_code(e: DeliveryError, code: Option<String>) -> DeliveryError {
    match code {
        Some(code) => e.with_code(code),
        None => e,
    }
}

/// `text` fit for an attempt error: control and invisible characters (bidirectional
/// overrides, zero-width and private-use characters, the replacement character) dropped,
/// every run of whitespace one space, at most `max` characters (then `…`).
pub fn clean(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = count > 0;
            continue;
        }
        if c.is_control() || invisible(c) {
            continue;
        }
        let needed = if space { 2 } else { 1 };
        if count + needed > max {
            out.push('…');
            return out;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// Characters that print nothing, or change how what follows prints.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
        | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
        | '\u{E000}'..='\u{F8FF}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFFD}' | '\u{E0000}'..='\u{E0FFF}' | '\u{F0000}'..='\u{10FFFF}')
}

/// A provider's error code as an attempt error keeps it: at most [`MAX_CODE`] characters of
/// ASCII letters, digits and `_ . - :`, trimmed; anything else is not a code.
pub fn clean_code(code: &str) -> Option<String> {
    let code = code.trim();
    let ok = !code.is_empty()
        && code.chars().count() <= MAX_CODE
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':'));
    ok.then(|| code.to_owned())
}

/// `Retry-After` as seconds or an HTTP date, capped at an hour (a longer wait is better
/// served by the notification's own retry schedule than by one sleeping attempt).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    Some(delay.min(Duration::from_secs(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documented(body: &[u8]) -> Option<ProviderError> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        Some(ProviderError {
            code: v.get("code")?.as_str().map(str::to_owned),
            reason: v.get("message")?.as_str().map(str::to_owned),
        })
    }

    #[test]
    fn status_codes_split_into_transient_and_final() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        let body = br#"{"code":"slow","message":"slow down"}"#;
        let e =
            failed_answer("x", StatusCode::TOO_MANY_REQUESTS, body, documented).classify(&headers);
        assert_eq!(
            e,
            DeliveryError::Retryable {
                message: "x answered 429 Too Many Requests: slow down".into(),
                code: Some("slow".into()),
                retry_after: Some(Duration::from_secs(7)),
            }
        );
        let none = HeaderMap::new();
        let class = |s: StatusCode| failed_answer("x", s, b"", documented).classify(&none);
        assert!(!class(StatusCode::BAD_GATEWAY).is_permanent());
        assert!(!class(StatusCode::REQUEST_TIMEOUT).is_permanent());
        assert!(!class(StatusCode::from_u16(425).unwrap()).is_permanent());
        assert!(class(StatusCode::BAD_REQUEST).is_permanent());
        assert!(class(StatusCode::UNAUTHORIZED).is_permanent());
    }

    #[test]
    fn answers_that_are_not_the_providers_keep_only_their_status() {
        for body in [
            &b"<html><body>metadata AKIAIOSFODNN7EXAMPLE</body></html>"[..],
            b"AccessKeyId: AKIAIOSFODNN7EXAMPLE",
            br#"{"Code":"Success","AccessKeyId":"AKIAIOSFODNN7EXAMPLE"}"#,
            b"\xff\xfe\x00garbage",
            b"",
        ] {
            let a = failed_answer("x", StatusCode::FORBIDDEN, body, documented).or_status_code();
            assert_eq!(a.message, "HTTP 403 Forbidden from x");
            assert_eq!(a.code.as_deref(), Some("403"));
            assert!(a.parsed.is_none());
        }
    }

    #[test]
    fn documented_errors_are_cleaned_and_bounded() {
        let body = serde_json::json!({
            "code": "bad<code>",
            "message": format!("line one\n\tline\u{202E}two\u{0}\u{200B} {}", "y".repeat(500)),
        })
        .to_string();
        let a = failed_answer("x", StatusCode::BAD_REQUEST, body.as_bytes(), documented);
        assert_eq!(a.code, None, "a code with markup is no code");
        let reason = a
            .message
            .strip_prefix("x answered 400 Bad Request: ")
            .unwrap();
        assert!(reason.starts_with("line one linetwo yyy"), "{reason}");
        assert_eq!(reason.chars().count(), MAX_REASON + 1);
        assert!(reason.ends_with('…'));
        assert_eq!(clean("  a \r\n b  ", 10), "a b");
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(clean("abc", 3), "abc");
        assert_eq!(clean_code(" 21211 ").as_deref(), Some("21211"));
        assert_eq!(
            clean_code("personalizations.0.to.0.email").as_deref(),
            Some("personalizations.0.to.0.email")
        );
        assert_eq!(clean_code(&"a".repeat(MAX_CODE + 1)), None);
        assert_eq!(clean_code(""), None);
    }

    #[test]
    fn retry_after_accepts_http_dates() {
        let mut headers = HeaderMap::new();
        let at = chrono::Utc::now() + chrono::Duration::seconds(30);
        headers.insert("retry-after", at.to_rfc2822().parse().unwrap());
        let d = retry_after(&headers).unwrap();
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(28),
            "{d:?}"
        );
    }
}
