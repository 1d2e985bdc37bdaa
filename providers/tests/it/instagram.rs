//! Contract tests of the `instagram` provider (Graph API Send API for Instagram) against
//! its fake.

use std::time::Duration;

use pombo_contract::{
    config::Secret,
    content::{ChatContent, ChatTemplate, Media, MediaKind},
};
use pombo_fakes::{Fakes, Fault, instagram as fake};
use pombo_providers::InstagramSettings;
use pombo_providers::{DeliveryError, instagram::send::Instagram};
use serde_json::json;
use uuid::Uuid;

const ACCOUNT_ID: &str = "17841405822304914";
const TOKEN: &str = "IGAAGoodToken";
const TO: &str = "17841400000000001";

fn provider(fakes: &Fakes, token: &str) -> Instagram {
    let settings = InstagramSettings {
        verify_token: None,
        account_id: ACCOUNT_ID.into(),
        access_token: Secret::new(token),
        app_secret: None,
        base_url: fakes.base_url("instagram"),
        api_version: "v21.0".into(),
    };
    Instagram::new(&settings, crate::http()).expect("settings are valid")
}

fn text(body: &str) -> ChatContent {
    ChatContent {
        text: Some(body.into()),
        media: None,
        template: None,
    }
}

fn media(kind: MediaKind) -> ChatContent {
    ChatContent {
        text: None,
        media: Some(Media {
            url: "https://cdn.example.com/files/42".into(),
            kind,
            caption: Some("not sent: Instagram attachments have no caption".into()),
            filename: Some("invoice-42.pdf".into()),
        }),
        template: None,
    }
}

#[tokio::test]
async fn sends_a_text_message_and_returns_the_message_id() {
    let fakes = Fakes::start().await;
    let accepted = provider(&fakes, TOKEN)
        .send(Uuid::now_v7(), TO, &text("Your order has shipped"))
        .await
        .expect("accepted");

    let requests = fakes.requests("instagram");
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/v21.0/{ACCOUNT_ID}/messages"));
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
            "recipient": { "id": TO },
            "message": { "text": "Your order has shipped" }
        })
    );
    assert_eq!(accepted.provider_message_id, Some(fake::mid(ACCOUNT_ID, 1)));
}

#[tokio::test]
async fn sends_each_media_kind_as_an_attachment() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN);
    let cases = [
        (MediaKind::Image, "image"),
        (MediaKind::Video, "video"),
        (MediaKind::Audio, "audio"),
        (MediaKind::Document, "file"),
    ];
    for (i, (kind, wire)) in cases.into_iter().enumerate() {
        let accepted = p
            .send(Uuid::now_v7(), TO, &media(kind))
            .await
            .expect("accepted");
        assert_eq!(
            accepted.provider_message_id,
            Some(fake::mid(ACCOUNT_ID, i + 1))
        );
        assert_eq!(
            fakes.requests("instagram")[i].json(),
            json!({
                "recipient": { "id": TO },
                "message": { "attachment": {
                    "type": wire,
                    "payload": { "url": "https://cdn.example.com/files/42" }
                } }
            }),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn a_template_is_refused_without_calling_instagram() {
    let fakes = Fakes::start().await;
    let content = ChatContent {
        text: None,
        media: None,
        template: Some(ChatTemplate {
            name: "order_shipped".into(),
            language: "en_US".into(),
            parameters: vec![],
        }),
    };
    let err = provider(&fakes, TOKEN)
        .send(Uuid::now_v7(), TO, &content)
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent { .. }), "{err:?}");
    assert!(fakes.requests("instagram").is_empty());
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next("instagram", 1, Fault::rate_limited(9));
    let err = provider(&fakes, TOKEN)
        .send(Uuid::now_v7(), TO, &text("hi"))
        .await
        .unwrap_err();
    match err {
        DeliveryError::Retryable {
            code, retry_after, ..
        } => {
            assert_eq!(code.as_deref(), Some("613"));
            assert_eq!(retry_after, Some(Duration::from_secs(9)));
        }
        other => panic!("expected retryable, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next("instagram", 1, Fault::status(500));
    let err = provider(&fakes, TOKEN)
        .send(Uuid::now_v7(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
    assert_eq!(err.code(), Some("2"));
}

#[tokio::test]
async fn a_rate_limit_code_in_a_400_is_retryable() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, TOKEN)
        .send(Uuid::now_v7(), fake::RATE_LIMITED_USER, &text("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
    assert_eq!(err.code(), Some("613"));
}

#[tokio::test]
async fn unreachable_recipients_are_permanent() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN);
    for (user, code, subcode) in [
        (fake::UNAVAILABLE_USER, "551", "1545041"),
        (fake::OUTSIDE_WINDOW_USER, "10", "2534022"),
        (fake::NO_SUCH_USER, "100", "2018001"),
    ] {
        let err = p.send(Uuid::now_v7(), user, &text("hi")).await.unwrap_err();
        assert!(
            matches!(err, DeliveryError::Permanent { .. }),
            "{user}: {err:?}"
        );
        assert_eq!(err.code(), Some(code));
        assert!(
            err.message().contains(&format!("subcode {subcode}")),
            "{}",
            err.message()
        );
    }
}

#[tokio::test]
async fn text_over_1000_bytes_is_refused_permanently() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, TOKEN)
        .send(Uuid::now_v7(), TO, &text(&"é".repeat(501)))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("100"));
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
    assert!(
        !err.message().contains(fake::INVALID_TOKEN),
        "{}",
        err.message()
    );
}

#[test]
fn settings_are_checked_at_setup() {
    let settings = |id: &str| InstagramSettings {
        verify_token: None,
        account_id: id.into(),
        access_token: Secret::new(TOKEN),
        app_secret: None,
        base_url: "https://graph.facebook.com".into(),
        api_version: "v21.0".into(),
    };
    assert!(Instagram::new(&settings("@pombo"), crate::http()).is_err());
    assert!(Instagram::new(&settings(ACCOUNT_ID), crate::http()).is_ok());
}

#[tokio::test]
async fn an_answer_that_is_not_metas_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, TOKEN);
    let t = text("hi");
    crate::foreign_answers_leave_no_trace(&fakes, "instagram", || p.send(Uuid::now_v7(), TO, &t))
        .await;
}
