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
use serde_json::json;

use crate::FakeState;

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
}
