//! Callbacks of Callbell: the `message_status_updated` webhook, which reports what became of
//! the messages we sent.
//!
//! Callbell `POST`s `application/json`:
//! `{"event":"message_status_updated","payload":{"uuid":"<message uuid>","status":"enqueued|
//! sent|delivered|read|failed|mismatch|deleted","contact":{…},"metadata"?:{…},
//! "messageStatusPayload":{…}}}`. `messageStatusPayload` is the raw status event of the
//! WhatsApp integration behind Callbell (Gupshup's `message-event` payload on the WhatsApp
//! Business API: `{"id","gsId","type","payload":{"ts":<unix seconds>},"destination"}` for
//! `sent`/`delivered`/`read`, `{"id","type":"failed","payload":{"code":1002,"reason":"Number
//! Does Not Exists On WhatsApp"},"destination"}` for `failed`).
//!
//! - `sent` → Sent, `delivered` → Delivered, `read` → Read, `failed` → Failed with the inner
//!   payload's `reason` and `code` (or, for a Cloud-API-shaped inner payload, its first
//!   `errors` entry). `enqueued` (accepted by the integration, nothing new), `mismatch` (a
//!   phone number correction) and `deleted` (deprecated) are skipped.
//! - When: the inner payload's `payload.ts` (Gupshup, seconds), else its `timestamp`. Callbell
//!   itself sends no timestamp, and Gupshup sends none for `failed`.
//! - `uuid` is the message uuid our send stored (`message.uuid` of `POST /v1/messages/send`).
//! - Other events are skipped here (`message_created`: `inbound.rs`; `contact_*`,
//!   `conversation_*`…).
//!
//! Callbell does not sign its webhooks: the callback URL configured on Callbell must carry the
//! account's `webhook_secret` as `?secret=`, and a callback without it (or with another) is
//! refused; an account without a `webhook_secret` has every callback refused.
//!
//! Docs:
//! - <https://docs.callbell.eu/api/reference/webhooks/message_events/message_status_updated>
//!   (github.com/callbellchat/callbell-public-docs,
//!   `docs/api/reference/webhooks/message_events/message_status_updated.md`)
//! - <https://docs.callbell.eu/api/reference/webhooks/introduction>
//! - <https://docs.gupshup.io/docs/message-events> (the inner payload)

use crate::CallbellSettings;
use pombo_contract::config::Secret;
use serde_json::Value;

use crate::report::{
    CallbackError, CallbackRequest, DeliveryStatus, ProviderEvent, configured, secure_eq, unix_time,
};

/// The query parameter carrying the account's webhook secret, for providers that do not sign.
pub(super) const SECRET_PARAM: &str = "secret";

/// Checks that the callback URL carries the account's webhook secret as `?secret=`. An
/// account without one never gets here: the handler refuses its callbacks first
/// ([`crate::required_secret`]); without one this checks nothing.
pub(crate) fn verify_url_secret(
    req: &CallbackRequest<'_>,
    webhook_secret: Option<&Secret>,
) -> Result<(), CallbackError> {
    let Some(expected) = configured(webhook_secret) else {
        return Ok(());
    };
    let given = req.query_param(SECRET_PARAM).ok_or_else(|| {
        CallbackError::BadSignature("missing `secret` query parameter in the callback URL".into())
    })?;
    if secure_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(CallbackError::BadSignature(
            "the callback URL's `secret` query parameter does not match the account's webhook_secret".into(),
        ))
    }
}

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &CallbellSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    verify_url_secret(req, settings.webhook_secret.as_ref())?;
    if req.body.iter().all(u8::is_ascii_whitespace) {
        // Callbell checks the endpoint periodically; an empty request carries no event.
        tracing::debug!("skipping an empty Callbell callback (a connection check?)");
        return Ok(Vec::new());
    }
    let body: Value = serde_json::from_slice(req.body)
        .map_err(|e| CallbackError::Malformed(format!("the body is not JSON: {e}")))?;
    if !body.is_object() {
        return Err(CallbackError::Malformed(
            "the body is not a JSON object".into(),
        ));
    }
    let Some(event) = body.get("event") else {
        tracing::debug!("skipping a Callbell callback without an event (a connection check?)");
        return Ok(Vec::new());
    };
    let event = event
        .as_str()
        .ok_or_else(|| CallbackError::Malformed("`event` is not a string".into()))?;
    if event != "message_status_updated" {
        tracing::debug!(event, "skipping a Callbell event");
        return Ok(Vec::new());
    }
    let payload = body
        .get("payload")
        .filter(|p| p.is_object())
        .ok_or_else(|| CallbackError::Malformed("no `payload` object".into()))?;
    let uuid = payload
        .get("uuid")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| CallbackError::Malformed("no message `uuid` in the payload".into()))?;
    let word = payload
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| CallbackError::Malformed("no `status` in the payload".into()))?;
    let status = match word.trim().to_ascii_lowercase().as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        "enqueued" | "mismatch" | "deleted" => {
            tracing::debug!(status = word, uuid, "skipping a Callbell status");
            return Ok(Vec::new());
        }
        _ => {
            tracing::debug!(status = word, uuid, "skipping an unknown Callbell status");
            return Ok(Vec::new());
        }
    };
    let inner = payload
        .get("messageStatusPayload")
        .filter(|p| p.is_object());
    let occurred_at = inner.and_then(|p| {
        p.pointer("/payload/ts")
            .and_then(unix_time)
            .or_else(|| p.get("timestamp").and_then(unix_time))
    });
    let (reason, code) = match (status, inner) {
        (DeliveryStatus::Failed, Some(inner)) => failure(inner),
        _ => (None, None),
    };
    Ok(vec![ProviderEvent {
        suppress: None,
        provider_message_id: uuid.to_owned(),
        status,
        occurred_at,
        reason,
        code,
        raw_status: word.to_owned(),
        notification_id: None,
    }])
}

/// Why a message failed, from the integration's raw status payload: Gupshup's
/// `payload.{reason,code}`, or the first of Meta's `errors` (`title`/`message`, `code`).
fn failure(inner: &Value) -> (Option<String>, Option<String>) {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let code_of = |v: Option<&Value>| match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let gupshup = inner.get("payload");
    let meta = inner
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|e| e.first());
    let reason = text(gupshup.and_then(|p| p.get("reason")))
        .or_else(|| text(meta.and_then(|e| e.get("message"))))
        .or_else(|| text(meta.and_then(|e| e.get("title"))))
        .or_else(|| text(inner.get("reason")));
    let code = code_of(gupshup.and_then(|p| p.get("code")))
        .or_else(|| code_of(meta.and_then(|e| e.get("code"))))
        .or_else(|| code_of(inner.get("code")));
    (reason, code)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use http::{HeaderMap, Method};
    use pombo_fakes::callbell::{status_callback, webhook_url};

    use super::*;

    const UUID: &str = "adf3d1216d4c4dcd908199d6700f2381";
    const URL: &str = "https://pombo.example/v1/callbacks/callbell/acct";

    fn settings(secret: Option<&str>) -> CallbellSettings {
        CallbellSettings {
            api_token: Secret::new("token"),
            channel_uuid: None,
            webhook_secret: secret.map(Secret::new),
            base_url: CallbellSettings::default_base_url(),
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.timestamp_opt(1_686_563_913, 0).unwrap()
    }

    /// Parses `body` as posted to `url` with `headers`.
    fn parse_at(
        url: &str,
        headers: &[(String, String)],
        body: &str,
        settings: &CallbellSettings,
    ) -> Result<Vec<ProviderEvent>, CallbackError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let req = CallbackRequest {
            method: &Method::POST,
            url,
            headers: &map,
            query: url.split_once('?').map(|(_, q)| q),
            body: body.as_bytes(),
        };
        parse(&req, settings)
    }

    fn parse_status(
        secret: Option<&str>,
        status: &str,
        failure: Option<(&str, &str)>,
    ) -> Vec<ProviderEvent> {
        let cb = status_callback(UUID, status, at(), failure);
        assert_eq!(cb.content_type, "application/json");
        parse_at(
            &webhook_url(URL, secret),
            &cb.headers,
            &cb.body,
            &settings(secret),
        )
        .unwrap()
    }

    #[test]
    fn documented_example_is_a_read() {
        // The example payload of Callbell's `message_status_updated` page, verbatim.
        let body = r#"{
  "event": "message_status_updated",
  "payload": {
    "uuid": "adf3d1216d4c4dcd908199d6700f2381",
    "status": "read",
    "contact": {
      "href": "https://dash.callbell.eu/contacts/eb2b914a977e4ab896e7b886698b3eac",
      "conversationHref": "https://dash.callbell.eu/chat/f3670b13446b412796238b1cd78899f9",
      "name": "John Doe",
      "tags": ["Lead"],
      "uuid": "eb2b914a977e4ab896e7b886698b3eac",
      "source": "whatsapp",
      "avatarUrl": null,
      "createdAt": "2022-10-12T15:57:16Z",
      "phoneNumber": "331122334455"
    },
    "messageStatusPayload":{
      "id":"gBGGM2MSRxl_Aglqmg5KQXU7ABC",
      "gsId":"2b34bfb7-2631-4763-89fb-1b3c65a4babc",
      "type":"read",
      "payload":{
        "ts":1686563913
      },
      "destination":"1122334455"
    }
  }
}"#;
        let events = parse_at(URL, &[], body, &settings(None)).unwrap();
        assert_eq!(
            events,
            vec![ProviderEvent {
                suppress: None,
                provider_message_id: UUID.into(),
                status: DeliveryStatus::Read,
                occurred_at: Some(at()),
                reason: None,
                code: None,
                raw_status: "read".into(),
                notification_id: None,
            }]
        );
    }

    #[test]
    fn each_status_maps_with_its_timestamp() {
        for (word, status) in [
            ("sent", DeliveryStatus::Sent),
            ("delivered", DeliveryStatus::Delivered),
            ("read", DeliveryStatus::Read),
        ] {
            let events = parse_status(Some("s3cret"), word, None);
            assert_eq!(events.len(), 1, "{word}");
            let e = &events[0];
            assert_eq!(e.provider_message_id, UUID);
            assert_eq!(e.status, status, "{word}");
            assert_eq!(e.occurred_at, Some(at()), "{word}");
            assert_eq!((e.reason.as_deref(), e.code.as_deref()), (None, None));
            assert_eq!(e.raw_status, word);
        }
    }

    #[test]
    fn failed_keeps_the_reason_and_code() {
        let events = parse_status(
            None,
            "failed",
            Some(("1002", "Number Does Not Exists On WhatsApp")),
        );
        assert_eq!(
            events,
            vec![ProviderEvent {
                suppress: None,
                provider_message_id: UUID.into(),
                status: DeliveryStatus::Failed,
                // Gupshup's `failed` events carry no timestamp.
                occurred_at: None,
                reason: Some("Number Does Not Exists On WhatsApp".into()),
                code: Some("1002".into()),
                raw_status: "failed".into(),
                notification_id: None,
            }]
        );
    }

    #[test]
    fn failed_with_a_cloud_api_inner_payload() {
        let body = r#"{"event":"message_status_updated","payload":{"uuid":"u1","status":"failed",
            "messageStatusPayload":{"id":"wamid.X","status":"failed","timestamp":"1686563913",
            "errors":[{"code":131026,"title":"Message undeliverable"}]}}}"#;
        let e = &parse_at(URL, &[], body, &settings(None)).unwrap()[0];
        assert_eq!(e.status, DeliveryStatus::Failed);
        assert_eq!(e.occurred_at, Some(at()));
        assert_eq!(e.reason.as_deref(), Some("Message undeliverable"));
        assert_eq!(e.code.as_deref(), Some("131026"));
    }

    #[test]
    fn intermediate_and_unknown_statuses_are_skipped() {
        for word in ["enqueued", "mismatch", "deleted", "teleported"] {
            assert!(parse_status(None, word, None).is_empty(), "{word}");
        }
    }

    #[test]
    fn other_events_are_skipped() {
        let body = r#"{"event":"message_created","payload":{"uuid":"u1","status":"received",
            "text":"Hi"}}"#;
        assert!(
            parse_at(URL, &[], body, &settings(None))
                .unwrap()
                .is_empty()
        );
        let body = r#"{"event":"contact_updated","payload":{"uuid":"c1"}}"#;
        assert!(
            parse_at(URL, &[], body, &settings(None))
                .unwrap()
                .is_empty()
        );
        // Connection checks: no event at all.
        assert!(parse_at(URL, &[], "", &settings(None)).unwrap().is_empty());
        assert!(
            parse_at(URL, &[], "{}", &settings(None))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_secret_must_be_in_the_url_when_configured() {
        let cb = status_callback(UUID, "delivered", at(), None);
        let with = settings(Some("s3cret"));
        // Right secret.
        let ok = parse_at(
            &webhook_url(URL, Some("s3cret")),
            &cb.headers,
            &cb.body,
            &with,
        );
        assert_eq!(ok.unwrap().len(), 1);
        // Missing, wrong, and a prefix of the right one.
        for url in [
            URL.to_owned(),
            webhook_url(URL, Some("guess")),
            webhook_url(URL, Some("s3cre")),
            format!("{URL}?other=s3cret"),
        ] {
            assert!(
                matches!(
                    parse_at(&url, &cb.headers, &cb.body, &with),
                    Err(CallbackError::BadSignature(_))
                ),
                "{url}"
            );
        }
        // Checked before the body: a malformed body without the secret is still a 401.
        assert!(matches!(
            parse_at(URL, &[], "not json", &with),
            Err(CallbackError::BadSignature(_))
        ));
    }

    #[test]
    fn without_a_secret_any_url_is_accepted() {
        let cb = status_callback(UUID, "sent", at(), None);
        for url in [URL.to_owned(), webhook_url(URL, Some("whatever"))] {
            let events = parse_at(&url, &cb.headers, &cb.body, &settings(None)).unwrap();
            assert_eq!(events[0].status, DeliveryStatus::Sent);
        }
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        for body in [
            "not json",
            "[1,2]",
            r#"{"event":42}"#,
            r#"{"event":"message_status_updated"}"#,
            r#"{"event":"message_status_updated","payload":{"status":"read"}}"#,
            r#"{"event":"message_status_updated","payload":{"uuid":"","status":"read"}}"#,
            r#"{"event":"message_status_updated","payload":{"uuid":"u1"}}"#,
        ] {
            assert!(
                matches!(
                    parse_at(URL, &[], body, &settings(None)),
                    Err(CallbackError::Malformed(_))
                ),
                "{body}"
            );
        }
    }
}
