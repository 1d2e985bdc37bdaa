//! HTTPS served by the API itself (`api.tls`): certificates made here with rcgen, clients
//! that trust only the one they were given, and a renewed certificate served from the next
//! handshake on, without a restart.

use std::{path::Path, time::Duration};

use pombo_contract::config::ApiTls;
use serde_json::json;

use crate::support::{AppOptions, spawn_app_with};

/// A self-signed certificate for `localhost`, written to `dir`; returns its PEM.
fn issue(dir: &Path) -> String {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = issued.cert.pem();
    // Written key first, then the certificate, each whole: the watcher reloads on the
    // certificate's change and must find a matching key.
    std::fs::write(dir.join("key.pem"), issued.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), &cert).unwrap();
    cert
}

/// A client trusting `cert` only.
fn client(cert: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_serves_https_and_picks_up_a_renewed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let first = issue(dir.path());
    let app = spawn_app_with(AppOptions {
        worker: false,
        api_tls: Some(ApiTls {
            cert_path: dir.path().join("cert.pem").display().to_string(),
            key_path: dir.path().join("key.pem").display().to_string(),
        }),
        ..Default::default()
    })
    .await;
    assert!(app.address.starts_with("https://"), "{}", app.address);

    let health = client(&first)
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_2, "h2 by ALPN");
    let accepted = client(&first)
        .post(app.url("/v1/notifications"))
        .bearer_auth(&app.api_key)
        .json(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    // Callbacks read the peer address (per-address limits): present over TLS too.
    let callback = client(&first)
        .post(app.url("/v1/callbacks/twilio/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 404);

    // Plain HTTP on the TLS port gets no answer.
    let plain = app.address.replacen("https://", "http://", 1);
    let refused = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        refused.is_err() || !refused.unwrap().status().is_success(),
        "plain HTTP answered"
    );

    // A renewed certificate is served from the next handshake on.
    let second = issue(dir.path());
    let mut renewed = false;
    for _ in 0..50 {
        if client(&second)
            .get(app.url("/healthz"))
            .send()
            .await
            .is_ok()
        {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        renewed,
        "the renewed certificate was not picked up within 10 s"
    );
    assert!(
        client(&first)
            .get(app.url("/healthz"))
            .send()
            .await
            .is_err(),
        "the old certificate is still served"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_certificate_stops_start_up_with_the_path() {
    let mut config = pombo_contract::Config {
        database_url: "sqlite::memory:".into(),
        ..Default::default()
    };
    config.api.tls = Some(ApiTls {
        cert_path: "/nonexistent/cert.pem".into(),
        key_path: "/nonexistent/key.pem".into(),
    });
    let err = pombo_api::prepare(config).await.err().expect("refused");
    assert!(format!("{err:#}").contains("api.tls.cert_path"), "{err:#}");
}
