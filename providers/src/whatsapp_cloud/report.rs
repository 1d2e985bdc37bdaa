//! Callbacks of `whatsapp_cloud`: the `messages` webhooks of Meta's WhatsApp Cloud API,
//! whose `statuses` report what became of the messages we sent.
//!
//! Meta `POST`s `application/json`:
//! `{"object":"whatsapp_business_account","entry":[{"id":"<WABA id>","changes":[{"field":
//! "messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number",
//! "phone_number_id"},"statuses":[{"id":"wamid.…","status":"sent|delivered|read|failed",
//! "timestamp":"<unix seconds>","recipient_id","conversation","pricing","errors":[{"code",
//! "title","message","error_data":{"details"},"href"}]}]}}]}]}`, signed with the app secret:
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`.
//!
//! - `sent` → Sent, `delivered` → Delivered, `read` → Read, `failed` → Failed (reason from
//!   the first error's title, message and `error_data.details`; code = its `code`). Other
//!   status words (`deleted`, `warning`…) are skipped.
//! - The status `id` is the `wamid` our send stored (`messages[0].id` of the send answer):
//!   taken as is.
//! - One webhook of a WhatsApp Business Account can carry several business numbers: only
//!   changes whose `metadata.phone_number_id` is the account's are ours.
//! - Inbound `messages`, value-level `errors` and the other webhook fields
//!   (`message_template_status_update`, `account_update`…) are not about a message we sent:
//!   skipped.
//!
//! Docs:
//! - <https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/>
//! - <https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components>
//! - <https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes>
//! - <https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads>
//!   (the `X-Hub-Signature-256` check, shared with Instagram)

use crate::WhatsappCloudSettings;
use hmac::{Hmac, Mac};
use pombo_contract::config::Secret;
use serde_json::Value;
use sha2::Sha256;

use crate::report::{
    CallbackError, CallbackRequest, DeliveryStatus, ProviderEvent, configured, unix_time,
};

/// Meta's signature header (WhatsApp Cloud API, Instagram, Messenger).
pub(super) const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Checks Meta's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app_secret, raw body)>`.
/// An account without an app secret never gets here: the handler refuses its callbacks
/// first ([`crate::required_secret`]); without one this checks nothing.
pub(crate) fn verify_hub_signature(
    req: &CallbackRequest<'_>,
    app_secret: Option<&Secret>,
) -> Result<(), CallbackError> {
    let Some(secret) = configured(app_secret) else {
        return Ok(());
    };
    let header = req
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| CallbackError::BadSignature("missing X-Hub-Signature-256 header".into()))?;
    let hex_mac = header.trim().strip_prefix("sha256=").ok_or_else(|| {
        CallbackError::BadSignature("X-Hub-Signature-256 is not `sha256=<hex>`".into())
    })?;
    let mac = hex::decode(hex_mac).map_err(|_| {
        CallbackError::BadSignature("X-Hub-Signature-256 is not hexadecimal".into())
    })?;
    let mut expected = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| CallbackError::BadSignature(format!("unusable app secret: {e}")))?;
    expected.update(req.body);
    // `verify_slice` compares in constant time.
    expected.verify_slice(&mac).map_err(|_| {
        CallbackError::BadSignature(
            "X-Hub-Signature-256 does not match the body signed with the account's app_secret"
                .into(),
        )
    })
}

/// Parses a Meta webhook body: a JSON object with an `object` and an `entry` array.
/// `None` when `object` is not `expected` (another product's webhook: nothing for us).
pub(crate) fn meta_entries<'v>(
    body: &'v Value,
    expected: &str,
) -> Result<Option<&'v Vec<Value>>, CallbackError> {
    let object = body
        .get("object")
        .and_then(Value::as_str)
        .ok_or_else(|| CallbackError::Malformed("no `object` in the webhook".into()))?;
    let entries = body
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| CallbackError::Malformed("no `entry` array in the webhook".into()))?;
    if object != expected {
        tracing::debug!(
            object,
            expected,
            "skipping a Meta webhook of another object"
        );
        return Ok(None);
    }
    Ok(Some(entries))
}

/// A Meta id, sent as a string (or, defensively, as a number).
pub(crate) fn meta_id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &WhatsappCloudSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    verify_hub_signature(req, settings.app_secret.as_ref())?;
    let body: Value = serde_json::from_slice(req.body)
        .map_err(|e| CallbackError::Malformed(format!("the body is not JSON: {e}")))?;
    let Some(entries) = meta_entries(&body, "whatsapp_business_account")? else {
        return Ok(Vec::new());
    };
    let phone_number_id = settings.phone_number_id.trim();
    let mut events = Vec::new();
    for entry in entries {
        let changes = entry
            .get("changes")
            .and_then(Value::as_array)
            .ok_or_else(|| CallbackError::Malformed("an entry has no `changes` array".into()))?;
        for change in changes {
            let field = change.get("field").and_then(Value::as_str).unwrap_or("");
            if field != "messages" {
                tracing::debug!(field, "skipping a WhatsApp webhook field");
                continue;
            }
            let value = change.get("value").ok_or_else(|| {
                CallbackError::Malformed("a `messages` change has no `value`".into())
            })?;
            let Some(statuses) = value.get("statuses") else {
                // Inbound messages, value-level errors: not about a message we sent.
                continue;
            };
            let statuses = statuses
                .as_array()
                .ok_or_else(|| CallbackError::Malformed("`statuses` is not an array".into()))?;
            let number = meta_id(value.pointer("/metadata/phone_number_id"));
            if number.as_deref() != Some(phone_number_id) {
                tracing::debug!(
                    phone_number_id = number.as_deref().unwrap_or(""),
                    "skipping WhatsApp statuses of another business number"
                );
                continue;
            }
            for status in statuses {
                if let Some(event) = status_event(status)? {
                    events.push(event);
                }
            }
        }
    }
    Ok(events)
}

/// One element of `statuses`; `None` for status words that say nothing about delivery.
fn status_event(status: &Value) -> Result<Option<ProviderEvent>, CallbackError> {
    let id = status
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| CallbackError::Malformed("a status has no `id`".into()))?;
    let word = status
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| CallbackError::Malformed("a status has no `status`".into()))?;
    let delivery = match word {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        other => {
            tracing::debug!(status = other, wamid = id, "skipping a WhatsApp status");
            return Ok(None);
        }
    };
    let (reason, code) = if delivery == DeliveryStatus::Failed {
        let error = status
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|errors| errors.first());
        (
            error.and_then(error_reason),
            error.and_then(|e| meta_id(e.get("code"))),
        )
    } else {
        (None, None)
    };
    Ok(Some(ProviderEvent {
        suppress: None,
        provider_message_id: id.to_owned(),
        status: delivery,
        occurred_at: status.get("timestamp").and_then(unix_time),
        reason,
        code,
        raw_status: word.to_owned(),
        notification_id: None,
    }))
}

/// `title: details` of a Cloud API error (its `message` repeats the title; kept when not).
fn error_reason(error: &Value) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for pointer in ["/title", "/message", "/error_data/details"] {
        if let Some(text) = error.pointer(pointer).and_then(Value::as_str) {
            let text = text.trim();
            if !text.is_empty() && !parts.contains(&text) {
                parts.push(text);
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join(": "))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use http::{HeaderMap, HeaderName, HeaderValue, Method};
    use pombo_fakes::{callbacks::FakeCallback, whatsapp_cloud::status_webhook};

    use super::*;

    const SECRET: &str = "6f0b2d9c1e8a4f7b";
    const PHONE: &str = "106540352242922";
    const WAMID: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3QUQ0QjE2RjhGMzA3MjE4MDAA";

    fn settings(app_secret: Option<&str>) -> WhatsappCloudSettings {
        WhatsappCloudSettings {
            phone_number_id: PHONE.into(),
            access_token: Secret::new("EAAG-token"),
            app_secret: app_secret.map(Secret::new),
            verify_token: None,
            base_url: "https://graph.facebook.com".into(),
            api_version: "v21.0".into(),
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

    fn parse_raw(
        headers: &HeaderMap,
        body: &[u8],
        settings: &WhatsappCloudSettings,
    ) -> Result<Vec<ProviderEvent>, CallbackError> {
        let req = CallbackRequest {
            method: &Method::POST,
            url: "https://pombo.example.com/v1/callbacks/whatsapp_cloud/main",
            headers,
            query: None,
            body,
        };
        super::parse(&req, settings)
    }

    fn parse_fake(
        callback: &FakeCallback,
        settings: &WhatsappCloudSettings,
    ) -> Result<Vec<ProviderEvent>, CallbackError> {
        parse_raw(&headers(callback), callback.body.as_bytes(), settings)
    }

    fn at(secs: i64) -> Option<chrono::DateTime<Utc>> {
        Some(Utc.timestamp_opt(secs, 0).unwrap())
    }

    #[test]
    fn each_documented_status_maps_with_its_timestamp() {
        let callback = status_webhook(
            Some(SECRET),
            PHONE,
            &[
                (WAMID, "sent", 1_750_857_384, None),
                (WAMID, "delivered", 1_750_857_385, None),
                (WAMID, "read", 1_750_857_390, None),
            ],
        );
        let events = parse_fake(&callback, &settings(Some(SECRET))).unwrap();
        let got: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.provider_message_id.as_str(),
                    e.status,
                    e.occurred_at,
                    e.raw_status.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (WAMID, DeliveryStatus::Sent, at(1_750_857_384), "sent"),
                (
                    WAMID,
                    DeliveryStatus::Delivered,
                    at(1_750_857_385),
                    "delivered"
                ),
                (WAMID, DeliveryStatus::Read, at(1_750_857_390), "read"),
            ]
        );
        assert!(
            events
                .iter()
                .all(|e| e.reason.is_none() && e.code.is_none())
        );
    }

    #[test]
    fn failed_carries_the_error_title_details_and_code() {
        let callback = status_webhook(
            Some(SECRET),
            PHONE,
            &[(
                WAMID,
                "failed",
                1_700_000_000,
                Some((131026, "Message undeliverable")),
            )],
        );
        let events = parse_fake(&callback, &settings(Some(SECRET))).unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.status, DeliveryStatus::Failed);
        assert_eq!(event.provider_message_id, WAMID);
        assert_eq!(event.occurred_at, at(1_700_000_000));
        assert_eq!(event.code.as_deref(), Some("131026"));
        let reason = event.reason.as_deref().unwrap();
        assert!(reason.starts_with("Message undeliverable: "), "{reason}");
        assert!(reason.contains("not a WhatsApp user"), "{reason}");
        assert_eq!(event.raw_status, "failed");
    }

    /// Meta's documented status example (with `conversation` and `pricing`), as sent.
    #[test]
    fn documented_example_payload() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3QUQ0QjE2RjhGMzA3MjE4MDAA","status":"failed","timestamp":"1750263773","recipient_id":"16505551234","errors":[{"code":131050,"title":"Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business","message":"Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business","error_data":{"details":"Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business"},"href":"/documentation/business-messaging/whatsapp/support/error-codes"}]},{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3QUQ0QjE2RjhGMzA3MjE4MDAA","status":"sent","timestamp":"1750263700","recipient_id":"16505551234","conversation":{"id":"a75d17ad06104c51166f948319b03c6a","expiration_timestamp":"1750943820","origin":{"type":"marketing"}},"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"marketing"}}]},"field":"messages"}]}]}"#;
        let events = parse_raw(&HeaderMap::new(), body.as_bytes(), &settings(None)).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].status, DeliveryStatus::Failed);
        assert_eq!(events[0].code.as_deref(), Some("131050"));
        assert_eq!(
            events[0].reason.as_deref(),
            Some(
                "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business"
            )
        );
        assert_eq!(events[0].occurred_at, at(1_750_263_773));
        assert_eq!(events[1].status, DeliveryStatus::Sent);
        assert_eq!(events[1].provider_message_id, WAMID);
    }

    #[test]
    fn a_correct_signature_passes_and_forgeries_do_not() {
        let callback = status_webhook(Some(SECRET), PHONE, &[(WAMID, "read", 1_700_000_000, None)]);
        let settings = settings(Some(SECRET));
        assert_eq!(parse_fake(&callback, &settings).unwrap().len(), 1);

        let forged = status_webhook(
            Some("not-the-secret"),
            PHONE,
            &[(WAMID, "read", 1_700_000_000, None)],
        );
        assert!(matches!(
            parse_fake(&forged, &settings),
            Err(CallbackError::BadSignature(_))
        ));

        let unsigned = status_webhook(None, PHONE, &[(WAMID, "read", 1_700_000_000, None)]);
        assert!(matches!(
            parse_fake(&unsigned, &settings),
            Err(CallbackError::BadSignature(_))
        ));

        let tampered = callback.body.replace("\"read\"", "\"failed\"");
        assert_ne!(tampered, callback.body);
        assert!(matches!(
            parse_raw(&headers(&callback), tampered.as_bytes(), &settings),
            Err(CallbackError::BadSignature(_))
        ));

        let mut garbled = headers(&callback);
        garbled.insert(SIGNATURE_HEADER, HeaderValue::from_static("sha256=zz"));
        assert!(matches!(
            parse_raw(&garbled, callback.body.as_bytes(), &settings),
            Err(CallbackError::BadSignature(_))
        ));
    }

    #[test]
    fn unsigned_callbacks_pass_without_an_app_secret() {
        let callback = status_webhook(None, PHONE, &[(WAMID, "delivered", 1_700_000_000, None)]);
        assert!(callback.headers.is_empty());
        let events = parse_fake(&callback, &settings(None)).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].status, DeliveryStatus::Delivered);
    }

    #[test]
    fn statuses_of_another_business_number_are_skipped() {
        let callback = status_webhook(
            None,
            "999999999999999",
            &[(WAMID, "read", 1_700_000_000, None)],
        );
        assert_eq!(parse_fake(&callback, &settings(None)).unwrap(), vec![]);
    }

    #[test]
    fn unknown_status_words_are_skipped() {
        let callback = status_webhook(
            None,
            PHONE,
            &[
                (WAMID, "deleted", 1_700_000_000, None),
                (WAMID, "warning", 1_700_000_001, None),
                (WAMID, "delivered", 1_700_000_002, None),
            ],
        );
        let events = parse_fake(&callback, &settings(None)).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].status, DeliveryStatus::Delivered);
    }

    /// Inbound messages (Meta's documented text example), other fields and value-level
    /// errors are not about a message we sent.
    #[test]
    fn inbound_messages_and_other_fields_are_skipped() {
        let bodies = [
            r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}"#,
            r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"event":"APPROVED","message_template_id":1234,"message_template_name":"order_update","message_template_language":"en_US","reason":"NONE"},"field":"message_template_status_update"}]}]}"#,
            r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"errors":[{"code":130429,"title":"Rate limit hit","message":"Rate limit hit","error_data":{"details":"Message failed to send because there were too many messages sent from this phone number in a short period of time"},"href":"/documentation/business-messaging/whatsapp/support/error-codes"}]},"field":"messages"}]}]}"#,
            r#"{"object":"page","entry":[]}"#,
        ];
        for body in bodies {
            assert_eq!(
                parse_raw(&HeaderMap::new(), body.as_bytes(), &settings(None)).unwrap(),
                vec![],
                "{body}"
            );
        }
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        let bodies = [
            "not json",
            "[]",
            r#"{"object":"whatsapp_business_account"}"#,
            r#"{"object":"whatsapp_business_account","entry":[{"id":"1"}]}"#,
            r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"106540352242922"},"statuses":[{"status":"read","timestamp":"1700000000"}]}}]}]}"#,
            r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"106540352242922"},"statuses":{"id":"wamid.x"}}}]}]}"#,
        ];
        for body in bodies {
            assert!(
                matches!(
                    parse_raw(&HeaderMap::new(), body.as_bytes(), &settings(None)),
                    Err(CallbackError::Malformed(_))
                ),
                "{body}"
            );
        }
    }
}
