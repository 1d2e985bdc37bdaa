//! Contract tests of the `callbell` provider against its fake.

use std::time::Duration;

use pombo_contract::{
    config::Secret,
    content::{ChatContent, ChatTemplate, Media, MediaKind},
};
use pombo_fakes::{Fakes, Fault, callbell as fake};
use pombo_providers::CallbellSettings;
use pombo_providers::{DeliveryError, callbell::send::Callbell};
use serde_json::json;
use uuid::Uuid;

const TOKEN: &str = "test_gshuPaZoeEG6ovbc8M79w0QyM";
const TO: &str = "+5511987654321";
const CHANNEL: &str = "35f6f8cc-b550-4278-a2ea-099f3a4e0730";

fn notification() -> Uuid {
    Uuid::parse_str("0190f1a2-3b4c-7d5e-8f60-718293a4b5c6").unwrap()
}

fn provider(fakes: &Fakes, token: &str, channel: Option<&str>) -> Callbell {
    let settings = CallbellSettings {
        webhook_secret: None,
        api_token: Secret::new(token),
        channel_uuid: channel.map(str::to_owned),
        base_url: fakes.base_url("callbell"),
    };
    Callbell::new(&settings, crate::http()).expect("settings are valid")
}

fn text(t: &str) -> ChatContent {
    ChatContent {
        text: Some(t.into()),
        media: None,
        template: None,
    }
}

fn media(kind: MediaKind, url: &str, caption: Option<&str>) -> ChatContent {
    ChatContent {
        text: None,
        media: Some(Media {
            url: url.into(),
            kind,
            caption: caption.map(str::to_owned),
            filename: Some("ignored.bin".into()),
        }),
        template: None,
    }
}

fn template(uuid: &str, parameters: &[&str]) -> ChatContent {
    ChatContent {
        text: None,
        media: None,
        template: Some(ChatTemplate {
            name: uuid.into(),
            language: "pt_BR".into(),
            parameters: parameters.iter().map(|p| p.to_string()).collect(),
        }),
    }
}

#[tokio::test]
async fn text_is_sent_as_documented_and_the_uuid_returned() {
    let fakes = Fakes::start().await;
    let accepted = provider(&fakes, TOKEN, Some(CHANNEL))
        .send(notification(), TO, &text("Olá, Ana!"))
        .await
        .expect("accepted");

    let requests = fakes.requests("callbell");
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/messages/send");
    assert_eq!(r.query, None);
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({
            "to": TO,
            "from": "whatsapp",
            "type": "text",
            "content": { "text": "Olá, Ana!" },
            "channel_uuid": CHANNEL,
            "metadata": { "notification_id": "0190f1a2-3b4c-7d5e-8f60-718293a4b5c6" },
        })
    );
    let uuid = fake::message_uuid(&r.body, 1);
    assert_eq!(uuid.len(), 32);
    assert_eq!(accepted.provider_message_id, Some(uuid));
}

#[tokio::test]
async fn repeated_sends_get_distinct_uuids() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN, None);
    let first = p.send(notification(), TO, &text("hi")).await.unwrap();
    let second = p.send(notification(), TO, &text("hi")).await.unwrap();
    let requests = fakes.requests("callbell");
    assert_eq!(requests.len(), 2);
    assert!(
        requests[0].json().get("channel_uuid").is_none(),
        "no channel configured"
    );
    assert_eq!(
        first.provider_message_id,
        Some(fake::message_uuid(&requests[0].body, 1))
    );
    assert_eq!(
        second.provider_message_id,
        Some(fake::message_uuid(&requests[1].body, 2))
    );
    assert_ne!(first, second);
}

#[tokio::test]
async fn image_carries_its_caption_other_files_go_as_documents() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN, None);
    p.send(
        notification(),
        TO,
        &media(
            MediaKind::Image,
            "https://cdn.example.com/pic.jpeg",
            Some("Seu pedido"),
        ),
    )
    .await
    .expect("image accepted");
    for kind in [MediaKind::Document, MediaKind::Audio, MediaKind::Video] {
        p.send(
            notification(),
            TO,
            &media(kind, "https://cdn.example.com/f.pdf", Some("c")),
        )
        .await
        .expect("file accepted");
    }

    let requests = fakes.requests("callbell");
    assert_eq!(requests.len(), 4);
    let image = requests[0].json();
    assert_eq!(image["type"], "image");
    assert_eq!(
        image["content"],
        json!({ "url": "https://cdn.example.com/pic.jpeg", "text": "Seu pedido" })
    );
    for r in &requests[1..] {
        let body = r.json();
        assert_eq!(body["type"], "document");
        assert_eq!(
            body["content"],
            json!({ "url": "https://cdn.example.com/f.pdf" })
        );
    }
}

#[tokio::test]
async fn template_names_its_uuid_and_values() {
    let fakes = Fakes::start().await;
    let accepted = provider(&fakes, TOKEN, Some(CHANNEL))
        .send(
            notification(),
            TO,
            &template(
                "d980fb66fd5043d3ace1aa06ba044342",
                &["Jack", "template", "Cheers"],
            ),
        )
        .await
        .expect("accepted");

    let requests = fakes.requests("callbell");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].json(),
        json!({
            "to": TO,
            "from": "whatsapp",
            "type": "text",
            "content": { "text": "Jack" },
            "template_uuid": "d980fb66fd5043d3ace1aa06ba044342",
            "optin_contact": true,
            "template_values": ["Jack", "template", "Cheers"],
            "channel_uuid": CHANNEL,
            "metadata": { "notification_id": "0190f1a2-3b4c-7d5e-8f60-718293a4b5c6" },
        })
    );
    assert_eq!(
        accepted.provider_message_id,
        Some(fake::message_uuid(&requests[0].body, 1))
    );
}

#[tokio::test]
async fn rate_limit_is_retried_after_the_asked_delay() {
    let fakes = Fakes::start().await;
    fakes.fail_next("callbell", 1, Fault::rate_limited(7));
    let err = provider(&fakes, TOKEN, None)
        .send(notification(), TO, &text("hi"))
        .await
        .unwrap_err();
    match err {
        DeliveryError::Retryable {
            retry_after, code, ..
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert_eq!(code, None);
        }
        other => panic!("expected a retryable error, got {other:?}"),
    }
    assert_eq!(fakes.requests("callbell").len(), 1);
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next("callbell", 1, Fault::status(503));
    let err = provider(&fakes, TOKEN, None)
        .send(notification(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retryable {
            message: "callbell answered 503 Service Unavailable: injected fault".into(),
            code: None,
            retry_after: None,
        }
    );
}

#[tokio::test]
async fn an_empty_wallet_is_final_with_callbells_code() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, TOKEN, None)
        .send(
            notification(),
            fake::WALLET_DEPLETED,
            &template("d980fb66", &["Ana"]),
        )
        .await
        .unwrap_err();
    match err {
        DeliveryError::Permanent { message, code } => {
            assert_eq!(code.as_deref(), Some("whatsapp_wallet_depleted_credit"));
            assert!(
                message.starts_with("callbell answered 402 Payment Required: Your WhatsApp wallet"),
                "{message}"
            );
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invalid_number_is_final() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, TOKEN, None)
        .send(notification(), fake::INVALID_NUMBER, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "callbell answered 422 Unprocessable Entity: The phone number is not a valid WhatsApp number".into(),
            code: None,
        }
    );
}

#[tokio::test]
async fn a_bad_token_is_final_and_never_echoed() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, "invalid_token_123", None)
        .send(notification(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "callbell answered 401 Unauthorized: Unauthorized".into(),
            code: None,
        }
    );
    assert!(!err.message().contains("invalid_token_123"));
}

#[tokio::test]
async fn an_answer_that_is_not_callbells_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN, None);
    let t = text("hi");
    crate::foreign_answers_leave_no_trace(&fakes, "callbell", || p.send(notification(), TO, &t))
        .await;
}
