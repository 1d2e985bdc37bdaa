//! Contract tests of the `ses` provider (Amazon SES API v2) against its fake, which
//! recomputes every request's SigV4 signature.

use std::time::{Duration, SystemTime};

use pombo_contract::{config::Secret, content::Content};
use pombo_fakes::{
    Fakes, Fault, Recorded,
    ses::{TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, TEST_SESSION_TOKEN},
};
use pombo_providers::{
    Attachment, Client, DeliveryError, Outbound,
    outbound::Trust,
    ses::send::{PROVIDER, Ses},
};
use pombo_providers::{ProviderSettings, SesSettings};
use serde_json::json;
use uuid::Uuid;

fn settings(fakes: &Fakes) -> SesSettings {
    let ProviderSettings::Ses(s) = ses_account(&fakes.base_url(PROVIDER)) else {
        unreachable!("accounts::ses makes an SES account")
    };
    SesSettings {
        from: "Pombo Alerts <alerts@pombo.test>".into(),
        ..s
    }
}

fn provider(fakes: &Fakes) -> Ses {
    Ses::new(&settings(fakes), crate::http()).unwrap()
}

/// Signs the recorded request again, at its own `X-Amz-Date`, with the test secret:
/// the `Authorization` it should have carried.
fn expected_authorization(fakes: &Fakes, r: &Recorded, token: Option<&str>) -> String {
    let at = chrono::NaiveDateTime::parse_from_str(
        r.header("x-amz-date").expect("x-amz-date"),
        "%Y%m%dT%H%M%SZ",
    )
    .unwrap()
    .and_utc();
    let url = format!("http://{}/{PROVIDER}{}", fakes.addr, r.path);
    pombo_fakes::ses::sign_request(
        "POST",
        &url,
        &[("content-type", "application/json")],
        r.body.as_bytes(),
        TEST_SECRET_ACCESS_KEY,
        token,
        SystemTime::from(at),
    )
    .into_iter()
    .find(|(k, _)| k == "authorization")
    .map(|(_, v)| v)
    .expect("an authorization header")
}

#[tokio::test]
async fn sends_the_documented_signed_request_and_returns_the_message_id() {
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
    assert_eq!(r.path, "/v2/email/outbound-emails");
    assert_eq!(r.query, None);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-amz-security-token"), None);
    let date = r.header("x-amz-date").expect("x-amz-date");
    let auth = r.header("authorization").expect("authorization");
    assert!(
        auth.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential={TEST_ACCESS_KEY_ID}/{}/us-east-1/ses/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=",
            &date[..8]
        )),
        "{auth}"
    );
    assert_eq!(auth, expected_authorization(&fakes, r, None));
    assert_eq!(
        r.json(),
        json!({
            "FromEmailAddress": "Pombo Alerts <alerts@pombo.test>",
            "Destination": { "ToAddresses": ["ana@example.com"] },
            "Content": { "Simple": {
                "Subject": { "Data": "Your order shipped", "Charset": "UTF-8" },
                "Body": {
                    "Text": { "Data": "Hi Ana", "Charset": "UTF-8" },
                    "Html": { "Data": "<p>Hi Ana</p>", "Charset": "UTF-8" },
                },
            }},
            "EmailTags": [{ "Name": "pombo_notification_id", "Value": id.to_string() }],
        })
    );
    // Exactly the MessageId the fake answered for this body.
    assert_eq!(
        accepted.provider_message_id,
        Some(pombo_fakes::ses::message_id_for(&r.body))
    );
}

#[tokio::test]
async fn the_provider_enum_sends_email_through_ses() {
    let fakes = Fakes::start().await;
    let settings = ses_account(&fakes.base_url(PROVIDER));
    assert_eq!(settings.kind(), "ses");
    assert_eq!(settings.channel(), pombo_contract::Channel::Email);
    let p = Client::new(&settings, &crate::operator_clients(), Trust::Operator).unwrap();
    let content = Content::Email(crate::email(Some("Hi"), None));
    let accepted = p
        .send(Outbound {
            notification_id: Uuid::new_v4(),
            to: "ana@example.com",
            content: &content,
            attachments: &[],
            unsubscribe: None,
        })
        .await
        .unwrap();
    let r = &fakes.requests(PROVIDER)[0];
    assert_eq!(
        accepted.provider_message_id,
        Some(pombo_fakes::ses::message_id_for(&r.body))
    );
}

#[tokio::test]
async fn temporary_credentials_and_a_configuration_set_are_sent_and_signed() {
    let fakes = Fakes::start().await;
    let s = SesSettings {
        session_token: Some(Secret::new(TEST_SESSION_TOKEN)),
        configuration_set: Some("pombo-events".into()),
        ..settings(&fakes)
    };
    Ses::new(&s, crate::http())
        .unwrap()
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap();
    let r = &fakes.requests(PROVIDER)[0];
    assert_eq!(r.header("x-amz-security-token"), Some(TEST_SESSION_TOKEN));
    let auth = r.header("authorization").unwrap();
    assert!(
        auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"),
        "{auth}"
    );
    assert_eq!(
        auth,
        expected_authorization(&fakes, r, Some(TEST_SESSION_TOKEN))
    );
    assert_eq!(r.json()["ConfigurationSetName"], "pombo-events");
    assert_eq!(
        r.json()["Content"]["Simple"]["Body"],
        json!({ "Text": { "Data": "Hi", "Charset": "UTF-8" } })
    );
}

#[tokio::test]
async fn html_only_and_a_non_ascii_sender_name() {
    let fakes = Fakes::start().await;
    let s = SesSettings {
        from: "Conceição <alerts@pombo.test>".into(),
        ..settings(&fakes)
    };
    Ses::new(&s, crate::http())
        .unwrap()
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(None, Some("<b>Olá</b>")),
        )
        .await
        .unwrap();
    let body = fakes.requests(PROVIDER)[0].json();
    assert_eq!(
        body["FromEmailAddress"],
        "=?UTF-8?B?Q29uY2Vpw6fDo28=?= <alerts@pombo.test>"
    );
    assert_eq!(
        body["Content"]["Simple"]["Body"],
        json!({ "Html": { "Data": "<b>Olá</b>", "Charset": "UTF-8" } })
    );
}

#[tokio::test]
async fn attachments_go_in_base64_through_the_provider_enum() {
    let fakes = Fakes::start().await;
    let settings = ses_account(&fakes.base_url(PROVIDER));
    let p = Client::new(&settings, &crate::operator_clients(), Trust::Operator).unwrap();
    let content = Content::Email(crate::email(Some("Your invoice"), None));
    let files = [Attachment {
        filename: "invoice.pdf".into(),
        content_type: "application/pdf".into(),
        bytes: b"%PDF\x00\xff".to_vec(),
    }];
    p.send(Outbound {
        notification_id: Uuid::new_v4(),
        to: "ana@example.com",
        content: &content,
        attachments: &files,
        unsubscribe: None,
    })
    .await
    .unwrap();
    let r = &fakes.requests(PROVIDER)[0];
    assert_eq!(
        r.json()["Content"]["Simple"]["Attachments"],
        json!([{
            "FileName": "invoice.pdf",
            "ContentType": "application/pdf",
            "ContentDisposition": "ATTACHMENT",
            "RawContent": "JVBERgD/",
        }])
    );
    // The signature covered the attachment too: the fake accepted it.
    assert_eq!(
        r.header("authorization"),
        Some(expected_authorization(&fakes, r, None).as_str())
    );
}

#[tokio::test]
async fn an_email_without_a_body_is_refused_before_sending() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes)
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("  "), None),
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent());
    assert!(fakes.requests(PROVIDER).is_empty());
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let fakes = Fakes::start().await;
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
            message: "ses answered 429 Too Many Requests: TooManyRequestsException: injected fault"
                .into(),
            code: Some("TooManyRequestsException".into()),
            retry_after: Some(Duration::from_secs(17)),
        }
    );
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    fakes.fail_next(PROVIDER, 1, Fault::status(503));
    fakes.fail_next(PROVIDER, 1, Fault::status(500));
    let p = provider(&fakes);
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
        DeliveryError::Retryable {
            message: "ses answered 503 Service Unavailable: ServiceUnavailable: injected fault"
                .into(),
            code: Some("ServiceUnavailable".into()),
            retry_after: None,
        }
    );
    let err = p
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert!(!err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("InternalFailure"));
    assert_eq!(fakes.requests(PROVIDER).len(), 2);
}

#[tokio::test]
async fn message_rejected_is_permanent_with_its_code() {
    let fakes = Fakes::start().await;
    fakes.fail_next(
        PROVIDER,
        1,
        Fault {
            message: "Email address is on the suppression list.".into(),
            ..Fault::status(400)
        },
    );
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
        DeliveryError::Permanent {
            message: "ses answered 400 Bad Request: MessageRejected: Email address is on the suppression list."
                .into(),
            code: Some("MessageRejected".into()),
        }
    );
}

#[tokio::test]
async fn an_unverified_sender_is_rejected_for_good() {
    let fakes = Fakes::start().await;
    let s = SesSettings {
        from: "Shop <shop@unverified.test>".into(),
        ..settings(&fakes)
    };
    let err = Ses::new(&s, crate::http())
        .unwrap()
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
            message: "ses answered 400 Bad Request: MessageRejected: Email address is not verified. The following identities failed the check in region US-EAST-1: shop@unverified.test".into(),
            code: Some("MessageRejected".into()),
        }
    );
}

#[tokio::test]
async fn a_sandboxed_recipient_is_rejected_and_kept_out_of_the_error() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes)
        .send(
            Uuid::new_v4(),
            "Bia@Unverified.test",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("MessageRejected"));
    assert!(err.message().ends_with(": [recipient]"), "{err}");
    assert!(!err.message().to_lowercase().contains("bia@"), "{err}");
}

#[tokio::test]
async fn an_unknown_configuration_set_is_permanent() {
    let fakes = Fakes::start().await;
    let s = SesSettings {
        configuration_set: Some(pombo_fakes::ses::MISSING_CONFIGURATION_SET.into()),
        ..settings(&fakes)
    };
    let err = Ses::new(&s, crate::http())
        .unwrap()
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
            message:
                "ses answered 404 Not Found: NotFoundException: Configuration set <missing> does not exist."
                    .into(),
            code: Some("NotFoundException".into()),
        }
    );
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_by_the_signature_check() {
    let fakes = Fakes::start().await;
    let s = SesSettings {
        secret_access_key: Secret::new("not-the-secret-key"),
        ..settings(&fakes)
    };
    let err = Ses::new(&s, crate::http())
        .unwrap()
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
            message: "ses answered 403 Forbidden: SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            code: Some("SignatureDoesNotMatch".into()),
        }
    );
    // The request carried a signature, never the secret itself.
    let r = &fakes.requests(PROVIDER)[0];
    assert!(r.header("authorization").unwrap().contains("Signature="));
    assert!(
        r.headers
            .values()
            .all(|v| !v.contains("not-the-secret-key"))
    );
}

#[tokio::test]
async fn unknown_credentials_are_permanent() {
    let fakes = Fakes::start().await;
    let s = SesSettings {
        access_key_id: "AKIAUNKNOWNKEY000000".into(),
        ..settings(&fakes)
    };
    let err = Ses::new(&s, crate::http())
        .unwrap()
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
    let s = SesSettings {
        session_token: Some(Secret::new("expired-token")),
        ..settings(&fakes)
    };
    let err = Ses::new(&s, crate::http())
        .unwrap()
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
}

#[tokio::test]
async fn an_unparsable_sender_is_a_setup_error() {
    let fakes = Fakes::start().await;
    for from in ["not an address", "Name <no-at-sign>", ""] {
        let s = SesSettings {
            from: from.into(),
            ..settings(&fakes)
        };
        let err = Ses::new(&s, crate::http())
            .err()
            .unwrap_or_else(|| panic!("`{from}` was accepted"));
        assert!(err.message.starts_with("ses: `from`"), "{err}");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let fakes = Fakes::start().await;
    let s = SesSettings {
        base_url: Some("http://127.0.0.1:1/".into()),
        ..settings(&fakes)
    };
    let err = Ses::new(&s, crate::http())
        .unwrap()
        .send(
            Uuid::new_v4(),
            "ana@example.com",
            &crate::email(Some("Hi"), None),
        )
        .await
        .unwrap_err();
    assert!(!err.is_permanent(), "{err:?}");
    assert!(!err.message().contains(TEST_SECRET_ACCESS_KEY));
}

#[tokio::test]
async fn an_answer_that_is_not_sess_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    let email = crate::email(Some("Hi"), None);
    crate::foreign_answers_leave_no_trace(&fakes, PROVIDER, || {
        p.send(Uuid::new_v4(), "ana@example.com", &email)
    })
    .await;
}

/// The signer the client uses, held to AWS's published Signature Version 4 test suite
/// (`aws-sig-v4-test-suite`: example credentials, region `us-east-1`, service `service`,
/// 2015-08-30T12:36:00Z) rather than to the fake, which signs with the same library and
/// settings and so would agree with a wrong setting.
#[test]
fn the_signer_matches_aws_sigv4_test_vectors() {
    use aws_credential_types::Credentials;
    use pombo_providers::ses::send::{Scope, ToSign, sign_v4};

    const SESSION_TOKEN: &str = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 20150830T123600Z
    let scope = Scope {
        region: "us-east-1",
        service: "service",
    };
    let credential =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    // (case, method, url, headers, body, session token, signed headers, signature)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a [u8],
        Option<&'a str>,
        &'a str,
        &'a str,
    );
    let cases: [Case; 5] = [
        (
            "get-vanilla",
            "GET",
            "https://example.amazonaws.com/",
            &[],
            b"",
            None,
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "get-vanilla-query-order-key-case",
            "GET",
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
            &[],
            b"",
            None,
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        (
            "post-vanilla",
            "POST",
            "https://example.amazonaws.com/",
            &[],
            b"",
            None,
            "host;x-amz-date",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ),
        (
            "post-x-www-form-urlencoded",
            "POST",
            "https://example.amazonaws.com/",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"Param1=value1",
            None,
            "content-type;host;x-amz-date",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        ),
        (
            "get-vanilla-with-session-token",
            "GET",
            "https://example.amazonaws.com/",
            &[],
            b"",
            Some(SESSION_TOKEN),
            "host;x-amz-date;x-amz-security-token",
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
        ),
    ];
    for (case, method, url, headers, body, token, signed, signature) in cases {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "aws-sig-v4-test-suite",
        );
        let out = sign_v4(
            &credentials,
            scope,
            ToSign {
                method,
                url,
                headers,
                body,
            },
            at,
        )
        .unwrap();
        let header = |name: &str| {
            out.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            header("x-amz-date").as_deref(),
            Some("20150830T123600Z"),
            "{case}"
        );
        assert_eq!(header("x-amz-security-token").as_deref(), token, "{case}");
        assert_eq!(
            header("authorization").unwrap(),
            format!("{credential}, SignedHeaders={signed}, Signature={signature}"),
            "{case}"
        );
    }
}

/// The fake's SES account, read as the configuration reads it.
fn ses_account(base_url: &str) -> ProviderSettings {
    serde_json::from_value(pombo_fakes::accounts::ses(base_url)).expect("valid SES settings")
}
