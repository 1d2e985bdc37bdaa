//! Contract tests of the `waha` provider against its fake.

use std::time::Duration;

use pombo_contract::{
    config::Secret,
    content::{ChatContent, ChatTemplate, Media, MediaKind},
};
use pombo_fakes::{Fakes, Fault, waha as fake};
use pombo_providers::WahaSettings;
use pombo_providers::{
    DeliveryError,
    waha::send::{self as waha, Waha},
};
use serde_json::json;
use uuid::Uuid;

const KEY: &str = "00000000000000000000000000000000";
const TO: &str = "+5511987654321";
const CHAT: &str = "5511987654321@c.us";

fn provider(fakes: &Fakes, session: &str, key: Option<&str>) -> Waha {
    let settings = WahaSettings {
        webhook_secret: None,
        base_url: fakes.base_url("waha"),
        session: session.into(),
        api_key: key.map(Secret::new),
    };
    Waha::new(&settings, crate::http()).expect("settings are valid")
}

fn text(t: &str) -> ChatContent {
    ChatContent {
        text: Some(t.into()),
        media: None,
        template: None,
    }
}

fn media(kind: MediaKind, url: &str, filename: Option<&str>) -> ChatContent {
    ChatContent {
        text: None,
        media: Some(Media {
            url: url.into(),
            kind,
            caption: Some("Veja".into()),
            filename: filename.map(str::to_owned),
        }),
        template: None,
    }
}

/// The id the fake gave the only request it received.
fn answered_id(fakes: &Fakes) -> String {
    let requests = fakes.requests("waha");
    assert_eq!(requests.len(), 1);
    fake::serialized_id(CHAT, &fake::key_id(&requests[0].body, 1))
}

#[tokio::test]
async fn text_is_sent_as_documented_and_the_serialized_id_returned() {
    let fakes = Fakes::start().await;
    let accepted = provider(&fakes, "default", Some(KEY))
        .send(Uuid::nil(), TO, &text("Hi there!"))
        .await
        .expect("accepted");

    let requests = fakes.requests("waha");
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/sendText");
    assert_eq!(r.query, None);
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({ "session": "default", "chatId": CHAT, "text": "Hi there!" })
    );
    let id = answered_id(&fakes);
    assert!(id.starts_with("true_5511987654321@c.us_3EB0"), "{id}");
    assert_eq!(accepted.provider_message_id, Some(id));
}

#[tokio::test]
async fn no_key_configured_sends_no_header() {
    let fakes = Fakes::start().await;
    provider(&fakes, "default", None)
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .expect("accepted");
    assert_eq!(fakes.requests("waha")[0].header("x-api-key"), None);
}

#[tokio::test]
async fn noweb_and_webjs_answers_name_the_same_id() {
    for session in ["noweb", "webjs"] {
        let fakes = Fakes::start().await;
        let accepted = provider(&fakes, session, Some(KEY))
            .send(Uuid::nil(), TO, &text("hi"))
            .await
            .expect("accepted");
        assert_eq!(fakes.requests("waha")[0].json()["session"], session);
        assert_eq!(
            accepted.provider_message_id,
            Some(answered_id(&fakes)),
            "{session}"
        );
    }
}

#[tokio::test]
async fn each_media_kind_has_its_endpoint() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, "default", Some(KEY));
    let cases = [
        (
            media(
                MediaKind::Image,
                "https://cdn.example.com/p/photo.png",
                None,
            ),
            "/api/sendImage",
            json!({
                "session": "default", "chatId": CHAT,
                "file": { "mimetype": "image/png", "url": "https://cdn.example.com/p/photo.png" },
                "caption": "Veja",
            }),
        ),
        (
            media(
                MediaKind::Document,
                "https://cdn.example.com/d?X-Amz-Signature=1",
                Some("fatura.pdf"),
            ),
            "/api/sendFile",
            json!({
                "session": "default", "chatId": CHAT,
                "file": {
                    "mimetype": "application/pdf",
                    "filename": "fatura.pdf",
                    "url": "https://cdn.example.com/d?X-Amz-Signature=1",
                },
                "caption": "Veja",
            }),
        ),
        (
            media(MediaKind::Audio, "https://cdn.example.com/v.mp3", None),
            "/api/sendVoice",
            json!({
                "session": "default", "chatId": CHAT,
                "file": { "mimetype": "audio/ogg; codecs=opus", "url": "https://cdn.example.com/v.mp3" },
                "convert": true,
            }),
        ),
        (
            media(MediaKind::Video, "https://cdn.example.com/clip", None),
            "/api/sendVideo",
            json!({
                "session": "default", "chatId": CHAT,
                "file": { "mimetype": "video/mp4", "filename": "video.mp4", "url": "https://cdn.example.com/clip" },
                "convert": true,
                "caption": "Veja",
            }),
        ),
    ];
    for (content, _, _) in &cases {
        p.send(Uuid::nil(), TO, content).await.expect("accepted");
    }
    let requests = fakes.requests("waha");
    assert_eq!(requests.len(), cases.len());
    for (r, (_, path, body)) in requests.iter().zip(&cases) {
        assert_eq!(r.path, *path);
        assert_eq!(r.header("x-api-key"), Some(KEY));
        assert_eq!(&r.json(), body, "{path}");
    }
}

#[tokio::test]
async fn templates_fail_without_a_request() {
    let fakes = Fakes::start().await;
    let content = ChatContent {
        text: None,
        media: None,
        template: Some(ChatTemplate {
            name: "welcome".into(),
            language: "en_US".into(),
            parameters: vec![],
        }),
    };
    let err = provider(&fakes, "default", Some(KEY))
        .send(Uuid::nil(), TO, &content)
        .await
        .unwrap_err();
    assert!(err.is_permanent());
    assert!(fakes.requests("waha").is_empty());
}

#[tokio::test]
async fn rate_limit_is_retried_after_the_asked_delay() {
    let fakes = Fakes::start().await;
    fakes.fail_next("waha", 1, Fault::rate_limited(5));
    let err = provider(&fakes, "default", Some(KEY))
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .unwrap_err();
    match err {
        DeliveryError::Retryable { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(5)))
        }
        other => panic!("expected a retryable error, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next("waha", 1, Fault::status(500));
    let err = provider(&fakes, "default", Some(KEY))
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retryable {
            message: "waha answered 500 Internal Server Error: injected fault".into(),
            code: None,
            retry_after: None,
        }
    );
}

#[tokio::test]
async fn a_chat_id_whatsapp_refuses_is_final_and_not_echoed() {
    let fakes = Fakes::start().await;
    let to = format!("+{}", fake::INVALID_CHAT.trim_end_matches("@c.us"));
    let err = provider(&fakes, "default", Some(KEY))
        .send(Uuid::nil(), &to, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "waha answered 500 Internal Server Error: WhatsApp refused the chat id (invalid wid)"
                .into(),
            code: Some(waha::INVALID_WID.into()),
        }
    );
}

#[tokio::test]
async fn a_session_waiting_for_its_qr_code_is_retried() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, fake::UNPAIRED_SESSION, Some(KEY))
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .unwrap_err();
    match err {
        DeliveryError::Retryable { code, message, .. } => {
            assert_eq!(code.as_deref(), Some("SCAN_QR_CODE"));
            assert!(
                message.contains("session `unpaired` is SCAN_QR_CODE"),
                "{message}"
            );
        }
        other => panic!("expected a retryable error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_session_is_final() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, fake::MISSING_SESSION, Some(KEY))
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert!(
        err.message().starts_with(
            "waha answered 404 Not Found: We didn't find a session with name 'missing'."
        ),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn a_bad_api_key_is_final_and_never_echoed() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, "default", Some("invalid-key-42"))
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "waha answered 401 Unauthorized: Unauthorized".into(),
            code: None,
        }
    );
    assert!(!err.message().contains("invalid-key-42"));
}

#[tokio::test]
async fn an_answer_that_is_not_wahas_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, "default", Some(KEY));
    let t = text("hi");
    crate::foreign_answers_leave_no_trace(&fakes, "waha", || p.send(Uuid::nil(), TO, &t)).await;
}
