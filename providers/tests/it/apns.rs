//! Contract tests of the `apns` provider (HTTP/2, token-based auth) against its fake, which
//! the provider reaches over h2c (HTTP/2 prior knowledge): the fake refuses HTTP/1.x.

use std::{collections::BTreeMap, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pombo_contract::{config::Secret, content::PushContent};
use pombo_fakes::{
    Fakes, Fault,
    apns::{
        BAD_DEVICE_TOKEN, NOT_FOR_TOPIC_DEVICE_TOKEN, TEST_KEY_ID, TEST_P8_PRIVATE_KEY_PEM,
        TEST_P8_PUBLIC_KEY_PEM, TEST_TEAM_ID, UNREGISTERED_DEVICE_TOKEN,
    },
};
use pombo_providers::ApnsSettings;
use pombo_providers::{DeliveryError, apns::send::Apns};
use serde_json::{Value, json};
use uuid::Uuid;

const DEVICE: &str = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad";

/// Another throwaway P-256 key (generated once with openssl for this test): not the one the
/// fake knows, so APNs refuses tokens it signs.
const UNKNOWN_P8_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgk9tP1ROCO7aZxfMy
xVNa/4skvskqj8KPxr7genxlu7ShRANCAAQiVlLYPkcJMxahL2H8RqkgQZcF9IVA
iI9zY6GVuAcUltzrLCmUhLNT/PgLJlQFpI4w6d5BAe0V3Jz2bSKOzmkV
-----END PRIVATE KEY-----
";

fn settings(fakes: &Fakes) -> ApnsSettings {
    ApnsSettings {
        team_id: TEST_TEAM_ID.into(),
        key_id: TEST_KEY_ID.into(),
        private_key: Secret::new(TEST_P8_PRIVATE_KEY_PEM),
        topic: "com.example.pombo".into(),
        base_url: fakes.base_url("apns"),
    }
}

fn provider(fakes: &Fakes) -> Apns {
    Apns::new(&settings(fakes), reqwest::Client::builder()).expect("apns provider")
}

fn content() -> PushContent {
    PushContent {
        title: "Your order shipped".into(),
        body: "It arrives Tuesday".into(),
        data: BTreeMap::new(),
        image_url: None,
    }
}

fn bearer(auth: Option<&str>) -> &str {
    auth.and_then(|a| a.strip_prefix("bearer "))
        .unwrap_or_else(|| panic!("not a bearer token: {auth:?}"))
}

#[tokio::test]
async fn sends_an_alert_over_http2_with_a_provider_token() {
    let fakes = Fakes::start().await;
    let id = Uuid::new_v4();
    let mut c = content();
    c.data.insert("order_id".into(), "42".into());

    let accepted = provider(&fakes).send(id, DEVICE, &c).await.expect("sent");

    let requests = fakes.requests("apns");
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/3/device/{DEVICE}"));
    assert_eq!(r.query, None);
    assert_eq!(r.header("apns-topic"), Some("com.example.pombo"));
    assert_eq!(r.header("apns-push-type"), Some("alert"));
    assert_eq!(r.header("apns-priority"), Some("10"));
    assert_eq!(
        r.header("apns-id"),
        Some(id.hyphenated().to_string().as_str())
    );
    assert_eq!(
        r.json(),
        json!({
            "aps": {"alert": {"title": "Your order shipped", "body": "It arrives Tuesday"}},
            "order_id": "42",
        })
    );

    // The provider token: ES256 with the key id, team as issuer, issued now.
    let jwt = bearer(r.header("authorization"));
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some(TEST_KEY_ID));
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.set_required_spec_claims::<&str>(&[]);
    let claims = jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_ec_pem(TEST_P8_PUBLIC_KEY_PEM.as_bytes()).unwrap(),
        &validation,
    )
    .expect("the token verifies with the key's public half")
    .claims;
    assert_eq!(claims["iss"], TEST_TEAM_ID);
    let iat = claims["iat"].as_i64().unwrap();
    assert!(
        (iat - chrono::Utc::now().timestamp()).abs() < 30,
        "iat {iat}"
    );
    assert_eq!(
        claims.as_object().unwrap().len(),
        2,
        "only iss and iat: {claims}"
    );

    // APNs echoes apns-id: that is the provider's id for the notification.
    assert_eq!(
        accepted.provider_message_id,
        Some(id.hyphenated().to_string())
    );
}

#[tokio::test]
async fn the_fake_only_speaks_http2() {
    // What makes the success above prove HTTP/2: the same request over HTTP/1.1 is refused.
    let fakes = Fakes::start().await;
    let response = crate::http()
        .post(format!("{}/3/device/{DEVICE}", fakes.base_url("apns")))
        .header("apns-topic", "com.example.pombo")
        .body(r#"{"aps":{"alert":"hi"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 505);
    assert_eq!(fakes.requests("apns")[0].method, "POST");
}

#[tokio::test]
async fn an_image_makes_the_content_mutable() {
    let fakes = Fakes::start().await;
    let mut c = content();
    c.image_url = Some("https://cdn.example.com/parcel.png".into());
    provider(&fakes)
        .send(Uuid::new_v4(), DEVICE, &c)
        .await
        .expect("sent");
    assert_eq!(
        fakes.requests("apns")[0].json(),
        json!({
            "aps": {
                "alert": {"title": "Your order shipped", "body": "It arrives Tuesday"},
                "mutable-content": 1,
            },
            "image_url": "https://cdn.example.com/parcel.png",
        })
    );
}

#[tokio::test]
async fn the_provider_token_is_reused() {
    let fakes = Fakes::start().await;
    let apns = provider(&fakes);
    apns.send(Uuid::new_v4(), DEVICE, &content()).await.unwrap();
    apns.send(Uuid::new_v4(), DEVICE, &content()).await.unwrap();
    let requests = fakes.requests("apns");
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("authorization"),
        requests[1].header("authorization"),
        "Apple refuses tokens refreshed more often than every 20 minutes"
    );
}

#[tokio::test]
async fn too_many_requests_is_retryable_after_the_delay_asked() {
    let fakes = Fakes::start().await;
    fakes.fail_next("apns", 1, Fault::rate_limited(7));
    let err = provider(&fakes)
        .send(Uuid::new_v4(), DEVICE, &content())
        .await
        .unwrap_err();
    match err {
        DeliveryError::Retryable {
            code, retry_after, ..
        } => {
            assert_eq!(code.as_deref(), Some("TooManyRequests"));
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
        other => panic!("expected retryable, got {other:?}"),
    }
    assert_eq!(fakes.requests("apns").len(), 1);
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fakes = Fakes::start().await;
    let apns = provider(&fakes);
    for (status, reason) in [(503, "ServiceUnavailable"), (500, "InternalServerError")] {
        fakes.fail_next("apns", 1, Fault::status(status));
        let err = apns
            .send(Uuid::new_v4(), DEVICE, &content())
            .await
            .unwrap_err();
        match err {
            DeliveryError::Retryable { code, .. } => assert_eq!(code.as_deref(), Some(reason)),
            other => panic!("{status}: expected retryable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn bad_and_unregistered_device_tokens_are_permanent() {
    let fakes = Fakes::start().await;
    let apns = provider(&fakes);
    let cases = [
        (BAD_DEVICE_TOKEN, "BadDeviceToken", "400"),
        (UNREGISTERED_DEVICE_TOKEN, "Unregistered", "410"),
        (NOT_FOR_TOPIC_DEVICE_TOKEN, "DeviceTokenNotForTopic", "400"),
    ];
    for (token, reason, status) in cases {
        let err = apns
            .send(Uuid::new_v4(), token, &content())
            .await
            .unwrap_err();
        match &err {
            DeliveryError::Permanent { code, message } => {
                assert_eq!(code.as_deref(), Some(reason));
                assert!(message.contains(status), "{message}");
                assert!(
                    !message.contains(token),
                    "no device token in messages: {message}"
                );
            }
            other => panic!("{reason}: expected permanent, got {other:?}"),
        }
    }
    assert_eq!(fakes.requests("apns").len(), 3, "no retries");
}

#[tokio::test]
async fn a_key_apple_does_not_know_is_permanent() {
    let fakes = Fakes::start().await;
    let mut s = settings(&fakes);
    s.private_key = Secret::new(UNKNOWN_P8_PEM);
    let err = Apns::new(&s, reqwest::Client::builder())
        .unwrap()
        .send(Uuid::new_v4(), DEVICE, &content())
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("InvalidProviderToken"));

    let mut s = settings(&fakes);
    s.key_id = "ZZZ999ZZZZ".into();
    let err = Apns::new(&s, reqwest::Client::builder())
        .unwrap()
        .send(Uuid::new_v4(), DEVICE, &content())
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("InvalidProviderToken"));
    assert_eq!(fakes.requests("apns").len(), 2, "no retries");
}

fn expired_provider_token() -> Fault {
    Fault {
        message: "ExpiredProviderToken".into(),
        ..Fault::status(403)
    }
}

#[tokio::test]
async fn an_expired_provider_token_is_replaced_once() {
    let fakes = Fakes::start().await;
    let apns = provider(&fakes);
    let id = Uuid::new_v4();
    fakes.fail_next("apns", 1, expired_provider_token());

    let accepted = apns.send(id, DEVICE, &content()).await.expect("sent");

    let requests = fakes.requests("apns");
    assert_eq!(requests.len(), 2);
    assert_ne!(
        requests[0].header("authorization"),
        requests[1].header("authorization"),
        "the retry carries a newly signed token"
    );
    assert_eq!(requests[0].header("apns-id"), requests[1].header("apns-id"));
    assert_eq!(requests[0].body, requests[1].body);
    assert_eq!(
        accepted.provider_message_id,
        Some(id.hyphenated().to_string())
    );

    // The new token is the one kept.
    apns.send(Uuid::new_v4(), DEVICE, &content()).await.unwrap();
    let requests = fakes.requests("apns");
    assert_eq!(
        requests[1].header("authorization"),
        requests[2].header("authorization")
    );
}

#[tokio::test]
async fn a_provider_token_expired_twice_is_permanent() {
    let fakes = Fakes::start().await;
    fakes.fail_next("apns", 2, expired_provider_token());
    let err = provider(&fakes)
        .send(Uuid::new_v4(), DEVICE, &content())
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("ExpiredProviderToken"));
    assert_eq!(fakes.requests("apns").len(), 2, "one retry, no more");
}

#[tokio::test]
async fn too_many_token_updates_is_retryable_without_a_new_token() {
    let fakes = Fakes::start().await;
    let apns = provider(&fakes);
    fakes.fail_next(
        "apns",
        1,
        Fault {
            message: "TooManyProviderTokenUpdates".into(),
            ..Fault::status(429)
        },
    );
    let err = apns
        .send(Uuid::new_v4(), DEVICE, &content())
        .await
        .unwrap_err();
    assert!(!err.is_permanent(), "{err:?}");
    assert_eq!(err.code(), Some("TooManyProviderTokenUpdates"));
    apns.send(Uuid::new_v4(), DEVICE, &content()).await.unwrap();
    let requests = fakes.requests("apns");
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("authorization"),
        requests[1].header("authorization")
    );
}

#[tokio::test]
async fn a_reserved_data_key_is_refused_before_sending() {
    let fakes = Fakes::start().await;
    let mut c = content();
    c.data.insert("aps".into(), "overwritten".into());
    let err = provider(&fakes)
        .send(Uuid::new_v4(), DEVICE, &c)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert!(fakes.requests("apns").is_empty());
}

#[test]
fn a_key_that_does_not_parse_is_a_setup_error() {
    let s = ApnsSettings {
        team_id: TEST_TEAM_ID.into(),
        key_id: TEST_KEY_ID.into(),
        private_key: Secret::new(
            "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
        ),
        topic: "com.example.pombo".into(),
        base_url: "http://127.0.0.1:9/apns".into(),
    };
    let err = Apns::new(&s, reqwest::Client::builder())
        .err()
        .expect("setup error");
    assert!(err.message.contains("private_key"), "{err}");
    assert!(!err.message.contains("not a key"), "{err}");

    // An RSA key is not a .p8 key either.
    let s = ApnsSettings {
        private_key: Secret::new(pombo_fakes::fcm::TEST_SERVICE_ACCOUNT_PRIVATE_KEY_PEM),
        ..s
    };
    assert!(Apns::new(&s, reqwest::Client::builder()).is_err());
}

#[tokio::test]
async fn an_answer_that_is_not_apples_leaves_nothing_of_its_body() {
    let fakes = Fakes::start().await;
    let p = provider(&fakes);
    let c = content();
    crate::foreign_answers_leave_no_trace(&fakes, "apns", || p.send(Uuid::new_v4(), DEVICE, &c))
        .await;
}
