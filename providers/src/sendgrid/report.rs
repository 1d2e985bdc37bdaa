//! Callbacks of `sendgrid`: the Event Webhook.
//!
//! Docs:
//! - events and their fields: <https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event>
//! - the Signed Event Webhook: <https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features>
//!
//! SendGrid posts a JSON array of events (`application/json`, the array followed by
//! `\r\n`), each `{email, timestamp, event, sg_event_id, sg_message_id, …}` plus the
//! message's custom args as top-level keys. With the Signed Event Webhook on, the POST
//! carries `X-Twilio-Email-Event-Webhook-Timestamp` and
//! `X-Twilio-Email-Event-Webhook-Signature`: the base64 of a DER ECDSA signature, with
//! P-256 and SHA-256, of the timestamp header followed by the raw body. It verifies with
//! the account's `webhook_public_key`, the base64 DER SubjectPublicKeyInfo SendGrid shows
//! (a PEM `-----BEGIN PUBLIC KEY-----` block is accepted too). An account without a key
//! has every post refused by the handler, before parsing.
//!
//! The timestamp's age is not checked: the signature covers the body, so a replay can
//! only repeat genuine events, which the handler records idempotently and whose statuses
//! only move forward; and a freshness window would refuse SendGrid's own retries (it
//! retries for 24 hours) if they keep the first attempt's signature.
//!
//! Events:
//! - `delivered` → Delivered;
//! - `open`, `click` → Read, except an open with `sg_machine_open: true` (a mail client
//!   fetching the message for privacy, e.g. Apple Mail Privacy Protection), which only
//!   proves delivery → Delivered;
//! - `bounce` (both `type: bounce`, a hard bounce, and `type: blocked`, a block, which
//!   SendGrid does not retry either) and `dropped` → Failed, the reason from `reason`
//!   (e.g. `500 unknown recipient`, `Bounced Address`), the code from `status` (the
//!   enhanced SMTP status, e.g. `5.0.0`) or else `type`;
//! - `processed`, `deferred` (SendGrid retries) → skipped: nothing new;
//! - `spamreport`, `unsubscribe`, `group_unsubscribe`, `group_resubscribe`,
//!   `account_status_change` and unknown events → skipped, logged at debug level.
//!
//! The provider message id is what the send stored, the `X-Message-Id` of the Mail Send
//! answer: `sg_message_id` is that id followed by `.` and SendGrid's routing suffix
//! (`LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-…-9.0`), so the id is the part before the
//! first `.`. Every event also carries our own notification id (the custom arg
//! `pombo_notification_id` the send sets), which the handler matches by when the message id
//! matches nothing and the send did not capture one; events with neither (SendGrid omits
//! `sg_message_id` from asynchronous bounces) cannot be matched and are skipped.

use crate::SendgridSettings;
use base64::Engine as _;
use p256::{
    ecdsa::{Signature, VerifyingKey, signature::Verifier},
    pkcs8::DecodePublicKey,
};
use serde_json::Value;

use crate::report::{CallbackError, CallbackRequest, DeliveryStatus, ProviderEvent, unix_time};

/// The custom arg our send puts on every message (`send.rs` beside this file,
/// `NOTIFICATION_ID_ARG`), which SendGrid copies into each event as a top-level key.
pub const NOTIFICATION_ID_ARG: &str = "pombo_notification_id";

/// The header carrying the base64 DER ECDSA signature.
pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
/// The header carrying the signed timestamp.
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &SendgridSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    // Without a key the handler refuses the callback before parsing
    // ([`crate::required_secret`]).
    if let Some(key) = settings
        .webhook_public_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        verify(req, key)?;
    }
    let events: Vec<Value> = serde_json::from_slice(req.body).map_err(|e| {
        CallbackError::Malformed(format!("expected SendGrid's JSON array of events: {e}"))
    })?;
    let mut parsed = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        if !event.is_object() {
            return Err(CallbackError::Malformed(format!(
                "event {i} is not a JSON object"
            )));
        }
        parsed.extend(event_from(event));
    }
    Ok(parsed)
}

/// Checks the Signed Event Webhook's signature with the account's public key.
fn verify(req: &CallbackRequest<'_>, public_key: &str) -> Result<(), CallbackError> {
    let key = verifying_key(public_key)?;
    let signature = req
        .header(SIGNATURE_HEADER)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            CallbackError::BadSignature("no X-Twilio-Email-Event-Webhook-Signature header".into())
        })?;
    let timestamp = req
        .header(TIMESTAMP_HEADER)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            CallbackError::BadSignature("no X-Twilio-Email-Event-Webhook-Timestamp header".into())
        })?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .ok()
        .and_then(|der| Signature::from_der(&der).ok())
        .ok_or_else(|| {
            CallbackError::BadSignature("the signature is not a base64 DER ECDSA signature".into())
        })?;
    let mut signed = Vec::with_capacity(timestamp.len() + req.body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(req.body);
    key.verify(&signed, &signature).map_err(|_| {
        CallbackError::BadSignature(
            "the signature does not match the account's webhook_public_key".into(),
        )
    })
}

/// The account's verification key: base64 DER SubjectPublicKeyInfo of a P-256 key, bare
/// (as SendGrid shows it) or in a PEM block.
fn verifying_key(public_key: &str) -> Result<VerifyingKey, CallbackError> {
    let b64: String = public_key
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.split_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .and_then(|der| VerifyingKey::from_public_key_der(&der).ok())
        .ok_or_else(|| {
            CallbackError::BadSignature(
                "the account's webhook_public_key is not a base64 DER P-256 public key".into(),
            )
        })
}

/// The delivery status one event reports, if it reports one about a message we sent.
fn event_from(event: &Value) -> Option<ProviderEvent> {
    let name = event.get("event").and_then(Value::as_str).unwrap_or("");
    let text = |field: &str| {
        event
            .get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (status, reason, code) = match name {
        "delivered" => (DeliveryStatus::Delivered, None, None),
        "open" if event.get("sg_machine_open").and_then(Value::as_bool) == Some(true) => {
            (DeliveryStatus::Delivered, None, None)
        }
        "open" | "click" => (DeliveryStatus::Read, None, None),
        "bounce" | "dropped" => (
            DeliveryStatus::Failed,
            text("reason"),
            text("status").or_else(|| text("type")),
        ),
        // The recipient marked it as spam: it was delivered, and the address is suppressed.
        "spamreport" => (DeliveryStatus::Delivered, None, None),
        "processed" | "deferred" => return None,
        "unsubscribe" | "group_unsubscribe" | "group_resubscribe" | "account_status_change" => {
            tracing::debug!(
                event = name,
                "sendgrid event skipped: not a delivery status"
            );
            return None;
        }
        _ => {
            tracing::debug!(event = name, "sendgrid event skipped: unknown event");
            return None;
        }
    };
    let provider_message_id = event
        .get("sg_message_id")
        .and_then(Value::as_str)
        .and_then(|id| id.trim().split('.').next())
        .filter(|id| !id.is_empty());
    let notification_id = event
        .get(NOTIFICATION_ID_ARG)
        .and_then(Value::as_str)
        .and_then(|id| id.trim().parse().ok());
    if provider_message_id.is_none() && notification_id.is_none() {
        tracing::debug!(
            event = name,
            "sendgrid event skipped: no sg_message_id (an asynchronous bounce?) and no notification id"
        );
        return None;
    }
    // A bounce of `type: bounce` is permanent (the mailbox does not exist); `blocked` is
    // the receiving server refusing for now, which another message may pass.
    let suppress = match name {
        "bounce" if text("type").as_deref() != Some("blocked") => Some("hard_bounce"),
        "spamreport" => Some("complaint"),
        _ => None,
    };
    Some(ProviderEvent {
        suppress: suppress.map(str::to_owned),
        // Empty when only our own id came back: the handler then matches by that id.
        provider_message_id: provider_message_id.unwrap_or_default().to_owned(),
        status,
        occurred_at: event.get("timestamp").and_then(unix_time),
        reason,
        code,
        raw_status: name.to_owned(),
        notification_id,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use http::{HeaderMap, HeaderName, HeaderValue, Method};
    use pombo_contract::config::Secret;
    use pombo_fakes::{
        callbacks::FakeCallback,
        sendgrid::{
            TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM, TEST_EVENT_WEBHOOK_PUBLIC_KEY_B64, event,
            event_webhook, event_webhook_body,
        },
    };
    use serde_json::json;

    use super::*;

    /// The X-Message-Id SendGrid answered for the message (22 characters, no dot).
    const MESSAGE_ID: &str = "LRzXl_NHStOGhQ4kofSm_A";
    /// The Event Webhook Reference's example timestamp.
    const TIMESTAMP: i64 = 1_513_299_569;

    fn settings(public_key: Option<&str>) -> SendgridSettings {
        SendgridSettings {
            api_key: Secret::new("SG.key"),
            from: "alerts@pombo.test".into(),
            webhook_public_key: public_key.map(str::to_owned),
            base_url: SendgridSettings::default_base_url(),
        }
    }

    fn signed() -> SendgridSettings {
        settings(Some(TEST_EVENT_WEBHOOK_PUBLIC_KEY_B64))
    }

    fn parse_callback(
        callback: &FakeCallback,
        settings: &SendgridSettings,
    ) -> Result<Vec<ProviderEvent>, CallbackError> {
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
        parse(
            &CallbackRequest {
                method: &Method::POST,
                url: "https://pombo.test/v1/callbacks/sendgrid/main",
                headers: &headers,
                query: None,
                body: callback.body.as_bytes(),
            },
            settings,
        )
    }

    fn at(secs: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(secs, 0)
    }

    #[test]
    fn each_status_maps_with_its_time_reason_and_code() {
        let mut machine_open = event(MESSAGE_ID, "open", TIMESTAMP + 3);
        machine_open["sg_machine_open"] = json!(true);
        let mut blocked = event(MESSAGE_ID, "bounce", TIMESTAMP + 5);
        blocked["type"] = json!("blocked");
        blocked.as_object_mut().unwrap().remove("status");
        blocked["reason"] = json!("550 5.7.1 message rejected as spam");
        let callback = event_webhook(
            Some(TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM),
            &[
                event(MESSAGE_ID, "delivered", TIMESTAMP),
                event(MESSAGE_ID, "open", TIMESTAMP + 1),
                event(MESSAGE_ID, "click", TIMESTAMP + 2),
                machine_open,
                event(MESSAGE_ID, "bounce", TIMESTAMP + 4),
                blocked,
                event(MESSAGE_ID, "dropped", TIMESTAMP + 6),
            ],
        );
        let mut events = parse_callback(&callback, &signed()).unwrap();
        // Only the permanent bounce suppresses the address (not `blocked`, not `dropped`).
        let suppressing: Vec<_> = events.iter().map(|e| e.suppress.clone()).collect();
        let hard = Some("hard_bounce".to_owned());
        assert_eq!(
            suppressing,
            [None, None, None, None, hard, None, None],
            "{events:?}"
        );
        events.iter_mut().for_each(|e| e.suppress = None);
        let expected =
            |status, secs, reason: Option<&str>, code: Option<&str>, raw: &str| ProviderEvent {
                suppress: None,
                provider_message_id: MESSAGE_ID.into(),
                status,
                occurred_at: at(TIMESTAMP + secs),
                reason: reason.map(str::to_owned),
                code: code.map(str::to_owned),
                raw_status: raw.into(),
                notification_id: None,
            };
        assert_eq!(
            events,
            vec![
                expected(DeliveryStatus::Delivered, 0, None, None, "delivered"),
                expected(DeliveryStatus::Read, 1, None, None, "open"),
                expected(DeliveryStatus::Read, 2, None, None, "click"),
                expected(DeliveryStatus::Delivered, 3, None, None, "open"),
                expected(
                    DeliveryStatus::Failed,
                    4,
                    Some("500 unknown recipient"),
                    Some("5.0.0"),
                    "bounce"
                ),
                expected(
                    DeliveryStatus::Failed,
                    5,
                    Some("550 5.7.1 message rejected as spam"),
                    Some("blocked"),
                    "bounce"
                ),
                expected(
                    DeliveryStatus::Failed,
                    6,
                    Some("Bounced Address"),
                    Some("5.0.0"),
                    "dropped"
                ),
            ]
        );
    }

    /// The signed payload of SendGrid's own SDK tests (sendgrid-python
    /// `test/unit/test_eventwebhook.py`, sendgrid-nodejs alike), with SendGrid's key and
    /// signature: our verification accepts what SendGrid's libraries accept, and the
    /// dropped event it carries parses.
    #[test]
    fn sendgrids_published_test_vector_verifies() {
        let public_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
        let body = r#"[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]"#.to_owned()
            + "\r\n";
        let callback = FakeCallback {
            content_type: "application/json".into(),
            headers: vec![
                (
                    "X-Twilio-Email-Event-Webhook-Signature".into(),
                    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=".into(),
                ),
                (
                    "X-Twilio-Email-Event-Webhook-Timestamp".into(),
                    "1600112502".into(),
                ),
            ],
            body,
        };
        let events = parse_callback(&callback, &settings(Some(public_key))).unwrap();
        assert_eq!(
            events,
            vec![ProviderEvent {
                suppress: None,
                provider_message_id: MESSAGE_ID.into(),
                status: DeliveryStatus::Failed,
                occurred_at: at(1_600_112_492),
                reason: Some("Bounced Address".into()),
                code: None,
                raw_status: "dropped".into(),
                notification_id: None,
            }]
        );
        // The same key, as a PEM block.
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{public_key}\n-----END PUBLIC KEY-----\n");
        assert!(parse_callback(&callback, &settings(Some(&pem))).is_ok());
        // SendGrid's "bad signature" of the same test suite.
        let mut forged = callback.clone();
        forged.headers[0].1 = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=".into();
        assert!(matches!(
            parse_callback(&forged, &settings(Some(public_key))),
            Err(CallbackError::BadSignature(_))
        ));
        // And its "bad key".
        let other_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";
        assert!(matches!(
            parse_callback(&callback, &settings(Some(other_key))),
            Err(CallbackError::BadSignature(_))
        ));
    }

    /// A signature made by openssl (`openssl dgst -sha256 -sign` with the fake's key over
    /// `1600112502hello`), not by the fake: the fake and the parser do not merely agree
    /// with each other.
    #[test]
    fn an_openssl_signature_verifies() {
        let body = "hello";
        let callback = FakeCallback {
            content_type: "application/json".into(),
            headers: vec![
                (
                    "X-Twilio-Email-Event-Webhook-Signature".into(),
                    "MEQCIGUf4Z4yuMrv97glMTcJ02t8COuTtPmZCOA87df96HRNAiB0ZSQQomdJIcM61ZYp8CeIQg+J4gJIdLGGlMRK3+fMvQ==".into(),
                ),
                ("X-Twilio-Email-Event-Webhook-Timestamp".into(), "1600112502".into()),
            ],
            body: body.into(),
        };
        // The signature passes; the body then is not SendGrid's array.
        assert!(matches!(
            parse_callback(&callback, &signed()),
            Err(CallbackError::Malformed(_))
        ));
        let mut tampered = callback.clone();
        tampered.body = "hellO".into();
        assert!(matches!(
            parse_callback(&tampered, &signed()),
            Err(CallbackError::BadSignature(_))
        ));
    }

    #[test]
    fn forged_missing_or_tampered_signatures_are_refused() {
        let genuine = event_webhook(
            Some(TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM),
            &[event(MESSAGE_ID, "delivered", TIMESTAMP)],
        );
        assert_eq!(parse_callback(&genuine, &signed()).unwrap().len(), 1);
        let bad = |callback: &FakeCallback| {
            matches!(
                parse_callback(callback, &signed()),
                Err(CallbackError::BadSignature(_))
            )
        };

        // Unsigned.
        let unsigned = event_webhook(None, &[event(MESSAGE_ID, "delivered", TIMESTAMP)]);
        assert!(bad(&unsigned));
        // A signature without its timestamp, and a timestamp without its signature.
        for keep in 0..2 {
            let mut half = genuine.clone();
            half.headers.remove(1 - keep);
            assert!(bad(&half));
        }
        // The body changed after signing: a delivered turned into a bounce.
        let mut tampered = genuine.clone();
        tampered.body = tampered.body.replace("delivered", "bounce");
        assert!(bad(&tampered));
        // The timestamp changed after signing.
        let mut retimed = genuine.clone();
        retimed.headers[1].1 = "1".into();
        assert!(bad(&retimed));
        // Signed with another key.
        let forged = event_webhook_body(
            Some(OTHER_PRIVATE_KEY_PEM),
            &genuine.headers[1].1,
            genuine.body.clone(),
        );
        assert!(bad(&forged));
        // Not base64, not DER.
        let mut garbage = genuine.clone();
        garbage.headers[0].1 = "not a signature!".into();
        assert!(bad(&garbage));
        garbage.headers[0].1 = "aGVsbG8=".into();
        assert!(bad(&garbage));
        // A key that is not a P-256 public key refuses everything.
        assert!(matches!(
            parse_callback(&genuine, &settings(Some("bm90IGEga2V5"))),
            Err(CallbackError::BadSignature(_))
        ));
    }

    /// A second throwaway P-256 key (openssl genpkey), to forge signatures with.
    const OTHER_PRIVATE_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQ5hU9byJJjUZLn7X
IgSK83whtG4n6rVIwC5z4y6zTNKhRANCAATBNB6gy/SVLj+W1JPFnM7GMOy+w6Ui
vhtZlq4YXeJijZGtS56f2uXy2BWMKr98R5PTQhIgphcnkkny0/iMuPSK
-----END PRIVATE KEY-----
";

    #[test]
    fn unsigned_callbacks_are_accepted_without_a_key() {
        let unsigned = event_webhook(None, &[event(MESSAGE_ID, "delivered", TIMESTAMP)]);
        for key in [None, Some(""), Some("  ")] {
            let events = parse_callback(&unsigned, &settings(key)).unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].status, DeliveryStatus::Delivered);
        }
        // A signed post is fine too.
        let signed_post = event_webhook(
            Some(TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM),
            &[event(MESSAGE_ID, "delivered", TIMESTAMP)],
        );
        assert_eq!(
            parse_callback(&signed_post, &settings(None)).unwrap().len(),
            1
        );
    }

    #[test]
    fn events_without_a_delivery_status_are_skipped() {
        let mut async_bounce = event(MESSAGE_ID, "bounce", TIMESTAMP);
        async_bounce
            .as_object_mut()
            .unwrap()
            .remove("sg_message_id");
        let events = [
            "processed",
            "deferred",
            "unsubscribe",
            "group_unsubscribe",
            "group_resubscribe",
            "account_status_change",
            "some_future_event",
        ]
        .iter()
        .map(|name| event(MESSAGE_ID, name, TIMESTAMP))
        .chain([async_bounce, json!({"email": "alex@example.com"})])
        .collect::<Vec<_>>();
        let callback = event_webhook(Some(TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM), &events);
        assert_eq!(parse_callback(&callback, &signed()).unwrap(), vec![]);
        // A spam complaint says it was delivered, and suppresses the address.
        let spam = event_webhook(
            Some(TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM),
            &[event(MESSAGE_ID, "spamreport", TIMESTAMP)],
        );
        let spam = parse_callback(&spam, &signed()).unwrap();
        assert_eq!(spam[0].status, DeliveryStatus::Delivered);
        assert_eq!(spam[0].suppress.as_deref(), Some("complaint"));
        // An empty array is a valid (if odd) post.
        let empty = event_webhook(Some(TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM), &[]);
        assert_eq!(parse_callback(&empty, &signed()).unwrap(), vec![]);
    }

    /// An event without `sg_message_id` (an asynchronous bounce) that carries our notification
    /// id is kept, to be matched by that id.
    #[test]
    fn an_event_with_only_our_notification_id_is_kept() {
        let mut bounce = event(MESSAGE_ID, "bounce", TIMESTAMP);
        let object = bounce.as_object_mut().unwrap();
        object.remove("sg_message_id");
        object.insert(
            NOTIFICATION_ID_ARG.into(),
            json!("0190a0a0-0000-7000-8000-000000000001"),
        );
        let callback = event_webhook(Some(TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM), &[bounce]);
        let events = parse_callback(&callback, &signed()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].provider_message_id, "");
        assert_eq!(
            events[0].notification_id,
            Some("0190a0a0-0000-7000-8000-000000000001".parse().unwrap())
        );
    }

    /// The Event Webhook Reference's examples, as documented: a stray space before the id
    /// is ignored and our notification id comes back as a custom arg. (These examples' ids are of an
    /// older shape with dots of their own; today's X-Message-Id, 22 base64url characters,
    /// has none, and the part before the first dot is what the send stored.)
    #[test]
    fn documented_examples_parse() {
        let body = r#"[
   {
      "email": "alex@example.com",
      "timestamp": 1513299569,
      "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
      "bounce_classification": "Invalid Address",
      "event": "bounce",
      "category": "cat facts",
      "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
      "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
      "reason": "500 unknown recipient",
      "status": "5.0.0",
      "type": "bounce",
      "pombo_notification_id": "0190a0a0-0000-7000-8000-000000000000"
   },
   {
      "email": "alex@example.com",
      "domain": "example.com",
      "from": "test@example.com",
      "timestamp": 1513299569,
      "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
      "event": "deferred",
      "category": "cat facts",
      "sg_event_id": "t7LEShmowp86DTdUW8M-GQ==",
      "sg_message_id": " 14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
      "response": "400 try again later",
      "attempt": "5"
   },
   {
      "email": "alex@example.com",
      "timestamp": 1513299569,
      "event": "open",
      "sg_machine_open": false,
      "category": "cat facts",
      "sg_event_id": "FOTFFO0ecsBE-zxFXfs6WA==",
      "sg_message_id": " 14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
      "useragent": "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)",
      "ip": "255.255.255.255"
   }
]"#;
        let callback = event_webhook_body(
            Some(TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM),
            "1513299570",
            body.into(),
        );
        let mut events = parse_callback(&callback, &signed()).unwrap();
        assert_eq!(events[0].suppress.as_deref(), Some("hard_bounce"));
        events[0].suppress = None;
        assert_eq!(
            events,
            vec![
                ProviderEvent {
                    suppress: None,
                    provider_message_id: "14c5d75ce93".into(),
                    status: DeliveryStatus::Failed,
                    occurred_at: at(TIMESTAMP),
                    reason: Some("500 unknown recipient".into()),
                    code: Some("5.0.0".into()),
                    raw_status: "bounce".into(),
                    notification_id: Some("0190a0a0-0000-7000-8000-000000000000".parse().unwrap()),
                },
                ProviderEvent {
                    suppress: None,
                    provider_message_id: "14c5d75ce93".into(),
                    status: DeliveryStatus::Read,
                    occurred_at: at(TIMESTAMP),
                    reason: None,
                    code: None,
                    raw_status: "open".into(),
                    notification_id: None,
                },
            ]
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            "",
            "{",
            r#"{"event":"delivered"}"#,
            "[1]",
            r#"[{"event":"delivered"}, "x"]"#,
        ] {
            let callback = event_webhook_body(None, "0", body.into());
            assert!(
                matches!(
                    parse_callback(&callback, &settings(None)),
                    Err(CallbackError::Malformed(_))
                ),
                "{body}"
            );
            // Signed or not, it is still not SendGrid's payload.
            let callback =
                event_webhook_body(Some(TEST_EVENT_WEBHOOK_PRIVATE_KEY_PEM), "0", body.into());
            assert!(matches!(
                parse_callback(&callback, &signed()),
                Err(CallbackError::Malformed(_))
            ));
        }
    }
}
