//! No secret reaches a log line, at any level: everything every crate logs at `trace` while
//! a tenant registers a provider account, sends through it (the credential goes out as
//! HTTP basic auth), sends a signed webhook and receives a signed delivery report, is
//! captured and searched for each secret involved.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::json;

use crate::support::{AppOptions, spawn_app_with};

/// Every log line of this process, as written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_is_logged_even_at_trace() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .expect("this test installs the process's logger: run it in a process of its own (nextest)");

    let app = spawn_app_with(AppOptions::default()).await;
    // The token the Twilio fake accepts: it goes out in every send's basic auth.
    let token = "fedcba9876543210".repeat(2);
    let token = token.as_str();
    let fakes = app.fakes.base_url("twilio");
    let (code, body) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&json!({"name": "mine", "settings": {
                "type": "twilio", "account_sid": format!("AC{}", "0123456789abcdef".repeat(2)),
                "auth_token": token, "from": "+15005550006", "base_url": fakes}})),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let id = app
        .send(&json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "hi"}}))
        .await;
    let n = app
        .wait_for_status(&id, "sent", Duration::from_secs(60))
        .await;
    assert_eq!(n["attempt_log"][0]["provider"], "mine", "{n}");
    let (code, _) = app.call("GET", "/v1/notifications?limit=1", None).await;
    assert_eq!(code, 200);

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.lines().count() > 100,
        "too little was logged to mean anything:\n{logs}"
    );
    let encryption_key = app.config.encryption.keys["test"].expose().to_owned();
    for (what, secret) in [
        ("the API key", app.api_key.as_str()),
        ("the provider's auth token", token),
        ("the encryption key", encryption_key.as_str()),
    ] {
        if let Some(line) = logs.lines().find(|l| l.contains(secret)) {
            panic!("{what} was logged: {line}");
        }
    }
}
