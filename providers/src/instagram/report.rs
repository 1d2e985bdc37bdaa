//! Callbacks of `instagram`: Meta's messaging webhooks for Instagram, of which only
//! `messaging_seen` (read receipts) is about the delivery of a message we sent.
//!
//! Meta `POST`s `application/json`:
//! `{"object":"instagram","entry":[{"id":"<IG professional account id>","time":<ms>,
//! "messaging":[{"sender":{"id":"<IGSID>"},"recipient":{"id":"<IG account id>"},
//! "timestamp":<ms>,"read":{"mid":"<message id>"}}]}]}`, signed with the app secret:
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`.
//!
//! - `read.mid` → Read, at `timestamp` (milliseconds). The `mid` is the `message_id` the
//!   Send API answered, which our send stored: taken as is.
//! - Only entries whose `id` is the account's `account_id` are ours.
//! - Inbound `message`s (and their `is_echo` copies of what we sent), `reaction`,
//!   `postback`, `referral` and the like are not delivery statuses: skipped. Instagram
//!   reports no delivery or failure after the Send API accepted a message.
//!
//! Docs:
//! - <https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook>
//!   (`messaging_seen` example)
//! - <https://developers.facebook.com/docs/instagram-platform/webhooks/examples>
//! - <https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads>

use crate::InstagramSettings;
use serde_json::Value;

use crate::report::{CallbackError, CallbackRequest, DeliveryStatus, ProviderEvent, unix_time};
use crate::whatsapp_cloud::report::{meta_entries, meta_id, verify_hub_signature};

pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &InstagramSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    verify_hub_signature(req, settings.app_secret.as_ref())?;
    let body: Value = serde_json::from_slice(req.body)
        .map_err(|e| CallbackError::Malformed(format!("the body is not JSON: {e}")))?;
    let Some(entries) = meta_entries(&body, "instagram")? else {
        return Ok(Vec::new());
    };
    let account_id = settings.account_id.trim();
    let mut events = Vec::new();
    for entry in entries {
        let id = meta_id(entry.get("id"))
            .ok_or_else(|| CallbackError::Malformed("an entry has no `id`".into()))?;
        if id != account_id {
            tracing::debug!(entry = id, "skipping an Instagram entry of another account");
            continue;
        }
        let Some(messaging) = entry.get("messaging") else {
            // `changes` entries: comments, mentions, story insights.
            continue;
        };
        let messaging = messaging
            .as_array()
            .ok_or_else(|| CallbackError::Malformed("`messaging` is not an array".into()))?;
        for event in messaging {
            let Some(read) = event.get("read") else {
                tracing::debug!("skipping an Instagram messaging event that is not a read");
                continue;
            };
            let Some(mid) = read
                .get("mid")
                .and_then(Value::as_str)
                .filter(|mid| !mid.is_empty())
            else {
                // Messenger's `watermark` reads name no message.
                tracing::debug!("skipping an Instagram read without a `mid`");
                continue;
            };
            events.push(ProviderEvent {
                suppress: None,
                provider_message_id: mid.to_owned(),
                status: DeliveryStatus::Read,
                occurred_at: event.get("timestamp").and_then(unix_time),
                reason: None,
                code: None,
                raw_status: "read".into(),
                notification_id: None,
            });
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use http::{HeaderMap, HeaderName, HeaderValue, Method};
    use pombo_contract::config::Secret;
    use pombo_fakes::{
        callbacks::FakeCallback,
        instagram::{mid, read_webhook},
    };

    use super::*;

    const SECRET: &str = "a1b2c3d4e5f60718";
    const ACCOUNT: &str = "17841405822304914";
    const IGSID: &str = "6543210987654321";

    fn settings(app_secret: Option<&str>) -> InstagramSettings {
        InstagramSettings {
            account_id: ACCOUNT.into(),
            access_token: Secret::new("IGQV-token"),
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
        settings: &InstagramSettings,
    ) -> Result<Vec<ProviderEvent>, CallbackError> {
        let req = CallbackRequest {
            method: &Method::POST,
            url: "https://pombo.example.com/v1/callbacks/instagram/main",
            headers,
            query: None,
            body,
        };
        super::parse(&req, settings)
    }

    fn parse_fake(
        callback: &FakeCallback,
        settings: &InstagramSettings,
    ) -> Result<Vec<ProviderEvent>, CallbackError> {
        parse_raw(&headers(callback), callback.body.as_bytes(), settings)
    }

    #[test]
    fn a_read_maps_to_read_with_the_mid_and_its_timestamp() {
        // The `message_id` the (fake) Send API answered, which our send stored.
        let sent = mid(ACCOUNT, 1);
        let callback = read_webhook(Some(SECRET), ACCOUNT, IGSID, &sent, 1_700_000_123_456);
        let events = parse_fake(&callback, &settings(Some(SECRET))).unwrap();
        assert_eq!(
            events,
            vec![ProviderEvent {
                suppress: None,
                provider_message_id: sent,
                status: DeliveryStatus::Read,
                occurred_at: Some(Utc.timestamp_millis_opt(1_700_000_123_456).unwrap()),
                reason: None,
                code: None,
                raw_status: "read".into(),
                notification_id: None,
            }]
        );
    }

    /// Meta's documented `messaging_seen` example, with ids in place of its placeholders.
    #[test]
    fn documented_example_payload() {
        let body = r#"{"object":"instagram","entry":[{"id":"17841405822304914","time":1569262486134,"messaging":[{"sender":{"id":"6543210987654321"},"recipient":{"id":"17841405822304914"},"timestamp":1569262485349,"read":{"mid":"aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTQ2MTA5MTc0OTE0NTEyMgZDZD"}}]}]}"#;
        let events = parse_raw(&HeaderMap::new(), body.as_bytes(), &settings(None)).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].status, DeliveryStatus::Read);
        assert_eq!(
            events[0].provider_message_id,
            "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTQ2MTA5MTc0OTE0NTEyMgZDZD"
        );
        assert_eq!(
            events[0].occurred_at,
            Some(Utc.timestamp_millis_opt(1_569_262_485_349).unwrap())
        );
    }

    #[test]
    fn a_correct_signature_passes_and_forgeries_do_not() {
        let sent = mid(ACCOUNT, 2);
        let callback = read_webhook(Some(SECRET), ACCOUNT, IGSID, &sent, 1_700_000_000_000);
        let settings = settings(Some(SECRET));
        assert_eq!(parse_fake(&callback, &settings).unwrap().len(), 1);

        let forged = read_webhook(Some("guess"), ACCOUNT, IGSID, &sent, 1_700_000_000_000);
        assert!(matches!(
            parse_fake(&forged, &settings),
            Err(CallbackError::BadSignature(_))
        ));

        let unsigned = read_webhook(None, ACCOUNT, IGSID, &sent, 1_700_000_000_000);
        assert!(matches!(
            parse_fake(&unsigned, &settings),
            Err(CallbackError::BadSignature(_))
        ));

        let tampered = callback.body.replace(&sent, &mid(ACCOUNT, 3));
        assert_ne!(tampered, callback.body);
        assert!(matches!(
            parse_raw(&headers(&callback), tampered.as_bytes(), &settings),
            Err(CallbackError::BadSignature(_))
        ));
    }

    #[test]
    fn unsigned_callbacks_pass_without_an_app_secret() {
        let callback = read_webhook(None, ACCOUNT, IGSID, "m-1", 1_700_000_000_000);
        let events = parse_fake(&callback, &settings(None)).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].provider_message_id, "m-1");
    }

    #[test]
    fn entries_of_another_account_are_skipped() {
        let callback = read_webhook(None, "17841400000000999", IGSID, "m-1", 1_700_000_000_000);
        assert_eq!(parse_fake(&callback, &settings(None)).unwrap(), vec![]);
    }

    /// Inbound messages, echoes of ours, reactions, postbacks, comment `changes`, reads
    /// without a `mid` (Messenger's watermarks) and other objects are not delivery statuses.
    #[test]
    fn other_events_are_skipped() {
        let bodies = [
            r#"{"object":"instagram","entry":[{"id":"17841405822304914","time":1569262486134,"messaging":[{"sender":{"id":"6543210987654321"},"recipient":{"id":"17841405822304914"},"timestamp":1569262485349,"message":{"mid":"m-in","text":"hello"}}]}]}"#,
            r#"{"object":"instagram","entry":[{"id":"17841405822304914","time":1569262486134,"messaging":[{"sender":{"id":"17841405822304914"},"recipient":{"id":"6543210987654321"},"timestamp":1569262485349,"message":{"mid":"m-out","text":"hi","is_echo":true}}]}]}"#,
            r#"{"object":"instagram","entry":[{"id":"17841405822304914","time":1569262486134,"messaging":[{"sender":{"id":"6543210987654321"},"recipient":{"id":"17841405822304914"},"timestamp":1569262485349,"reaction":{"mid":"m-out","action":"react","reaction":"love","emoji":"\u2764\ufe0f"}}]}]}"#,
            r#"{"object":"instagram","entry":[{"id":"17841405822304914","time":1569262486134,"messaging":[{"sender":{"id":"6543210987654321"},"recipient":{"id":"17841405822304914"},"timestamp":1569262485349,"postback":{"mid":"m-pb","title":"Start","payload":"START"}}]}]}"#,
            r#"{"object":"instagram","entry":[{"id":"17841405822304914","time":1569262486134,"changes":[{"field":"comments","value":{"id":"1791","from":{"id":"6543210987654321","username":"someone"},"text":"nice","media":{"id":"1790","media_product_type":"FEED"}}}]}]}"#,
            r#"{"object":"instagram","entry":[{"id":"17841405822304914","time":1458668856463,"messaging":[{"sender":{"id":"6543210987654321"},"recipient":{"id":"17841405822304914"},"timestamp":1458668856463,"read":{"watermark":1458668856253}}]}]}"#,
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
            "{}",
            r#"{"object":"instagram"}"#,
            r#"{"object":"instagram","entry":[{"time":1}]}"#,
            r#"{"object":"instagram","entry":[{"id":"17841405822304914","messaging":{}}]}"#,
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
