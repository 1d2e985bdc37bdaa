//! Fake of SendGrid's v3 Mail Send API (`POST /v3/mail/send`).
//!
//! Checks what SendGrid checks, answering its documented error body
//! `{"errors":[{"message","field","help"}]}`:
//! - `Authorization: Bearer <key>`: missing → 401 `authorization required`; a key that does
//!   not look like a SendGrid key (`SG.` followed by something) → 401 `The provided
//!   authorization grant is invalid, expired, or revoked`.
//! - `Content-Type: application/json` (else 415) and a JSON object body (else 400).
//! - `personalizations` with `to[].email`, `from.email`, `subject`, a non-empty `content`
//!   with non-empty values and `text/plain` first, string `custom_args` values → 400 with
//!   the documented message and `field` otherwise.
//!
//! Magic values (SendGrid documents no test addresses; Pombo's recipient validation lets
//! these through, so they reach the fake):
//! - a recipient in the domain `invalid.test` (e.g. `bounce@invalid.test`) → 400
//!   `Does not contain a valid address.` on field `personalizations.0.to.0.email`, what
//!   SendGrid answers for an address it refuses;
//! - a sender in the domain `unverified.test` → 403 `The from address does not match a
//!   verified Sender Identity…` on field `from`.
//!
//! Success: `202 Accepted`, empty body, `X-Message-Id: <22 characters>`. The id is
//! derived from the request body ([`message_id_for`]), so a test can check that a client
//! returns exactly what the fake answered. 429s (from injected faults) carry SendGrid's
//! `X-RateLimit-*` headers, resetting 60 s later.

use axum::{
    Json, Router,
    body::Bytes,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::FakeState;

/// Recipients in this domain are refused as invalid addresses.
pub const INVALID_RECIPIENT_DOMAIN: &str = "invalid.test";
/// Senders in this domain are refused as unverified sender identities.
pub const UNVERIFIED_SENDER_DOMAIN: &str = "unverified.test";

const HELP: &str = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html";

pub fn router() -> Router<FakeState> {
    Router::new().route("/v3/mail/send", post(mail_send))
}

/// The provider's documented error body for `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    let mut response = errors(status, vec![(None, message.to_owned())]);
    if status == StatusCode::TOO_MANY_REQUESTS {
        let reset = chrono::Utc::now().timestamp() + 60;
        let h = response.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("600"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    }
    response
}

/// The id SendGrid's fake answers in `X-Message-Id` for a request with this body:
/// 16 bytes of a hash of the body, base64url without padding (22 characters, the shape of
/// SendGrid's ids).
pub fn message_id_for(body: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash128(body.as_bytes()))
}

/// Two FNV-1a passes with different offsets: stable, dependency-free, 128 bits.
pub(crate) fn hash128(bytes: &[u8]) -> [u8; 16] {
    let fnv = |mut h: u64| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_be_bytes());
    out[8..].copy_from_slice(&fnv(0x6c62_272e_07bb_0142).to_be_bytes());
    out
}

fn errors(status: StatusCode, items: Vec<(Option<&str>, String)>) -> Response {
    let errors: Vec<Value> = items
        .into_iter()
        .map(|(field, message)| {
            let help = field.map(|f| format!("{HELP}#message.{f}"));
            json!({ "message": message, "field": field, "help": help })
        })
        .collect();
    (status, Json(json!({ "errors": errors }))).into_response()
}

fn bad_request(field: &str, message: &str) -> Response {
    errors(
        StatusCode::BAD_REQUEST,
        vec![(Some(field), message.to_owned())],
    )
}

async fn mail_send(headers: HeaderMap, body: Bytes) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(key) = auth.strip_prefix("Bearer ") else {
        return errors(
            StatusCode::UNAUTHORIZED,
            vec![(None, "authorization required".into())],
        );
    };
    if !key.starts_with("SG.") || key.len() < 4 {
        return errors(
            StatusCode::UNAUTHORIZED,
            vec![(
                None,
                "The provided authorization grant is invalid, expired, or revoked".into(),
            )],
        );
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        return errors(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            vec![(None, "Content-Type should be application/json.".into())],
        );
    }
    let Ok(Value::Object(mail)) = serde_json::from_slice::<Value>(&body) else {
        return errors(StatusCode::BAD_REQUEST, vec![(None, "Bad Request".into())]);
    };
    if let Some(response) = problem(&mail) {
        return response;
    }
    let id = message_id_for(&String::from_utf8_lossy(&body));
    (StatusCode::ACCEPTED, [("x-message-id", id)]).into_response()
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

fn looks_like_address(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !address.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

/// SendGrid's documented validation of a Mail Send body: the error answer, if any.
fn problem(mail: &serde_json::Map<String, Value>) -> Option<Response> {
    let personalizations = mail.get("personalizations").and_then(Value::as_array);
    let Some(personalizations) = personalizations.filter(|p| !p.is_empty()) else {
        return Some(bad_request(
            "personalizations",
            "The personalizations field is required and must have at least one personalization.",
        ));
    };
    if personalizations.len() > 1000 {
        return Some(bad_request(
            "personalizations",
            "The personalization block is limited to 1000 personalizations per API request.",
        ));
    }
    let has_subject = mail
        .get("subject")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    for (i, p) in personalizations.iter().enumerate() {
        let Some(to) = p
            .get("to")
            .and_then(Value::as_array)
            .filter(|t| !t.is_empty())
        else {
            return Some(bad_request(
                &format!("personalizations.{i}.to"),
                "The to array is required for all personalization objects, and must have at least one email object with a valid email address.",
            ));
        };
        for (j, recipient) in to.iter().enumerate() {
            let email = recipient.get("email").and_then(Value::as_str).unwrap_or("");
            if !looks_like_address(email)
                || domain_of(email).eq_ignore_ascii_case(INVALID_RECIPIENT_DOMAIN)
            {
                return Some(bad_request(
                    &format!("personalizations.{i}.to.{j}.email"),
                    "Does not contain a valid address.",
                ));
            }
        }
        if let Some(args) = p.get("custom_args") {
            let all_strings = args
                .as_object()
                .is_some_and(|a| a.values().all(Value::is_string));
            if !all_strings {
                return Some(bad_request(
                    &format!("personalizations.{i}.custom_args"),
                    "Invalid type. Expected: string, given: object. Custom args must be a map of strings.",
                ));
            }
        }
        let own_subject = p
            .get("subject")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if !has_subject && !own_subject {
            return Some(bad_request(
                "subject",
                "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.",
            ));
        }
    }
    let from = mail
        .get("from")
        .and_then(|f| f.get("email"))
        .and_then(Value::as_str);
    let Some(from) = from.filter(|f| looks_like_address(f)) else {
        return Some(bad_request(
            "from.email",
            "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {\"email\" : \"example@example.com\"}  or {\"email\" : \"example@example.com\", \"name\" : \"Example Recipient\"}.",
        ));
    };
    if domain_of(from).eq_ignore_ascii_case(UNVERIFIED_SENDER_DOMAIN) {
        return Some(errors(
            StatusCode::FORBIDDEN,
            vec![(
                Some("from"),
                "The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements".into(),
            )],
        ));
    }
    let content = mail.get("content").and_then(Value::as_array);
    let Some(content) = content.filter(|c| !c.is_empty()) else {
        return Some(bad_request(
            "content",
            "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.",
        ));
    };
    for unique in ["text/plain", "text/html"] {
        let count = content
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some(unique))
            .count();
        if count > 1 {
            return Some(bad_request(
                "content",
                "If present, text/plain and text/html may only be provided once.",
            ));
        }
    }
    for (i, part) in content.iter().enumerate() {
        let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() {
            return Some(bad_request(
                &format!("content.{i}.type"),
                "The content type cannot contain ';', or CRLF characters, and must be at least one character.",
            ));
        }
        if part
            .get("value")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Some(bad_request(
                &format!("content.{i}.value"),
                "The content value must be a string at least one character in length.",
            ));
        }
        if kind == "text/plain" && i != 0 {
            return Some(bad_request(
                "content",
                "If present, text/plain content must be first, followed by text/html, followed by any other content.",
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_shaped_like_sendgrids() {
        let a = message_id_for("{\"a\":1}");
        assert_eq!(a.len(), 22);
        assert_eq!(a, message_id_for("{\"a\":1}"));
        assert_ne!(a, message_id_for("{\"a\":2}"));
    }
}
