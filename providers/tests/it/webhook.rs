//! Contract tests of the `webhook` provider (Standard Webhooks) against the fake receiver,
//! which verifies signatures with `pombo_fakes::webhook::TEST_SECRET`.
//!
//! The fakes listen on 127.0.0.1 over plain http, so most tests allow the fakes' own
//! `host:port` as the operator would (`outbound.allowed_private_targets`); the SSRF tests
//! allow nothing, or another port.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use pombo_contract::{
    config::Secret,
    content::WebhookContent,
    outbound::{OutboundPolicy, TargetRefused},
};
use pombo_fakes::{Fakes, Fault, webhook as fake};
use pombo_providers::WebhookSettings;
use pombo_providers::{
    DeliveryError,
    outbound::{OutboundClients, Trust, refusal},
    webhook::send::Webhook,
};
use serde_json::json;
use sha2::Sha256;
use uuid::Uuid;

/// The fakes' address is the one private target allowed.
fn local(fakes: &Fakes) -> OutboundPolicy {
    OutboundPolicy::allowing(&[&fakes.addr.to_string()])
}

fn provider(secret: &str, policy: OutboundPolicy) -> Webhook {
    Webhook::new(
        &WebhookSettings {
            secret: Secret::new(secret),
        },
        std::sync::Arc::new(policy),
    )
    .expect("valid settings")
}

fn event() -> WebhookContent {
    WebhookContent {
        event_type: "order.shipped".into(),
        payload: json!({ "order_id": "ord_42", "carrier": "Correios", "items": [1, 2] }),
    }
}

fn url(fakes: &Fakes, path: &str) -> String {
    format!("{}{path}", fakes.base_url("webhook"))
}

#[tokio::test]
async fn delivers_a_signed_event_the_receiver_verifies() {
    let fakes = Fakes::start().await;
    let id = Uuid::now_v7();
    let before = chrono::Utc::now().timestamp();
    let accepted = provider(fake::TEST_SECRET, local(&fakes))
        .send(id, &url(&fakes, "/receive"), &event())
        .await
        .expect("the fake verified the signature and answered 204");
    let after = chrono::Utc::now().timestamp();

    let requests = fakes.requests("webhook");
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/receive");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let webhook_id = format!("msg_{id}");
    assert_eq!(r.header("webhook-id"), Some(webhook_id.as_str()));
    assert_eq!(accepted.provider_message_id, Some(webhook_id.clone()));

    let timestamp: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!((before..=after).contains(&timestamp), "{timestamp}");

    // The signature, recomputed independently over the exact bytes received.
    let key = STANDARD
        .decode(fake::TEST_SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{webhook_id}.{timestamp}.{}", r.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(r.header("webhook-signature"), Some(expected.as_str()));

    // The body: type, the event's time (the notification's creation), data.
    let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
    let created = chrono::DateTime::from_timestamp(secs as i64, nanos).unwrap();
    assert_eq!(
        r.json(),
        json!({
            "type": "order.shipped",
            "timestamp": created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": { "order_id": "ord_42", "carrier": "Correios", "items": [1, 2] }
        })
    );
}

#[tokio::test]
async fn a_signature_with_another_secret_is_refused_by_the_receiver() {
    let fakes = Fakes::start().await;
    let other = format!("whsec_{}", STANDARD.encode([7u8; 32]));
    let err = provider(&other, local(&fakes))
        .send(Uuid::now_v7(), &url(&fakes, "/receive"), &event())
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent { .. }), "{err:?}");
    assert_eq!(err.code(), Some("401"));
    // The receiver said why (`no matching signature`); receivers have no documented error
    // shape, so the attempt error keeps the status only.
    assert_eq!(
        err.message(),
        "HTTP 401 Unauthorized from standard_webhooks"
    );
}

#[tokio::test]
async fn retries_keep_the_webhook_id_and_re_sign() {
    let fakes = Fakes::start().await;
    fakes.fail_next("webhook", 1, Fault::status(503));
    let p = provider(fake::TEST_SECRET, local(&fakes));
    let id = Uuid::now_v7();
    let err = p
        .send(id, &url(&fakes, "/receive"), &event())
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
    assert_eq!(err.code(), Some("503"));
    p.send(id, &url(&fakes, "/receive"), &event())
        .await
        .expect("second attempt verified");
    let requests = fakes.requests("webhook");
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("webhook-id"),
        requests[1].header("webhook-id")
    );
    assert_eq!(
        requests[0].body, requests[1].body,
        "the event body is stable across retries"
    );
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next("webhook", 1, Fault::rate_limited(11));
    let err = provider(fake::TEST_SECRET, local(&fakes))
        .send(Uuid::now_v7(), &url(&fakes, "/receive"), &event())
        .await
        .unwrap_err();
    match err {
        DeliveryError::Retryable {
            code, retry_after, ..
        } => {
            assert_eq!(code.as_deref(), Some("429"));
            assert_eq!(retry_after, Some(Duration::from_secs(11)));
        }
        other => panic!("expected retryable, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    let p = provider(fake::TEST_SECRET, local(&fakes));
    for status in [500, 502, 504] {
        let err = p
            .send(
                Uuid::now_v7(),
                &url(&fakes, &format!("/status/{status}")),
                &event(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, DeliveryError::Retryable { .. }),
            "{status}: {err:?}"
        );
        assert_eq!(err.code(), Some(status.to_string().as_str()));
    }
}

#[tokio::test]
async fn gone_and_other_client_errors_are_permanent() {
    let fakes = Fakes::start().await;
    let p = provider(fake::TEST_SECRET, local(&fakes));
    for status in [410, 400, 404] {
        let err = p
            .send(
                Uuid::now_v7(),
                &url(&fakes, &format!("/status/{status}")),
                &event(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, DeliveryError::Permanent { .. }),
            "{status}: {err:?}"
        );
        assert_eq!(err.code(), Some(status.to_string().as_str()));
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let fakes = Fakes::start().await;
    let err = provider(fake::TEST_SECRET, local(&fakes))
        .send(Uuid::now_v7(), &url(&fakes, "/status/307"), &event())
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent { .. }), "{err:?}");
    assert_eq!(err.code(), Some("307"));
    assert!(
        err.message().contains("redirects are not followed"),
        "{}",
        err.message()
    );
    let requests = fakes.requests("webhook");
    assert_eq!(requests.len(), 1, "the Location was not followed");
    assert_eq!(requests[0].path, "/status/307");
}

#[tokio::test]
async fn loopback_targets_are_refused_unless_allowed() {
    let fakes = Fakes::start().await;
    let port = fakes.addr.port();
    // Allowed: another port of the same host, and the fakes' port under another name.
    let other_port = OutboundPolicy::allowing(&[&format!("127.0.0.1:{}", port + 1)]);
    for policy in [OutboundPolicy::default(), other_port] {
        let p = provider(fake::TEST_SECRET, policy);
        for target in [
            // Literal forms, refused before sending.
            url(&fakes, "/receive"),
            format!("https://127.0.0.1:{port}/receive"),
            format!("https://[::ffff:127.0.0.1]:{port}/receive"),
            format!("https://2130706433:{port}/receive"),
            format!("https://[::1]:{port}/receive"),
            // A local name, refused before sending.
            format!("https://localhost:{port}/receive"),
        ] {
            let err = p.send(Uuid::now_v7(), &target, &event()).await.unwrap_err();
            assert!(
                matches!(err, DeliveryError::Permanent { .. }),
                "{target}: {err:?}"
            );
            assert_eq!(err.code(), Some("target_refused"), "{target}: {err:?}");
        }
    }
    assert!(
        fakes.requests("webhook").is_empty(),
        "nothing reached the receiver"
    );
}

/// The literal checks stop `localhost` before any request; underneath them, the guarded
/// client's resolver refuses the loopback addresses of any name it is asked to connect to.
#[tokio::test]
async fn the_guarded_client_refuses_names_resolving_to_loopback_at_connect_time() {
    let fakes = Fakes::start().await;
    let clients = OutboundClients::new(OutboundPolicy::default()).unwrap();
    let err = clients
        .http(Trust::Tenant)
        .post(url(&fakes, "/receive").replace("127.0.0.1", "localhost"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(refusal(&err), Some(TargetRefused::ResolvesToNonPublic(host)) if host == "localhost"),
        "{err:?}"
    );
    assert!(fakes.requests("webhook").is_empty());
    // The same name, listed with its port by the operator, goes through.
    let allowed = OutboundClients::new(local_by_name(&fakes)).unwrap();
    let ok = provider(fake::TEST_SECRET, local_by_name(&fakes))
        .send(
            Uuid::now_v7(),
            &url(&fakes, "/receive").replace("127.0.0.1", "localhost"),
            &event(),
        )
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    assert!(
        allowed
            .http(Trust::Tenant)
            .get(format!("http://localhost:{}/", fakes.addr.port()))
            .send()
            .await
            .is_ok()
    );
}

fn local_by_name(fakes: &Fakes) -> OutboundPolicy {
    OutboundPolicy::allowing(&[&format!("localhost:{}", fakes.addr.port())])
}

#[tokio::test]
async fn plain_http_is_refused_unless_allowed() {
    let fakes = Fakes::start().await;
    let err = provider(fake::TEST_SECRET, OutboundPolicy::default())
        .send(Uuid::now_v7(), "http://hooks.example.com/receive", &event())
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent { .. }), "{err:?}");
    assert!(err.message().contains("https"), "{}", err.message());
    assert!(fakes.requests("webhook").is_empty());
}

#[tokio::test]
async fn an_unreachable_receiver_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = provider(
        fake::TEST_SECRET,
        OutboundPolicy::allowing(&[&addr.to_string()]),
    )
    .send(Uuid::now_v7(), &format!("http://{addr}/hook"), &event())
    .await
    .unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
}

#[test]
fn a_malformed_secret_fails_setup() {
    for bad in ["whsec_***", "whsec_c2hvcnQ=", ""] {
        assert!(
            Webhook::new(
                &WebhookSettings {
                    secret: Secret::new(bad)
                },
                std::sync::Arc::new(OutboundPolicy::default())
            )
            .is_err(),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_receivers_answer_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(fake::TEST_SECRET, local(&fakes));
    let target = url(&fakes, "/receive");
    let e = event();
    crate::foreign_answers_leave_no_trace(&fakes, "webhook", || {
        p.send(Uuid::now_v7(), &target, &e)
    })
    .await;
}
