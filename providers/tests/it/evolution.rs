//! Contract tests of the `evolution` provider against its fake.

use std::time::Duration;

use pombo_contract::{
    config::Secret,
    content::{ChatContent, ChatTemplate, Media, MediaKind},
};
use pombo_fakes::{Fakes, Fault, evolution as fake};
use pombo_providers::EvolutionSettings;
use pombo_providers::{
    DeliveryError,
    evolution::send::{self as evolution, Evolution},
};
use serde_json::json;
use uuid::Uuid;

const KEY: &str = "B6D711FCDE4D4FD5936544120E713976";
const TO: &str = "+5511987654321";

fn provider(fakes: &Fakes, instance: &str, key: &str) -> Evolution {
    let settings = EvolutionSettings {
        webhook_secret: None,
        base_url: fakes.base_url("evolution"),
        instance: instance.into(),
        api_key: Secret::new(key),
    };
    Evolution::new(&settings, crate::http()).expect("settings are valid")
}

fn text(t: &str) -> ChatContent {
    ChatContent {
        text: Some(t.into()),
        media: None,
        template: None,
    }
}

fn media(kind: MediaKind, url: &str, caption: Option<&str>, filename: Option<&str>) -> ChatContent {
    ChatContent {
        text: None,
        media: Some(Media {
            url: url.into(),
            kind,
            caption: caption.map(str::to_owned),
            filename: filename.map(str::to_owned),
        }),
        template: None,
    }
}

fn template(parameters: &[&str]) -> ChatContent {
    ChatContent {
        text: None,
        media: None,
        template: Some(ChatTemplate {
            name: "pedido_enviado".into(),
            language: "pt_BR".into(),
            parameters: parameters.iter().map(|p| p.to_string()).collect(),
        }),
    }
}

#[tokio::test]
async fn text_is_sent_as_documented_and_key_id_returned() {
    let fakes = Fakes::start().await;
    let accepted = provider(&fakes, "vendas-2024", KEY)
        .send(Uuid::nil(), TO, &text("Olá, Ana!"))
        .await
        .expect("accepted");

    let requests = fakes.requests("evolution");
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/message/sendText/vendas-2024");
    assert_eq!(r.query, None);
    assert_eq!(r.header("apikey"), Some(KEY));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({ "number": "5511987654321", "text": "Olá, Ana!" })
    );
    let id = fake::message_id(&r.body, 1);
    assert!(id.starts_with("BAE5") && id.len() == 16, "{id}");
    assert_eq!(accepted.provider_message_id, Some(id));
}

#[tokio::test]
async fn the_instance_name_is_percent_encoded() {
    let fakes = Fakes::start().await;
    provider(&fakes, "loja centro", KEY)
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .expect("accepted");
    assert_eq!(
        fakes.requests("evolution")[0].path,
        "/message/sendText/loja%20centro"
    );
}

#[tokio::test]
async fn media_goes_to_send_media_with_a_file_name_for_documents() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, "vendas", KEY);
    let doc = p
        .send(
            Uuid::nil(),
            TO,
            &media(
                MediaKind::Document,
                "https://files.example.com/x/boleto.pdf?sig=abc",
                Some("Seu boleto"),
                None,
            ),
        )
        .await
        .expect("document accepted");
    p.send(
        Uuid::nil(),
        TO,
        &media(
            MediaKind::Image,
            "https://files.example.com/p.png",
            Some("Foto"),
            None,
        ),
    )
    .await
    .expect("image accepted");
    p.send(
        Uuid::nil(),
        TO,
        &media(
            MediaKind::Audio,
            "https://files.example.com/a.mp3",
            Some("dropped"),
            Some("a.mp3"),
        ),
    )
    .await
    .expect("audio accepted");

    let requests = fakes.requests("evolution");
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r.path == "/message/sendMedia/vendas")
    );
    assert_eq!(
        requests[0].json(),
        json!({
            "number": "5511987654321",
            "mediatype": "document",
            "media": "https://files.example.com/x/boleto.pdf?sig=abc",
            "caption": "Seu boleto",
            "fileName": "boleto.pdf",
        })
    );
    assert_eq!(
        doc.provider_message_id,
        Some(fake::message_id(&requests[0].body, 1))
    );
    assert_eq!(
        requests[1].json(),
        json!({
            "number": "5511987654321",
            "mediatype": "image",
            "media": "https://files.example.com/p.png",
            "caption": "Foto",
        })
    );
    assert_eq!(
        requests[2].json(),
        json!({
            "number": "5511987654321",
            "mediatype": "audio",
            "media": "https://files.example.com/a.mp3",
            "fileName": "a.mp3",
        })
    );
}

#[tokio::test]
async fn templates_go_out_through_cloud_api_instances() {
    let fakes = Fakes::start().await;
    let accepted = provider(&fakes, "business-main", KEY)
        .send(Uuid::nil(), TO, &template(&["Ana", "#123"]))
        .await
        .expect("accepted");
    let requests = fakes.requests("evolution");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/message/sendTemplate/business-main");
    assert_eq!(
        requests[0].json(),
        json!({
            "number": "5511987654321",
            "name": "pedido_enviado",
            "language": "pt_BR",
            "components": [{
                "type": "body",
                "parameters": [{ "type": "text", "text": "Ana" }, { "type": "text", "text": "#123" }],
            }],
        })
    );
    assert_eq!(
        accepted.provider_message_id,
        Some(fake::template_message_id(&requests[0].body, 1))
    );
}

#[tokio::test]
async fn templates_on_a_baileys_instance_are_final() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, "vendas", KEY)
        .send(Uuid::nil(), TO, &template(&[]))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some(evolution::TEMPLATE_UNSUPPORTED));
    assert_eq!(
        fakes.requests("evolution")[0].json(),
        json!({ "number": "5511987654321", "name": "pedido_enviado", "language": "pt_BR" })
    );
}

#[tokio::test]
async fn rate_limit_is_retried_after_the_asked_delay() {
    let fakes = Fakes::start().await;
    fakes.fail_next("evolution", 1, Fault::rate_limited(9));
    let err = provider(&fakes, "vendas", KEY)
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .unwrap_err();
    match err {
        DeliveryError::Retryable { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(9)))
        }
        other => panic!("expected a retryable error, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next("evolution", 1, Fault::status(502));
    let err = provider(&fakes, "vendas", KEY)
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retryable {
            message: "evolution answered 502 Bad Gateway: injected fault".into(),
            code: None,
            retry_after: None,
        }
    );
}

#[tokio::test]
async fn a_number_without_whatsapp_is_final_and_not_echoed() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, "vendas", KEY)
        .send(
            Uuid::nil(),
            &format!("+{}", fake::NOT_ON_WHATSAPP),
            &text("hi"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "evolution answered 400 Bad Request: the number is not on WhatsApp".into(),
            code: Some(evolution::NUMBER_NOT_ON_WHATSAPP.into()),
        }
    );
}

#[tokio::test]
async fn a_disconnected_instance_is_retried() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, fake::DISCONNECTED_INSTANCE, KEY)
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retryable {
            message: "evolution answered 400 Bad Request: Error: Connection Closed".into(),
            code: Some(evolution::INSTANCE_DISCONNECTED.into()),
            retry_after: None,
        }
    );
}

#[tokio::test]
async fn an_unknown_instance_is_final() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, fake::MISSING_INSTANCE, KEY)
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "evolution answered 404 Not Found: The \"missing\" instance does not exist"
                .into(),
            code: None,
        }
    );
}

#[tokio::test]
async fn a_bad_api_key_is_final_and_never_echoed() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes, "vendas", "invalid-key-42")
        .send(Uuid::nil(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "evolution answered 401 Unauthorized: Unauthorized".into(),
            code: None,
        }
    );
    assert!(!err.message().contains("invalid-key-42"));
}

#[tokio::test]
async fn an_answer_that_is_not_evolutions_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes, "vendas", KEY);
    let t = text("hi");
    crate::foreign_answers_leave_no_trace(&fakes, "evolution", || p.send(Uuid::nil(), TO, &t))
        .await;
}
