//! Contract tests of the `twilio` provider against its fake.

use std::time::Duration;

use base64::Engine as _;
use pombo_contract::{config::Secret, content::TextContent};
use pombo_fakes::{Fakes, Fault};
use pombo_providers::TwilioSettings;
use pombo_providers::{
    DeliveryError,
    twilio::send::{PROVIDER, Twilio},
};
use uuid::Uuid;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "fedcba9876543210fedcba9876543210";
const SERVICE: &str = "MG00112233445566778899aabbccddeeff";
/// Twilio's magic sender that passes every check.
const FROM: &str = "+15005550006";
const TO: &str = "+5511987654321";

fn settings(fakes: &Fakes) -> TwilioSettings {
    TwilioSettings {
        account_sid: SID.into(),
        auth_token: Secret::new(TOKEN),
        from: Some(FROM.into()),
        messaging_service_sid: None,
        status_callback_url: Some("https://pombo.example.com/v1/callbacks/twilio".into()),
        base_url: fakes.base_url(PROVIDER),
    }
}

fn provider(fakes: &Fakes) -> Twilio {
    Twilio::new(&settings(fakes), crate::http()).unwrap()
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
async fn sends_the_documented_form_and_returns_the_sid() {
    let fakes = Fakes::start().await;
    let accepted = provider(&fakes)
        .send(
            Uuid::new_v4(),
            TO,
            &text("Your code is 123456 & expires soon"),
        )
        .await
        .unwrap();

    let r = &crate::only_request(&fakes, PROVIDER);
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
    assert_eq!(r.query, None);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        r.form(),
        pairs(&[
            ("To", TO),
            ("From", FROM),
            ("Body", "Your code is 123456 & expires soon"),
            (
                "StatusCallback",
                "https://pombo.example.com/v1/callbacks/twilio"
            ),
        ])
    );
    let sid = pombo_fakes::twilio::sid_for(&r.body);
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
    assert_eq!(accepted.provider_message_id, Some(sid));
}

#[tokio::test]
async fn a_messaging_service_replaces_from_and_the_callback_is_optional() {
    let fakes = Fakes::start().await;
    let s = TwilioSettings {
        from: None,
        messaging_service_sid: Some(SERVICE.into()),
        status_callback_url: None,
        ..settings(&fakes)
    };
    let accepted = Twilio::new(&s, crate::http())
        .unwrap()
        .send(Uuid::new_v4(), TO, &text("Olá, Ana! Pedido enviado ✅"))
        .await
        .unwrap();

    let r = &fakes.requests(PROVIDER)[0];
    assert_eq!(
        r.form(),
        pairs(&[
            ("To", TO),
            ("MessagingServiceSid", SERVICE),
            ("Body", "Olá, Ana! Pedido enviado ✅"),
        ])
    );
    assert_eq!(
        accepted.provider_message_id,
        Some(pombo_fakes::twilio::sid_for(&r.body))
    );
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
            message: "twilio answered 429 Too Many Requests: error 20429: injected fault".into(),
            code: Some("20429".into()),
            retry_after: Some(Duration::from_secs(5)),
        }
    );
    // The next attempt goes through.
    provider(&fakes)
        .send(Uuid::new_v4(), TO, &text("hi"))
        .await
        .unwrap();
    assert_eq!(fakes.requests(PROVIDER).len(), 2);
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
    assert_eq!(err.code(), Some("20503"));
}

#[tokio::test]
async fn magic_recipients_are_permanent_with_twilios_code() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    for (to, code) in [
        ("+15005550001", "21211"),
        ("+15005550002", "21612"),
        ("+15005550003", "21408"),
        ("+15005550004", "21610"),
        ("+15005550009", "21614"),
    ] {
        let err = p.send(Uuid::new_v4(), to, &text("hi")).await.unwrap_err();
        assert!(err.is_permanent(), "{to}: {err:?}");
        assert_eq!(err.code(), Some(code), "{to}");
        assert!(
            err.message()
                .starts_with("twilio answered 400 Bad Request: error "),
            "{err}"
        );
        // The recipient's number stays out of the message.
        assert!(!err.message().contains(to), "{err}");
    }
    assert_eq!(fakes.requests(PROVIDER).len(), 5);
}

#[tokio::test]
async fn invalid_number_message_is_twilios_with_the_number_redacted() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes)
        .send(Uuid::new_v4(), "+15005550001", &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "twilio answered 400 Bad Request: error 21211: The 'To' number [recipient] is not a valid phone number.".into(),
            code: Some("21211".into()),
        }
    );
}

#[tokio::test]
async fn bad_credentials_are_permanent() {
    let fakes = Fakes::start().await;
    let s = TwilioSettings {
        auth_token: Secret::new("not-the-token"),
        ..settings(&fakes)
    };
    let err = Twilio::new(&s, crate::http())
        .unwrap()
        .send(Uuid::new_v4(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "twilio answered 401 Unauthorized: error 20003: Authenticate".into(),
            code: Some("20003".into()),
        }
    );
    assert!(!err.message().contains("not-the-token"));
}

#[tokio::test]
async fn a_full_sender_queue_is_retryable_and_a_bad_sender_is_not() {
    let fakes = Fakes::start().await;
    let with_from = |from: &str| {
        Twilio::new(
            &TwilioSettings {
                from: Some(from.into()),
                ..settings(&fakes)
            },
            crate::http(),
        )
        .unwrap()
    };
    let err = with_from("+15005550008")
        .send(Uuid::new_v4(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert!(!err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("21611"));

    let err = with_from("+15005550001")
        .send(Uuid::new_v4(), TO, &text("hi"))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("21212"));
}

#[tokio::test]
async fn an_answer_that_is_not_twilios_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    let t = text("hi");
    crate::foreign_answers_leave_no_trace(&fakes, PROVIDER, || p.send(Uuid::new_v4(), TO, &t))
        .await;
}
