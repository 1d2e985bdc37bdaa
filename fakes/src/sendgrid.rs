//! Fake of SendGrid's v3 Mail Send API (`POST /v3/mail/send`).
//!
//! Checks what SendGrid checks, answering its documented error body
//! `{"errors":[{"message","field","help"}]}`:
//! - `Authorization: Bearer <key>`: missing → 401 `authorization required`; a key that does
//!   not look like a SendGrid key (`SG.` followed by something) → 401 `The provided
//!   authorization grant is invalid, expired, or revoked`.
//! - `Content-Type: application/json` (else 415) and a JSON object body (else 400).
//! - `personalizations` with `to[].email`, `from.email`, `subject`, a non-empty `content`
//!   with non-empty values and `text/plain` first, string `custom_args` values, and
//!   `attachments` each with a base64 `content` and a `filename` (a `type` without `;` or
//!   line breaks, a `disposition` of `inline` or `attachment`) → 400 with the documented
//!   message and `field` otherwise. [`attachments`] decodes what a request attached.
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

use crate::{FakeState, callbacks::FakeCallback};

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
    if let Some(attachments) = mail.get("attachments") {
        return attachments_problem(attachments);
    }
    None
}

/// SendGrid's documented checks of `attachments`
/// (<https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors#attachments>).
fn attachments_problem(attachments: &Value) -> Option<Response> {
    let Some(list) = attachments.as_array() else {
        return Some(bad_request(
            "attachments",
            "The attachments parameter must be an array.",
        ));
    };
    for (i, a) in list.iter().enumerate() {
        match a.get("content").and_then(Value::as_str) {
            None | Some("") => {
                return Some(bad_request(
                    &format!("attachments.{i}.content"),
                    "The attachment content is required.",
                ));
            }
            Some(content) => {
                if base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .is_err()
                {
                    return Some(bad_request(
                        &format!("attachments.{i}.content"),
                        "The attachment content must be base64 encoded.",
                    ));
                }
            }
        }
        if a.get("filename")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Some(bad_request(
                &format!("attachments.{i}.filename"),
                "The attachment filename parameter is required.",
            ));
        }
        if let Some(kind) = a.get("type").and_then(Value::as_str)
            && (kind.is_empty() || kind.contains([';', '\r', '\n']))
        {
            return Some(bad_request(
                &format!("attachments.{i}.type"),
                "The attachment type cannot contain ';', or CRLF characters, and must be at least one character.",
            ));
        }
        if let Some(disposition) = a.get("disposition")
            && !matches!(disposition.as_str(), Some("inline" | "attachment"))
        {
            return Some(bad_request(
                &format!("attachments.{i}.disposition"),
                "If present, the disposition of the attachment must be either 'inline' or 'attachment'.",
            ));
        }
    }
    None
}

/// One file a Mail Send request attached, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentAttachment {
    pub filename: String,
    /// Its `type`, if given.
    pub content_type: Option<String>,
    pub disposition: Option<String>,
    pub bytes: Vec<u8>,
}

/// The attachments of a recorded Mail Send request (none when it had none, or when a
/// `content` is not base64).
pub fn attachments(request: &crate::Recorded) -> Vec<SentAttachment> {
    let text = |a: &Value, key: &str| a.get(key).and_then(Value::as_str).map(str::to_owned);
    request.json()["attachments"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|a| {
                    Some(SentAttachment {
                        filename: text(a, "filename")?,
                        content_type: text(a, "type"),
                        disposition: text(a, "disposition"),
                        bytes: base64::engine::general_purpose::STANDARD
                            .decode(text(a, "content")?)
                            .ok()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

// --- Event Webhook -------------------------------------------------------------------
//
// SendGrid posts delivery and engagement events to the customer's URL as a JSON array
// (<https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event>). With the
// Signed Event Webhook on, each POST carries `X-Twilio-Email-Event-Webhook-Timestamp`
// and `X-Twilio-Email-Event-Webhook-Signature`: the base64 of a DER ECDSA P-256/SHA-256
// signature of the timestamp followed by the raw body, verified with the public key
// SendGrid shows in its Mail Settings (base64 of a DER SubjectPublicKeyInfo)
// (<https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features>).

/// A throwaway P-256 private key (PKCS#8 PEM, made with `openssl genpkey -algorithm EC
/// -pkeyopt ec_paramgen_curve:P-256`) to sign fake Event Webhook posts. Test use only.
pub const TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9628+P65nsjmP/Ck
uFyaN4DPP1T++ttVbvoFpMW5MnahRANCAARGoKHdg+7wyeaqpzmp4zsF4GLSdSex
wrH++vSx7JPapszpdmFrX1bZ+NGdsHd8LBjKfTWCBQK+jvN5bUf/N3IO
-----END PRIVATE KEY-----
";

/// The public key of [`TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM`] as SendGrid shows its
/// verification key: base64 of the DER SubjectPublicKeyInfo (what goes in
/// `webhook_public_key`).
pub const TEST_EVENT_WEBHOOK_PUBLIC_KEY_B64: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERqCh3YPu8Mnmqqc5qeM7BeBi0nUnscKx/vr0seyT2qbM6XZha19W2fjRnbB3fCwYyn01ggUCvo7zeW1H/zdyDg==";

/// The header carrying the signature (base64 DER ECDSA).
pub const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
/// The header carrying the signed timestamp (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

/// One Event Webhook event as SendGrid posts it, shaped like the Event Webhook
/// Reference's examples, for the message SendGrid accepted with `X-Message-Id:
/// x_message_id`: `sg_message_id` is that id followed by SendGrid's `.filterdrecv-…`
/// suffix, and the event-specific fields carry the documented example values
/// (`bounce`: reason `500 unknown recipient`, status `5.0.0`, type `bounce`; `dropped`:
/// reason `Bounced Address`, status `5.0.0`; `delivered`: response `250 OK`; …).
///
/// `event` is SendGrid's event name (`processed`, `deferred`, `delivered`, `bounce`,
/// `dropped`, `open`, `click`, `spamreport`, `unsubscribe`, `group_unsubscribe`,
/// `group_resubscribe`). Custom args (e.g. `pombo_notification_id`) are top-level keys
/// of an event: insert them into the returned object, like any field to override.
pub fn event(x_message_id: &str, event: &str, timestamp: i64) -> Value {
    let sg_event_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash128(
        format!("{x_message_id}/{event}/{timestamp}").as_bytes(),
    ));
    let mut e = json!({
        "email": "alex@example.com",
        "timestamp": timestamp,
        "smtp-id": format!("<{x_message_id}@ismtpd-555>"),
        "event": event,
        "category": "cat facts",
        "sg_event_id": sg_event_id,
        "sg_message_id": format!("{x_message_id}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0"),
    });
    let extra = match event {
        "processed" => json!({ "pool": { "name": "new_MY_test", "id": 210 } }),
        "deferred" => json!({ "response": "400 try again later", "attempt": "5" }),
        "delivered" => json!({ "ip": "168.1.1.1", "response": "250 OK", "tls": 1 }),
        "bounce" => json!({
            "bounce_classification": "Invalid Address",
            "reason": "500 unknown recipient",
            "status": "5.0.0",
            "type": "bounce",
        }),
        "dropped" => json!({ "reason": "Bounced Address", "status": "5.0.0" }),
        "open" => json!({
            "sg_machine_open": false,
            "useragent": "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)",
            "ip": "255.255.255.255",
        }),
        "click" => json!({
            "useragent": "Mozilla/5.0 (iPhone; CPU iPhone OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2 (KHTML, like Gecko) Version/7.0 Mobile/11D257 Safari/9537.53",
            "ip": "255.255.255.255",
            "url": "http://example.com/blog/news.html",
            "url_offset": { "index": 0, "type": "html" },
        }),
        "group_unsubscribe" | "group_resubscribe" => json!({ "asm_group_id": 10 }),
        _ => json!({}),
    };
    if let (Some(e), Value::Object(extra)) = (e.as_object_mut(), extra) {
        e.extend(extra);
    }
    e
}

/// An Event Webhook POST of these events, as SendGrid sends it: a JSON array followed by
/// `\r\n`, signed now with `private_key_pem` (a PKCS#8 P-256 key such as
/// [`TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM`]), or unsigned when `None` (the Signed Event
/// Webhook turned off).
pub fn event_webhook(private_key_pem: Option<&str>, events: &[Value]) -> FakeCallback {
    let body = format!(
        "{}\r\n",
        serde_json::to_string(events).expect("events serialize")
    );
    let timestamp = chrono::Utc::now().timestamp().to_string();
    event_webhook_body(private_key_pem, &timestamp, body)
}

/// An Event Webhook POST of this exact body, signed with `private_key_pem` at
/// `timestamp` (Unix seconds, as SendGrid puts it in the timestamp header) when a key is
/// given. For tests that need a particular body or timestamp.
pub fn event_webhook_body(
    private_key_pem: Option<&str>,
    timestamp: &str,
    body: String,
) -> FakeCallback {
    let headers = match private_key_pem {
        Some(pem) => vec![
            (
                SIGNATURE_HEADER.to_owned(),
                event_webhook_signature(pem, timestamp, body.as_bytes()),
            ),
            (TIMESTAMP_HEADER.to_owned(), timestamp.to_owned()),
        ],
        None => Vec::new(),
    };
    FakeCallback {
        content_type: "application/json".into(),
        headers,
        body,
    }
}

/// The Signed Event Webhook signature: base64 of the DER ECDSA P-256 signature, with
/// SHA-256, of `timestamp` followed by `body`.
///
/// # Panics
/// When `private_key_pem` is not a PKCS#8 PEM P-256 private key.
pub fn event_webhook_signature(private_key_pem: &str, timestamp: &str, body: &[u8]) -> String {
    use p256::{
        ecdsa::{Signature, SigningKey, signature::Signer},
        pkcs8::DecodePrivateKey,
    };
    let b64: String = private_key_pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("the private key PEM is base64");
    let key = SigningKey::from_pkcs8_der(&der).expect("a PKCS#8 P-256 private key");
    let mut payload = timestamp.as_bytes().to_vec();
    payload.extend_from_slice(body);
    let signature: Signature = key.sign(&payload);
    base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
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

    #[test]
    fn event_webhook_signatures_verify_with_the_public_key() {
        use p256::{
            ecdsa::{Signature, VerifyingKey, signature::Verifier},
            pkcs8::DecodePublicKey,
        };
        let callback = event_webhook(
            Some(TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM),
            &[event("abc", "delivered", 1_513_299_569)],
        );
        assert!(callback.body.ends_with("]\r\n"));
        let header = |name: &str| {
            callback
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = VerifyingKey::from_public_key_der(
            &b64.decode(TEST_EVENT_WEBHOOK_PUBLIC_KEY_B64).unwrap(),
        )
        .unwrap();
        let signature =
            Signature::from_der(&b64.decode(header(SIGNATURE_HEADER)).unwrap()).unwrap();
        let signed = format!("{}{}", header(TIMESTAMP_HEADER), callback.body);
        assert!(key.verify(signed.as_bytes(), &signature).is_ok());
        assert!(key.verify(b"tampered", &signature).is_err());
        assert!(event_webhook(None, &[]).headers.is_empty());
    }
}
