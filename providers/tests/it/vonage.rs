//! Contract tests of the `vonage` provider against its fake.

use std::time::Duration;

use pombo_contract::{config::Secret, content::TextContent};
use pombo_fakes::{Fakes, Fault};
use pombo_providers::VonageSettings;
use pombo_providers::{
    DeliveryError,
    vonage::send::{PROVIDER, Vonage},
};
use uuid::Uuid;

const KEY: &str = "abcd1234";
const SECRET: &str = "abcdef0123456789";
const TO: &str = "+447700900000";

fn settings(fakes: &Fakes) -> VonageSettings {
    VonageSettings {
        api_key: KEY.into(),
        api_secret: Secret::new(SECRET),
        from: "Pombo".into(),
        base_url: fakes.base_url(PROVIDER),
    }
}

fn provider(fakes: &Fakes) -> Vonage {
    Vonage::new(&settings(fakes), crate::http()).unwrap()
}

fn text(t: &str) -> TextContent {
    TextContent { text: t.into() }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn sends_the_documented_form_and_returns_the_message_id() {
    let fakes = Fakes::start().await;
    let id = Uuid::new_v4();
    let accepted = provider(&fakes)
        .send(id, TO, &text("Your code is 123456 & expires in 5 min"))
        .await
        .unwrap();

    let r = &crate::only_request(&fakes, PROVIDER);
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/sms/json");
    assert_eq!(r.query, None);
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    // Credentials travel in the body, not in a header.
    assert_eq!(r.header("authorization"), None);
    assert_eq!(
        r.form(),
        pairs(&[
            ("api_key", KEY),
            ("api_secret", SECRET),
            ("from", "Pombo"),
            ("to", "447700900000"),
            ("text", "Your code is 123456 & expires in 5 min"),
            ("type", "text"),
            ("client-ref", &id.to_string()),
        ])
    );
    assert_eq!(
        accepted.provider_message_id,
        Some(pombo_fakes::vonage::message_id_for(&r.body, 0))
    );
}

#[tokio::test]
async fn non_gsm_text_goes_as_unicode_and_a_numeric_sender_loses_the_plus() {
    let fakes = Fakes::start().await;
    let s = VonageSettings {
        from: "+447700900111".into(),
        ..settings(&fakes)
    };
    Vonage::new(&s, crate::http())
        .unwrap()
        .send(Uuid::new_v4(), TO, &text("Olá, João! Seu pedido saiu ✅"))
        .await
        .unwrap();
    let r = &fakes.requests(PROVIDER)[0];
    assert_eq!(r.form_value("type").as_deref(), Some("unicode"));
    assert_eq!(r.form_value("from").as_deref(), Some("447700900111"));
    assert_eq!(
        r.form_value("text").as_deref(),
        Some("Olá, João! Seu pedido saiu ✅")
    );
}

#[tokio::test]
async fn a_long_text_is_named_by_its_first_part() {
    let fakes = Fakes::start().await;
    let long = "a".repeat(400); // three parts of 153 characters
    let accepted = provider(&fakes)
        .send(Uuid::new_v4(), TO, &text(&long))
        .await
        .unwrap();
    let r = &fakes.requests(PROVIDER)[0];
    let first = pombo_fakes::vonage::message_id_for(&r.body, 0);
    assert_ne!(first, pombo_fakes::vonage::message_id_for(&r.body, 1));
    assert_eq!(accepted.provider_message_id, Some(first));
}

#[tokio::test]
async fn rate_limit_is_retryable_after_the_given_delay() {
    let fakes = Fakes::start().await;
    fakes.fail_next(PROVIDER, 1, Fault::rate_limited(5));
    let err = provider(&fakes)
        .send(Uuid::new_v4(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retryable {
            message: "vonage answered 429 Too Many Requests: status 1: injected fault".into(),
            code: Some("1".into()),
            retry_after: Some(Duration::from_secs(5)),
        }
    );
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next(PROVIDER, 1, Fault::status(503));
    let err = provider(&fakes)
        .send(Uuid::new_v4(), TO, &text("hi"))
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
    assert_eq!(err.code(), Some("5"));
}

#[tokio::test]
async fn refusals_in_a_200_are_classified_by_status() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    let err = p
        .send(Uuid::new_v4(), "+447700900029", &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message:
                "vonage refused the message: status 29: Non White-listed Destination - rejected"
                    .into(),
            code: Some("29".into()),
        }
    );
    for (to, code) in [("+447700900006", "6"), ("+447700900007", "7")] {
        let err = p.send(Uuid::new_v4(), to, &text("hi")).await.unwrap_err();
        assert!(err.is_permanent(), "{to}: {err:?}");
        assert_eq!(err.code(), Some(code), "{to}");
    }
}

#[tokio::test]
async fn bad_credentials_are_permanent() {
    let fakes = Fakes::start().await;
    let s = VonageSettings {
        api_secret: Secret::new("wrong"),
        ..settings(&fakes)
    };
    let err = Vonage::new(&s, crate::http())
        .unwrap()
        .send(Uuid::new_v4(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "vonage refused the message: status 4: Bad Credentials".into(),
            code: Some("4".into()),
        }
    );
}

#[tokio::test]
async fn an_answer_that_is_not_vonages_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    let t = text("hi");
    crate::foreign_answers_leave_no_trace(&fakes, PROVIDER, || p.send(Uuid::new_v4(), TO, &t))
        .await;
}
