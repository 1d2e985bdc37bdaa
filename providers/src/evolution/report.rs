//! Callbacks of Evolution API (v2): the `MESSAGES_UPDATE` webhook (`messages.update`), which
//! reports what became of the messages an instance sent.
//!
//! Evolution `POST`s `application/json`:
//! `{"event":"messages.update","instance":"<instance name>","data":{"keyId":"<key id>",
//! "remoteJid":"5511…@s.whatsapp.net","fromMe":true,"participant"?,"status":"SERVER_ACK",
//! "instanceId":"<uuid>","messageId"?:"<Evolution's row id>"},"destination":"<url>",
//! "date_time":"2025-01-01T12:00:00.000Z","sender":"<instance's JID>","server_url":"…",
//! "apikey":"<instance token>"|null}`.
//!
//! - Baileys (WhatsApp Web) instances: `SERVER_ACK` → Sent, `DELIVERY_ACK` → Delivered,
//!   `READ` and `PLAYED` → Read, `ERROR` → Failed (Evolution gives no reason); `PENDING` and
//!   `DELETED` are skipped.
//! - WhatsApp Cloud API instances relay Meta's statuses upper-cased: `SENT`, `DELIVERED`,
//!   `READ`, `FAILED` (without Meta's errors), with the `wamid` as `keyId` and, whatever the
//!   message, `fromMe: false`.
//! - The key id (`keyId`, or `key.id` in older payloads) is what our send stored (`key.id` of
//!   the send answer): taken as is.
//! - When: the envelope's `date_time`. Evolution writes the server's local wall-clock time
//!   with a `Z` suffix, which is UTC only when the server runs in UTC (its Docker image's
//!   default); there is no other timestamp.
//! - Only events of the account's instance, and only updates of messages we sent: Baileys
//!   updates with `fromMe: false` (our own reading of an inbound message) are skipped. Other
//!   events (`messages.upsert`, `send.message`, `connection.update`…) are skipped.
//!
//! Evolution does not sign its webhooks: the webhook URL set on the instance must carry the
//! account's `webhook_secret` as `?secret=`, and a callback without it (or with another) is
//! refused; an account without a `webhook_secret` has every callback refused. The instance's webhook must not be `webhookByEvents` (which appends
//! `/messages-update` to the URL).
//!
//! Docs:
//! - <https://doc.evolution-api.com/v2/en/configuration/webhooks> (events, `webhookByEvents`)
//! - source: github.com/EvolutionAPI/evolution-api,
//!   `src/api/integrations/channel/whatsapp/whatsapp.baileys.service.ts` (`messages.update`),
//!   `src/api/integrations/channel/meta/whatsapp.business.service.ts` (Cloud API statuses),
//!   `src/utils/renderStatus.ts` (status words),
//!   `src/api/integrations/event/webhook/webhook.controller.ts` (the envelope)

use crate::EvolutionSettings;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::callbell::report as callbell;
use crate::report::{CallbackError, CallbackRequest, DeliveryStatus, ProviderEvent};

/// The webhook's event and body once the `?secret=` checks out, when it is one of `events`
/// (as written here; the configuration's spelling, `MESSAGES_UPDATE`, is accepted too) and
/// of the account's instance; `None` for another event or instance.
pub(super) fn envelope(
    req: &CallbackRequest<'_>,
    settings: &EvolutionSettings,
    events: &[&'static str],
) -> Result<Option<(&'static str, Value)>, CallbackError> {
    callbell::verify_url_secret(req, settings.webhook_secret.as_ref())?;
    let body: Value = serde_json::from_slice(req.body)
        .map_err(|e| CallbackError::Malformed(format!("the body is not JSON: {e}")))?;
    let given = body
        .get("event")
        .and_then(Value::as_str)
        .ok_or_else(|| CallbackError::Malformed("no `event` in the webhook".into()))?;
    let given = given.replace('_', ".");
    let Some(event) = events.iter().find(|e| given.eq_ignore_ascii_case(e)) else {
        tracing::debug!(event = given, "skipping an Evolution event");
        return Ok(None);
    };
    let instance = body
        .get("instance")
        .and_then(Value::as_str)
        .ok_or_else(|| CallbackError::Malformed("no `instance` in the webhook".into()))?;
    if instance != settings.instance.trim() {
        tracing::debug!(instance, "skipping an Evolution event of another instance");
        return Ok(None);
    }
    Ok(Some((event, body)))
}

/// The envelope's `date_time` (the server's clock; see the module docs).
pub(super) fn date_time(body: &Value) -> Option<DateTime<Utc>> {
    body.get("date_time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &EvolutionSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    let Some((_, body)) = envelope(req, settings, &["messages.update"])? else {
        return Ok(Vec::new());
    };
    let occurred_at = date_time(&body);
    let updates = match body.get("data") {
        Some(Value::Object(_)) => std::slice::from_ref(&body["data"]),
        Some(Value::Array(items)) => items.as_slice(),
        _ => return Err(CallbackError::Malformed("no `data` object".into())),
    };
    let mut events = Vec::new();
    for update in updates {
        if let Some(event) = update_event(update, occurred_at)? {
            events.push(event);
        }
    }
    Ok(events)
}

fn update_event(
    update: &Value,
    occurred_at: Option<DateTime<Utc>>,
) -> Result<Option<ProviderEvent>, CallbackError> {
    if !update.is_object() {
        return Err(CallbackError::Malformed(
            "an update is not an object".into(),
        ));
    }
    let key_id = update
        .get("keyId")
        .or_else(|| update.pointer("/key/id"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| CallbackError::Malformed("no `keyId` in the update".into()))?;
    let word = update
        .get("status")
        .and_then(Value::as_str)
        .map(str::trim)
        .ok_or_else(|| CallbackError::Malformed("no `status` in the update".into()))?;
    let from_me = update
        .get("fromMe")
        .or_else(|| update.pointer("/key/fromMe"))
        .and_then(Value::as_bool);
    // Cloud API instances say `fromMe: false` of every status; their ids are `wamid`s.
    if from_me == Some(false) && !key_id.starts_with("wamid.") {
        tracing::debug!(
            key_id,
            status = word,
            "skipping the update of a message we did not send"
        );
        return Ok(None);
    }
    let status = match word.to_ascii_uppercase().as_str() {
        "SERVER_ACK" | "SENT" => DeliveryStatus::Sent,
        "DELIVERY_ACK" | "DELIVERED" => DeliveryStatus::Delivered,
        "READ" | "PLAYED" => DeliveryStatus::Read,
        "ERROR" | "FAILED" => DeliveryStatus::Failed,
        "PENDING" | "DELETED" => {
            tracing::debug!(key_id, status = word, "skipping an Evolution status");
            return Ok(None);
        }
        _ => {
            tracing::debug!(
                key_id,
                status = word,
                "skipping an unknown Evolution status"
            );
            return Ok(None);
        }
    };
    Ok(Some(ProviderEvent {
        suppress: None,
        provider_message_id: key_id.to_owned(),
        status,
        occurred_at,
        reason: None,
        code: None,
        raw_status: word.to_owned(),
        notification_id: None,
    }))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use http::{HeaderMap, HeaderName, Method};
    use pombo_contract::config::Secret;
    use pombo_fakes::evolution::{status_callback, webhook_url};

    use super::*;

    const URL: &str = "https://pombo.example/v1/callbacks/evolution/acct";
    const KEY_ID: &str = "BAE594145F4C59B4";
    const NUMBER: &str = "5511987654321";

    fn settings(secret: Option<&str>) -> EvolutionSettings {
        EvolutionSettings {
            base_url: "http://evolution:8080".into(),
            instance: "my-instance".into(),
            api_key: Secret::new("key"),
            webhook_secret: secret.map(Secret::new),
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 15, 12, 30, 45).unwrap()
    }

    fn parse_at(
        url: &str,
        headers: &[(String, String)],
        body: &str,
        settings: &EvolutionSettings,
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
            url,
            headers: &map,
            query: url.split_once('?').map(|(_, q)| q),
            body: body.as_bytes(),
        };
        parse(&req, settings)
    }

    fn event(key_id: &str, status: DeliveryStatus, word: &str) -> ProviderEvent {
        ProviderEvent {
            suppress: None,
            provider_message_id: key_id.into(),
            status,
            occurred_at: Some(at()),
            reason: None,
            code: None,
            raw_status: word.into(),
            notification_id: None,
        }
    }

    #[test]
    fn baileys_statuses_map_with_the_date_time() {
        for (word, status) in [
            ("SERVER_ACK", DeliveryStatus::Sent),
            ("DELIVERY_ACK", DeliveryStatus::Delivered),
            ("READ", DeliveryStatus::Read),
            ("PLAYED", DeliveryStatus::Read),
            ("ERROR", DeliveryStatus::Failed),
        ] {
            let cb = status_callback("my-instance", KEY_ID, NUMBER, word, at());
            assert_eq!(cb.content_type, "application/json");
            let events = parse_at(
                &webhook_url(URL, Some("s3cret")),
                &cb.headers,
                &cb.body,
                &settings(Some("s3cret")),
            )
            .unwrap();
            assert_eq!(events, vec![event(KEY_ID, status, word)], "{word}");
        }
    }

    #[test]
    fn cloud_api_statuses_map_despite_from_me_false() {
        let wamid = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjA5QUY2";
        for (word, status) in [
            ("SENT", DeliveryStatus::Sent),
            ("DELIVERED", DeliveryStatus::Delivered),
            ("READ", DeliveryStatus::Read),
            ("FAILED", DeliveryStatus::Failed),
        ] {
            let cb = status_callback("my-instance", wamid, NUMBER, word, at());
            assert!(cb.body.contains(r#""fromMe":false"#));
            let events = parse_at(URL, &cb.headers, &cb.body, &settings(None)).unwrap();
            assert_eq!(events, vec![event(wamid, status, word)], "{word}");
        }
    }

    #[test]
    fn source_shaped_payload_parses() {
        // The envelope of `webhook.controller.ts` around the update of
        // `whatsapp.baileys.service.ts`, as Evolution v2 serializes them.
        let body = r#"{"event":"messages.update","instance":"my-instance","data":{
            "messageId":"cm5xk3q0a0001qz8h1b2c3d4e","keyId":"BAE594145F4C59B4",
            "remoteJid":"5511987654321@s.whatsapp.net","fromMe":true,"status":"DELIVERY_ACK",
            "instanceId":"6e1b5f4e-0000-4000-8000-fa4e00000001"},
            "destination":"https://pombo.example/v1/callbacks/evolution/acct",
            "date_time":"2025-01-15T12:30:45.000Z","sender":"5511900000000@s.whatsapp.net",
            "server_url":"http://localhost:8080","apikey":null}"#;
        assert_eq!(
            parse_at(URL, &[], body, &settings(None)).unwrap(),
            vec![event(KEY_ID, DeliveryStatus::Delivered, "DELIVERY_ACK")]
        );
        // Older payloads name the key, and may batch updates.
        let body = r#"{"event":"MESSAGES_UPDATE","instance":"my-instance","data":[
            {"key":{"id":"A1","fromMe":true,"remoteJid":"1@s.whatsapp.net"},"status":"READ"},
            {"key":{"id":"A2","fromMe":true,"remoteJid":"1@s.whatsapp.net"},"status":"PENDING"}]}"#;
        let events = parse_at(URL, &[], body, &settings(None)).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].provider_message_id, "A1");
        assert_eq!(events[0].status, DeliveryStatus::Read);
        assert_eq!(events[0].occurred_at, None);
    }

    #[test]
    fn intermediate_unknown_and_foreign_updates_are_skipped() {
        for word in ["PENDING", "DELETED", "TELEPORTED"] {
            let cb = status_callback("my-instance", KEY_ID, NUMBER, word, at());
            assert!(
                parse_at(URL, &cb.headers, &cb.body, &settings(None))
                    .unwrap()
                    .is_empty(),
                "{word}"
            );
        }
        // Another instance of the same server.
        let cb = status_callback("other-instance", KEY_ID, NUMBER, "READ", at());
        assert!(
            parse_at(URL, &cb.headers, &cb.body, &settings(None))
                .unwrap()
                .is_empty()
        );
        // Our reading of an inbound message.
        let body = r#"{"event":"messages.update","instance":"my-instance","data":{
            "keyId":"3A0F00C1","remoteJid":"5511987654321@s.whatsapp.net","fromMe":false,
            "status":"READ"},"date_time":"2025-01-15T12:30:45.000Z"}"#;
        assert!(
            parse_at(URL, &[], body, &settings(None))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn other_events_are_skipped() {
        for event in [
            "messages.upsert",
            "send.message",
            "connection.update",
            "messages.delete",
        ] {
            let body = format!(
                r#"{{"event":"{event}","instance":"my-instance","data":{{"key":{{"id":"X"}}}}}}"#
            );
            assert!(
                parse_at(URL, &[], &body, &settings(None))
                    .unwrap()
                    .is_empty(),
                "{event}"
            );
        }
    }

    #[test]
    fn the_secret_must_be_in_the_url_when_configured() {
        let cb = status_callback("my-instance", KEY_ID, NUMBER, "READ", at());
        let with = settings(Some("s3cret"));
        let ok = parse_at(
            &webhook_url(URL, Some("s3cret")),
            &cb.headers,
            &cb.body,
            &with,
        );
        assert_eq!(ok.unwrap().len(), 1);
        for url in [
            URL.to_owned(),
            webhook_url(URL, Some("guess")),
            webhook_url(URL, Some("s3cret-and-more")),
        ] {
            assert!(
                matches!(
                    parse_at(&url, &cb.headers, &cb.body, &with),
                    Err(CallbackError::BadSignature(_))
                ),
                "{url}"
            );
        }
        assert!(matches!(
            parse_at(URL, &[], "not json", &with),
            Err(CallbackError::BadSignature(_))
        ));
        // Without a secret configured, any URL is accepted.
        let events = parse_at(URL, &cb.headers, &cb.body, &settings(None)).unwrap();
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        for body in [
            "not json",
            r#"{"instance":"my-instance"}"#,
            r#"{"event":"messages.update","data":{"keyId":"A","status":"READ"}}"#,
            r#"{"event":"messages.update","instance":"my-instance"}"#,
            r#"{"event":"messages.update","instance":"my-instance","data":"x"}"#,
            r#"{"event":"messages.update","instance":"my-instance","data":{"status":"READ"}}"#,
            r#"{"event":"messages.update","instance":"my-instance","data":{"keyId":"A"}}"#,
            r#"{"event":"messages.update","instance":"my-instance","data":[1]}"#,
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
