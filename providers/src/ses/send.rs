//! Email through Amazon SES, API v2 (`SendEmail`).
//!
//! Docs:
//! - request and errors: <https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html>
//! - common errors (signature, credentials, throttling):
//!   <https://docs.aws.amazon.com/ses/latest/APIReference-V2/CommonErrors.html>
//! - Signature Version 4: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html>
//! - event publishing (tags and configuration sets):
//!   <https://docs.aws.amazon.com/ses/latest/dg/monitor-using-event-publishing.html>
//! - non-ASCII sender names: <https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html#SES-SendEmail-request-FromEmailAddress>
//!
//! `POST {base_url}/v2/email/outbound-emails` with a JSON body (`FromEmailAddress`,
//! `Destination.ToAddresses`, `Content.Simple` with the subject and the text and/or html
//! bodies in UTF-8, `ConfigurationSetName` when the account has one, and the email tag
//! `pombo_notification_id`, which SES copies into every event it publishes), signed with
//! AWS Signature Version 4 (service `ses`, the account's region) by the `aws-sigv4` crate:
//! the SES SDK would add a large build for one call. Success is `200 {"MessageId": "…"}`;
//! that id is the provider message id (events name the message by `mail.messageId`).
//!
//! Errors follow AWS's REST-JSON protocol: the exception name in the `x-amzn-ErrorType`
//! header (possibly followed by `:<namespace URL>`) or the body's `__type`/`code`
//! (possibly prefixed by `<namespace>#`), the text in the body's `message`. That name is
//! the error `code`. `TooManyRequestsException`, `LimitExceededException` (sending quotas)
//! and throttling are transient whatever their status, as are 429 and 5xx (honouring a
//! `Retry-After` if one comes); everything else is final: `MessageRejected`,
//! `MailFromDomainNotVerifiedException`, `AccountSuspendedException`,
//! `SendingPausedException`, `NotFoundException` (no such configuration set),
//! `BadRequestException`, and the 403s of a refused signature or unknown key (a retry
//! signs with the same credentials, so it cannot succeed).

use std::time::SystemTime;

use crate::SesSettings;
use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SigningSettings, sign},
    sign::v4,
};
use base64::Engine as _;
use lettre::message::Mailbox;
use pombo_contract::content::EmailContent;
use reqwest::{
    StatusCode,
    header::{CONTENT_TYPE, HeaderMap, HeaderValue},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Accepted, Attachment, DeliveryError, SetupError,
    http::{self, DocumentedError, transport_error},
};

pub const PROVIDER: &str = "ses";

/// The name SES signs requests under (its "signing name"), for every region.
pub const SIGNING_SERVICE: &str = "ses";

/// The email tag carrying our notification id; SES copies tags into every published
/// event (`mail.tags`).
pub const NOTIFICATION_ID_TAG: &str = "pombo_notification_id";

/// Exception names that mean "not now" rather than "never".
const TRANSIENT_ERRORS: &[&str] = &[
    "TooManyRequestsException",
    "LimitExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestTimeout",
    "RequestTimeoutException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
];

pub struct Ses {
    http: reqwest::Client,
    /// `{base_url}/v2/email/outbound-emails`.
    url: String,
    region: String,
    /// Its Debug output redacts the secret key and the session token.
    credentials: Credentials,
    /// The sender as SES wants it: a bare address, or `Name <address>` with a non-ASCII
    /// name as MIME encoded-words.
    from: String,
    configuration_set: Option<String>,
}

impl Ses {
    pub fn new(settings: &SesSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        let from: Mailbox = settings.from.trim().parse().map_err(|e| {
            SetupError::at(
                "from",
                format!(
                    "ses: `from` ({}) is not a valid mailbox: {e}",
                    settings.from
                ),
            )
        })?;
        let region = settings.region.trim();
        // The region becomes part of the endpoint's host name and of the signature.
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(SetupError::at(
                "region",
                format!(
                    "ses: `region` ({}) is not an AWS region name",
                    settings.region
                ),
            ));
        }
        let key_id = settings.access_key_id.trim();
        if key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SetupError::at(
                "access_key_id",
                "ses: `access_key_id` is not an access key id",
            ));
        }
        let secret = settings.secret_access_key.expose().trim();
        if secret.is_empty() {
            return Err(SetupError::at(
                "secret_access_key",
                "ses: `secret_access_key` is empty",
            ));
        }
        let token = settings
            .session_token
            .as_ref()
            .map(|t| t.expose().trim())
            .filter(|t| !t.is_empty());
        if token.is_some_and(|t| HeaderValue::from_str(t).is_err()) {
            return Err(SetupError::at(
                "session_token",
                "ses: `session_token` has characters not allowed in a header",
            ));
        }
        let endpoint = settings.endpoint();
        let base = endpoint.trim_end_matches('/');
        let parsed = url::Url::parse(base).map_err(|e| {
            SetupError::at(
                "base_url",
                format!("ses: `base_url` ({base}) is not a URL: {e}"),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(SetupError::at(
                "base_url",
                format!("ses: `base_url` ({base}) is not an http(s) URL"),
            ));
        }
        Ok(Ses {
            http,
            url: format!("{base}/v2/email/outbound-emails"),
            region: region.to_owned(),
            credentials: Credentials::new(
                key_id,
                secret,
                token.map(str::to_owned),
                None,
                "pombo-provider-account",
            ),
            from: sender(&from),
            configuration_set: settings
                .configuration_set
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        })
    }

    /// The JSON body of a `SendEmail` request.
    fn body(&self, notification_id: Uuid, to: &str, content: &EmailContent) -> Value {
        let part = |data: &str| json!({ "Data": data, "Charset": "UTF-8" });
        let mut body = serde_json::Map::new();
        if let Some(text) = content.text.as_deref().filter(|t| !t.trim().is_empty()) {
            body.insert("Text".into(), part(text));
        }
        if let Some(html) = content.html.as_deref().filter(|h| !h.trim().is_empty()) {
            body.insert("Html".into(), part(html));
        }
        let mut request = json!({
            "FromEmailAddress": self.from,
            "Destination": { "ToAddresses": [to] },
            "Content": {
                "Simple": {
                    "Subject": part(&content.subject),
                    "Body": body,
                },
            },
            "EmailTags": [{ "Name": NOTIFICATION_ID_TAG, "Value": notification_id.to_string() }],
        });
        if let Some(set) = &self.configuration_set {
            request["ConfigurationSetName"] = json!(set);
        }
        request
    }

    /// The headers that sign a POST of `body` to our URL at `time`: `x-amz-date`,
    /// `authorization` and, with temporary credentials, `x-amz-security-token`.
    fn signature_headers(
        &self,
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(&'static str, HeaderValue)>, DeliveryError> {
        sign_v4(
            &self.credentials,
            Scope {
                region: &self.region,
                service: SIGNING_SERVICE,
            },
            ToSign {
                method: "POST",
                url: &self.url,
                headers: &[("content-type", "application/json")],
                body,
            },
            time,
        )
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

    /// [`Self::send`] with files attached (`Content.Simple.Attachments`).
    pub async fn send_with_attachments(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &EmailContent,
        attachments: &[Attachment],
    ) -> Result<Accepted, DeliveryError> {
        let mut body = self.body(notification_id, to, content);
        if !attachments.is_empty() {
            body["Content"]["Simple"]["Attachments"] = attachments_json(attachments);
        }
        if body["Content"]["Simple"]["Body"]
            .as_object()
            .is_none_or(serde_json::Map::is_empty)
        {
            return Err(DeliveryError::permanent(
                "ses: the email has neither a text nor an html body",
            ));
        }
        let bytes = serde_json::to_vec(&body).expect("the request serialises");
        let mut request = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json");
        // Signed just before sending: SES refuses signatures older than five minutes.
        for (name, value) in self.signature_headers(&bytes, SystemTime::now())? {
            request = request.header(name, value);
        }
        let response = request
            .body(bytes)
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::http::body(PROVIDER, response)
            .await
            .unwrap_or_default();
        if status.is_success() {
            return accepted(status, &body);
        }
        Err(error_from(status, &headers, &body, to))
    }
}

/// Where a signature is valid: the region and the service's signing name.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

/// A request to sign: `headers` are the ones sent besides `host` (taken from `url`) and
/// those the signature adds.
#[derive(Debug, Clone, Copy)]
pub struct ToSign<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// AWS Signature Version 4 as the client signs every `SendEmail` (service
/// [`SIGNING_SERVICE`]): the headers to add, `x-amz-date`, `authorization` and, with
/// temporary credentials, `x-amz-security-token`. Public, with the scope a parameter, so
/// that tests hold it to AWS's published test vectors (signed for the service `service`).
pub fn sign_v4(
    credentials: &Credentials,
    scope: Scope<'_>,
    request: ToSign<'_>,
    time: SystemTime,
) -> Result<Vec<(&'static str, HeaderValue)>, DeliveryError> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| DeliveryError::permanent(format!("ses: cannot sign: {e}")))?
        .into();
    let signed = SignableRequest::new(
        request.method,
        request.url,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .and_then(|r| sign(r, &params))
    .map_err(|e| DeliveryError::permanent(format!("ses: cannot sign: {e}")))?;
    let (instructions, _signature) = signed.into_parts();
    let (headers, _params) = instructions.into_parts();
    headers
        .into_iter()
        .map(|h| {
            let mut value = HeaderValue::from_str(h.value()).map_err(|_| {
                DeliveryError::permanent("ses: the signature is not a valid header")
            })?;
            value.set_sensitive(h.sensitive() || h.name() == "authorization");
            Ok((h.name(), value))
        })
        .collect()
}

/// SES's `Attachments`: each file's bytes in base64 (the JSON encoding of a blob), its
/// name and type, shown as an attachment rather than inline.
fn attachments_json(attachments: &[Attachment]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    Value::Array(
        attachments
            .iter()
            .map(|a| {
                json!({
                    "FileName": a.filename,
                    "ContentType": a.content_type,
                    "ContentDisposition": "ATTACHMENT",
                    "RawContent": b64.encode(&a.bytes),
                })
            })
            .collect(),
    )
}

/// The sender as SES wants `FromEmailAddress`: a non-ASCII display name must be MIME
/// encoded-words (RFC 2047), which lettre's `Display` does not do.
fn sender(from: &Mailbox) -> String {
    let name = from.name.as_deref().map(str::trim).unwrap_or("");
    if name.is_ascii() {
        return from.to_string();
    }
    // An encoded-word is at most 75 characters: 45 bytes of name make 60 of base64.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in name.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    let b64 = base64::engine::general_purpose::STANDARD;
    let encoded: Vec<String> = words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", b64.encode(w)))
        .collect();
    format!("{} <{}>", encoded.join(" "), from.email)
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(rename = "MessageId", default)]
    message_id: Option<String>,
}

/// Reads the id of an accepted message.
fn accepted(status: StatusCode, body: &[u8]) -> Result<Accepted, DeliveryError> {
    let id = serde_json::from_slice::<SendResponse>(body)
        .ok()
        .and_then(|r| r.message_id)
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty());
    match id {
        Some(id) => Ok(Accepted {
            provider_message_id: Some(id),
        }),
        // SES always answers a MessageId: a 2xx without one came from something else at
        // `base_url` (a proxy's page), which sent nothing and will answer the same again.
        // What it said is not quoted.
        None => Err(DeliveryError::permanent(format!(
            "{} without a MessageId (check `base_url`)",
            http::unrecognised(PROVIDER, status)
        ))
        .with_code(status.as_u16().to_string())),
    }
}

/// SES's documented error answer (AWS's REST-JSON protocol): a JSON object with the error
/// type (`__type` or `code`) and/or a `message`; the type may come in the
/// `x-amzn-errortype` header instead. `to` is left out of the message.
struct SesError {
    kind: Option<String>,
    message: String,
}

impl SesError {
    fn parse(body: &[u8], header_kind: Option<&str>, status: StatusCode, to: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct ErrorBody {
            #[serde(rename = "__type", default)]
            type_: Option<String>,
            #[serde(default)]
            code: Option<String>,
            #[serde(alias = "Message", default)]
            message: Option<String>,
        }
        let body = serde_json::from_slice::<ErrorBody>(body).ok()?;
        if body.type_.is_none() && body.code.is_none() && body.message.is_none() {
            return None;
        }
        let kind = header_kind
            .or(body.type_.as_deref())
            .or(body.code.as_deref())
            .map(sanitize_error_type)
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        let message = match body.message.as_deref().map(str::trim) {
            Some(m) if !m.is_empty() => http::redact_recipient(m, to),
            _ => status.canonical_reason().unwrap_or("no detail").to_owned(),
        };
        Some(SesError { kind, message })
    }
}

impl DocumentedError for SesError {
    fn code(&self) -> Option<String> {
        self.kind.clone()
    }
    fn reason(&self) -> Option<String> {
        Some(match &self.kind {
            Some(kind) => format!("{kind}: {}", self.message),
            None => self.message.clone(),
        })
    }
}

/// `MessageRejected:http://internal.amazon.com/…` or `com.amazonaws.sesv2#MessageRejected`
/// → `MessageRejected`, as AWS's REST-JSON protocol specifies.
fn sanitize_error_type(raw: &str) -> &str {
    let raw = raw.split(':').next().unwrap_or(raw);
    raw.rsplit('#').next().unwrap_or(raw).trim()
}

/// Classifies an SES error answer. `to` is replaced in the detail: SES names unverified
/// recipients (sandbox) in its message, and errors end up in Temporal's history. The code
/// is the error type (from the `x-amzn-errortype` header or the body), else the status.
fn error_from(status: StatusCode, headers: &HeaderMap, body: &[u8], to: &str) -> DeliveryError {
    let header_kind = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(sanitize_error_type)
        .filter(|k| !k.is_empty());
    let mut answer = http::failed_answer(PROVIDER, status, body, |b| {
        SesError::parse(b, header_kind, status, to)
    });
    if answer.code.is_none() {
        answer.code = header_kind.and_then(http::clean_code);
    }
    let transient = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || answer
            .code
            .as_deref()
            .is_some_and(|k| TRANSIENT_ERRORS.contains(&k));
    let answer = answer.or_status_code();
    if transient {
        answer.retryable(headers)
    } else {
        answer.permanent()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::ProviderSettings;
    use pombo_contract::config::Secret;

    use super::*;

    fn settings() -> SesSettings {
        SesSettings {
            region: "eu-west-1".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
            from: "Pombo <alerts@pombo.test>".into(),
            configuration_set: None,
            base_url: None,
        }
    }

    #[test]
    fn the_endpoint_follows_the_region_unless_given() {
        let p = Ses::new(&settings(), reqwest::Client::new()).unwrap();
        assert_eq!(
            p.url,
            "https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails"
        );
        let mut s = settings();
        s.base_url = Some("http://127.0.0.1:4010/ses/".into());
        let p = Ses::new(&s, reqwest::Client::new()).unwrap();
        assert_eq!(p.url, "http://127.0.0.1:4010/ses/v2/email/outbound-emails");
        for region in ["", "eu-west-1.evil.test/x", "EU WEST"] {
            let mut s = settings();
            s.region = region.into();
            assert!(Ses::new(&s, reqwest::Client::new()).is_err(), "{region}");
        }
        let mut s = settings();
        s.base_url = Some("ftp://example.com".into());
        assert!(Ses::new(&s, reqwest::Client::new()).is_err());
    }

    #[test]
    fn settings_mask_both_credentials() {
        let mut s = settings();
        s.session_token = Some(Secret::new("FwoGZXIvYXdzEXAMPLE"));
        let masked = ProviderSettings::Ses(s).masked();
        assert_eq!(masked["type"], "ses");
        assert_eq!(masked["secret_access_key"], "********");
        assert_eq!(masked["session_token"], "********");
        assert_eq!(masked["access_key_id"], "AKIDEXAMPLE");
        let masked = ProviderSettings::Ses(settings()).masked();
        assert_eq!(masked["session_token"], Value::Null);
        let parsed: ProviderSettings = serde_json::from_value(json!({
            "type": "ses", "access_key_id": "AKID", "secret_access_key": "s", "from": "a@b.test"
        }))
        .unwrap();
        let ProviderSettings::Ses(parsed) = parsed else {
            panic!("not ses")
        };
        assert_eq!(parsed.region, "us-east-1");
        assert_eq!(parsed.endpoint(), "https://email.us-east-1.amazonaws.com");
    }

    #[test]
    fn credentials_never_show_in_debug_or_setup_errors() {
        let mut s = settings();
        s.secret_access_key = Secret::new("very-secret-key");
        s.session_token = Some(Secret::new("very-secret-token"));
        let p = Ses::new(&s, reqwest::Client::new()).unwrap();
        let debug = format!("{:?}", p.credentials);
        assert!(
            !debug.contains("very-secret-key") && !debug.contains("very-secret-token"),
            "{debug}"
        );
        s.session_token = Some(Secret::new("bad\ntoken-very-secret"));
        let e = Ses::new(&s, reqwest::Client::new()).err().unwrap();
        assert!(!e.message.contains("very-secret"), "{e}");
    }

    #[test]
    fn signing_matches_the_aws_reference_shape() {
        let p = Ses::new(&settings(), reqwest::Client::new()).unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        let headers = p.signature_headers(b"{}", at).unwrap();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert_eq!(get("x-amz-date").as_deref(), Some("20150830T123600Z"));
        let auth = get("authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/ses/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="
            ),
            "{auth}"
        );
        assert!(
            headers
                .iter()
                .all(|(k, v)| *k != "authorization" || v.is_sensitive())
        );
        assert_eq!(get("x-amz-security-token"), None);
        // Another body, another signature.
        let other = p.signature_headers(b"{\"a\":1}", at).unwrap();
        assert_ne!(
            other.iter().find(|(k, _)| *k == "authorization").unwrap().1,
            auth.as_str()
        );
        let mut s = settings();
        s.session_token = Some(Secret::new("FwoGZXIvYXdzEXAMPLE"));
        let p = Ses::new(&s, reqwest::Client::new()).unwrap();
        let headers = p.signature_headers(b"{}", at).unwrap();
        let token = headers.iter().find(|(k, _)| *k == "x-amz-security-token");
        assert_eq!(token.unwrap().1, "FwoGZXIvYXdzEXAMPLE");
        let auth = headers.iter().find(|(k, _)| *k == "authorization").unwrap();
        assert!(
            auth.1
                .to_str()
                .unwrap()
                .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token")
        );
    }

    #[test]
    fn the_body_has_the_documented_shape() {
        let mut s = settings();
        s.configuration_set = Some(" events ".into());
        let p = Ses::new(&s, reqwest::Client::new()).unwrap();
        let id = Uuid::nil();
        let body = p.body(
            id,
            "ana@example.com",
            &EmailContent {
                subject: "S".into(),
                text: Some(" ".into()),
                html: Some("<p>H</p>".into()),
                attachments: Vec::new(),
            },
        );
        assert_eq!(
            body,
            json!({
                "FromEmailAddress": "Pombo <alerts@pombo.test>",
                "Destination": { "ToAddresses": ["ana@example.com"] },
                "Content": { "Simple": {
                    "Subject": { "Data": "S", "Charset": "UTF-8" },
                    "Body": { "Html": { "Data": "<p>H</p>", "Charset": "UTF-8" } },
                }},
                "EmailTags": [{ "Name": "pombo_notification_id", "Value": id.to_string() }],
                "ConfigurationSetName": "events",
            })
        );
    }

    #[test]
    fn non_ascii_sender_names_become_encoded_words() {
        let plain: Mailbox = "\"Pombo, Inc.\" <a@pombo.test>".parse().unwrap();
        assert_eq!(sender(&plain), "\"Pombo, Inc.\" <a@pombo.test>");
        let bare: Mailbox = "a@pombo.test".parse().unwrap();
        assert_eq!(sender(&bare), "a@pombo.test");
        let accented: Mailbox = "Conceição <a@pombo.test>".parse().unwrap();
        assert_eq!(
            sender(&accented),
            "=?UTF-8?B?Q29uY2Vpw6fDo28=?= <a@pombo.test>"
        );
        let long: Mailbox = format!("{} <a@pombo.test>", "ã".repeat(40))
            .parse()
            .unwrap();
        let s = sender(&long);
        assert!(
            s.split(' ')
                .filter(|w| w.starts_with("=?"))
                .all(|w| w.len() <= 75),
            "{s}"
        );
        assert_eq!(s.matches("=?UTF-8?B?").count(), 2, "{s}");
    }

    #[test]
    fn error_types_come_from_the_header_or_the_body() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            "MessageRejected:http://internal.amazon.com/coral/com.amazonaws.sesv2/"
                .parse()
                .unwrap(),
        );
        let e = error_from(
            StatusCode::BAD_REQUEST,
            &headers,
            br#"{"message":"Email address is not verified. The following identities failed the check in region EU-WEST-1: Ana@Example.com"}"#,
            "ana@example.com",
        );
        assert_eq!(
            e,
            DeliveryError::Permanent {
                message: "ses answered 400 Bad Request: MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: [recipient]".into(),
                code: Some("MessageRejected".into()),
            }
        );
        let e = error_from(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"__type":"com.amazonaws.sesv2#MailFromDomainNotVerifiedException","Message":"not verified"}"#,
            "a@b.test",
        );
        assert!(e.is_permanent());
        assert_eq!(e.code(), Some("MailFromDomainNotVerifiedException"));
        assert_eq!(
            e.message(),
            "ses answered 400 Bad Request: MailFromDomainNotVerifiedException: not verified"
        );
        let e = error_from(
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            br#"{"code":"SignatureDoesNotMatch","message":"The request signature we calculated does not match"}"#,
            "a@b.test",
        );
        assert!(e.is_permanent());
        assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
        for kind in [
            "AccountSuspendedException",
            "SendingPausedException",
            "BadRequestException",
        ] {
            let body = format!(r#"{{"__type":"{kind}","message":"x"}}"#);
            let e = error_from(
                StatusCode::BAD_REQUEST,
                &HeaderMap::new(),
                body.as_bytes(),
                "a@b.test",
            );
            assert!(e.is_permanent(), "{kind}");
            assert_eq!(e.code(), Some(kind));
        }
        let e = error_from(
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            br#"{"__type":"NotFoundException","message":"Configuration set <x> does not exist."}"#,
            "a@b.test",
        );
        assert!(e.is_permanent());
        assert_eq!(e.code(), Some("NotFoundException"));
    }

    #[test]
    fn quotas_throttling_and_server_errors_are_transient() {
        // LimitExceededException comes as a 400, yet waiting is what fixes it.
        let e = error_from(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"__type":"LimitExceededException","message":"Maximum sending rate exceeded."}"#,
            "a@b.test",
        );
        assert!(!e.is_permanent());
        assert_eq!(e.code(), Some("LimitExceededException"));
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            "TooManyRequestsException".parse().unwrap(),
        );
        headers.insert("retry-after", "9".parse().unwrap());
        let e = error_from(
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            br#"{"message":"Too many requests"}"#,
            "a@b.test",
        );
        assert_eq!(
            e,
            DeliveryError::Retryable {
                message: "ses answered 429 Too Many Requests: TooManyRequestsException: Too many requests".into(),
                code: Some("TooManyRequestsException".into()),
                retry_after: Some(Duration::from_secs(9)),
            }
        );
        let e = error_from(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>bad gateway</html>",
            "a@b.test",
        );
        assert_eq!(
            e,
            DeliveryError::Retryable {
                message: "HTTP 502 Bad Gateway from ses".into(),
                code: Some("502".into()),
                retry_after: None,
            }
        );
        let e = error_from(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            "x".repeat(2000).as_bytes(),
            "a@b.test",
        );
        assert_eq!(e.message(), "HTTP 502 Bad Gateway from ses");
    }

    #[test]
    fn an_answer_without_a_message_id_is_refused() {
        let a = accepted(StatusCode::OK, br#"{"MessageId":"0100018f-abc-000000"}"#).unwrap();
        assert_eq!(
            a.provider_message_id.as_deref(),
            Some("0100018f-abc-000000")
        );
        let e = accepted(StatusCode::OK, b"<html>It works!</html>").unwrap_err();
        assert!(e.is_permanent());
        assert!(!e.message().contains("It works"), "{}", e.message());
        assert!(accepted(StatusCode::OK, br#"{"MessageId":""}"#).is_err());
    }
}
