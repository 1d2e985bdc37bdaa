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
    let mut config = pombo_config::Config {
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

/// A CA, and certificates it signs for `localhost` (the server) and for a client, as PEM
/// files in `dir`: `ca.pem`, `server.pem`/`server.key`, `client.pem`/`client.key`.
fn private_ca(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    for (name, subject) in [("server", "localhost"), ("client", "pombo-worker")] {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![subject.to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

/// A TLS front for the plain dev server, as a Temporal cluster's frontend would be: it
/// requires a client certificate signed by the CA (mTLS), speaks h2, and forwards the
/// decrypted stream to `upstream`. Returns its port and a count of the handshakes it
/// completed.
async fn tls_front(
    dir: &Path,
    upstream: String,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_file(dir.join("server.pem")).unwrap()],
            PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap(),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = handshakes.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, upstream, counted) =
                (acceptor.clone(), upstream.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, handshakes)
}

/// The API and the worker reach Temporal over TLS with a private CA and a client
/// certificate (as a self-hosted cluster with mTLS, or Temporal Cloud, requires): a
/// notification goes all the way through; without the client certificate the connection
/// is refused.
#[tokio::test(flavor = "multi_thread")]
async fn the_api_and_the_worker_reach_temporal_over_mutual_tls() {
    use std::sync::atomic::Ordering;

    let dir = tempfile::tempdir().unwrap();
    private_ca(dir.path());
    let upstream = crate::support::servers()
        .temporal
        .trim_start_matches("http://")
        .to_owned();
    let (port, handshakes) = tls_front(dir.path(), upstream).await;
    let path = |name: &str| Some(dir.path().join(name).display().to_string());
    let tls = pombo_contract::config::TemporalTls {
        ca_cert_path: path("ca.pem"),
        client_cert_path: path("client.pem"),
        client_key_path: path("client.key"),
        server_name: Some("localhost".into()),
    };
    let address = format!("https://127.0.0.1:{port}");
    let app = spawn_app_with(AppOptions {
        temporal_tls: Some((address.clone(), tls.clone())),
        // The API starts the workflow itself, so it connects too (not only the worker).
        starts: Some(pombo_contract::config::WorkflowStarts::Api),
        ..Default::default()
    })
    .await;
    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "over TLS"}}))
        .await;
    app.wait_for_status(&id, "sent", Duration::from_secs(60))
        .await;
    assert!(
        handshakes.load(Ordering::SeqCst) >= 2,
        "the API and the worker each connected"
    );

    // Without the client certificate the front refuses the handshake.
    let mut config = app.config.temporal.clone();
    config.tls = Some(pombo_contract::config::TemporalTls {
        client_cert_path: None,
        client_key_path: None,
        ..tls
    });
    let options =
        pombo_starter::connection::connection_options(&config, Some(Duration::from_secs(5)))
            .unwrap();
    let before = handshakes.load(Ordering::SeqCst);
    let refused = temporalio_client::Connection::connect(options).await;
    assert!(refused.is_err(), "connected without a client certificate");
    assert_eq!(handshakes.load(Ordering::SeqCst), before);
}
