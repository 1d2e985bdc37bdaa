//! Fake of Amazon SES API v2's `SendEmail` (`POST /v2/email/outbound-emails`).
//!
//! Checks what SES checks, answering AWS's REST-JSON errors (the exception name in the
//! `x-amzn-ErrorType` header, `{"message": …}` in the body, an `x-amzn-RequestId`):
//! - **the Signature Version 4** in `Authorization`, recomputed with `aws-sigv4` from the
//!   test credentials below: no signature → 403 `MissingAuthenticationTokenException`; an
//!   unparsable one → 403 `IncompleteSignatureException`; an unknown access key or session
//!   token → 403 `UnrecognizedClientException`; a scope for another service, or an
//!   `X-Amz-Date` more than 5 minutes off → 403 `InvalidSignatureException`; a signature
//!   that does not match (wrong secret key, body or headers changed after signing) → 403
//!   `SignatureDoesNotMatch`. The region is taken from the signature's scope.
//! - a JSON object body (else 400 `BadRequestException`) with `FromEmailAddress`, 1 to 50
//!   `Destination.ToAddresses` that look like addresses, exactly one of
//!   `Content.Simple`/`Raw`/`Template`, for `Simple` a `Subject.Data` and a `Body` with
//!   `Text.Data` and/or `Html.Data`, and `EmailTags` names and values of 1–256 ASCII
//!   letters, digits, `_` or `-`, and `Simple.Attachments` with a `FileName` and a base64
//!   `RawContent` → else 400 `BadRequestException` with SES's wording.
//!
//! Magic values (Pombo's recipient validation lets them through, so they reach the fake):
//! - a sender or recipient in the domain `unverified.test` → 400 `MessageRejected`
//!   `Email address is not verified. The following identities failed the check in region
//!   …: <address>`, what SES answers for an unverified sender, or for any recipient not
//!   verified while the account is in the sandbox;
//! - the configuration set `missing` → 404 `NotFoundException`.
//!
//! Injected faults answer in the same shape, the exception chosen by status: 429
//! `TooManyRequestsException`, 400 `MessageRejected`, 403 `AccessDeniedException`, 404
//! `NotFoundException`, 5xx `InternalFailure`/`ServiceUnavailable`, other 4xx
//! `BadRequestException`.
//!
//! Success: `200 {"MessageId": "…"}`, an id shaped like SES's and derived from the body
//! ([`message_id_for`]), so a test can check that a client returns exactly that.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SigningSettings, sign},
    sign::v4,
};
use axum::{
    Json, Router,
    body::Bytes,
    extract::OriginalUri,
    http::{HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

use crate::FakeState;

/// The access key id the fake accepts (AWS's documented example key).
pub const TEST_ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
/// Its secret key: signatures are recomputed with it.
pub const TEST_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// The session token the fake accepts when a request carries `X-Amz-Security-Token`.
pub const TEST_SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEPombotestsessiontoken";
/// The region `make run`'s account and the tests sign for.
pub const TEST_REGION: &str = "us-east-1";

/// Senders and recipients in this domain are refused as unverified identities.
pub const UNVERIFIED_DOMAIN: &str = "unverified.test";
/// This configuration set does not exist.
pub const MISSING_CONFIGURATION_SET: &str = "missing";

/// How far `X-Amz-Date` may be from the fake's clock, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

pub fn router() -> Router<FakeState> {
    Router::new().route("/v2/email/outbound-emails", post(send_email))
}

/// The provider's documented error answer for `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    let kind = match status.as_u16() {
        429 => "TooManyRequestsException",
        400 => "MessageRejected",
        403 => "AccessDeniedException",
        404 => "NotFoundException",
        503 => "ServiceUnavailable",
        500..=599 => "InternalFailure",
        _ => "BadRequestException",
    };
    aws_error(status, kind, message)
}

/// An AWS REST-JSON error: the type in `x-amzn-ErrorType` (with the namespace suffix AWS
/// appends), the text in the body.
pub fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let namespace = if status == StatusCode::FORBIDDEN {
        "http://internal.amazon.com/coral/com.amazon.coral.service/"
    } else {
        "http://internal.amazon.com/coral/com.amazonaws.sesv2/"
    };
    let mut response = (status, Json(json!({ "message": message }))).into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{kind}:{namespace}")) {
        h.insert("x-amzn-errortype", v);
    }
    h.insert(
        "x-amzn-requestid",
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("uuid"),
    );
    response
}

fn bad_request(message: &str) -> Response {
    aws_error(StatusCode::BAD_REQUEST, "BadRequestException", message)
}

/// A 403 refusing a request's credentials or signature.
struct Refusal {
    kind: &'static str,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        aws_error(StatusCode::FORBIDDEN, self.kind, &self.message)
    }
}

fn forbidden(kind: &'static str, message: &str) -> Refusal {
    Refusal {
        kind,
        message: message.to_owned(),
    }
}

/// The `MessageId` the fake answers for a request with this body, shaped like SES's
/// (`0100` + 12 hex, then a UUID, then `-000000`).
pub fn message_id_for(body: &str) -> String {
    let h = hex::encode(crate::sendgrid::hash128(body.as_bytes()));
    let t = hex::encode(crate::sendgrid::hash128(format!("ses/{body}").as_bytes()));
    format!(
        "0100{}-{}-{}-{}-{}-{}-000000",
        &t[..12],
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

async fn send_email(uri: OriginalUri, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = verify_signature(&Method::POST, &uri, &headers, &body, SystemTime::now())
    {
        return refusal.into_response();
    }
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("Unable to parse the request body as JSON.");
    };
    if let Some(refusal) = problem(&request) {
        return refusal;
    }
    let id = message_id_for(&String::from_utf8_lossy(&body));
    (StatusCode::OK, Json(json!({ "MessageId": id }))).into_response()
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…` header.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return None,
        }
    }
    let mut scope = credential?.split('/');
    let auth = Authorization {
        access_key_id: scope.next()?,
        date: scope.next()?,
        region: scope.next()?,
        service: scope.next()?,
        terminator: scope.next()?,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    };
    (scope.next().is_none() && !auth.signature.is_empty()).then_some(auth)
}

/// Checks the request's SigV4 signature the way SES does, by signing the same request
/// again with the known secret key and comparing.
fn verify_signature(
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), Refusal> {
    let Some(value) = headers.get("authorization") else {
        return Err(forbidden(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let auth = value.to_str().ok().and_then(parse_authorization).ok_or_else(|| {
        forbidden(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
        )
    })?;
    if auth.access_key_id != TEST_ACCESS_KEY_ID {
        return Err(forbidden(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    if token.is_some_and(|t| t != TEST_SESSION_TOKEN) {
        return Err(forbidden(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if auth.service != "ses" || auth.terminator != "aws4_request" {
        return Err(forbidden(
            "InvalidSignatureException",
            &format!(
                "Credential should be scoped to correct service: 'ses'. (given: '{}')",
                auth.service
            ),
        ));
    }
    if auth.region.is_empty()
        || !auth
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(forbidden(
            "InvalidSignatureException",
            "Credential should be scoped to a valid region.",
        ));
    }
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.contains(&required) {
            return Err(forbidden(
                "InvalidSignatureException",
                &format!("'{required}' must be a 'SignedHeader' in the AWS Authorization."),
            ));
        }
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Ok(signed_at) = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ") else {
        return Err(forbidden(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    let signed_at: SystemTime = signed_at.and_utc().into();
    let skew = match now.duration_since(signed_at) {
        Ok(ago) => ago,
        Err(ahead) => ahead.duration(),
    };
    if skew > MAX_SKEW {
        return Err(forbidden(
            "InvalidSignatureException",
            &format!(
                "Signature expired: {amz_date} is now earlier or later than the server time (5 min.)"
            ),
        ));
    }
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(forbidden(
            "InvalidSignatureException",
            &format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
                auth.date,
                amz_date.get(..8).unwrap_or("")
            ),
        ));
    }
    // Sign what arrived, with exactly the headers the client says it signed.
    let mut signed = Vec::new();
    for name in &auth.signed_headers {
        let values: Vec<&str> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(mismatch());
        }
        for v in values {
            signed.push((*name, v));
        }
    }
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let path_and_query = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("http://{host}{path_and_query}");
    let identity = Credentials::new(
        TEST_ACCESS_KEY_ID,
        TEST_SECRET_ACCESS_KEY,
        token.map(str::to_owned),
        None,
        "pombo-fakes",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name("ses")
        .time(signed_at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|_| mismatch())?
        .into();
    let request = SignableRequest::new(
        method.as_str(),
        url,
        signed.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|_| mismatch())?;
    let (_, expected) = sign(request, &params).map_err(|_| mismatch())?.into_parts();
    if expected.as_bytes() != auth.signature.as_bytes() {
        return Err(mismatch());
    }
    Ok(())
}

fn mismatch() -> Refusal {
    forbidden(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    )
}

fn domain_of(address: &str) -> &str {
    let address = address.trim().trim_end_matches('>');
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// The bare address of `Name <address>` or `address`.
fn address_of(mailbox: &str) -> &str {
    match mailbox.rsplit_once('<') {
        Some((_, rest)) => rest.trim_end().trim_end_matches('>').trim(),
        None => mailbox.trim(),
    }
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

fn is_tag_text(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What SES refuses in one `Attachment`: no `FileName` (at most 255 characters), a
/// `RawContent` that is not base64, an unknown `ContentDisposition`.
fn attachment_problem(attachment: &Value) -> Option<Response> {
    use base64::Engine as _;
    let name = attachment.get("FileName").and_then(Value::as_str);
    if name.is_none_or(|n| n.is_empty() || n.chars().count() > 255) {
        return Some(bad_request(
            "Attachment FileName is required and must be at most 255 characters long.",
        ));
    }
    let raw = attachment.get("RawContent").and_then(Value::as_str);
    if raw.is_none_or(|r| base64::engine::general_purpose::STANDARD.decode(r).is_err()) {
        return Some(bad_request(
            "Attachment RawContent is required and must be base64-encoded.",
        ));
    }
    match attachment.get("ContentDisposition").map(Value::as_str) {
        None | Some(Some("ATTACHMENT" | "INLINE")) => None,
        _ => Some(bad_request(
            "Attachment ContentDisposition must be ATTACHMENT or INLINE.",
        )),
    }
}

fn unverified(address: &str) -> Response {
    aws_error(
        StatusCode::BAD_REQUEST,
        "MessageRejected",
        &format!(
            "Email address is not verified. The following identities failed the check in region {}: {address}",
            TEST_REGION.to_ascii_uppercase()
        ),
    )
}

/// SES's validation of a `SendEmail` body: the error answer, if any.
fn problem(request: &serde_json::Map<String, Value>) -> Option<Response> {
    let Some(from) = request.get("FromEmailAddress").and_then(Value::as_str) else {
        return Some(bad_request("Missing required header 'From'."));
    };
    let from_address = address_of(from);
    if !looks_like_address(from_address) {
        return Some(bad_request(&format!("Missing final '@domain' ({from})")));
    }
    if !from.is_ascii() {
        return Some(bad_request(
            "Non-ASCII characters in the 'From' header must be MIME encoded-words.",
        ));
    }
    let to: Vec<&str> = match request
        .get("Destination")
        .and_then(|d| d.get("ToAddresses"))
    {
        Some(Value::Array(to)) => {
            let addresses: Vec<&str> = to.iter().filter_map(Value::as_str).collect();
            if addresses.len() != to.len() {
                return Some(bad_request(
                    "Destination.ToAddresses must be a list of strings.",
                ));
            }
            addresses
        }
        _ => Vec::new(),
    };
    if to.is_empty() {
        return Some(bad_request("Missing required header 'To'."));
    }
    if to.len() > 50 {
        return Some(bad_request("Recipient count exceeds 50."));
    }
    if let Some(bad) = to.iter().find(|a| !looks_like_address(address_of(a))) {
        return Some(bad_request(&format!(
            "Missing final '@domain' ({})",
            address_of(bad)
        )));
    }
    let content = request.get("Content").and_then(Value::as_object);
    let kinds = content
        .map(|c| {
            ["Simple", "Raw", "Template"]
                .iter()
                .filter(|k| c.contains_key(**k))
                .count()
        })
        .unwrap_or(0);
    if kinds != 1 {
        return Some(bad_request(
            "Exactly one of Simple, Raw or Template must be specified in Content.",
        ));
    }
    if let Some(simple) = content.and_then(|c| c.get("Simple")) {
        let data = |path: &str| simple.pointer(path).map(|v| v.get("Data"));
        match data("/Subject") {
            Some(Some(Value::String(_))) => {}
            _ => return Some(bad_request("Subject.Data is required.")),
        }
        let Some(body) = simple.get("Body").and_then(Value::as_object) else {
            return Some(bad_request("Body is required."));
        };
        if body.keys().any(|k| k != "Text" && k != "Html") || body.is_empty() {
            return Some(bad_request(
                "Body must have a Text part, an Html part, or both.",
            ));
        }
        for part in ["Text", "Html"] {
            if body.contains_key(part)
                && !matches!(data(&format!("/Body/{part}")), Some(Some(Value::String(_))))
            {
                return Some(bad_request(&format!("Body.{part}.Data is required.")));
            }
        }
        if let Some(attachments) = simple.get("Attachments") {
            let Some(attachments) = attachments.as_array() else {
                return Some(bad_request("Attachments must be a list."));
            };
            if let Some(refusal) = attachments.iter().find_map(attachment_problem) {
                return Some(refusal);
            }
        }
    }
    if let Some(tags) = request.get("EmailTags") {
        let Some(tags) = tags.as_array() else {
            return Some(bad_request("EmailTags must be a list."));
        };
        for tag in tags {
            let name = tag.get("Name").and_then(Value::as_str).unwrap_or("");
            let value = tag.get("Value").and_then(Value::as_str).unwrap_or("");
            if !is_tag_text(name) || !is_tag_text(value) {
                return Some(bad_request(
                    "Tag names and values may only contain ASCII letters, numbers, underscores and dashes, and be at most 256 characters long.",
                ));
            }
        }
    }
    if let Some(set) = request.get("ConfigurationSetName") {
        let Some(set) = set.as_str().filter(|s| !s.is_empty()) else {
            return Some(bad_request(
                "ConfigurationSetName must be a non-empty string.",
            ));
        };
        if set == MISSING_CONFIGURATION_SET {
            return Some(aws_error(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                &format!("Configuration set <{set}> does not exist."),
            ));
        }
    }
    if domain_of(from_address).eq_ignore_ascii_case(UNVERIFIED_DOMAIN) {
        return Some(unverified(from_address));
    }
    if let Some(recipient) = to
        .iter()
        .map(|a| address_of(a))
        .find(|a| domain_of(a).eq_ignore_ascii_case(UNVERIFIED_DOMAIN))
    {
        return Some(unverified(recipient));
    }
    None
}

/// The `Authorization`, `X-Amz-Date` and (with a token) `X-Amz-Security-Token` headers
/// that sign a request the way an SES client does: for tests that hand-craft requests.
pub fn sign_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    secret_access_key: &str,
    session_token: Option<&str>,
    time: SystemTime,
) -> Vec<(String, String)> {
    let identity = Credentials::new(
        TEST_ACCESS_KEY_ID,
        secret_access_key,
        session_token.map(str::to_owned),
        None,
        "pombo-fakes",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(TEST_REGION)
        .name("ses")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .expect("a signable request");
    let (instructions, _) = sign(request, &params).expect("signed").into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use axum::http::Uri;

    use super::*;

    const URL: &str = "http://127.0.0.1:4010/ses/v2/email/outbound-emails";

    fn signed(
        body: &[u8],
        secret: &str,
        token: Option<&str>,
        at: SystemTime,
    ) -> (OriginalUri, HeaderMap) {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:4010".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        for (k, v) in sign_request(
            "POST",
            URL,
            &[("content-type", "application/json")],
            body,
            secret,
            token,
            at,
        ) {
            headers.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        (
            OriginalUri(Uri::from_static("/ses/v2/email/outbound-emails")),
            headers,
        )
    }

    fn kind(r: &Refusal) -> &str {
        r.kind
    }

    #[test]
    fn a_good_signature_verifies_and_tampering_does_not() {
        let now = SystemTime::now();
        let body = b"{\"a\":1}";
        let (uri, headers) = signed(body, TEST_SECRET_ACCESS_KEY, None, now);
        assert!(verify_signature(&Method::POST, &uri, &headers, body, now).is_ok());
        let tampered = verify_signature(&Method::POST, &uri, &headers, b"{\"a\":2}", now);
        assert_eq!(kind(&tampered.unwrap_err()), "SignatureDoesNotMatch");
        let (uri, headers) = signed(body, "wrong-secret", None, now);
        let r = verify_signature(&Method::POST, &uri, &headers, body, now).unwrap_err();
        assert_eq!(kind(&r), "SignatureDoesNotMatch");
        let r = r.into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            r.headers()["x-amzn-errortype"],
            "SignatureDoesNotMatch:http://internal.amazon.com/coral/com.amazon.coral.service/"
        );
    }

    #[test]
    fn session_tokens_and_clock_skew_are_checked() {
        let now = SystemTime::now();
        let body = b"{}";
        let (uri, headers) = signed(body, TEST_SECRET_ACCESS_KEY, Some(TEST_SESSION_TOKEN), now);
        assert!(verify_signature(&Method::POST, &uri, &headers, body, now).is_ok());
        let (uri, headers) = signed(body, TEST_SECRET_ACCESS_KEY, Some("other"), now);
        let r = verify_signature(&Method::POST, &uri, &headers, body, now).unwrap_err();
        assert_eq!(kind(&r), "UnrecognizedClientException");
        let old = now - Duration::from_secs(600);
        let (uri, headers) = signed(body, TEST_SECRET_ACCESS_KEY, None, old);
        let r = verify_signature(&Method::POST, &uri, &headers, body, now).unwrap_err();
        assert_eq!(kind(&r), "InvalidSignatureException");
        let r = verify_signature(&Method::POST, &uri, &HeaderMap::new(), body, now).unwrap_err();
        assert_eq!(kind(&r), "MissingAuthenticationTokenException");
    }

    #[test]
    fn ids_are_stable_and_shaped_like_ses() {
        let id = message_id_for("{}");
        assert_eq!(id, message_id_for("{}"));
        assert_ne!(id, message_id_for("{ }"));
        assert!(id.starts_with("0100") && id.ends_with("-000000"), "{id}");
        assert_eq!(id.len(), 4 + 12 + 1 + 36 + 7);
    }
}
