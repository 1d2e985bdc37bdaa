//! Callbacks of `mailgun`: its webhooks.
//!
//! Docs:
//! - payloads: <https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads>
//! - signatures: <https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks>
//! - event types: <https://documentation.mailgun.com/docs/mailgun/user-manual/events/event-types>
//!
//! Mailgun posts one event per request, `application/json`:
//! `{"signature": {"timestamp", "token", "signature"}, "event-data": {"event", "id",
//! "timestamp", "message": {"headers": {"message-id"}}, "severity"?, "reason"?,
//! "delivery-status"?, …}}`.
//!
//! # Signature
//! `signature` is the hex HMAC-SHA256 of `timestamp` followed by `token`, keyed with the
//! account's HTTP webhook signing key (`webhook_signing_key`). For a subaccount's domain
//! Mailgun adds `parent-signature`, the same HMAC keyed with the primary account's key:
//! either one matching the configured key is accepted. An account without a key has every
//! post refused by the handler, before parsing.
//!
//! Mailgun's signature does not cover `event-data`: a captured signature could be
//! re-sent with other event data. So, as Mailgun recommends, the signed timestamp must
//! also be fresh: within [`MAX_SKEW`] (15 minutes) of our clock, either way; older or
//! further in the future is refused like a bad signature. (Mailgun's other
//! recommendation, refusing a token seen before, needs a shared store and is not done
//! here.) The window assumes Mailgun signs each delivery attempt afresh; should a retry
//! arrive with a stale signature, it is refused and Mailgun tries again later, until it
//! gives up.
//!
//! # Events
//! - `delivered` → Delivered;
//! - `opened`, `clicked` → Read, except when `client-info.bot` names a machine (Apple
//!   Mail Privacy Protection, a link scanner…), which only proves delivery → Delivered;
//! - `failed` with `severity: permanent`, and `rejected` → Failed, the reason from
//!   `delivery-status.description`, else `delivery-status.message`, else the `reason`
//!   word (`bounce`, `suppress-bounce`…), the code from `delivery-status.code` (an SMTP
//!   code such as `550`, or Mailgun's own, e.g. `605`) else the `reason` word;
//! - `failed` with `severity: temporary` → skipped: Mailgun retries, and sends a
//!   permanent failure when it gives up. Except the `reason: old` failure, Mailgun's last
//!   attempt, which some retry paths (no MX record) send as temporary although nothing
//!   more is tried (<https://feedback.mailgun.com/forums/914635-general-feedback/suggestions/37219720-the-final-failed-retry-event-for-a-no-mx-message-s>)
//!   → Failed;
//! - `accepted` → skipped: nothing new;
//! - `unsubscribed`, `complained`, `stored` and unknown events → skipped, logged at debug
//!   level.
//!
//! The provider message id is `message.headers.message-id` without angle brackets, as
//! the send stored it. `user-variables.pombo_notification_id`, our own id the send sets,
//! is matched by when the message id matches nothing and the send did not capture one.

use crate::MailgunSettings;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::report::{
    CallbackError, CallbackRequest, DeliveryStatus, ProviderEvent, secure_eq, unix_time,
};

/// The user variable our send sets on every message (`v:pombo_notification_id`, see
/// `send.rs` beside this file), which Mailgun echoes in each event's
/// `user-variables`.
pub const NOTIFICATION_ID_VAR: &str = "pombo_notification_id";

/// How far the signed timestamp may be from our clock.
pub const MAX_SKEW: TimeDelta = TimeDelta::minutes(15);

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &MailgunSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    parse_at(req, settings, Utc::now())
}

/// [`parse`], with `now` to judge the signature's freshness by.
pub fn parse_at(
    req: &CallbackRequest<'_>,
    settings: &MailgunSettings,
    now: DateTime<Utc>,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    let body: Value = serde_json::from_slice(req.body).map_err(|e| {
        CallbackError::Malformed(format!("expected Mailgun's JSON webhook payload: {e}"))
    })?;
    if !body.is_object() {
        return Err(CallbackError::Malformed(
            "expected a JSON object with `signature` and `event-data`".into(),
        ));
    }
    // Without a key the handler refuses the callback before parsing
    // ([`crate::required_secret`]).
    if let Some(key) = settings
        .webhook_signing_key
        .as_ref()
        .map(|k| k.expose())
        .filter(|k| !k.trim().is_empty())
    {
        verify(&body["signature"], key, now)?;
    }
    let data = body
        .get("event-data")
        .filter(|d| d.is_object())
        .ok_or_else(|| CallbackError::Malformed("no `event-data` object".into()))?;
    Ok(event_from(data).into_iter().collect())
}

/// Checks `signature` (`{timestamp, token, signature, parent-signature?}`) with the
/// webhook signing key, and the timestamp's freshness.
fn verify(signature: &Value, key: &str, now: DateTime<Utc>) -> Result<(), CallbackError> {
    let bad = |why: &str| CallbackError::BadSignature(why.to_owned());
    if !signature.is_object() {
        return Err(bad("no `signature` object"));
    }
    // The timestamp is a string in Mailgun's examples, an int in its table.
    let timestamp = match &signature["timestamp"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(bad("no `signature.timestamp`")),
    };
    let token = signature["token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("no `signature.token`"))?;
    let given: Vec<&str> = ["signature", "parent-signature"]
        .iter()
        .filter_map(|field| signature[*field].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    if given.is_empty() {
        return Err(bad("no `signature.signature`"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
        .map_err(|_| bad("the webhook signing key cannot key an HMAC"))?;
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    let matches = given.iter().any(|g| {
        secure_eq(
            g.trim().to_ascii_lowercase().as_bytes(),
            expected.as_bytes(),
        )
    });
    if !matches {
        return Err(bad(
            "the signature does not match the account's webhook_signing_key",
        ));
    }
    let signed_at = timestamp
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| bad("`signature.timestamp` is not a Unix time"))?;
    if (now - signed_at).abs() > MAX_SKEW {
        return Err(CallbackError::BadSignature(format!(
            "the signature's timestamp ({signed_at}) is more than {} minutes from now: stale or replayed",
            MAX_SKEW.num_minutes()
        )));
    }
    Ok(())
}

/// The delivery status an `event-data` reports, if it reports one about a message we sent.
fn event_from(data: &Value) -> Option<ProviderEvent> {
    let name = data["event"].as_str().unwrap_or("");
    let text = |value: &Value| {
        value
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let reason_word = text(&data["reason"]);
    let (status, reason, code) = match name {
        "delivered" => (DeliveryStatus::Delivered, None, None),
        "opened" | "clicked" => {
            let bot = &data["client-info"]["bot"];
            let machine = match bot {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.trim().is_empty(),
                _ => true,
            };
            let status = if machine {
                DeliveryStatus::Delivered
            } else {
                DeliveryStatus::Read
            };
            (status, None, None)
        }
        "failed" => {
            let severity = data["severity"].as_str().unwrap_or("");
            let final_attempt = reason_word.as_deref() == Some("old");
            if severity != "permanent" && !final_attempt {
                // Temporary: Mailgun retries, and reports how that ends.
                return None;
            }
            let status = &data["delivery-status"];
            let reason = text(&status["description"])
                .or_else(|| text(&status["message"]))
                .or_else(|| reason_word.clone());
            let code = match &status["code"] {
                Value::Number(n) => Some(n.to_string()),
                other => text(other),
            }
            .or_else(|| reason_word.clone());
            (DeliveryStatus::Failed, reason, code)
        }
        "rejected" => {
            let reject = &data["reject"];
            let reason = text(&reject["reason"])
                .or_else(|| text(&reject["description"]))
                .or_else(|| reason_word.clone());
            (DeliveryStatus::Failed, reason, reason_word.clone())
        }
        "accepted" => return None,
        // The recipient marked it as spam: it was delivered, and the address is suppressed.
        "complained" => (DeliveryStatus::Delivered, None, None),
        "unsubscribed" | "stored" => {
            tracing::debug!(event = name, "mailgun event skipped: not a delivery status");
            return None;
        }
        _ => {
            tracing::debug!(event = name, "mailgun event skipped: unknown event");
            return None;
        }
    };
    let provider_message_id = data["message"]["headers"]["message-id"]
        .as_str()
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
        })
        .filter(|id| !id.is_empty());
    let notification_id = data["user-variables"][NOTIFICATION_ID_VAR]
        .as_str()
        .and_then(|id| id.trim().parse().ok());
    if provider_message_id.is_none() && notification_id.is_none() {
        tracing::debug!(
            event = name,
            "mailgun event skipped: no message.headers.message-id and no notification id"
        );
        return None;
    }
    // A permanent failure is a hard bounce (Mailgun's own `suppress-bounce` too); a
    // rejection is Mailgun refusing to send, about the message rather than the address.
    let suppress = match name {
        "failed" if data["severity"].as_str() == Some("permanent") => Some("hard_bounce"),
        "complained" => Some("complaint"),
        _ => None,
    };
    Some(ProviderEvent {
        suppress: suppress.map(str::to_owned),
        // Empty when only our own id came back: the handler then matches by that id.
        provider_message_id: provider_message_id.unwrap_or_default().to_owned(),
        status,
        occurred_at: unix_time(&data["timestamp"]),
        reason,
        code,
        raw_status: name.to_owned(),
        notification_id,
    })
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Method};
    use pombo_contract::config::Secret;
    use pombo_fakes::{
        callbacks::FakeCallback,
        mailgun::{event_data, event_webhook, webhook, webhook_at, webhook_signature},
    };
    use serde_json::json;

    use super::*;

    const KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
    /// What the send stored: Mailgun's `id` without the angle brackets.
    const MESSAGE_ID: &str = "20260212174255.58bbb7ce85a423e5@mg.pombo.test";

    fn settings(key: Option<&str>) -> MailgunSettings {
        MailgunSettings {
            api_key: Secret::new("key-abc"),
            domain: "mg.pombo.test".into(),
            from: "Pombo <noreply@mg.pombo.test>".into(),
            webhook_signing_key: key.map(Secret::new),
            base_url: MailgunSettings::default_base_url(),
        }
    }

    fn parse_callback_at(
        callback: &FakeCallback,
        settings: &MailgunSettings,
        now: DateTime<Utc>,
    ) -> Result<Vec<ProviderEvent>, CallbackError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_str(&callback.content_type).unwrap(),
        );
        parse_at(
            &CallbackRequest {
                method: &Method::POST,
                url: "https://pombo.test/v1/callbacks/mailgun/main",
                headers: &headers,
                query: None,
                body: callback.body.as_bytes(),
            },
            settings,
            now,
        )
    }

    fn parse_callback(
        callback: &FakeCallback,
        settings: &MailgunSettings,
    ) -> Result<Vec<ProviderEvent>, CallbackError> {
        parse_callback_at(callback, settings, Utc::now())
    }

    fn one(callback: &FakeCallback) -> ProviderEvent {
        let mut events = parse_callback(callback, &settings(Some(KEY))).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        events.remove(0)
    }

    fn at(micros: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(micros)
    }

    #[test]
    fn each_status_maps_with_its_time_reason_and_code() {
        let when = 1_770_918_175.592;
        let expected =
            |status, reason: Option<&str>, code: Option<&str>, raw: &str| ProviderEvent {
                suppress: None,
                provider_message_id: MESSAGE_ID.into(),
                status,
                occurred_at: at(1_770_918_175_592_000),
                reason: reason.map(str::to_owned),
                code: code.map(str::to_owned),
                raw_status: raw.into(),
                notification_id: None,
            };
        let signed = |event: &str| webhook(KEY, event_data(event, MESSAGE_ID, when));
        assert_eq!(
            one(&signed("delivered")),
            expected(DeliveryStatus::Delivered, None, None, "delivered")
        );
        assert_eq!(
            one(&signed("opened")),
            expected(DeliveryStatus::Read, None, None, "opened")
        );
        assert_eq!(
            one(&signed("clicked")),
            expected(DeliveryStatus::Read, None, None, "clicked")
        );
        assert_eq!(
            one(&signed("permanent_fail")),
            ProviderEvent {
                suppress: Some("hard_bounce".into()),
                ..expected(
                    DeliveryStatus::Failed,
                    Some("5.5.0 Requested action not taken: mailbox unavailable"),
                    Some("550"),
                    "failed"
                )
            }
        );
        // A machine open proves delivery only.
        let mut machine = event_data("opened", MESSAGE_ID, when);
        machine["client-info"]["bot"] = json!("apple");
        assert_eq!(
            one(&webhook(KEY, machine)),
            expected(DeliveryStatus::Delivered, None, None, "opened")
        );
        // Rejected by Mailgun before sending.
        assert_eq!(
            one(&signed("rejected")),
            expected(
                DeliveryStatus::Failed,
                Some("Sandbox subdomains are for test purposes only."),
                None,
                "rejected"
            )
        );
        // A suppressed address: Mailgun's own code and description (from a real event).
        let mut suppressed = event_data("failed", MESSAGE_ID, when);
        suppressed["reason"] = json!("suppress-bounce");
        suppressed["delivery-status"] = json!({
            "attempt-no": 1,
            "message": "",
            "code": 605,
            "enhanced-code": "",
            "description": "Not delivering to previously bounced address",
            "session-seconds": 0
        });
        let suppressed = one(&webhook(KEY, suppressed));
        assert_eq!(suppressed.suppress.as_deref(), Some("hard_bounce"));
        assert_eq!(
            ProviderEvent {
                suppress: None,
                ..suppressed
            },
            expected(
                DeliveryStatus::Failed,
                Some("Not delivering to previously bounced address"),
                Some("605"),
                "failed"
            )
        );
        // Given up after retrying: `old`, sometimes sent as temporary.
        let mut old = event_data("temporary_fail", MESSAGE_ID, when);
        old["reason"] = json!("old");
        old["delivery-status"] = json!({});
        assert_eq!(
            one(&webhook(KEY, old)),
            expected(DeliveryStatus::Failed, Some("old"), Some("old"), "failed")
        );
    }

    /// Mailgun's documented "Permanent Failed Event" example, as is.
    #[test]
    fn the_documented_permanent_failure_parses() {
        let data: Value = serde_json::from_str(
            r#"{
    "event": "failed",
    "id": "2kFItcrLQuKTdp-Ia2Xr7w",
    "timestamp": 1770918175.5923693,
    "flags": {
        "is-authenticated": true,
        "is-routed": false,
        "is-big": false,
        "is-system-test": false,
        "is-test-mode": false
    },
    "message": {
        "attachments": [],
        "headers": {
            "message-id": "20260212174255.58bbb7ce85a423e5@mailgun.com",
            "from": "Sample Sender <sender@sample.mailgun.com>",
            "to": "badrecipient@sample.mailgun.com",
            "subject": "Sample webhook payload"
        },
        "size": 384
    },
    "log-level": "error",
    "recipient": "badrecipient@sample.mailgun.com",
    "recipient-domain": "sample.mailgun.com",
    "reason": "bounce",
    "severity": "permanent",
    "delivery-status": {
        "attempt-no": 1,
        "code": 550,
        "message": "5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [BN3PEPF0000B36D.namprd21.prod.outlook.com 2026-02-12T17:42:55.527Z 08DE657A58651558]",
        "description": null,
        "session-seconds": 0.208,
        "enhanced-code": "5.5.0",
        "mx-host": "802679870.pamx1.hotmail.com",
        "bounce-type": "hard"
    },
    "user-variables": []
}"#,
        )
        .unwrap();
        let event = one(&webhook(KEY, data));
        assert_eq!(
            event.provider_message_id,
            "20260212174255.58bbb7ce85a423e5@mailgun.com"
        );
        assert_eq!(event.status, DeliveryStatus::Failed);
        assert_eq!(
            event.occurred_at.unwrap().timestamp_millis(),
            1_770_918_175_592
        );
        assert!(
            event
                .reason
                .unwrap()
                .starts_with("5.5.0 Requested action not taken")
        );
        assert_eq!(event.code.as_deref(), Some("550"));
    }

    #[test]
    fn angle_brackets_around_the_message_id_are_dropped() {
        let mut data = event_data("delivered", MESSAGE_ID, 1_770_146_431.0);
        data["message"]["headers"]["message-id"] = json!(format!(" <{MESSAGE_ID}> "));
        assert_eq!(one(&webhook(KEY, data)).provider_message_id, MESSAGE_ID);
    }

    #[test]
    fn forged_missing_stale_or_tampered_signatures_are_refused() {
        let bad = |callback: &FakeCallback| {
            matches!(
                parse_callback(callback, &settings(Some(KEY))),
                Err(CallbackError::BadSignature(_))
            )
        };
        let genuine = event_webhook(KEY, "delivered", MESSAGE_ID);
        assert!(!bad(&genuine));
        // Signed with another key.
        assert!(bad(&event_webhook("key-other", "delivered", MESSAGE_ID)));
        // Without a signature, or parts of it.
        let body: Value = serde_json::from_str(&genuine.body).unwrap();
        for field in ["signature", "timestamp", "token"] {
            let mut stripped = body.clone();
            match field {
                "signature" => {
                    stripped.as_object_mut().unwrap().remove("signature");
                }
                f => {
                    stripped["signature"].as_object_mut().unwrap().remove(f);
                }
            }
            let callback = FakeCallback {
                body: stripped.to_string(),
                ..genuine.clone()
            };
            assert!(bad(&callback), "{field}");
        }
        let mut unsigned = body.clone();
        unsigned["signature"]
            .as_object_mut()
            .unwrap()
            .remove("signature");
        assert!(bad(&FakeCallback {
            body: unsigned.to_string(),
            ..genuine.clone()
        }));
        // The signed fields changed after signing.
        for (field, value) in [
            ("timestamp", json!("1770920773")),
            ("token", json!("x".repeat(50))),
        ] {
            let mut tampered = body.clone();
            tampered["signature"][field] = value;
            assert!(
                bad(&FakeCallback {
                    body: tampered.to_string(),
                    ..genuine.clone()
                }),
                "{field}"
            );
        }
        // Mailgun signs the timestamp and token, not the event data: a genuine signature
        // with other event data passes the HMAC, and only the freshness window bounds
        // how long a captured signature can be reused.
        let mut swapped = body.clone();
        swapped["event-data"]["event"] = json!("failed");
        assert!(!bad(&FakeCallback {
            body: swapped.to_string(),
            ..genuine.clone()
        }));
    }

    #[test]
    fn signatures_must_be_fresh() {
        let signed_at = DateTime::from_timestamp(1_770_920_772, 0).unwrap();
        let token = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123";
        let callback = webhook_at(
            KEY,
            "1770920772",
            token,
            event_data("delivered", MESSAGE_ID, 1_770_920_771.5),
        );
        let check =
            |callback: &FakeCallback, now| parse_callback_at(callback, &settings(Some(KEY)), now);
        assert!(check(&callback, signed_at).is_ok());
        assert!(check(&callback, signed_at + MAX_SKEW).is_ok());
        assert!(check(&callback, signed_at - MAX_SKEW).is_ok());
        for now in [
            signed_at + MAX_SKEW + TimeDelta::seconds(1),
            signed_at - MAX_SKEW - TimeDelta::seconds(1),
        ] {
            assert!(matches!(
                check(&callback, now),
                Err(CallbackError::BadSignature(_))
            ));
        }
        // Without a key, nothing is checked, not even the age.
        assert!(parse_callback(&callback, &settings(None)).is_ok());
        // A numeric timestamp, as Mailgun's table types it, and a parent-signature made
        // with the configured (primary account's) key while `signature` is the
        // subaccount's.
        let body = json!({
            "signature": {
                "timestamp": 1_770_920_772,
                "token": token,
                "signature": webhook_signature("key-subaccount", "1770920772", token),
                "parent-signature": webhook_signature(KEY, "1770920772", token),
            },
            "event-data": event_data("delivered", MESSAGE_ID, 1_770_920_771.5),
        });
        let with_parent = FakeCallback {
            body: body.to_string(),
            ..callback.clone()
        };
        assert_eq!(check(&with_parent, signed_at).unwrap().len(), 1);
        let mut no_parent = body.clone();
        no_parent["signature"]
            .as_object_mut()
            .unwrap()
            .remove("parent-signature");
        let subaccount_only = FakeCallback {
            body: no_parent.to_string(),
            ..callback
        };
        assert!(matches!(
            check(&subaccount_only, signed_at),
            Err(CallbackError::BadSignature(_))
        ));
    }

    #[test]
    fn unsigned_callbacks_are_accepted_without_a_key() {
        let unsigned = FakeCallback {
            content_type: "application/json".into(),
            headers: vec![],
            body:
                json!({ "event-data": event_data("delivered", MESSAGE_ID, 1_770_146_431.6585283) })
                    .to_string(),
        };
        for key in [None, Some("")] {
            let events = parse_callback(&unsigned, &settings(key)).unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].status, DeliveryStatus::Delivered);
            assert_eq!(events[0].provider_message_id, MESSAGE_ID);
        }
        assert!(matches!(
            parse_callback(&unsigned, &settings(Some(KEY))),
            Err(CallbackError::BadSignature(_))
        ));
    }

    #[test]
    fn events_without_a_delivery_status_are_skipped() {
        for event in [
            "temporary_fail",
            "accepted",
            "unsubscribed",
            "stored",
            "list_member_uploaded",
        ] {
            let callback = event_webhook(KEY, event, MESSAGE_ID);
            assert_eq!(
                parse_callback(&callback, &settings(Some(KEY))).unwrap(),
                vec![],
                "{event}"
            );
        }
        // A spam complaint says it was delivered, and suppresses the address.
        let complained = parse_callback(
            &event_webhook(KEY, "complained", MESSAGE_ID),
            &settings(Some(KEY)),
        )
        .unwrap();
        assert_eq!(complained[0].status, DeliveryStatus::Delivered);
        assert_eq!(complained[0].suppress.as_deref(), Some("complaint"));
        // No message id to match.
        let mut data = event_data("delivered", MESSAGE_ID, 1_770_146_431.0);
        data["message"]["headers"]
            .as_object_mut()
            .unwrap()
            .remove("message-id");
        assert_eq!(
            parse_callback(&webhook(KEY, data), &settings(Some(KEY))).unwrap(),
            vec![]
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            String::new(),
            "{".into(),
            "[]".into(),
            // The legacy (form-encoded) webhooks.
            "event=delivered&Message-Id=%3Cid%40mg%3E".into(),
        ] {
            let callback = FakeCallback {
                content_type: "application/json".into(),
                headers: vec![],
                body: body.clone(),
            };
            for key in [None, Some(KEY)] {
                assert!(
                    matches!(
                        parse_callback(&callback, &settings(key)),
                        Err(CallbackError::Malformed(_))
                    ),
                    "{body}"
                );
            }
        }
        // Signed, but without event data.
        let mut body: Value =
            serde_json::from_str(&event_webhook(KEY, "delivered", MESSAGE_ID).body).unwrap();
        body.as_object_mut().unwrap().remove("event-data");
        let callback = FakeCallback {
            content_type: "application/json".into(),
            headers: vec![],
            body: body.to_string(),
        };
        assert!(matches!(
            parse_callback(&callback, &settings(Some(KEY))),
            Err(CallbackError::Malformed(_))
        ));
    }
}
