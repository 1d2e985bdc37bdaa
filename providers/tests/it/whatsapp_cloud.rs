//! Contract tests of the `whatsapp_cloud` provider (Meta WhatsApp Cloud API) against its fake.

use std::time::Duration;

use pombo_contract::{
    config::Secret,
    content::{ChatContent, ChatTemplate, Media, MediaKind},
};
use pombo_fakes::{Fakes, Fault, whatsapp_cloud as fake};
use pombo_providers::WhatsappCloudSettings;
use pombo_providers::{DeliveryError, whatsapp_cloud::send::WhatsappCloud};
use serde_json::json;
use uuid::Uuid;

const PHONE_NUMBER_ID: &str = "106540352242922";
const TOKEN: &str = "EAAJB0nZB5ZCf8BAGood";
const TO: &str = "+5511987654321";

fn provider(fakes: &Fakes, token: &str) -> WhatsappCloud {
    let settings = WhatsappCloudSettings {
        verify_token: None,
        phone_number_id: PHONE_NUMBER_ID.into(),
        access_token: Secret::new(token),
        app_secret: None,
        base_url: fakes.base_url("whatsapp_cloud"),
        api_version: "v21.0".into(),
    };
    WhatsappCloud::new(&settings, crate::http()).expect("settings are valid")
}

fn text(body: &str) -> ChatContent {
    ChatContent {
        text: Some(body.into()),
        media: None,
        template: None,
    }
}

fn media(kind: MediaKind, caption: Option<&str>, filename: Option<&str>) -> ChatContent {
    ChatContent {
        text: None,
        media: Some(Media {
            url: "https://cdn.example.com/files/receipt-42".into(),
            kind,
            caption: caption.map(str::to_owned),
            filename: filename.map(str::to_owned),
        }),
        template: None,
    }
}

fn template(name: &str, parameters: &[&str]) -> ChatContent {
    ChatContent {
        text: None,
        media: None,
        template: Some(ChatTemplate {
            name: name.into(),
            language: "pt_BR".into(),
            parameters: parameters.iter().map(|p| p.to_string()).collect(),
        }),
    }
}

#[tokio::test]
async fn sends_a_text_message_and_returns_the_wamid() {
    let fakes = Fakes::start().await;
    let accepted = provider(&fakes, TOKEN)
        .send(Uuid::now_v7(), TO, &text("Seu pedido saiu para entrega"))
        .await
        .expect("accepted");

    let requests = fakes.requests("whatsapp_cloud");
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/v21.0/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(
        r.query, None,
        "the token travels in the header, not the URL"
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "5511987654321",
            "type": "text",
            "text": { "body": "Seu pedido saiu para entrega", "preview_url": false }
        })
    );
    assert_eq!(
        accepted.provider_message_id,
        Some(fake::wamid("5511987654321", 1))
    );
}

#[tokio::test]
async fn sends_each_media_kind_by_link() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN);
    let cases = [
        (
            media(MediaKind::Image, Some("Your receipt"), None),
            json!({ "type": "image", "image": {
                "link": "https://cdn.example.com/files/receipt-42", "caption": "Your receipt" } }),
        ),
        (
            media(MediaKind::Video, Some("Unboxing"), None),
            json!({ "type": "video", "video": {
                "link": "https://cdn.example.com/files/receipt-42", "caption": "Unboxing" } }),
        ),
        (
            // WhatsApp audio has no caption: it is not sent.
            media(MediaKind::Audio, Some("ignored"), None),
            json!({ "type": "audio", "audio": {
                "link": "https://cdn.example.com/files/receipt-42" } }),
        ),
        (
            media(MediaKind::Document, Some("Invoice"), Some("invoice-42.pdf")),
            json!({ "type": "document", "document": {
                "link": "https://cdn.example.com/files/receipt-42", "caption": "Invoice",
                "filename": "invoice-42.pdf" } }),
        ),
    ];
    for (i, (content, expected)) in cases.iter().enumerate() {
        let accepted = p.send(Uuid::now_v7(), TO, content).await.expect("accepted");
        assert_eq!(
            accepted.provider_message_id,
            Some(fake::wamid("5511987654321", i + 1))
        );
        let body = fakes.requests("whatsapp_cloud")[i].json();
        let kind = expected["type"].as_str().unwrap();
        assert_eq!(body["messaging_product"], "whatsapp");
        assert_eq!(body["to"], "5511987654321");
        assert_eq!(body["type"], expected["type"]);
        assert_eq!(body[kind], expected[kind], "{kind}");
        assert_eq!(
            body.as_object().unwrap().len(),
            5,
            "no stray fields: {body}"
        );
    }
}

#[tokio::test]
async fn sends_templates_with_and_without_body_parameters() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN);

    let accepted = p
        .send(
            Uuid::now_v7(),
            TO,
            &template("order_shipped", &["Ana", "#1234"]),
        )
        .await
        .expect("accepted");
    assert_eq!(
        accepted.provider_message_id,
        Some(fake::wamid("5511987654321", 1))
    );
    p.send(Uuid::now_v7(), TO, &template("hello_world", &[]))
        .await
        .expect("accepted");

    let requests = fakes.requests("whatsapp_cloud");
    assert_eq!(
        requests[0].json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "5511987654321",
            "type": "template",
            "template": {
                "name": "order_shipped",
                "language": { "code": "pt_BR" },
                "components": [{ "type": "body", "parameters": [
                    { "type": "text", "text": "Ana" },
                    { "type": "text", "text": "#1234" }
                ]}]
            }
        })
    );
    assert_eq!(
        requests[1].json()["template"],
        json!({ "name": "hello_world", "language": { "code": "pt_BR" } })
    );
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next("whatsapp_cloud", 1, Fault::rate_limited(7));
    let err = provider(&fakes, TOKEN)
        .send(Uuid::now_v7(), TO, &text("hi"))
        .await
        .unwrap_err();
    match err {
        DeliveryError::Retryable {
            code, retry_after, ..
        } => {
            assert_eq!(code.as_deref(), Some("130429"));
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
        other => panic!("expected retryable, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next("whatsapp_cloud", 1, Fault::status(503));
    let err = provider(&fakes, TOKEN)
        .send(Uuid::now_v7(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
    assert_eq!(err.code(), Some("131016"));
    assert_eq!(fakes.requests("whatsapp_cloud").len(), 1);
}

#[tokio::test]
async fn rate_limit_codes_in_a_400_are_retryable() {
    let fakes = Fakes::start().await;
    let to = format!("+{}", fake::PAIR_RATE_LIMITED_NUMBER);
    let err = provider(&fakes, TOKEN)
        .send(Uuid::now_v7(), &to, &text("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
    assert_eq!(err.code(), Some("131056"));
}

#[tokio::test]
async fn undeliverable_and_not_allowed_recipients_are_permanent() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN);
    for (number, code) in [
        (fake::UNDELIVERABLE_NUMBER, "131026"),
        (fake::NOT_ALLOWED_NUMBER, "131030"),
    ] {
        let err = p
            .send(Uuid::now_v7(), &format!("+{number}"), &text("hi"))
            .await
            .unwrap_err();
        assert!(matches!(err, DeliveryError::Permanent { .. }), "{err:?}");
        assert_eq!(err.code(), Some(code));
        assert!(
            !err.message().contains(number),
            "no recipient in: {}",
            err.message()
        );
    }
}

#[tokio::test]
async fn outside_the_24h_window_only_a_template_goes_through() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN);
    let to = format!("+{}", fake::OUTSIDE_WINDOW_NUMBER);
    let err = p.send(Uuid::now_v7(), &to, &text("hi")).await.unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("131047"));
    let accepted = p
        .send(Uuid::now_v7(), &to, &template("hello_world", &[]))
        .await
        .expect("a template may start a conversation");
    assert_eq!(
        accepted.provider_message_id,
        Some(fake::wamid(fake::OUTSIDE_WINDOW_NUMBER, 2))
    );
}

#[tokio::test]
async fn template_errors_are_permanent() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN);
    let err = p
        .send(Uuid::now_v7(), TO, &template(fake::MISSING_TEMPLATE, &[]))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("132001"));
    let err = p
        .send(
            Uuid::now_v7(),
            TO,
            &template("hello_world", &["unexpected"]),
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("132000"));
}

#[tokio::test]
async fn an_expired_token_is_permanent_and_never_echoed() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, fake::INVALID_TOKEN)
        .send(Uuid::now_v7(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent { .. }), "{err:?}");
    assert_eq!(err.code(), Some("190"));
    assert!(err.message().contains("401"), "{}", err.message());
    assert!(
        !err.message().contains(fake::INVALID_TOKEN),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn an_unreachable_api_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let settings = WhatsappCloudSettings {
        verify_token: None,
        phone_number_id: PHONE_NUMBER_ID.into(),
        access_token: Secret::new(TOKEN),
        app_secret: None,
        base_url: format!("http://{addr}"),
        api_version: "v21.0".into(),
    };
    let err = WhatsappCloud::new(&settings, crate::http())
        .unwrap()
        .send(Uuid::now_v7(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
}

#[test]
fn settings_are_checked_at_setup() {
    let settings = |id: &str, base: &str| WhatsappCloudSettings {
        verify_token: None,
        phone_number_id: id.into(),
        access_token: Secret::new(TOKEN),
        app_secret: None,
        base_url: base.into(),
        api_version: "v21.0".into(),
    };
    assert!(
        WhatsappCloud::new(
            &settings("+5511987654321", "https://graph.facebook.com"),
            crate::http()
        )
        .is_err()
    );
    assert!(
        WhatsappCloud::new(
            &settings(PHONE_NUMBER_ID, "graph.facebook.com"),
            crate::http()
        )
        .is_err()
    );
    assert!(
        WhatsappCloud::new(
            &settings(PHONE_NUMBER_ID, "https://graph.facebook.com"),
            crate::http()
        )
        .is_ok()
    );
}

#[tokio::test]
async fn an_answer_that_is_not_metas_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN);
    let t = text("hi");
    crate::foreign_answers_leave_no_trace(&fakes, "whatsapp_cloud", || {
        p.send(Uuid::now_v7(), TO, &t)
    })
    .await;
}
