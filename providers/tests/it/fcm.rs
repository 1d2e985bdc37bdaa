//! Contract tests of the `fcm` provider (Firebase Cloud Messaging HTTP v1 with the
//! service-account OAuth flow) against its fake.

use std::{collections::BTreeMap, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pombo_contract::{config::Secret, content::PushContent};
use pombo_fakes::{
    Fakes, Fault, Recorded,
    fcm::{
        SENDER_ID_MISMATCH_TOKEN, TEST_CLIENT_EMAIL, TEST_PROJECT_ID,
        TEST_SERVICE_ACCOUNT_PRIVATE_KEY_PEM, TEST_SERVICE_ACCOUNT_PUBLIC_KEY_PEM,
        THIRD_PARTY_AUTH_ERROR_TOKEN, UNREGISTERED_TOKEN,
    },
};
use pombo_providers::FcmSettings;
use pombo_providers::{DeliveryError, fcm::send::Fcm};
use serde_json::{Value, json};
use uuid::Uuid;

/// A registration token shaped like FCM's.
const TOKEN: &str = "dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx2uMmm3t8V3sVpX1n9u6Shy7zPnAYrO2CkDq1ASNzXX5zOv0QZg1kHzsL0xUqVY6bUWdcW_b4";

/// Another throwaway RSA key (generated once with openssl for this test): not the one the
/// fake knows, so Google's token endpoint refuses assertions it signs.
const UNKNOWN_PRIVATE_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCozGn5+Tm0SHYM
f12Jf+HOsEwdVu2Dy9AQzNoUFA3qTq94AN165kOTcf0RVlWYQ1/e/wpQzXpEfXZ4
pwN8Z7REftJBcgvxPGc59LmJM2WWE8bVuZ3q0eHf5BmruD0OiHYbPqtOVyzyS/Zj
2FFfl/w56YNQVPpSvOoyXfomwUrTpPbhZaMuWHfSczoOVqZxwpd9ahUwqYxGWeTN
zSWG6HBzCrdhMrDJMRNbJOaJ2paYKvIVhhxTrJWI3mboq4eSr452hroEp8iMrRY9
yzWTsbsxIdna4QD9QbgA/c00PfU/a82PV5eAI6+/BuYGZC/wvj4W5CYgQCLrhWHB
k21IDxJHAgMBAAECggEADRphF6B7FD2TvFX0DYUPIvDt16aJ0B31ds26wq2T2Z5m
DJYJ8KJd7dzUB5Erb827FspheJ2at3pYb0viVLk6yx5fypNvIzjMd+PsCx8hlvbO
C9qEIa2ihQi7Mr3zL2T0a2+qne2Hyv85Oc2Znia5fkgG2NOKjaWl4GcJ0LxXHKVP
PoczQN4ekVapFzoRYP0xowjOhBQ8YTDSk0uFbVDtGJ4XROK8h4EhdMIjIkvXzFz3
Bl4CbbJ3KXy91+ID4gSIJT0GfFevk+54XB9LZAjy0ofWSVqhvHrS6uoIeoo08ww3
n97HGLat+bkhUWnFK/Dn9mVk7ifrGrupMlik1gASYQKBgQDecIY3cQszkW8afURb
TDbHnrkaxxJWzeM+woZ9azTpC+FbKf6kfAQ5AV1v9ctI/QiSPWBSEFbeafZWL+fA
G9z0hLcgZyn5SsRUTpk8D/HTj2ia05m8OgBt5EmtjeER7NcJK12TQAvOvPwbgE2M
jmHKSnJCSKLu0etPX6Wo7FOxiQKBgQDCRBCLko975x1LuH+YDRhG4m0ibGeD1SC+
3PnL/syaAty+ZKjjsnAzhnN/4fmGsXjSvn+5XrKy7f/RJs6pCPe65k/3WEZK7qz+
uda3fl1vBYcEqcTqbkjvYTFrienpzRrBTL3Z30DW0qazULF/PBRlvmvATf5cQclg
jCxF/IvBTwKBgQDC2wuYEZzgZaxQJh/1YkQyhiZdALpd9Cn3Vmx9/aXx6IhXVehN
qp4AWePCKi0UGSSjBsUT3mBaobQ7N+fp7/6U7JWG+xhX21k1CU1OwiDzVRMrXeW0
b5LksTChqkHZdAHDdIuabGZrij3G0ZQdZrTfgmupCPxB/P4HICB8Y9nFEQKBgGGV
wV3rVGpgMWYtGuMtiMlqynmlTOZ7dESMSmr/5pVi5LI7bF9c7mHjozdVM3xGwDPU
/+IFQO0DAyN0RBHDcHYRZZARZtYTSRF4FvT75EF13FoqUcGVfsvI3gNwNvF8V3lM
bH36WN7Q2G5xFYidjH2DhysFwsVjQp5eK4tIjoefAoGBAM8aEZEuRVj8/3uKRANC
PZWMtw7s1r4G1xO8167PaaR1UPxuTaQf4l2kErr3rTkIrf7EgPZw4Uv22rqoEaZC
RHeYQM2cfclJt8RzWRqzBjhxi2XkuFAAhfXMu0CRdrymCOl8H3pWUzgjIHDV0hkz
MjQ3/8gb/4ypoSORgcDFaKJn
-----END PRIVATE KEY-----
";

const SEND_PATH: &str = "/v1/projects/pombo-test/messages:send";

fn settings(fakes: &Fakes) -> FcmSettings {
    FcmSettings {
        project_id: TEST_PROJECT_ID.into(),
        client_email: TEST_CLIENT_EMAIL.into(),
        private_key: Secret::new(TEST_SERVICE_ACCOUNT_PRIVATE_KEY_PEM),
        token_uri: format!("{}/token", fakes.base_url("fcm")),
        base_url: fakes.base_url("fcm"),
    }
}

fn provider(fakes: &Fakes) -> Fcm {
    Fcm::new(&settings(fakes), crate::http()).expect("fcm provider")
}

fn content() -> PushContent {
    PushContent {
        title: "Your order shipped".into(),
        body: "It arrives Tuesday".into(),
        data: BTreeMap::new(),
        image_url: None,
    }
}

fn paths(requests: &[Recorded]) -> Vec<&str> {
    requests.iter().map(|r| r.path.as_str()).collect()
}

/// Checks a send request's name shape: `projects/pombo-test/messages/0:<digits>%<16 hex>`.
fn assert_message_name(name: &str) {
    let id = name
        .strip_prefix("projects/pombo-test/messages/0:")
        .unwrap_or_else(|| panic!("unexpected name {name}"));
    let (micros, suffix) = id.split_once('%').expect("FCM ids have a `%`");
    assert!(
        !micros.is_empty() && micros.chars().all(|c| c.is_ascii_digit()),
        "{name}"
    );
    assert!(
        suffix.len() == 16 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
}

#[tokio::test]
async fn sends_with_a_service_account_token() {
    let fakes = Fakes::start().await;
    let fcm = provider(&fakes);
    let mut c = content();
    c.data.insert("order_id".into(), "42".into());
    c.data.insert("kind".into(), "shipping".into());
    c.image_url = Some("https://cdn.example.com/parcel.png".into());

    let accepted = fcm.send(Uuid::new_v4(), TOKEN, &c).await.expect("sent");

    let requests = fakes.requests("fcm");
    assert_eq!(paths(&requests), ["/token", SEND_PATH]);

    // The token exchange: a form with the JWT-bearer grant and an RS256 assertion.
    let token_request = &requests[0];
    assert_eq!(token_request.method, "POST");
    assert_eq!(
        token_request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(token_request.form().len(), 2);
    assert_eq!(
        token_request.form_value("grant_type").as_deref(),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    let assertion = token_request.form_value("assertion").expect("assertion");
    let header = jsonwebtoken::decode_header(&assertion).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[format!("{}/token", fakes.base_url("fcm"))]);
    validation.set_issuer(&[TEST_CLIENT_EMAIL]);
    let claims = jsonwebtoken::decode::<Value>(
        &assertion,
        &DecodingKey::from_rsa_pem(TEST_SERVICE_ACCOUNT_PUBLIC_KEY_PEM.as_bytes()).unwrap(),
        &validation,
    )
    .expect("the assertion verifies with the service account's public key")
    .claims;
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/firebase.messaging"
    );
    let iat = claims["iat"].as_i64().unwrap();
    assert!(
        (iat - chrono::Utc::now().timestamp()).abs() < 30,
        "iat {iat}"
    );
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 3600);

    // The send: bearer token from the exchange, the documented message.
    let send = &requests[1];
    assert_eq!(send.method, "POST");
    assert_eq!(send.header("content-type"), Some("application/json"));
    let auth = send.header("authorization").unwrap();
    assert!(auth.starts_with("Bearer ya29."), "{auth}");
    assert_eq!(
        send.json(),
        json!({"message": {
            "token": TOKEN,
            "notification": {
                "title": "Your order shipped",
                "body": "It arrives Tuesday",
                "image": "https://cdn.example.com/parcel.png",
            },
            "data": {"kind": "shipping", "order_id": "42"},
        }})
    );
    let name = accepted.provider_message_id.expect("message name");
    assert_message_name(&name);
}

#[tokio::test]
async fn a_plain_message_has_no_data_or_image() {
    let fakes = Fakes::start().await;
    provider(&fakes)
        .send(Uuid::new_v4(), TOKEN, &content())
        .await
        .unwrap();
    let requests = fakes.requests("fcm");
    assert_eq!(
        requests[1].json(),
        json!({"message": {
            "token": TOKEN,
            "notification": {"title": "Your order shipped", "body": "It arrives Tuesday"},
        }})
    );
}

#[tokio::test]
async fn the_access_token_is_reused() {
    let fakes = Fakes::start().await;
    let fcm = provider(&fakes);
    let first = fcm.send(Uuid::new_v4(), TOKEN, &content()).await.unwrap();
    let second = fcm.send(Uuid::new_v4(), TOKEN, &content()).await.unwrap();
    let requests = fakes.requests("fcm");
    assert_eq!(paths(&requests), ["/token", SEND_PATH, SEND_PATH]);
    assert_eq!(
        requests[1].header("authorization"),
        requests[2].header("authorization")
    );
    assert_ne!(first.provider_message_id, second.provider_message_id);
}

#[tokio::test]
async fn concurrent_sends_share_one_token_exchange() {
    let fakes = Fakes::start().await;
    let fcm = provider(&fakes);
    let c = content();
    let sends = (0..5).map(|_| fcm.send(Uuid::new_v4(), TOKEN, &c));
    for result in futures::future::join_all(sends).await {
        result.expect("sent");
    }
    let requests = fakes.requests("fcm");
    assert_eq!(requests.iter().filter(|r| r.path == "/token").count(), 1);
    assert_eq!(requests.iter().filter(|r| r.path == SEND_PATH).count(), 5);
}

#[tokio::test]
async fn quota_exceeded_is_retryable_after_the_delay_asked() {
    let fakes = Fakes::start().await;
    let fcm = provider(&fakes);
    fcm.send(Uuid::new_v4(), TOKEN, &content()).await.unwrap(); // token cached
    fakes.fail_next("fcm", 1, Fault::rate_limited(7));

    let err = fcm
        .send(Uuid::new_v4(), TOKEN, &content())
        .await
        .unwrap_err();

    assert_eq!(
        paths(&fakes.requests("fcm")),
        ["/token", SEND_PATH, SEND_PATH]
    );
    match err {
        DeliveryError::Retryable {
            code, retry_after, ..
        } => {
            assert_eq!(code.as_deref(), Some("QUOTA_EXCEEDED"));
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
        other => panic!("expected retryable, got {other:?}"),
    }
}

#[tokio::test]
async fn unavailable_and_internal_are_retryable() {
    let fakes = Fakes::start().await;
    let fcm = provider(&fakes);
    fcm.send(Uuid::new_v4(), TOKEN, &content()).await.unwrap();
    for (status, code) in [(503, "UNAVAILABLE"), (500, "INTERNAL")] {
        fakes.fail_next("fcm", 1, Fault::status(status));
        let err = fcm
            .send(Uuid::new_v4(), TOKEN, &content())
            .await
            .unwrap_err();
        match err {
            DeliveryError::Retryable {
                code: c,
                retry_after,
                ..
            } => {
                assert_eq!(c.as_deref(), Some(code));
                assert_eq!(retry_after, None);
            }
            other => panic!("{status}: expected retryable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_unregistered_token_is_permanent() {
    let fakes = Fakes::start().await;
    let err = provider(&fakes)
        .send(Uuid::new_v4(), UNREGISTERED_TOKEN, &content())
        .await
        .unwrap_err();
    match &err {
        DeliveryError::Permanent { code, message } => {
            assert_eq!(code.as_deref(), Some("UNREGISTERED"));
            assert!(message.contains("404"), "{message}");
            assert!(
                !message.contains(UNREGISTERED_TOKEN),
                "no token in messages: {message}"
            );
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    assert_eq!(paths(&fakes.requests("fcm")), ["/token", SEND_PATH]);
}

#[tokio::test]
async fn other_documented_refusals_are_permanent_and_not_retried() {
    let fakes = Fakes::start().await;
    let fcm = provider(&fakes);
    let cases = [
        (SENDER_ID_MISMATCH_TOKEN, "SENDER_ID_MISMATCH"),
        (THIRD_PARTY_AUTH_ERROR_TOKEN, "THIRD_PARTY_AUTH_ERROR"),
        ("too-short-to-be-a-token", "INVALID_ARGUMENT"),
    ];
    for (token, code) in cases {
        let err = fcm
            .send(Uuid::new_v4(), token, &content())
            .await
            .unwrap_err();
        assert!(err.is_permanent(), "{code}: {err:?}");
        assert_eq!(err.code(), Some(code));
    }
    // One token exchange, one request per send: a 401 THIRD_PARTY_AUTH_ERROR is about the
    // APNs/Web Push credentials, not the access token, so it is not retried.
    assert_eq!(
        paths(&fakes.requests("fcm")),
        ["/token", SEND_PATH, SEND_PATH, SEND_PATH]
    );
}

#[tokio::test]
async fn an_unknown_service_account_key_is_permanent() {
    let fakes = Fakes::start().await;
    let mut s = settings(&fakes);
    s.private_key = Secret::new(UNKNOWN_PRIVATE_KEY_PEM);
    let fcm = Fcm::new(&s, crate::http()).unwrap();

    let err = fcm
        .send(Uuid::new_v4(), TOKEN, &content())
        .await
        .unwrap_err();

    match &err {
        DeliveryError::Permanent { code, message } => {
            assert_eq!(code.as_deref(), Some("invalid_grant"));
            assert!(message.contains("Invalid JWT Signature"), "{message}");
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    assert_eq!(
        paths(&fakes.requests("fcm")),
        ["/token"],
        "no send without a token"
    );
}

#[tokio::test]
async fn a_token_endpoint_outage_is_retryable_and_the_next_send_recovers() {
    let fakes = Fakes::start().await;
    let fcm = provider(&fakes);
    fakes.fail_next("fcm", 1, Fault::status(503));

    let err = fcm
        .send(Uuid::new_v4(), TOKEN, &content())
        .await
        .unwrap_err();
    assert!(!err.is_permanent(), "{err:?}");
    assert_eq!(paths(&fakes.requests("fcm")), ["/token"]);

    fcm.send(Uuid::new_v4(), TOKEN, &content())
        .await
        .expect("recovers");
    assert_eq!(
        paths(&fakes.requests("fcm")),
        ["/token", "/token", SEND_PATH]
    );
}

#[tokio::test]
async fn a_refused_access_token_is_replaced_once() {
    let fakes = Fakes::start().await;
    let fcm = provider(&fakes);
    fcm.send(Uuid::new_v4(), TOKEN, &content()).await.unwrap();
    // The cached token is refused (401 UNAUTHENTICATED, as for an expired one).
    fakes.fail_next("fcm", 1, Fault::status(401));

    let accepted = fcm
        .send(Uuid::new_v4(), TOKEN, &content())
        .await
        .expect("sent");

    let requests = fakes.requests("fcm");
    assert_eq!(
        paths(&requests),
        ["/token", SEND_PATH, SEND_PATH, "/token", SEND_PATH]
    );
    assert_eq!(
        requests[1].header("authorization"),
        requests[2].header("authorization")
    );
    assert_ne!(
        requests[2].header("authorization"),
        requests[4].header("authorization"),
        "the retry uses the new token"
    );
    assert_eq!(requests[2].body, requests[4].body);
    assert_message_name(&accepted.provider_message_id.unwrap());
}

/// A token endpoint of our own that hands out access tokens the FCM fake never issued.
async fn foreign_token_endpoint() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Read up to the end of the request (headers and the small form body).
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let body = r#"{"access_token":"ya29.not-issued-by-the-fake","expires_in":3599,"token_type":"Bearer"}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/token")
}

#[tokio::test]
async fn a_token_refused_twice_is_permanent() {
    let fakes = Fakes::start().await;
    let mut s = settings(&fakes);
    s.token_uri = foreign_token_endpoint().await;
    let fcm = Fcm::new(&s, crate::http()).unwrap();

    let err = fcm
        .send(Uuid::new_v4(), TOKEN, &content())
        .await
        .unwrap_err();

    match &err {
        DeliveryError::Permanent { code, message } => {
            assert_eq!(code.as_deref(), Some("UNAUTHENTICATED"));
            assert!(message.contains("401"), "{message}");
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    let requests = fakes.requests("fcm");
    assert_eq!(
        paths(&requests),
        [SEND_PATH, SEND_PATH],
        "one retry, no more"
    );
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer ya29.not-issued-by-the-fake")
    );
}

#[test]
fn a_key_that_does_not_parse_is_a_setup_error() {
    let fakes_base = "http://127.0.0.1:9/fcm";
    let s = FcmSettings {
        project_id: TEST_PROJECT_ID.into(),
        client_email: TEST_CLIENT_EMAIL.into(),
        private_key: Secret::new(
            "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
        ),
        token_uri: format!("{fakes_base}/token"),
        base_url: fakes_base.into(),
    };
    let err = Fcm::new(&s, crate::http()).err().expect("setup error");
    assert!(err.message.contains("private_key"), "{err}");
    assert!(
        !err.message.contains("not a key"),
        "the key stays out of messages: {err}"
    );
}

#[tokio::test]
async fn a_key_pasted_with_escaped_newlines_works() {
    let fakes = Fakes::start().await;
    let mut s = settings(&fakes);
    // As in the service account's JSON file, copied without decoding the string.
    s.private_key = Secret::new(TEST_SERVICE_ACCOUNT_PRIVATE_KEY_PEM.replace('\n', "\\n"));
    Fcm::new(&s, crate::http())
        .unwrap()
        .send(Uuid::new_v4(), TOKEN, &content())
        .await
        .expect("sent");
}

#[tokio::test]
async fn an_answer_that_is_not_googles_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    let c = content();
    // In place of the token endpoint's answer, then of messages:send's.
    crate::foreign_answers_leave_no_trace(&fakes, "fcm", || p.send(Uuid::new_v4(), TOKEN, &c))
        .await;
    p.send(Uuid::new_v4(), TOKEN, &c).await.expect("sent");
    crate::foreign_answers_leave_no_trace(&fakes, "fcm", || p.send(Uuid::new_v4(), TOKEN, &c))
        .await;
    assert_eq!(
        paths(&fakes.requests("fcm"))
            .iter()
            .filter(|p| **p == SEND_PATH)
            .count(),
        1 + crate::FOREIGN_ANSWERS.len()
    );
}
