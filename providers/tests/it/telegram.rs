//! Contract tests of the Telegram Bot API provider against its fake (prefix `telegram`).

use std::time::Duration;

use pombo_contract::{config::Secret, content::TextContent};
use pombo_fakes::{Fakes, Fault};
use pombo_providers::TelegramSettings;
use pombo_providers::{DeliveryError, telegram::send::Telegram};
use serde_json::json;
use uuid::Uuid;

const PREFIX: &str = "telegram";
const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

fn settings(base_url: String, token: &str) -> TelegramSettings {
    TelegramSettings {
        bot_token: Secret::new(token),
        secret_token: None,
        base_url,
    }
}

fn provider(fakes: &Fakes) -> Telegram {
    Telegram::new(&settings(fakes.base_url(PREFIX), TOKEN), crate::http()).unwrap()
}

fn text(t: &str) -> TextContent {
    TextContent { text: t.into() }
}

#[tokio::test]
async fn sends_the_documented_json_and_names_messages_per_chat() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    let first = p
        .send(
            Uuid::new_v4(),
            "123456789",
            &text("Pedido *enviado* <b>hoje</b>"),
        )
        .await
        .unwrap();

    let requests = fakes.requests(PREFIX);
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/bot{TOKEN}/sendMessage"));
    assert_eq!(r.query, None);
    assert_eq!(r.header("content-type"), Some("application/json"));
    // The chat id goes as a JSON number, the text as is (no parse_mode: plain text).
    assert_eq!(
        r.json(),
        json!({ "chat_id": 123456789, "text": "Pedido *enviado* <b>hoje</b>" })
    );
    assert_eq!(first.provider_message_id.as_deref(), Some("123456789:1"));

    // Message ids count per chat: a second message in the same chat, and one in a group.
    let second = p
        .send(Uuid::new_v4(), "123456789", &text("again"))
        .await
        .unwrap();
    assert_eq!(second.provider_message_id.as_deref(), Some("123456789:2"));
    let group = p
        .send(Uuid::new_v4(), "-1001234567890", &text("to the group"))
        .await
        .unwrap();
    assert_eq!(
        group.provider_message_id.as_deref(),
        Some("-1001234567890:1")
    );
    assert_eq!(
        fakes.requests(PREFIX)[2].json()["chat_id"],
        json!(-1001234567890i64)
    );
}

#[tokio::test]
async fn a_channel_username_goes_as_a_string_and_the_id_uses_the_numeric_chat() {
    let fakes = Fakes::start().await;
    let accepted = provider(&fakes)
        .send(Uuid::new_v4(), "@pombo_news", &text("Nova versão!"))
        .await
        .unwrap();
    let r = &fakes.requests(PREFIX)[0];
    assert_eq!(
        r.json(),
        json!({ "chat_id": "@pombo_news", "text": "Nova versão!" })
    );
    let chat = pombo_fakes::telegram::channel_id_for("@pombo_news");
    assert_eq!(accepted.provider_message_id, Some(format!("{chat}:1")));
}

#[tokio::test]
async fn rate_limit_is_retryable_after_the_given_delay() {
    let fakes = Fakes::start().await;
    // Retry-After as a header (an injected fault)...
    fakes.fail_next(PREFIX, 1, Fault::rate_limited(5));
    let err = provider(&fakes)
        .send(Uuid::new_v4(), "123456789", &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retryable {
            message: "telegram answered 429 Too Many Requests: injected fault".into(),
            code: Some("429".into()),
            retry_after: Some(Duration::from_secs(5)),
        }
    );
    // ...and as flood control gives it, in `parameters.retry_after`.
    let err = provider(&fakes)
        .send(Uuid::new_v4(), "429", &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retryable {
            message: "telegram answered 429 Too Many Requests: Too Many Requests: retry after 7"
                .into(),
            code: Some("429".into()),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next(PREFIX, 1, Fault::status(502));
    let err = provider(&fakes)
        .send(Uuid::new_v4(), "123456789", &text("hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DeliveryError::Retryable {
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), Some("502"));
}

#[tokio::test]
async fn unknown_and_blocking_chats_are_permanent() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    let err = p
        .send(Uuid::new_v4(), "400", &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "telegram answered 400 Bad Request: Bad Request: chat not found".into(),
            code: Some("400".into()),
        }
    );
    let err = p
        .send(Uuid::new_v4(), "403", &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "telegram answered 403 Forbidden: Forbidden: bot was blocked by the user"
                .into(),
            code: Some("403".into()),
        }
    );
}

#[tokio::test]
async fn a_migrated_group_is_permanent_and_names_the_new_chat() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes)
        .send(Uuid::new_v4(), "-400", &text("hi"))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("400"));
    assert!(err.message().contains("chat id -1000000000400"), "{err}");
}

#[tokio::test]
async fn bad_tokens_are_permanent_and_never_echoed() {
    let fakes = Fakes::start().await;
    // A revoked token: 401 Unauthorized.
    let revoked = "123456789:revokedTcvCH1vGWJxfSeofSAs0K5PALDsa";
    let err = Telegram::new(&settings(fakes.base_url(PREFIX), revoked), crate::http())
        .unwrap()
        .send(Uuid::new_v4(), "123456789", &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "telegram answered 401 Unauthorized: Unauthorized".into(),
            code: Some("401".into()),
        }
    );
    // A token Telegram does not recognise as one: 404 Not Found.
    let short = "123456789:tooShort";
    let err = Telegram::new(&settings(fakes.base_url(PREFIX), short), crate::http())
        .unwrap()
        .send(Uuid::new_v4(), "123456789", &text("hi"))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("404"));
    assert!(!err.message().contains("tooShort"), "{err}");
}

#[tokio::test]
async fn transport_errors_are_retryable_and_hide_the_token() {
    // Nothing listens on port 9 of localhost (discard): the connection is refused.
    let p = Telegram::new(&settings("http://127.0.0.1:9".into(), TOKEN), crate::http()).unwrap();
    let err = p
        .send(Uuid::new_v4(), "123456789", &text("hi"))
        .await
        .unwrap_err();
    assert!(!err.is_permanent(), "{err:?}");
    assert!(
        !err.message().contains("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
        "{err}"
    );
    assert!(!err.message().contains("/bot"), "{err}");
}

#[tokio::test]
async fn an_answer_that_is_not_telegrams_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    let t = text("hi");
    crate::foreign_answers_leave_no_trace(&fakes, PREFIX, || {
        p.send(Uuid::new_v4(), "123456789", &t)
    })
    .await;
}
