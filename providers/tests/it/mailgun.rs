//! Contract tests of the `mailgun` provider against its fake.

use std::time::Duration;

use base64::Engine as _;
use pombo_contract::config::Secret;
use pombo_fakes::{Fakes, Fault};
use pombo_providers::MailgunSettings;
use pombo_providers::{
    Attachment, DeliveryError,
    mailgun::send::{Mailgun, PROVIDER},
};
use uuid::Uuid;

/// The shape of Mailgun's classic private keys (this one is from Mailgun's own examples).
const KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
const DOMAIN: &str = "mg.pombo.test";

fn settings(fakes: &Fakes, key: &str, domain: &str) -> MailgunSettings {
    MailgunSettings {
        webhook_signing_key: None,
        api_key: Secret::new(key),
        domain: domain.into(),
        from: "Pombo Alerts <alerts@mg.pombo.test>".into(),
        base_url: fakes.base_url(PROVIDER),
    }
}

fn provider(fakes: &Fakes) -> Mailgun {
    Mailgun::new(&settings(fakes, KEY, DOMAIN), crate::http()).unwrap()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn sends_the_documented_request_and_returns_the_id_as_events_name_it() {
    let fakes = Fakes::start().await;
    let id = Uuid::new_v4();
    let accepted = provider(&fakes)
        .send(
            id,
            "ana@example.com",
            &crate::email(Some("Hi Ana"), Some("<p>Hi Ana & co</p>")),
        )
        .await
        .unwrap();

    let r = &crate::only_request(&fakes, PROVIDER);
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v3/mg.pombo.test/messages");
    assert_eq!(r.query, None);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("api:{KEY}"));
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
            ("from", "Pombo Alerts <alerts@mg.pombo.test>"),
            ("to", "ana@example.com"),
            ("subject", "Your order shipped"),
            ("text", "Hi Ana"),
            ("html", "<p>Hi Ana & co</p>"),
            ("v:pombo_notification_id", &id.to_string()),
        ])
    );

    // The fake answered `<YYYYMMDDhhmmss.<token>@mg.pombo.test>`; the provider keeps it
    // without the angle brackets, as Mailgun's events name the message.
    let got = accepted.provider_message_id.expect("an id");
    let (stamp, rest) = got.split_once('.').expect("a dotted id");
    assert_eq!(stamp.len(), 14, "{got}");
    assert!(stamp.bytes().all(|b| b.is_ascii_digit()), "{got}");
    assert_eq!(
        rest,
        format!(
            "{}@mg.pombo.test",
            pombo_fakes::mailgun::message_token_for(&r.body)
        )
    );
}

#[tokio::test]
async fn text_only_and_html_only() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
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
    assert_eq!(requests[0].form_value("text").as_deref(), Some("Only text"));
    assert_eq!(requests[0].form_value("html"), None);
    assert_eq!(requests[1].form_value("text"), None);
    assert_eq!(
        requests[1].form_value("html").as_deref(),
        Some("<b>Only html</b>")
    );
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let fakes = Fakes::start().await;
    fakes.fail_next(PROVIDER, 1, Fault::rate_limited(9));
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
            message: "mailgun answered 429 Too Many Requests: injected fault".into(),
            code: Some("429".into()),
            retry_after: Some(Duration::from_secs(9)),
        }
    );
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next(PROVIDER, 1, Fault::status(500));
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
            message: "mailgun answered 500 Internal Server Error: injected fault".into(),
            code: Some("500".into()),
            retry_after: None,
        }
    );
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
            message: "mailgun answered 400 Bad Request: to parameter is not a valid address. please check documentation"
                .into(),
            code: Some("400".into()),
        }
    );
}

#[tokio::test]
async fn a_bad_api_key_is_permanent_and_not_echoed() {
    let fakes = Fakes::start().await;
    let p = Mailgun::new(&settings(&fakes, "wrong-key", DOMAIN), crate::http()).unwrap();
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
            // Mailgun's plain-text `Forbidden` says no more than the status, and a plain-text
            // body could be anyone's: only its JSON error body is quoted.
            message: "HTTP 401 Unauthorized from mailgun".into(),
            code: Some("401".into()),
        }
    );
}

#[tokio::test]
async fn an_unknown_domain_is_permanent() {
    let fakes = Fakes::start().await;
    let p = Mailgun::new(&settings(&fakes, KEY, "unknown.test"), crate::http()).unwrap();
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
            message: "mailgun answered 404 Not Found: Domain not found: unknown.test".into(),
            code: Some("404".into()),
        }
    );
    assert_eq!(
        fakes.requests(PROVIDER)[0].path,
        "/v3/unknown.test/messages"
    );
}

#[tokio::test]
async fn a_200_without_an_id_is_not_taken_for_a_queued_email() {
    // Mailgun answers `200 Mailgun Magnificent API` to a request it routed nowhere:
    // nothing was queued, so this must not pass for a sent email.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let _ = socket.read(&mut buf).await;
        let body = "Mailgun Magnificent API";
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
    });
    let s = MailgunSettings {
        webhook_signing_key: None,
        api_key: Secret::new(KEY),
        domain: DOMAIN.into(),
        from: "alerts@mg.pombo.test".into(),
        base_url: format!("http://{addr}"),
    };
    let err = Mailgun::new(&s, crate::http())
        .unwrap()
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("200"));
    // Whatever answered is not Mailgun's API: its page is not quoted.
    assert_eq!(
        err.message(),
        "HTTP 200 OK from mailgun without a message id (check `base_url` and `domain`)"
    );
}

#[tokio::test]
async fn an_unparsable_sender_is_a_setup_error() {
    let fakes = Fakes::start().await;
    for from in ["not an address", "Name <no-at-sign>", ""] {
        let mut s = settings(&fakes, KEY, DOMAIN);
        s.from = from.into();
        let err = Mailgun::new(&s, crate::http())
            .err()
            .unwrap_or_else(|| panic!("`{from}` was accepted"));
        assert!(err.message.starts_with("mailgun: `from`"), "{err}");
    }
}

#[tokio::test]
async fn attachments_switch_the_request_to_multipart_with_file_parts() {
    let fakes = Fakes::start().await;
    let id = Uuid::new_v4();
    // The fake records bodies as text: bytes that are valid UTF-8 (a NUL, control
    // characters, CRLF, a multi-byte character) survive it exactly.
    let files = [
        Attachment {
            filename: "relatório.csv".into(),
            content_type: "text/csv".into(),
            bytes: "a,b\r\n1,\u{0}\u{1}ção\r\n".as_bytes().to_vec(),
        },
        Attachment {
            filename: "notes.txt".into(),
            content_type: "text/plain".into(),
            bytes: b"--not-a-boundary\r\n\r\nstill the file".to_vec(),
        },
    ];
    let accepted = provider(&fakes)
        .send_with_attachments(
            id,
            "ana@example.com",
            &crate::email(Some("Hi Ana"), Some("<p>Hi Ana</p>")),
            &files,
        )
        .await
        .unwrap();

    let r = &crate::only_request(&fakes, PROVIDER);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("multipart/form-data; boundary="),
        "{:?}",
        r.header("content-type")
    );
    // The fake parsed the fields and queued the message.
    let token = pombo_fakes::mailgun::message_token_for(&r.body);
    assert!(
        accepted
            .provider_message_id
            .as_deref()
            .unwrap()
            .contains(&token),
        "{accepted:?}"
    );
    let fields: Vec<(String, String)> = pombo_fakes::mailgun::form_parts(r)
        .into_iter()
        .filter(|p| p.filename.is_none())
        .map(|p| (p.name, String::from_utf8(p.bytes).unwrap()))
        .collect();
    assert_eq!(
        fields,
        pairs(&[
            ("from", "Pombo Alerts <alerts@mg.pombo.test>"),
            ("to", "ana@example.com"),
            ("subject", "Your order shipped"),
            ("text", "Hi Ana"),
            ("html", "<p>Hi Ana</p>"),
            ("v:pombo_notification_id", &id.to_string()),
        ])
    );
    let sent = pombo_fakes::mailgun::attachments(r);
    assert_eq!(sent.len(), 2);
    for (sent, file) in sent.iter().zip(&files) {
        assert_eq!(sent.filename.as_deref(), Some(file.filename.as_str()));
        assert_eq!(
            sent.content_type.as_deref(),
            Some(file.content_type.as_str())
        );
        assert_eq!(sent.bytes, file.bytes);
    }
}

#[tokio::test]
async fn an_answer_that_is_not_mailguns_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    let email = crate::email(Some("Hi"), None);
    crate::foreign_answers_leave_no_trace(&fakes, PROVIDER, || {
        p.send(Uuid::new_v4(), "ana@example.com", &email)
    })
    .await;
}
