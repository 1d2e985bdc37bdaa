//! Fake of Mailgun's Messages API (`POST /v3/{domain}/messages`).
//!
//! Checks what Mailgun checks, answering its documented errors:
//! - HTTP Basic auth with user `api` and a key shaped like a Mailgun private key
//!   (`key-…`, or the newer `<32 hex>-<8 hex>-<8 hex>`) → else `401` with the plain-text
//!   body `Forbidden`.
//! - A form body, `application/x-www-form-urlencoded` or `multipart/form-data` (Mailgun
//!   takes both), with `from`, `to`, `subject` and one of `text`, `html`, `amp-html` or
//!   `template` → else `400 {"message": "from parameter is missing"}` and the like; an
//!   unparsable `from` or `to` → `400 {"message": "… parameter is not a valid address.
//!   please check documentation"}`.
//!
//! Magic values (Mailgun documents no test addresses; Pombo's recipient validation lets
//! these through, so they reach the fake):
//! - a recipient in the domain `invalid.test` (e.g. `bounce@invalid.test`) → `400
//!   {"message": "to parameter is not a valid address. please check documentation"}`,
//!   what Mailgun answers for an address it refuses;
//! - the sending domain `unknown.test` → `404 {"message": "Domain not found: unknown.test"}`.
//!
//! Attachments come as `multipart/form-data` file parts named `attachment`;
//! [`attachments`] reads them back from a recorded request.
//!
//! Success: `200 {"id": "<YYYYMMDDhhmmss.<16 hex>@{domain}>", "message": "Queued. Thank you."}`.
//! The 16 hex digits are derived from the request body ([`message_token_for`]), so a test
//! can check that a client returns exactly what the fake answered.

use axum::{
    Json, Router,
    body::Bytes,
    extract::Path,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::{FakeState, callbacks::FakeCallback};

/// Recipients in this domain are refused as invalid addresses.
pub const INVALID_RECIPIENT_DOMAIN: &str = "invalid.test";
/// This sending domain does not exist.
pub const UNKNOWN_DOMAIN: &str = "unknown.test";

pub fn router() -> Router<FakeState> {
    Router::new().route("/v3/{domain}/messages", post(send_message))
}

/// The provider's documented error body for `status`: plain `Forbidden` for 401, JSON
/// `{"message": …}` otherwise.
pub fn error(status: StatusCode, message: &str) -> Response {
    if status == StatusCode::UNAUTHORIZED {
        return forbidden();
    }
    (status, Json(json!({ "message": message }))).into_response()
}

/// The 16 hex digits in the id the fake answers for a request with this body.
pub fn message_token_for(body: &str) -> String {
    hex::encode(&crate::sendgrid::hash128(body.as_bytes())[..8])
}

fn forbidden() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Forbidden",
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

fn is_mailgun_key(key: &str) -> bool {
    if let Some(rest) = key.strip_prefix("key-") {
        return !rest.is_empty();
    }
    let parts: Vec<&str> = key.split('-').collect();
    parts.len() == 3
        && [32, 8, 8]
            .iter()
            .zip(&parts)
            .all(|(len, p)| p.len() == *len && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn authorised(headers: &HeaderMap) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let decoded = String::from_utf8_lossy(&decoded);
    matches!(decoded.split_once(':'), Some(("api", key)) if is_mailgun_key(key))
}

async fn send_message(Path(domain): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorised(&headers) {
        return forbidden();
    }
    if domain.eq_ignore_ascii_case(UNKNOWN_DOMAIN) {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Domain not found: {domain}"),
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fields = if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body).unwrap_or_default()
    } else if content_type.starts_with("multipart/form-data") {
        match boundary(content_type) {
            Some(b) => multipart_fields(&body, &b),
            None => return bad_request("Invalid multipart/form-data: no boundary"),
        }
    } else {
        Vec::new()
    };
    let all = |name: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let present = |name: &str| all(name).iter().any(|v| !v.is_empty());
    if !present("from") {
        return bad_request("from parameter is missing");
    }
    if !present("to") {
        return bad_request("to parameter is missing");
    }
    if !present("subject") {
        return bad_request("subject parameter is missing");
    }
    if !["text", "html", "amp-html", "template"]
        .iter()
        .any(|f| present(f))
    {
        return bad_request(
            "Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified",
        );
    }
    if !all("from").iter().all(|f| address_of(f).is_some()) {
        return bad_request("from parameter is not a valid address. please check documentation");
    }
    let recipients: Vec<&str> = all("to")
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if recipients.len() > 1000 {
        return bad_request("Too many recipients; max is 1000");
    }
    let valid = |r: &&str| {
        address_of(r).is_some_and(|a| {
            !a.rsplit_once('@')
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(INVALID_RECIPIENT_DOMAIN))
        })
    };
    if !recipients.iter().all(valid) {
        return bad_request("to parameter is not a valid address. please check documentation");
    }
    let id = format!(
        "<{}.{}@{}>",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        message_token_for(&String::from_utf8_lossy(&body)),
        domain
    );
    Json(json!({ "id": id, "message": "Queued. Thank you." })).into_response()
}

/// The address of `Name <a@b>` or a bare `a@b`, if it looks like one.
fn address_of(mailbox: &str) -> Option<&str> {
    let mailbox = mailbox.trim();
    let address = match (mailbox.rfind('<'), mailbox.ends_with('>')) {
        (Some(open), true) => &mailbox[open + 1..mailbox.len() - 1],
        (None, false) => mailbox,
        _ => return None,
    };
    let (local, domain) = address.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !address.contains(char::is_whitespace);
    ok.then_some(address)
}

fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').map(str::trim).find_map(|p| {
        p.strip_prefix("boundary=")
            .map(|b| b.trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

/// The named parts of a `multipart/form-data` body, as text (files included by name).
fn multipart_fields(body: &[u8], boundary: &str) -> Vec<(String, String)> {
    let body = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut fields = Vec::new();
    for part in body.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let name = head.lines().find_map(|line| {
            let (h, v) = line.split_once(':')?;
            if !h.trim().eq_ignore_ascii_case("content-disposition") {
                return None;
            }
            v.split(';').map(str::trim).find_map(|p| {
                p.strip_prefix("name=")
                    .map(|n| n.trim_matches('"').to_owned())
            })
        });
        if let Some(name) = name {
            let value = value.strip_suffix("\r\n").unwrap_or(value);
            fields.push((name, value.to_owned()));
        }
    }
    fields
}

/// One part of a recorded `multipart/form-data` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPart {
    pub name: String,
    /// Set for file parts.
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// The parts of a recorded `multipart/form-data` request, in order; none for a form-encoded
/// one. The recorded body is text, so bytes that are not UTF-8 do not survive recording:
/// compare UTF-8 content.
pub fn form_parts(request: &crate::Recorded) -> Vec<FormPart> {
    let Some(boundary) = request
        .header("content-type")
        .filter(|t| t.starts_with("multipart/form-data"))
        .and_then(boundary)
    else {
        return Vec::new();
    };
    let body = request.body.as_bytes();
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    // The first delimiter has no line break before it.
    let mut rest = match find(body, &delimiter[2..]) {
        Some(at) => &body[at + delimiter.len() - 2..],
        None => return Vec::new(),
    };
    let mut parts = Vec::new();
    while !rest.starts_with(b"--") {
        let Some(end) = find(rest, &delimiter) else {
            break;
        };
        let part = rest[..end].strip_prefix(b"\r\n").unwrap_or(&rest[..end]);
        rest = &rest[end + delimiter.len()..];
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]);
        let mut form_part = FormPart {
            name: String::new(),
            filename: None,
            content_type: None,
            bytes: part[split + 4..].to_vec(),
        };
        for line in head.lines() {
            let Some((header, value)) = line.split_once(':') else {
                continue;
            };
            if header.trim().eq_ignore_ascii_case("content-type") {
                form_part.content_type = Some(value.trim().to_owned());
            } else if header.trim().eq_ignore_ascii_case("content-disposition") {
                for param in value.split(';').map(str::trim) {
                    if let Some(name) = param.strip_prefix("name=") {
                        form_part.name = name.trim_matches('"').to_owned();
                    } else if let Some(name) = param.strip_prefix("filename=") {
                        form_part.filename = Some(name.trim_matches('"').to_owned());
                    }
                }
            }
        }
        parts.push(form_part);
    }
    parts
}

/// The files a recorded request attached: its `attachment` parts.
pub fn attachments(request: &crate::Recorded) -> Vec<FormPart> {
    form_parts(request)
        .into_iter()
        .filter(|p| p.name == "attachment")
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// --- Webhooks --------------------------------------------------------------------------
//
// Mailgun posts each event to the customer's webhook URL as `application/json`
// `{"signature": {"timestamp", "token", "signature"}, "event-data": {…}}`, where
// `signature` is the hex HMAC-SHA256 of `timestamp` followed by `token`, keyed with the
// account's HTTP webhook signing key
// (<https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks>),
// and `event-data` is shaped like the documented examples
// (<https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads>).

/// The `event-data` of one event about the message Mailgun queued as `message_id` (with
/// or without its angle brackets: Mailgun's events carry it bare), shaped like Mailgun's
/// documented webhook payload examples, at `timestamp` (Unix seconds with a fraction).
///
/// `event` is a Mailgun event (`accepted`, `rejected`, `delivered`, `failed`, `opened`,
/// `clicked`, `unsubscribed`, `complained`, `stored`) or one of the webhook names
/// `permanent_fail` / `temporary_fail`, which are `failed` events of `severity`
/// `permanent` / `temporary`; a bare `failed` is permanent. Failures carry the documented
/// examples' `reason` and `delivery-status` (permanent: `bounce`, 550 `5.5.0 Requested
/// action not taken: mailbox unavailable`; temporary: `generic`, 421). Override any field
/// in the returned object.
pub fn event_data(event: &str, message_id: &str, timestamp: f64) -> Value {
    let message_id = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let domain = message_id
        .rsplit_once('@')
        .map_or("sample.mailgun.com", |(_, d)| d);
    let (name, severity) = match event {
        "permanent_fail" | "failed" => ("failed", Some("permanent")),
        "temporary_fail" => ("failed", Some("temporary")),
        other => (other, None),
    };
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::sendgrid::hash128(
        format!("{message_id}/{event}/{timestamp}").as_bytes(),
    ));
    let mut data = json!({
        "event": name,
        "id": id,
        "timestamp": timestamp,
        "log-level": "info",
        "account": { "id": "1234567890303a4bd1f33898" },
        "domain": { "name": domain },
        "message": {
            "headers": {
                "message-id": message_id,
                "from": format!("Sample Sender <sender@{domain}>"),
                "to": "recipient@sample.mailgun.com",
                "subject": "Sample webhook payload",
            },
            "size": 341,
        },
        "recipient": "recipient@sample.mailgun.com",
        "recipient-domain": "sample.mailgun.com",
        "tags": [],
        "user-variables": {},
    });
    let extra = match (name, severity) {
        ("delivered", _) => json!({
            "delivery-status": {
                "attempt-no": 1,
                "code": 250,
                "message": "OK",
                "description": null,
                "session-seconds": 1.276,
                "enhanced-code": null,
                "mx-host": "mailgun-com.mail.protection.outlook.com",
                "tls": true,
            },
        }),
        ("failed", Some("permanent")) => json!({
            "log-level": "error",
            "severity": "permanent",
            "reason": "bounce",
            "delivery-status": {
                "attempt-no": 1,
                "code": 550,
                "message": "5.5.0 Requested action not taken: mailbox unavailable",
                "description": null,
                "session-seconds": 0.208,
                "enhanced-code": "5.5.0",
                "mx-host": "802679870.pamx1.hotmail.com",
                "bounce-type": "hard",
            },
        }),
        ("failed", _) => json!({
            "log-level": "warn",
            "severity": "temporary",
            "reason": "generic",
            "delivery-status": {
                "attempt-no": 1,
                "code": 421,
                "message": "Your IP (161.38.194.10) is temporary blacklisted by an anti-troyan rule, retry later",
                "description": null,
                "session-seconds": 0.478,
                "retry-seconds": 600,
                "enhanced-code": null,
                "mx-host": "mx1.sample.mailgun.com",
            },
        }),
        ("rejected", _) => json!({
            "log-level": "warn",
            "reject": { "reason": "Sandbox subdomains are for test purposes only.", "description": "" },
        }),
        ("opened" | "clicked" | "unsubscribed", _) => {
            let mut e = json!({
                "ip": "38.142.208.162",
                "client-info": {
                    "client-name": "Chrome",
                    "client-os": "OS X",
                    "client-type": "browser",
                    "device-type": "desktop",
                    "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/144.0.0.0 Safari/537.36",
                    "bot": null,
                },
            });
            if name == "clicked" {
                e["url"] = json!("https://sample.mailgun.com");
            }
            e
        }
        ("complained", _) => json!({ "log-level": "warn" }),
        _ => json!({}),
    };
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    data
}

/// A webhook POST of one `event` (see [`event_data`]) about `message_id`, happening now,
/// signed with `signing_key` as Mailgun signs every webhook.
pub fn event_webhook(signing_key: &str, event: &str, message_id: &str) -> FakeCallback {
    let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    webhook(signing_key, event_data(event, message_id, now))
}

/// A webhook POST of this `event-data`, signed now with `signing_key` and a fresh
/// 50-character token.
pub fn webhook(signing_key: &str, event_data: Value) -> FakeCallback {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let token = hex::encode(rand::random::<[u8; 25]>());
    webhook_at(signing_key, &timestamp, &token, event_data)
}

/// A webhook POST of this `event-data`, signed with `signing_key` over this `timestamp`
/// (Unix seconds, a string as Mailgun sends it) and `token`.
pub fn webhook_at(
    signing_key: &str,
    timestamp: &str,
    token: &str,
    event_data: Value,
) -> FakeCallback {
    let body = json!({
        "signature": {
            "token": token,
            "timestamp": timestamp,
            "signature": webhook_signature(signing_key, timestamp, token),
        },
        "event-data": event_data,
    });
    FakeCallback {
        content_type: "application/json".into(),
        headers: Vec::new(),
        body: body.to_string(),
    }
}

/// Mailgun's webhook signature: hex HMAC-SHA256 of `timestamp` followed by `token`, keyed
/// with the webhook signing key.
pub fn webhook_signature(signing_key: &str, timestamp: &str, token: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(signing_key.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_are_read() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\nA <a@b.test>\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"v:x\"\r\n\r\nline1\r\nline2\r\n--XyZ--\r\n";
        assert_eq!(
            multipart_fields(body.as_bytes(), "XyZ"),
            vec![
                ("from".to_owned(), "A <a@b.test>".to_owned()),
                ("v:x".to_owned(), "line1\r\nline2".to_owned()),
            ]
        );
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(),
            Some("XyZ")
        );
    }

    #[test]
    fn addresses_and_keys() {
        assert_eq!(address_of("Pombo <a@b.test>"), Some("a@b.test"));
        assert_eq!(address_of("a@b.test"), Some("a@b.test"));
        assert_eq!(address_of("nope"), None);
        assert_eq!(address_of("Name <a@b.test"), None);
        assert!(is_mailgun_key("key-3ax6xnjp29jd6fds4gc373sgvjxteol0"));
        assert!(is_mailgun_key(
            "0123456789abcdef0123456789abcdef-01234567-89abcdef"
        ));
        assert!(!is_mailgun_key("wrong"));
    }

    #[test]
    fn webhooks_are_signed_over_timestamp_and_token() {
        // HMAC-SHA256("key-abc", "1770920772" + "token"), computed independently with
        // `printf 1770920772token | openssl dgst -sha256 -hmac key-abc`.
        assert_eq!(
            webhook_signature("key-abc", "1770920772", "token"),
            "929fc02f10247dff340fcb1b0f0b0ccd81c83ce79187572f13f254df867349c5"
        );
        let callback = event_webhook(
            "key-abc",
            "permanent_fail",
            "<20260212174255.58bbb7ce85a423e5@mg.pombo.test>",
        );
        let body: Value = serde_json::from_str(&callback.body).unwrap();
        let sig = &body["signature"];
        assert_eq!(sig["token"].as_str().unwrap().len(), 50);
        assert_eq!(
            sig["signature"].as_str().unwrap(),
            webhook_signature(
                "key-abc",
                sig["timestamp"].as_str().unwrap(),
                sig["token"].as_str().unwrap()
            )
        );
        let data = &body["event-data"];
        assert_eq!(data["event"], "failed");
        assert_eq!(data["severity"], "permanent");
        assert_eq!(
            data["message"]["headers"]["message-id"],
            "20260212174255.58bbb7ce85a423e5@mg.pombo.test"
        );
    }
}
