//! Contract tests of the `sendgrid` provider against its fake.

use std::time::Duration;

use pombo_contract::config::Secret;
use pombo_fakes::{Fakes, Fault};
use pombo_providers::SendgridSettings;
use pombo_providers::{
    Attachment, DeliveryError,
    sendgrid::send::{PROVIDER, Sendgrid},
};
use serde_json::json;
use uuid::Uuid;

const KEY: &str = "SG.pombo-test.key";

fn settings(fakes: &Fakes, key: &str, from: &str) -> SendgridSettings {
    SendgridSettings {
        webhook_public_key: None,
        api_key: Secret::new(key),
        from: from.into(),
        base_url: fakes.base_url(PROVIDER),
    }
}

fn provider(fakes: &Fakes) -> Sendgrid {
    Sendgrid::new(
        &settings(fakes, KEY, "Pombo Alerts <alerts@pombo.test>"),
        crate::http(),
    )
    .unwrap()
}

#[tokio::test]
async fn sends_the_documented_request_and_returns_x_message_id() {
    let fakes = Fakes::start().await;
    let id = Uuid::new_v4();
    let accepted = provider(&fakes)
        .send(
            id,
            "ana@example.com",
            &crate::email(Some("Hi Ana"), Some("<p>Hi Ana</p>")),
        )
        .await
        .unwrap();

    let r = &crate::only_request(&fakes, PROVIDER);
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v3/mail/send");
    assert_eq!(r.query, None);
    assert_eq!(r.header("authorization"), Some("Bearer SG.pombo-test.key"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({
            "personalizations": [{
                "to": [{ "email": "ana@example.com" }],
                "custom_args": { "pombo_notification_id": id.to_string() },
            }],
            "from": { "email": "alerts@pombo.test", "name": "Pombo Alerts" },
            "subject": "Your order shipped",
            "content": [
                { "type": "text/plain", "value": "Hi Ana" },
                { "type": "text/html", "value": "<p>Hi Ana</p>" },
            ],
        })
    );
    // Exactly the X-Message-Id the fake answered for this body.
    assert_eq!(
        accepted.provider_message_id,
        Some(pombo_fakes::sendgrid::message_id_for(&r.body))
    );
}

#[tokio::test]
async fn text_only_and_html_only_and_a_bare_sender() {
    let fakes = Fakes::start().await;
    let p = Sendgrid::new(&settings(&fakes, KEY, "alerts@pombo.test"), crate::http()).unwrap();
    p.send(
        Uuid::new_v4(),
        "ana@example.com",
        &crate::email(Some("Only text"), None),
    )
    .await
    .unwrap();
    p.send(
        Uuid::new_v4(),
        "ana@example.com",
        &crate::email(None, Some("<b>Only html</b>")),
    )
    .await
    .unwrap();

    let requests = fakes.requests(PROVIDER);
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].json()["from"],
        json!({ "email": "alerts@pombo.test" })
    );
    assert_eq!(
        requests[0].json()["content"],
        json!([{ "type": "text/plain", "value": "Only text" }])
    );
    assert_eq!(
        requests[1].json()["content"],
        json!([{ "type": "text/html", "value": "<b>Only html</b>" }])
    );
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let fakes = Fakes::start().await;
    // The fake's 429 also carries X-RateLimit-Reset 60 s ahead: Retry-After wins.
    fakes.fail_next(PROVIDER, 1, Fault::rate_limited(17));
    let err = provider(&fakes)
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retryable {
            message: "sendgrid answered 429 Too Many Requests: injected fault".into(),
            code: Some("429".into()),
            retry_after: Some(Duration::from_secs(17)),
        }
    );
}

#[tokio::test]
async fn rate_limit_without_retry_after_waits_for_x_ratelimit_reset() {
    let fakes = Fakes::start().await;
    fakes.fail_next(PROVIDER, 1, Fault::status(429));
    let err = provider(&fakes)
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    let DeliveryError::Retryable {
        retry_after: Some(wait),
        ..
    } = err
    else {
        panic!("expected a retryable error with a delay, got {err:?}");
    };
    assert!(
        wait <= Duration::from_secs(60) && wait >= Duration::from_secs(58),
        "{wait:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next(PROVIDER, 1, Fault::status(503));
    let err = provider(&fakes)
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retryable {
            message: "sendgrid answered 503 Service Unavailable: injected fault".into(),
            code: Some("503".into()),
            retry_after: None,
        }
    );
    assert_eq!(fakes.requests(PROVIDER).len(), 1);
}

#[tokio::test]
async fn an_invalid_recipient_is_permanent() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes)
        .send(
            Uuid::new_v4(),
            "bounce@invalid.test",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "sendgrid answered 400 Bad Request: personalizations.0.to.0.email: Does not contain a valid address."
                .into(),
            code: Some("personalizations.0.to.0.email".into()),
        }
    );
    // The recipient's address stays out of the error.
    assert!(!err.message().contains("bounce@"));
}

#[tokio::test]
async fn a_bad_api_key_is_permanent_and_not_echoed() {
    let fakes = Fakes::start().await;
    let p = Sendgrid::new(
        &settings(&fakes, "not-a-sendgrid-key", "alerts@pombo.test"),
        crate::http(),
    )
    .unwrap();
    let err = p
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "sendgrid answered 401 Unauthorized: The provided authorization grant is invalid, expired, or revoked"
                .into(),
            code: Some("401".into()),
        }
    );
    assert_eq!(
        fakes.requests(PROVIDER)[0].header("authorization"),
        Some("Bearer not-a-sendgrid-key")
    );
}

#[tokio::test]
async fn an_unverified_sender_is_permanent() {
    let fakes = Fakes::start().await;
    let p = Sendgrid::new(
        &settings(&fakes, KEY, "Shop <shop@unverified.test>"),
        crate::http(),
    )
    .unwrap();
    let err = p
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("from"));
    assert!(
        err.message().starts_with(
            "sendgrid answered 403 Forbidden: from: The from address does not match a verified Sender Identity."
        ),
        "{err}"
    );
}

#[tokio::test]
async fn an_unparsable_sender_is_a_setup_error() {
    let fakes = Fakes::start().await;
    for from in ["not an address", "Name <no-at-sign>", ""] {
        let err = Sendgrid::new(&settings(&fakes, KEY, from), crate::http())
            .err()
            .unwrap_or_else(|| panic!("`{from}` was accepted"));
        assert!(err.message.starts_with("sendgrid: `from`"), "{err}");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let s = SendgridSettings {
        webhook_public_key: None,
        api_key: Secret::new(KEY),
        from: "alerts@pombo.test".into(),
        base_url: "http://127.0.0.1:1/".into(),
    };
    let err = Sendgrid::new(&s, crate::http())
        .unwrap()
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert!(!err.is_permanent(), "{err:?}");
    assert!(!err.message().contains(KEY));
}

/// Bytes no text encoding would keep: a NUL, 0xff, a PNG signature.
fn binary() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0".to_vec();
    bytes.extend((0..=255u8).rev());
    bytes
}

#[tokio::test]
async fn attachments_go_as_base64_with_their_name_type_and_disposition() {
    let fakes = Fakes::start().await;
    let files = [
        Attachment {
            filename: "recibo março.png".into(),
            content_type: "image/png".into(),
            bytes: binary(),
        },
        Attachment {
            filename: "notes.txt".into(),
            content_type: "text/plain".into(),
            bytes: b"line 1\r\nline 2".to_vec(),
        },
    ];
    let accepted = provider(&fakes)
        .send_with_attachments(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Your receipt"), None),
            &files,
        )
        .await
        .unwrap();

    let r = &crate::only_request(&fakes, PROVIDER);
    // The fake checked them as SendGrid does (base64 content, a name, a clean type) and
    // accepted the message.
    assert_eq!(
        accepted.provider_message_id,
        Some(pombo_fakes::sendgrid::message_id_for(&r.body))
    );
    assert_eq!(
        r.json()["content"],
        json!([{ "type": "text/plain", "value": "Your receipt" }])
    );
    let sent = pombo_fakes::sendgrid::attachments(r);
    assert_eq!(sent.len(), 2, "{}", r.body);
    for (sent, file) in sent.iter().zip(&files) {
        assert_eq!(sent.filename, file.filename);
        assert_eq!(
            sent.content_type.as_deref(),
            Some(file.content_type.as_str())
        );
        assert_eq!(sent.disposition.as_deref(), Some("attachment"));
        assert_eq!(sent.bytes, file.bytes);
    }
    // Base64 without line breaks, as SendGrid requires.
    assert!(
        !r.json()["attachments"][0]["content"]
            .as_str()
            .unwrap()
            .contains('\n')
    );
}

#[tokio::test]
async fn without_attachments_the_body_has_no_attachments_key() {
    let fakes = Fakes::start().await;
    provider(&fakes)
        .send_with_attachments(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
            &[],
        )
        .await
        .unwrap();
    let requests = fakes.requests(PROVIDER);
    assert_eq!(requests[0].json().get("attachments"), None);
}

#[tokio::test]
async fn an_answer_that_is_not_sendgrids_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    let email = crate::email(Some("Hi"), None);
    crate::foreign_answers_leave_no_trace(&fakes, PROVIDER, || {
        p.send(Uuid::new_v4(), "ana@example.com", &email)
    })
    .await;
}
