//! Callbacks of `twilio`: Programmable Messaging status callbacks.
//!
//! - What Twilio posts to the `StatusCallback` URL (form-encoded `MessageSid`,
//!   `MessageStatus`, `ErrorCode`, `AccountSid`, `From`, `To`, `ApiVersion`…, more
//!   parameters added without notice):
//!   <https://www.twilio.com/docs/messaging/guides/track-outbound-message-status>
//! - Which status changes are reported (not the initial `queued`/`accepted`/`scheduled`):
//!   <https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks>
//!   and the status words: <https://www.twilio.com/docs/messaging/api/message-resource#message-status-values>
//! - The signature: <https://www.twilio.com/docs/usage/security#validating-requests>:
//!   `X-Twilio-Signature` = base64(HMAC-SHA1(Auth Token, full URL + each POST parameter's
//!   name and value, sorted by name)). As Twilio's helper libraries do, the URL is tried as
//!   given, then without and with the scheme's default port.
//! - Error codes: <https://www.twilio.com/docs/api/errors>.
//!
//! The callback carries no time of the event: `occurred_at` is `None` (the handler stamps
//! the receipt time). `MessageSid` is the `sid` the Create Message answered, which is what
//! the send stored. A callback whose `AccountSid` is not the account's is refused as a bad
//! signature.

use crate::TwilioSettings;
use base64::Engine as _;
use hmac::{Hmac, Mac};

use super::codes::describe;
use crate::report::{
    CallbackError, CallbackRequest, DeliveryStatus, ProviderEvent, configured, secure_eq,
};

pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

const ACCOUNT_MISMATCH: &str = "AccountSid is not the account's account_sid";

/// The POST parameters of a Twilio webhook (status callback or incoming message), once its
/// signature and its `AccountSid` are the account's.
pub(super) fn verified(
    req: &CallbackRequest<'_>,
    settings: &TwilioSettings,
) -> Result<Vec<(String, String)>, CallbackError> {
    if let Some(content_type) = req.header("content-type")
        && !content_type
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    {
        return Err(CallbackError::Malformed(format!(
            "expected application/x-www-form-urlencoded, got {content_type}"
        )));
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(req.body)
        .map_err(|e| CallbackError::Malformed(format!("not a form-encoded body: {e}")))?;

    // An account with an empty auth token never gets here: the handler refuses its
    // callbacks first ([`crate::required_secret`]).
    if let Some(auth_token) = configured(Some(&settings.auth_token)) {
        let Some(given) = req.header(SIGNATURE_HEADER) else {
            return Err(CallbackError::BadSignature(
                "missing X-Twilio-Signature header".into(),
            ));
        };
        let valid = url_variants(req.url).iter().any(|url| {
            secure_eq(
                signature(auth_token, url, &params).as_bytes(),
                given.trim().as_bytes(),
            )
        });
        if !valid {
            // The URL as we see it: behind a proxy it differs from Twilio's unless
            // `api.public_url` is set, the usual cause of a mismatch.
            return Err(CallbackError::BadSignature(format!(
                "X-Twilio-Signature does not match the URL {} and the POST parameters signed with the account's auth_token",
                req.url
            )));
        }
    }

    match param(&params, "AccountSid") {
        Some(account) if account == settings.account_sid => Ok(params),
        Some(_) => Err(CallbackError::BadSignature(ACCOUNT_MISMATCH.into())),
        None => Err(CallbackError::Malformed("no AccountSid".into())),
    }
}

/// A POST parameter, trimmed; `None` when absent or blank.
pub(super) fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &TwilioSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    let params = verified(req, settings)?;
    let param = |name: &str| param(&params, name);
    let message_sid = param("MessageSid")
        .or_else(|| param("SmsSid"))
        .ok_or_else(|| CallbackError::Malformed("no MessageSid".into()))?;
    let raw_status = param("MessageStatus")
        .or_else(|| param("SmsStatus"))
        .ok_or_else(|| CallbackError::Malformed("no MessageStatus".into()))?;

    let status = match raw_status {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "undelivered" | "failed" => DeliveryStatus::Failed,
        // Nothing new about the delivery (intermediate states, or not an outbound message).
        "queued" | "accepted" | "scheduled" | "sending" | "canceled" | "receiving" | "received" => {
            return Ok(Vec::new());
        }
        other => {
            tracing::debug!(status = other, %message_sid, "twilio: unknown message status, skipped");
            return Ok(Vec::new());
        }
    };

    let (reason, code) = if status == DeliveryStatus::Failed {
        let code = param("ErrorCode").filter(|c| *c != "0").map(str::to_owned);
        let reason = param("ErrorMessage")
            .map(str::to_owned)
            .or_else(|| code.as_deref().and_then(describe).map(str::to_owned))
            .or_else(|| Some(format!("message {raw_status}")));
        (reason, code)
    } else {
        (None, None)
    };

    // Codes that are about the number, not the message: unknown or unreachable for good
    // (30005), a landline (30006), or its owner replied STOP (21610).
    let suppress = match code.as_deref() {
        Some("30005" | "30006") => Some("refused"),
        Some("21610") => Some("unsubscribed"),
        _ => None,
    };
    Ok(vec![ProviderEvent {
        suppress: suppress.map(str::to_owned),
        provider_message_id: message_sid.to_owned(),
        status,
        occurred_at: None,
        reason,
        code,
        raw_status: raw_status.to_owned(),
        notification_id: None,
    }])
}

/// Twilio's signature of a request to `url` with these POST parameters.
fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `url` as given, then without its port when it is the scheme's default, or with the
/// default port when it has none (Twilio may sign either, as its helper libraries allow).
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // The port follows the last `:` after any IPv6 `]` and any `user@`.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    let bracket = host_port.rfind(']').map_or(0, |i| i + 1);
    match host_port[bracket..].rfind(':').map(|i| bracket + i) {
        Some(colon) if &host_port[colon + 1..] == default_port => {
            let without = &authority[..host_start + colon];
            variants.push(format!("{scheme}://{without}{tail}"));
        }
        Some(_) => {}
        None => variants.push(format!("{scheme}://{authority}:{default_port}{tail}")),
    }
    variants
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderName, HeaderValue, Method};
    use pombo_contract::config::Secret;
    use pombo_fakes::{callbacks::FakeCallback, twilio::status_callback};

    use super::*;

    const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const TOKEN: &str = "0123456789abcdef0123456789abcdef";
    const SID: &str = "SM0123456789abcdef0123456789abcdef";
    const URL: &str = "https://pombo.example.com/v1/callbacks/twilio/main";

    fn settings(auth_token: &str) -> TwilioSettings {
        TwilioSettings {
            account_sid: ACCOUNT.into(),
            auth_token: Secret::new(auth_token),
            from: Some("+15017122661".into()),
            messaging_service_sid: None,
            status_callback_url: Some(URL.into()),
            base_url: TwilioSettings::default_base_url(),
        }
    }

    fn headers(callback: &FakeCallback) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_str(&callback.content_type).unwrap(),
        );
        for (name, value) in &callback.headers {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn run(
        url: &str,
        headers: &HeaderMap,
        body: &str,
        settings: &TwilioSettings,
    ) -> Result<Vec<ProviderEvent>, CallbackError> {
        let req = CallbackRequest {
            method: &Method::POST,
            url,
            headers,
            query: url.split_once('?').map(|(_, q)| q),
            body: body.as_bytes(),
        };
        parse(&req, settings)
    }

    fn deliver(callback: &FakeCallback) -> Result<Vec<ProviderEvent>, CallbackError> {
        run(URL, &headers(callback), &callback.body, &settings(TOKEN))
    }

    fn one(status: &str, error_code: Option<&str>) -> ProviderEvent {
        let callback = status_callback(TOKEN, URL, SID, ACCOUNT, status, error_code);
        let mut events = deliver(&callback).unwrap();
        assert_eq!(events.len(), 1, "{status}: {events:?}");
        events.remove(0)
    }

    #[test]
    fn statuses_map_to_delivery_statuses() {
        for (word, status) in [
            ("sent", DeliveryStatus::Sent),
            ("delivered", DeliveryStatus::Delivered),
            ("read", DeliveryStatus::Read),
        ] {
            let event = one(word, None);
            assert_eq!(
                event,
                ProviderEvent {
                    suppress: None,
                    provider_message_id: SID.into(),
                    status,
                    occurred_at: None,
                    reason: None,
                    code: None,
                    raw_status: word.into(),
                    notification_id: None,
                }
            );
        }
    }

    #[test]
    fn undelivered_and_failed_carry_the_error_code() {
        let event = one("undelivered", Some("30003"));
        assert_eq!(event.status, DeliveryStatus::Failed);
        assert_eq!(event.code.as_deref(), Some("30003"));
        assert_eq!(
            event.reason.as_deref(),
            Some("Unreachable destination handset")
        );
        assert_eq!(event.raw_status, "undelivered");
        assert_eq!(event.occurred_at, None);

        let event = one("failed", Some("30008"));
        assert_eq!(event.status, DeliveryStatus::Failed);
        assert_eq!(event.code.as_deref(), Some("30008"));
        assert_eq!(event.reason.as_deref(), Some("Unknown error"));
        assert_eq!(event.raw_status, "failed");

        // A code Twilio added later: still its code, a generic reason.
        let event = one("failed", Some("63016"));
        assert_eq!(event.code.as_deref(), Some("63016"));
        assert_eq!(event.reason.as_deref(), Some("message failed"));

        let event = one("undelivered", None);
        assert_eq!(event.code, None);
        assert_eq!(event.reason.as_deref(), Some("message undelivered"));
    }

    #[test]
    fn intermediate_and_unknown_statuses_are_skipped() {
        for word in [
            "queued",
            "accepted",
            "scheduled",
            "sending",
            "canceled",
            "received",
            "partially_delivered",
        ] {
            let callback = status_callback(TOKEN, URL, SID, ACCOUNT, word, None);
            assert_eq!(deliver(&callback), Ok(Vec::new()), "{word}");
        }
    }

    #[test]
    fn signature_matches_twilio_documented_example() {
        // https://www.twilio.com/docs/usage/security#validating-requests
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        // The fake signs the same, independently.
        assert_eq!(
            pombo_fakes::twilio::signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn signature_over_the_full_url_with_query() {
        let url = "https://pombo.example.com/v1/callbacks/twilio/main?tenant=a&x=1";
        let callback = status_callback(TOKEN, url, SID, ACCOUNT, "delivered", None);
        let events = run(url, &headers(&callback), &callback.body, &settings(TOKEN)).unwrap();
        assert_eq!(events[0].status, DeliveryStatus::Delivered);
        // Another URL (another query) does not match.
        let other = "https://pombo.example.com/v1/callbacks/twilio/main?tenant=b&x=1";
        assert!(matches!(
            run(other, &headers(&callback), &callback.body, &settings(TOKEN)),
            Err(CallbackError::BadSignature(_))
        ));
    }

    #[test]
    fn signature_with_or_without_the_default_port() {
        let with_port = "https://pombo.example.com:443/v1/callbacks/twilio/main";
        let callback = status_callback(TOKEN, with_port, SID, ACCOUNT, "sent", None);
        assert!(run(URL, &headers(&callback), &callback.body, &settings(TOKEN)).is_ok());
        let callback = status_callback(TOKEN, URL, SID, ACCOUNT, "sent", None);
        assert!(
            run(
                with_port,
                &headers(&callback),
                &callback.body,
                &settings(TOKEN)
            )
            .is_ok()
        );
        // Another port is another URL.
        let callback = status_callback(
            TOKEN,
            "https://pombo.example.com:8443/v1/callbacks/twilio/main",
            SID,
            ACCOUNT,
            "sent",
            None,
        );
        assert!(matches!(
            run(URL, &headers(&callback), &callback.body, &settings(TOKEN)),
            Err(CallbackError::BadSignature(_))
        ));
    }

    #[test]
    fn forged_missing_or_tampered_signature_is_refused() {
        let callback = status_callback(TOKEN, URL, SID, ACCOUNT, "delivered", None);

        // Signed with another token.
        let forged = status_callback(
            "ffffffffffffffffffffffffffffffff",
            URL,
            SID,
            ACCOUNT,
            "delivered",
            None,
        );
        assert!(matches!(
            deliver(&forged),
            Err(CallbackError::BadSignature(_))
        ));

        // No signature.
        let mut unsigned = headers(&callback);
        unsigned.remove(SIGNATURE_HEADER);
        assert!(matches!(
            run(URL, &unsigned, &callback.body, &settings(TOKEN)),
            Err(CallbackError::BadSignature(_))
        ));

        // Tampered body: the status changed after signing.
        let tampered = callback.body.replace("delivered", "undelivered");
        assert_ne!(tampered, callback.body);
        assert!(matches!(
            run(URL, &headers(&callback), &tampered, &settings(TOKEN)),
            Err(CallbackError::BadSignature(_))
        ));

        // An added parameter.
        let added = format!("{}&ErrorCode=30003", callback.body);
        assert!(matches!(
            run(URL, &headers(&callback), &added, &settings(TOKEN)),
            Err(CallbackError::BadSignature(_))
        ));
    }

    #[test]
    fn unsigned_accepted_without_an_auth_token() {
        let callback = status_callback(TOKEN, URL, SID, ACCOUNT, "delivered", None);
        let mut unsigned = headers(&callback);
        unsigned.remove(SIGNATURE_HEADER);
        let events = run(URL, &unsigned, &callback.body, &settings("")).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].status, DeliveryStatus::Delivered);
    }

    #[test]
    fn another_account_is_refused() {
        let other = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        let callback = status_callback(TOKEN, URL, SID, other, "delivered", None);
        assert_eq!(
            deliver(&callback),
            Err(CallbackError::BadSignature(ACCOUNT_MISMATCH.into()))
        );
        let mut unsigned = headers(&callback);
        unsigned.remove(SIGNATURE_HEADER);
        assert_eq!(
            run(URL, &unsigned, &callback.body, &settings("")),
            Err(CallbackError::BadSignature(ACCOUNT_MISMATCH.into()))
        );
    }

    /// A body signed as Twilio signs it, for the malformed cases.
    fn signed(body: &str, content_type: &str) -> Result<Vec<ProviderEvent>, CallbackError> {
        let params: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_str(content_type).unwrap());
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(&pombo_fakes::twilio::signature(TOKEN, URL, &params)).unwrap(),
        );
        run(URL, &headers, body, &settings(TOKEN))
    }

    #[test]
    fn malformed_bodies() {
        let form = "application/x-www-form-urlencoded";
        // No MessageSid.
        let body = format!("MessageStatus=delivered&AccountSid={ACCOUNT}");
        assert!(matches!(
            signed(&body, form),
            Err(CallbackError::Malformed(_))
        ));
        // No MessageStatus.
        let body = format!("MessageSid={SID}&AccountSid={ACCOUNT}");
        assert!(matches!(
            signed(&body, form),
            Err(CallbackError::Malformed(_))
        ));
        // No AccountSid.
        let body = format!("MessageSid={SID}&MessageStatus=delivered");
        assert!(matches!(
            signed(&body, form),
            Err(CallbackError::Malformed(_))
        ));
        // JSON instead of a form.
        let body = format!(r#"{{"MessageSid":"{SID}","MessageStatus":"delivered"}}"#);
        assert!(matches!(
            signed(&body, "application/json"),
            Err(CallbackError::Malformed(_))
        ));
        // Not a status callback at all.
        assert!(matches!(
            signed("hello", form),
            Err(CallbackError::Malformed(_))
        ));
    }

    #[test]
    fn legacy_sms_fields_are_enough() {
        let body = format!("SmsSid={SID}&SmsStatus=sent&AccountSid={ACCOUNT}");
        let events = signed(&body, "application/x-www-form-urlencoded").unwrap();
        assert_eq!(events[0].provider_message_id, SID);
        assert_eq!(events[0].status, DeliveryStatus::Sent);
    }

    #[test]
    fn url_variants_add_or_remove_the_default_port() {
        assert_eq!(
            url_variants("https://a.example/x?y=1"),
            ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
        );
        assert_eq!(
            url_variants("http://a.example:80/x"),
            ["http://a.example:80/x", "http://a.example/x"]
        );
        assert_eq!(url_variants("http://[::1]:8080/x"), ["http://[::1]:8080/x"]);
        assert_eq!(
            url_variants("http://[::1]"),
            ["http://[::1]", "http://[::1]:80"]
        );
    }

    /// The Twilio fake posts `sent` then `delivered` (or `undelivered` 30003 for its magic
    /// `To`) to the `StatusCallback` of a Create Message, signed so that `parse` accepts them.
    #[tokio::test]
    async fn the_fake_posts_signed_status_callbacks() {
        use std::sync::{Arc, Mutex};

        use axum::{body::Bytes, extract::State, routing::post};

        type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;
        let received: Received = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let callback_url = format!(
            "http://{}/v1/callbacks/twilio/main",
            listener.local_addr().unwrap()
        );
        let app = axum::Router::new()
            .route(
                "/v1/callbacks/twilio/main",
                post(
                    |State(r): State<Received>, headers: HeaderMap, body: Bytes| async move {
                        r.lock().unwrap().push((headers, body));
                    },
                ),
            )
            .with_state(received.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let fakes = pombo_fakes::Fakes::start().await;
        let client = reqwest::Client::new();
        let mut sids = Vec::new();
        for to in ["+15558675310", pombo_fakes::twilio::UNDELIVERED_TO] {
            let response = client
                .post(format!(
                    "{}/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
                    fakes.base_url("twilio")
                ))
                .basic_auth(ACCOUNT, Some(TOKEN))
                .form(&[
                    ("To", to),
                    ("From", "+15017122661"),
                    ("Body", "hello"),
                    ("StatusCallback", callback_url.as_str()),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            let message: serde_json::Value = response.json().await.unwrap();
            sids.push(message["sid"].as_str().unwrap().to_owned());
        }

        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while received.lock().unwrap().len() < 4 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "callbacks did not arrive"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut events = Vec::new();
        for (headers, body) in received.lock().unwrap().iter() {
            let body = std::str::from_utf8(body).unwrap();
            events.extend(run(&callback_url, headers, body, &settings(TOKEN)).unwrap());
        }
        let of = |sid: &str| -> Vec<(DeliveryStatus, Option<String>)> {
            events
                .iter()
                .filter(|e| e.provider_message_id == sid)
                .map(|e| (e.status, e.code.clone()))
                .collect()
        };
        assert_eq!(
            of(&sids[0]),
            [
                (DeliveryStatus::Sent, None),
                (DeliveryStatus::Delivered, None)
            ]
        );
        assert_eq!(
            of(&sids[1]),
            [
                (DeliveryStatus::Sent, None),
                (DeliveryStatus::Failed, Some("30003".to_owned()))
            ]
        );
    }
}
