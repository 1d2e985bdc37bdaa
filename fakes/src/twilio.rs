//! Fake of Twilio Programmable Messaging's Create Message
//! (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`).
//!
//! Checks what Twilio checks, answering its documented error body
//! `{"code", "message", "more_info", "status"}`:
//! - HTTP Basic auth whose user is the Account SID of the path (`AC` + 32 hex digits) and
//!   whose password looks like an Auth Token (32 hex digits); missing or otherwise → 401,
//!   code 20003 `Authenticate`.
//! - Form fields (`application/x-www-form-urlencoded`): `To` (else 21604), `From` or
//!   `MessagingServiceSid` (else 21603), a non-empty `Body` (else 21602) of at most 1600
//!   characters (else 21617), an http(s) `StatusCallback` when given (else 21609).
//!
//! Magic values: the ones Twilio documents for its test credentials
//! (<https://www.twilio.com/docs/iam/test-credentials>), answered with 400 and:
//! - `To`: `+15005550001` → 21211 invalid number; `+15005550002` → 21612 unroutable;
//!   `+15005550003` → 21408 no permission for the region; `+15005550004` → 21610
//!   unsubscribed (blocked) recipient; `+15005550009` → 21614 not SMS-capable. Any other
//!   `To` that is not `+` and digits → 21211.
//! - `From`: `+15005550001` → 21212 invalid sender; `+15005550007` → 21606 not owned /
//!   not SMS-capable; `+15005550008` → 21611 sender's queue is full. Other senders pass.
//!
//! Success: `201 Created` with the Message resource, `status` `queued` (or `accepted` when
//! sent through a Messaging Service), `sid` from [`sid_for`] so a test can check that a
//! client returns exactly what the fake answered.
//!
//! Status callbacks (<https://www.twilio.com/docs/messaging/guides/track-outbound-message-status>):
//! when the request carries `StatusCallback`, the fake, after answering, POSTs to that URL
//! (in a spawned task, [`CALLBACK_DELAY`] before each) the form-encoded status callbacks
//! `sent` then `delivered`, signed with the request's Auth Token as Twilio signs them
//! (`X-Twilio-Signature`, <https://www.twilio.com/docs/usage/security#validating-requests>).
//! Magic `To` [`UNDELIVERED_TO`] (`+15005550010`, not one of Twilio's documented magic
//! numbers: the fake's own) gets `sent` then `undelivered` with `ErrorCode` 30003
//! (unreachable destination handset). The magic failure numbers above are refused with a
//! 400, so they get no callback, as with Twilio. [`status_callback`] builds one such
//! callback for a test to POST itself.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use std::time::Duration;

use crate::{FakeState, callbacks::FakeCallback};

/// `To` whose message the fake reports `sent`, then `undelivered` with `ErrorCode` 30003.
pub const UNDELIVERED_TO: &str = "+15005550010";
/// The error code of the `undelivered` callback for [`UNDELIVERED_TO`].
pub const UNDELIVERED_ERROR_CODE: &str = "30003";
/// How long the fake waits before each status callback it posts.
pub const CALLBACK_DELAY: Duration = Duration::from_millis(50);

pub fn router() -> Router<FakeState> {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account_sid}/Messages.json",
            post(create_message),
        )
        .route(
            "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}",
            axum::routing::get(media),
        )
}

/// `GET …/Messages/{sid}/Media/{sid}` (a `MediaUrlN`): the file. Without credentials it is
/// served as Twilio serves media by default; credentials that are sent must be the
/// account's (HTTP Basic Authentication for media access).
async fn media(
    axum::extract::State(state): axum::extract::State<crate::FakeState>,
    Path((account_sid, _message_sid, media_sid)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key("authorization")
        && basic_auth(&headers).is_none_or(|(user, _)| user != account_sid)
    {
        return error(StatusCode::UNAUTHORIZED, "Authenticate");
    }
    crate::media::serve(state.media.get(&media_sid))
}

/// The provider's documented error body for `status`, with the Twilio code that goes with
/// it (20003 for 401, 20429 for 429, 20500 for 500, 20503 for 503…).
pub fn error(status: StatusCode, message: &str) -> Response {
    let code = match status.as_u16() {
        401 => 20003,
        405 => 20004,
        s => 20000 + u32::from(s),
    };
    twilio_error(status, code, message)
}

/// The `sid` the fake answers for a request with this (form) body: `SM` and 32 lowercase
/// hex digits of a hash of the body.
pub fn sid_for(body: &str) -> String {
    format!("SM{}", hex::encode(hash128(body.as_bytes())))
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

fn bad_request(code: u32, message: &str) -> Response {
    twilio_error(StatusCode::BAD_REQUEST, code, message)
}

/// Two FNV-1a passes with different offsets: stable, dependency-free, 128 bits.
fn hash128(bytes: &[u8]) -> [u8; 16] {
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

fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].chars().all(|c| c.is_ascii_hexdigit())
}

/// `Authorization: Basic base64(user:password)`.
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Segments Twilio would bill: 160/153 GSM characters, or 70/67 UCS-2 ones.
fn segments(body: &str) -> usize {
    let gsm = body
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " \n\r@$_!\"#%&'()*+,-./:;<=>?".contains(c));
    let len = body.chars().count();
    let (single, part) = if gsm { (160, 153) } else { (70, 67) };
    if len <= single { 1 } else { len.div_ceil(part) }
}

async fn create_message(
    State(state): State<FakeState>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth_token = match basic_auth(&headers) {
        Some((user, token))
            if user == account_sid
                && is_sid(&account_sid, "AC")
                && token.len() == 32
                && token.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            token
        }
        _ => return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate"),
    };
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let form: Vec<(String, String)> =
        if content_type.starts_with("application/x-www-form-urlencoded") {
            serde_urlencoded::from_bytes(&body).unwrap_or_default()
        } else {
            Vec::new()
        };
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };

    let Some(to) = field("To") else {
        return bad_request(21604, "A 'To' phone number is required.");
    };
    let from = field("From");
    let service = field("MessagingServiceSid");
    if from.is_none() && service.is_none() {
        return bad_request(21603, "A 'From' phone number is required.");
    }
    let Some(text) = field("Body") else {
        return bad_request(21602, "Message body is required.");
    };
    if text.chars().count() > 1600 {
        return bad_request(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    if let Some(callback) = field("StatusCallback")
        && !(callback.starts_with("https://") || callback.starts_with("http://"))
    {
        return bad_request(21609, "Invalid StatusCallback url");
    }
    match from {
        Some("+15005550001") => {
            return bad_request(
                21212,
                "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.",
            );
        }
        Some("+15005550007") => {
            return bad_request(
                21606,
                "The 'From' phone number provided (+15005550007) is not a valid message-capable Twilio phone number for this destination.",
            );
        }
        Some("+15005550008") => {
            return bad_request(
                21611,
                "This 'From' number has exceeded the maximum number of queued messages",
            );
        }
        _ => {}
    }
    let plausible = to
        .strip_prefix('+')
        .is_some_and(|d| (7..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()));
    match to {
        "+15005550001" => {
            return bad_request(
                21211,
                &format!("The 'To' number {to} is not a valid phone number."),
            );
        }
        "+15005550002" => {
            return bad_request(
                21612,
                &format!(
                    "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number via SMS."
                ),
            );
        }
        "+15005550003" => {
            return bad_request(
                21408,
                &format!(
                    "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}."
                ),
            );
        }
        "+15005550004" => {
            return bad_request(21610, "Attempt to send to unsubscribed recipient");
        }
        "+15005550009" => {
            return bad_request(
                21614,
                &format!("'To' number {to} is not a valid mobile number"),
            );
        }
        _ if !plausible => {
            return bad_request(
                21211,
                &format!("The 'To' number {to} is not a valid phone number."),
            );
        }
        _ => {}
    }

    let sid = sid_for(&String::from_utf8_lossy(&body));
    let now = chrono::Utc::now().to_rfc2822();
    let uri = format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json");
    let message = json!({
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": text,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": segments(text).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        // Without a Messaging Service a new message is `queued`; with one, `accepted`.
        "status": if service.is_some() { "accepted" } else { "queued" },
        "subresource_uris": {
            "media": format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"),
        },
        "to": to,
        "uri": uri,
    });
    tracing::debug!(base = %state.base_url, %sid, "twilio fake accepted a message");
    if let Some(url) = field("StatusCallback") {
        let last = if to == UNDELIVERED_TO {
            ("undelivered", Some(UNDELIVERED_ERROR_CODE))
        } else {
            ("delivered", None)
        };
        let callbacks = [("sent", None), last].map(|(status, error_code)| {
            build_callback(
                &auth_token,
                url,
                &Fields {
                    message_sid: &sid,
                    account_sid: &account_sid,
                    from,
                    to,
                    messaging_service_sid: service,
                    status,
                    error_code,
                },
            )
        });
        tokio::spawn(post_callbacks(url.to_owned(), callbacks));
    }
    (StatusCode::CREATED, Json(message)).into_response()
}

/// Twilio's request signature: base64 of the HMAC-SHA1, keyed with the Auth Token, of the
/// full URL followed by every POST parameter's name and value, sorted by name (then value),
/// without separators.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key size");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A status callback as Twilio posts it to `url` for an SMS sent from `+15017122661` to
/// `+15558675310` (the numbers of Twilio's examples): form-encoded `MessageSid`,
/// `MessageStatus`, `ErrorCode` (when given), `AccountSid`, `From`, `To`, `ApiVersion`, and
/// the legacy `SmsSid`/`SmsStatus`, signed with `auth_token` in `X-Twilio-Signature`.
/// `status` is Twilio's word: `sent`, `delivered`, `undelivered`, `failed`, `read`…
pub fn status_callback(
    auth_token: &str,
    url: &str,
    message_sid: &str,
    account_sid: &str,
    status: &str,
    error_code: Option<&str>,
) -> FakeCallback {
    build_callback(
        auth_token,
        url,
        &Fields {
            message_sid,
            account_sid,
            from: Some("+15017122661"),
            to: "+15558675310",
            messaging_service_sid: None,
            status,
            error_code,
        },
    )
}

struct Fields<'a> {
    message_sid: &'a str,
    account_sid: &'a str,
    from: Option<&'a str>,
    to: &'a str,
    messaging_service_sid: Option<&'a str>,
    status: &'a str,
    error_code: Option<&'a str>,
}

fn build_callback(auth_token: &str, url: &str, f: &Fields<'_>) -> FakeCallback {
    // In the (unsorted) order Twilio sends them.
    let mut params: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: &str| params.push((k.to_owned(), v.to_owned()));
    if let Some(code) = f.error_code {
        add("ErrorCode", code);
    }
    add("SmsSid", f.message_sid);
    add("SmsStatus", f.status);
    add("MessageStatus", f.status);
    add("To", f.to);
    if let Some(service) = f.messaging_service_sid {
        add("MessagingServiceSid", service);
    }
    add("MessageSid", f.message_sid);
    add("AccountSid", f.account_sid);
    if let Some(from) = f.from {
        add("From", from);
    }
    add("ApiVersion", "2010-04-01");
    if matches!(f.status, "delivered" | "undelivered") {
        // The carrier's delivery receipt date, `YYMMDDhhmm`.
        let done = chrono::Utc::now().format("%y%m%d%H%M").to_string();
        add("RawDlrDoneDate", &done);
    }
    let body = serde_urlencoded::to_string(&params).expect("strings encode");
    FakeCallback {
        content_type: "application/x-www-form-urlencoded".into(),
        headers: vec![
            (
                "X-Twilio-Signature".into(),
                signature(auth_token, url, &params),
            ),
            (
                "I-Twilio-Idempotency-Token".into(),
                uuid::Uuid::new_v4().to_string(),
            ),
            ("User-Agent".into(), "TwilioProxy/1.1".into()),
        ],
        body,
    }
}

/// Posts `callbacks` to `url` in order, [`CALLBACK_DELAY`] before each.
async fn post_callbacks(url: String, callbacks: [FakeCallback; 2]) {
    // One client per message: a shared one would outlive the runtime of the test that made
    // it, with its pooled connections.
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "twilio fake cannot build an HTTP client");
            return;
        }
    };
    for callback in callbacks {
        tokio::time::sleep(CALLBACK_DELAY).await;
        let mut request = client
            .post(&url)
            .header("content-type", &callback.content_type)
            .body(callback.body);
        for (name, value) in &callback.headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) => {
                tracing::debug!(%url, status = %response.status(), "twilio fake posted a status callback");
            }
            Err(error) => {
                tracing::debug!(%url, %error, "twilio fake could not post a status callback");
            }
        }
    }
}

/// The incoming-message webhook Twilio posts to a number's "A message comes in" URL
/// (<https://www.twilio.com/docs/messaging/guides/webhook-request>): `MessageSid`,
/// `SmsSid`, `AccountSid`, `From`, `To`, `Body`, `NumMedia`, `MediaUrl{N}`,
/// `MediaContentType{N}`, `SmsStatus=received`, `NumSegments`, `ApiVersion`, signed like
/// status callbacks. `media` is `(url, content type)` per file.
pub fn inbound_message(
    auth_token: &str,
    url: &str,
    account_sid: &str,
    message_sid: &str,
    (from, to): (&str, &str),
    body: &str,
    media: &[(&str, &str)],
) -> FakeCallback {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: &str| params.push((k.to_owned(), v.to_owned()));
    add("ToCountry", "US");
    add("SmsMessageSid", message_sid);
    add("NumMedia", &media.len().to_string());
    for (n, (media_url, content_type)) in media.iter().enumerate() {
        add(&format!("MediaContentType{n}"), content_type);
        add(&format!("MediaUrl{n}"), media_url);
    }
    add("SmsSid", message_sid);
    add("SmsStatus", "received");
    add("Body", body);
    add("To", to);
    add("NumSegments", "1");
    add("MessageSid", message_sid);
    add("AccountSid", account_sid);
    add("From", from);
    add("ApiVersion", "2010-04-01");
    let encoded = serde_urlencoded::to_string(&params).expect("strings encode");
    FakeCallback {
        content_type: "application/x-www-form-urlencoded".into(),
        headers: vec![(
            "X-Twilio-Signature".into(),
            signature(auth_token, url, &params),
        )],
        body: encoded,
    }
}
