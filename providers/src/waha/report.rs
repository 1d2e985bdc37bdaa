//! Callbacks of WAHA (WhatsApp HTTP API): the `message.ack` webhook, which reports what
//! became of the messages a session sent.
//!
//! WAHA `POST`s `application/json`:
//! `{"id":"evt_…","timestamp":<unix ms>,"event":"message.ack","session":"default",
//! "metadata":{…},"me":{…},"payload":{"id":"true_11111111111@c.us_4CC5…","from":
//! "11111111111@c.us","to"?,"participant":null,"fromMe":true,"ack":3,"ackName":"READ"},
//! "engine":"WEBJS","environment":{…}}`. With an HMAC key on the session's webhook
//! (`hmac.key`), it signs the raw body: `X-Webhook-Hmac: <hex HMAC-SHA512(key, body)>` and
//! `X-Webhook-Hmac-Algorithm: sha512` (besides `X-Webhook-Request-Id` and
//! `X-Webhook-Timestamp`).
//!
//! - `ackName` (or the numeric `ack` when the name is missing): `SERVER` (1) → Sent, `DEVICE`
//!   (2) → Delivered, `READ` (3) and `PLAYED` (4) → Read, `ERROR` (-1) → Failed (WAHA gives
//!   no reason). `PENDING` (0) is skipped.
//! - When: the envelope's `timestamp` (milliseconds; older versions have none). The payload's
//!   own `timestamp`, when an engine sends the whole message, is when the message was sent,
//!   not when it was acknowledged: not used.
//! - `payload.id` is the serialized id our send stored (`true_<chat>@c.us_<key id>`); a
//!   `…@s.whatsapp.net` chat is written `@c.us`, as WAHA and our send do.
//! - Only events of the account's session, and only acks of messages we sent (`fromMe`).
//!   Other events (`message`, `session.status`…) are skipped.
//!
//! Docs:
//! - <https://waha.devlike.pro/docs/how-to/events/#messageack>
//! - <https://waha.devlike.pro/docs/how-to/webhooks/> (HMAC authentication, headers)
//! - source: github.com/devlikeapro/waha, `src/structures/webhooks.dto.ts` (`WAMessageAckBody`),
//!   `src/structures/enums.dto.ts` (`WAMessageAck`)

use crate::WahaSettings;
use hmac::{Hmac, Mac};
use pombo_contract::config::Secret;
use serde_json::Value;
use sha2::Sha512;

use crate::report::{
    CallbackError, CallbackRequest, DeliveryStatus, ProviderEvent, configured, unix_time,
};

pub const HMAC_HEADER: &str = "x-webhook-hmac";
pub const HMAC_ALGORITHM_HEADER: &str = "x-webhook-hmac-algorithm";

/// Checks WAHA's `X-Webhook-Hmac` (hex HMAC-SHA512 of the raw body). An account without a
/// key never gets here: the handler refuses its callbacks first
/// ([`crate::required_secret`]); without one this checks nothing.
fn verify_hmac(req: &CallbackRequest<'_>, key: Option<&Secret>) -> Result<(), CallbackError> {
    let Some(key) = configured(key) else {
        return Ok(());
    };
    if let Some(algorithm) = req.header(HMAC_ALGORITHM_HEADER)
        && !algorithm.trim().eq_ignore_ascii_case("sha512")
    {
        return Err(CallbackError::BadSignature(format!(
            "X-Webhook-Hmac-Algorithm is {algorithm}, not sha512"
        )));
    }
    let given = req
        .header(HMAC_HEADER)
        .ok_or_else(|| CallbackError::BadSignature("missing X-Webhook-Hmac header".into()))?;
    let given = hex::decode(given.trim())
        .map_err(|_| CallbackError::BadSignature("X-Webhook-Hmac is not hexadecimal".into()))?;
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes())
        .map_err(|e| CallbackError::BadSignature(format!("unusable HMAC key: {e}")))?;
    mac.update(req.body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given).map_err(|_| {
        CallbackError::BadSignature(
            "X-Webhook-Hmac does not match the body signed with the account's webhook_secret"
                .into(),
        )
    })
}

/// A WAHA webhook of the account's session whose HMAC checked out.
pub(super) struct Envelope {
    pub event: String,
    pub payload: Value,
    /// When WAHA sent it (milliseconds).
    pub timestamp: Option<Value>,
}

/// The webhook once the HMAC checks out, when it is one of `events` of the account's
/// session; `None` for another event or session.
pub(super) fn envelope(
    req: &CallbackRequest<'_>,
    settings: &WahaSettings,
    events: &[&str],
) -> Result<Option<Envelope>, CallbackError> {
    verify_hmac(req, settings.webhook_secret.as_ref())?;
    let mut body: Value = serde_json::from_slice(req.body)
        .map_err(|e| CallbackError::Malformed(format!("the body is not JSON: {e}")))?;
    let event = body
        .get("event")
        .and_then(Value::as_str)
        .ok_or_else(|| CallbackError::Malformed("no `event` in the webhook".into()))?
        .to_owned();
    if !events.contains(&event.as_str()) {
        tracing::debug!(event, "skipping a WAHA event");
        return Ok(None);
    }
    let session = body
        .get("session")
        .and_then(Value::as_str)
        .ok_or_else(|| CallbackError::Malformed("no `session` in the webhook".into()))?;
    if session != settings.session.trim() {
        tracing::debug!(session, "skipping a WAHA event of another session");
        return Ok(None);
    }
    match body.get_mut("payload").map(Value::take) {
        Some(payload @ Value::Object(_)) => Ok(Some(Envelope {
            event,
            payload,
            timestamp: body.get_mut("timestamp").map(Value::take),
        })),
        _ => Err(CallbackError::Malformed("no `payload` object".into())),
    }
}

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &WahaSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    let Some(envelope) = envelope(req, settings, &["message.ack"])? else {
        return Ok(Vec::new());
    };
    let payload = &envelope.payload;
    let id = message_id(payload.get("id"))
        .ok_or_else(|| CallbackError::Malformed("no message `id` in the payload".into()))?;
    if payload.get("fromMe").and_then(Value::as_bool) == Some(false) {
        tracing::debug!(id, "skipping the ack of a message we did not send");
        return Ok(Vec::new());
    }
    let ack = payload.get("ack").and_then(Value::as_i64);
    let name = payload
        .get("ackName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != "UNKNOWN");
    let status = match (name, ack) {
        (Some("SERVER"), _) | (None, Some(1)) => DeliveryStatus::Sent,
        (Some("DEVICE"), _) | (None, Some(2)) => DeliveryStatus::Delivered,
        (Some("READ" | "PLAYED"), _) | (None, Some(3 | 4)) => DeliveryStatus::Read,
        (Some("ERROR"), _) | (None, Some(-1)) => DeliveryStatus::Failed,
        (Some("PENDING"), _) | (None, Some(0)) => {
            tracing::debug!(id, "skipping a PENDING ack");
            return Ok(Vec::new());
        }
        (None, None) => {
            return Err(CallbackError::Malformed(
                "no `ackName` nor `ack` in the payload".into(),
            ));
        }
        _ => {
            tracing::debug!(id, ?name, ?ack, "skipping an unknown WAHA ack");
            return Ok(Vec::new());
        }
    };
    let raw_status = match name {
        Some(name) => name.to_owned(),
        None => format!("ack {}", ack.unwrap_or_default()),
    };
    Ok(vec![ProviderEvent {
        suppress: None,
        provider_message_id: id,
        status,
        occurred_at: envelope.timestamp.as_ref().and_then(unix_time),
        reason: None,
        code: None,
        raw_status,
        notification_id: None,
    }])
}

/// The serialized message id (`{fromMe}_{chat}_{key id}`), as our send stored it: the chat
/// of a `…@s.whatsapp.net` JID is written `…@c.us`. Engines that send the whole id object
/// have it under `_serialized`.
pub(super) fn message_id(value: Option<&Value>) -> Option<String> {
    let id = match value? {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o.get("_serialized")?.as_str()?,
        _ => return None,
    };
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    Some(id.replacen("@s.whatsapp.net_", "@c.us_", 1))
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use http::{HeaderMap, HeaderName, Method};
    use pombo_fakes::waha::{ack_callback, serialized_id};

    use super::*;

    const URL: &str = "https://pombo.example/v1/callbacks/waha/acct";
    const KEY: &str = "your-secret-key";

    fn settings(key: Option<&str>) -> WahaSettings {
        WahaSettings {
            base_url: "http://waha:3000".into(),
            session: "default".into(),
            api_key: None,
            webhook_secret: key.map(Secret::new),
        }
    }

    fn id() -> String {
        serialized_id("5511987654321@c.us", "3EB0C767D26A1D8E1A")
    }

    fn at() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_634_567_890_123).unwrap()
    }

    fn parse_with(
        headers: &[(String, String)],
        body: &str,
        settings: &WahaSettings,
    ) -> Result<Vec<ProviderEvent>, CallbackError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let req = CallbackRequest {
            method: &Method::POST,
            url: URL,
            headers: &map,
            query: None,
            body: body.as_bytes(),
        };
        parse(&req, settings)
    }

    #[test]
    fn documented_example_is_a_read() {
        // The `message.ack` example of WAHA's events page, verbatim (no envelope timestamp
        // in that version of the docs).
        let body = r#"{
  "event": "message.ack",
  "session": "default",
  "engine": "WEBJS",
  "payload": {
    "id":"true_11111111111@c.us_4CC5EDD64BC22EBA6D639F2AF571346C",
    "from":"11111111111@c.us",
    "participant": null,
    "fromMe":true,
    "ack":3,
    "ackName":"READ"
  }
}"#;
        assert_eq!(
            parse_with(&[], body, &settings(None)).unwrap(),
            vec![ProviderEvent {
                suppress: None,
                provider_message_id: "true_11111111111@c.us_4CC5EDD64BC22EBA6D639F2AF571346C"
                    .into(),
                status: DeliveryStatus::Read,
                occurred_at: None,
                reason: None,
                code: None,
                raw_status: "READ".into(),
                notification_id: None,
            }]
        );
    }

    #[test]
    fn each_ack_maps_with_the_event_timestamp() {
        for (name, status) in [
            ("SERVER", DeliveryStatus::Sent),
            ("DEVICE", DeliveryStatus::Delivered),
            ("READ", DeliveryStatus::Read),
            ("PLAYED", DeliveryStatus::Read),
            ("ERROR", DeliveryStatus::Failed),
        ] {
            let cb = ack_callback(Some(KEY), "default", &id(), name, at());
            assert_eq!(cb.content_type, "application/json");
            let events = parse_with(&cb.headers, &cb.body, &settings(Some(KEY))).unwrap();
            assert_eq!(
                events,
                vec![ProviderEvent {
                    suppress: None,
                    provider_message_id: id(),
                    status,
                    occurred_at: Some(at()),
                    reason: None,
                    code: None,
                    raw_status: name.into(),
                    notification_id: None,
                }],
                "{name}"
            );
        }
    }

    #[test]
    fn numeric_ack_without_a_name_and_noweb_ids() {
        let body = r#"{"event":"message.ack","session":"default","timestamp":1634567890123,
            "payload":{"id":"true_5511987654321@s.whatsapp.net_3EB0C767D26A1D8E1A",
            "fromMe":true,"ack":2}}"#;
        let e = &parse_with(&[], body, &settings(None)).unwrap()[0];
        assert_eq!(e.status, DeliveryStatus::Delivered);
        assert_eq!(e.provider_message_id, id());
        assert_eq!(e.raw_status, "ack 2");
        assert_eq!(e.occurred_at, Some(at()));
    }

    #[test]
    fn pending_unknown_and_foreign_acks_are_skipped() {
        for name in ["PENDING", "TELEPORTED"] {
            let cb = ack_callback(None, "default", &id(), name, at());
            assert!(
                parse_with(&cb.headers, &cb.body, &settings(None))
                    .unwrap()
                    .is_empty(),
                "{name}"
            );
        }
        // Another session of the same server.
        let cb = ack_callback(None, "sales", &id(), "READ", at());
        assert!(
            parse_with(&cb.headers, &cb.body, &settings(None))
                .unwrap()
                .is_empty()
        );
        // The ack of a message we received.
        let body = r#"{"event":"message.ack","session":"default","payload":{"id":
            "false_5511987654321@c.us_AAA","fromMe":false,"ack":3,"ackName":"READ"}}"#;
        assert!(parse_with(&[], body, &settings(None)).unwrap().is_empty());
    }

    #[test]
    fn other_events_are_skipped() {
        let body = r#"{"event":"message","session":"default","payload":{"id":
            "false_5511987654321@c.us_AAA","fromMe":false,"body":"Hi","ack":2,"ackName":"DEVICE"}}"#;
        assert!(parse_with(&[], body, &settings(None)).unwrap().is_empty());
        let body =
            r#"{"event":"session.status","session":"default","payload":{"status":"WORKING"}}"#;
        assert!(parse_with(&[], body, &settings(None)).unwrap().is_empty());
    }

    #[test]
    fn signatures_are_checked_when_a_key_is_configured() {
        let cb = ack_callback(Some(KEY), "default", &id(), "DEVICE", at());
        let with = settings(Some(KEY));
        assert_eq!(parse_with(&cb.headers, &cb.body, &with).unwrap().len(), 1);

        let bad = |headers: &[(String, String)], body: &str| {
            matches!(
                parse_with(headers, body, &with),
                Err(CallbackError::BadSignature(_))
            )
        };
        // Missing signature.
        assert!(bad(&[], &cb.body));
        // Signed with another key.
        let forged = ack_callback(Some("not-the-key"), "default", &id(), "DEVICE", at());
        assert!(bad(&forged.headers, &forged.body));
        // Tampered body.
        let tampered = cb.body.replace("DEVICE", "READ");
        assert_ne!(tampered, cb.body);
        assert!(bad(&cb.headers, &tampered));
        // Not hexadecimal.
        let mut garbled = cb.headers.clone();
        for (name, value) in &mut garbled {
            if name.eq_ignore_ascii_case(HMAC_HEADER) {
                *value = "zz".into();
            }
        }
        assert!(bad(&garbled, &cb.body));
        // Another algorithm announced.
        let mut sha256 = cb.headers.clone();
        for (name, value) in &mut sha256 {
            if name.eq_ignore_ascii_case(HMAC_ALGORITHM_HEADER) {
                *value = "sha256".into();
            }
        }
        assert!(bad(&sha256, &cb.body));
        // A malformed body is refused for its signature first.
        assert!(bad(&[], "not json"));
    }

    #[test]
    fn signature_matches_an_independently_computed_hmac() {
        // `printf '%s' "$body" | openssl dgst -sha512 -hmac your-secret-key`
        let body = r#"{"event":"message.ack","session":"default","payload":{"id":"true_11111111111@c.us_4CC5EDD64BC22EBA6D639F2AF571346C","fromMe":true,"ack":2,"ackName":"DEVICE"}}"#;
        let hmac = "eb9a684395fc04ce8fdd2d327f760c02165f0fab1d89f08a43c044fbe34ae2bc\
                    422806888503cfce8c3bf952ad4b56e940c95ee9cbbbdb2dd2fdc68c49955c7d";
        assert_eq!(pombo_fakes::waha::hmac_signature(KEY, body), hmac);
        let headers = [
            ("X-Webhook-Hmac".to_owned(), hmac.to_owned()),
            ("X-Webhook-Hmac-Algorithm".to_owned(), "sha512".to_owned()),
        ];
        let events = parse_with(&headers, body, &settings(Some(KEY))).unwrap();
        assert_eq!(events[0].status, DeliveryStatus::Delivered);
    }

    #[test]
    fn unsigned_callbacks_pass_without_a_key() {
        let cb = ack_callback(None, "default", &id(), "SERVER", at());
        assert!(
            !cb.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(HMAC_HEADER))
        );
        let events = parse_with(&cb.headers, &cb.body, &settings(None)).unwrap();
        assert_eq!(events[0].status, DeliveryStatus::Sent);
        // A signed one too (the key is not ours to check).
        let cb = ack_callback(Some(KEY), "default", &id(), "SERVER", at());
        assert_eq!(
            parse_with(&cb.headers, &cb.body, &settings(None))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        for body in [
            "not json",
            r#"{"session":"default"}"#,
            r#"{"event":"message.ack","payload":{"id":"x","ackName":"READ"}}"#,
            r#"{"event":"message.ack","session":"default"}"#,
            r#"{"event":"message.ack","session":"default","payload":{"ackName":"READ"}}"#,
            r#"{"event":"message.ack","session":"default","payload":{"id":"x","fromMe":true}}"#,
        ] {
            assert!(
                matches!(
                    parse_with(&[], body, &settings(None)),
                    Err(CallbackError::Malformed(_))
                ),
                "{body}"
            );
        }
    }
}
