//! What a WhatsApp gateway's webhook says of its instance (Evolution `connection.update`,
//! `qrcode.updated`; WAHA `session.status`) is kept, the newest event winning, and shown
//! beside the gateway's live answer; each gateway's event catalogue says which events
//! Pombo reads.

use pombo_fakes::{evolution, waha};
use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, spawn_app_with};

async fn app() -> TestApp {
    spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await
}

/// Registers the fakes' account `name` as a tenant account: its id.
async fn tenant_account(app: &TestApp, name: &str) -> String {
    let path = crate::support::providers::fakes_tenant_account(app, name).await;
    path.rsplit('/').next().unwrap().to_owned()
}

async fn instance(app: &TestApp, id: &str) -> Value {
    let (code, read) = app
        .call("GET", &format!("/v1/providers/{id}/instance"), None)
        .await;
    assert_eq!(code, 200, "{read}");
    read
}

/// An Evolution event for the fakes' `pombo` instance, stamped `date_time`.
fn evolution_event(event: &str, data: Value, date_time: &str) -> pombo_fakes::FakeCallback {
    let mut callback = evolution::instance_event("pombo", event, data);
    let mut body: Value = serde_json::from_str(&callback.body).unwrap();
    body["date_time"] = date_time.into();
    callback.body = body.to_string();
    callback
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateways_webhook_keeps_its_instance_state_newest_first() {
    let app = app().await;
    let evo = tenant_account(&app, "evolution").await;
    let path = evolution::webhook_url(
        &format!("/v1/callbacks/evolution/{evo}"),
        Some(pombo_fakes::accounts::EVOLUTION_WEBHOOK_SECRET),
    );
    let before = instance(&app, &evo).await;
    assert_eq!(before["connection"], "connected", "{before}");
    assert!(
        before.get("reported").is_none(),
        "nothing reported yet: {before}"
    );

    // The phone was logged out: the webhook says so before anyone asks the gateway.
    let closed = evolution_event(
        "connection.update",
        json!({"instance": "pombo", "state": "close", "statusReason": 401}),
        "2026-12-06T10:00:00.000Z",
    );
    let (code, receipt) = app.post_callback(&path, &closed).await;
    assert_eq!(code, 200, "{receipt}");
    let read = instance(&app, &evo).await;
    assert_eq!(read["connection"], "connected", "the live answer: {read}");
    assert_eq!(
        read["reported"],
        json!({"connection": "disconnected", "gateway_state": "close", "at": "2026-12-06T10:00:00Z"})
    );

    // A new QR code: pairing.
    let qr = evolution_event(
        "qrcode.updated",
        json!({"qrcode": {"instance": "pombo", "code": "2@abc", "base64": "data:image/png;base64,AA=="}}),
        "2026-12-06T10:01:00.000Z",
    );
    assert_eq!(app.post_callback(&path, &qr).await.0, 200);
    assert_eq!(
        instance(&app, &evo).await["reported"]["connection"],
        "pairing"
    );

    // A retried, older event changes nothing.
    let late = evolution_event(
        "connection.update",
        json!({"instance": "pombo", "state": "open", "statusReason": 200}),
        "2026-12-06T09:59:00.000Z",
    );
    assert_eq!(app.post_callback(&path, &late).await.0, 200);
    let read = instance(&app, &evo).await;
    assert_eq!(read["reported"]["gateway_state"], "qrcode", "{read}");

    // Without the secret, nothing is kept.
    let unsigned = evolution_event(
        "connection.update",
        json!({"instance": "pombo", "state": "open"}),
        "2026-12-06T11:00:00.000Z",
    );
    let (code, _) = app
        .post_callback(&format!("/v1/callbacks/evolution/{evo}"), &unsigned)
        .await;
    assert_eq!(code, 401);
    assert_eq!(
        instance(&app, &evo).await["reported"]["gateway_state"],
        "qrcode"
    );

    // Each change of what is kept is an event of the tenant's log: the connection lost, the
    // QR code (pairing), nothing for the late or the unsigned one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let events = loop {
        let (code, page) = app
            .call(
                "GET",
                "/v1/events?types=instance.connection_updated,instance.qrcode_updated",
                None,
            )
            .await;
        assert_eq!(code, 200, "{page}");
        let events: Vec<(String, Value)> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["type"].as_str().unwrap().to_owned(), e["data"].clone()))
            .collect();
        if events.len() >= 3 || std::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        events,
        [
            (
                "instance.connection_updated".to_owned(),
                json!({"instance_id": evo, "connection": "disconnected"})
            ),
            (
                "instance.connection_updated".to_owned(),
                json!({"instance_id": evo, "connection": "pairing"})
            ),
            (
                "instance.qrcode_updated".to_owned(),
                json!({"instance_id": evo, "connection": "pairing"})
            ),
        ]
    );

    // WAHA: `session.status`, signed with HMAC-SHA512.
    let waha_id = tenant_account(&app, "waha").await;
    let status = waha::session_event(
        Some(pombo_fakes::accounts::WAHA_WEBHOOK_SECRET),
        "default",
        "session.status",
        json!({"status": "SCAN_QR_CODE"}),
        1_765_015_200_000,
    );
    let (code, receipt) = app
        .post_callback(&format!("/v1/callbacks/waha/{waha_id}"), &status)
        .await;
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(
        instance(&app, &waha_id).await["reported"],
        json!({"connection": "pairing", "gateway_state": "SCAN_QR_CODE", "at": "2025-12-06T10:00:00Z"})
    );
    let forged = waha::session_event(
        Some("not-the-secret"),
        "default",
        "session.status",
        json!({"status": "WORKING"}),
        1_765_015_300_000,
    );
    let (code, _) = app
        .post_callback(&format!("/v1/callbacks/waha/{waha_id}"), &forged)
        .await;
    assert_eq!(code, 401);

    // Another tenant's key does not see the account, nor its state.
    let other = app.other_tenant_key().await;
    let (code, _) = app
        .call_as(
            &other,
            "GET",
            &format!("/v1/providers/{evo}/instance"),
            None,
        )
        .await;
    assert_eq!(code, 404);

    // Deleting the account forgets its instance's state.
    let (code, _) = app
        .call("DELETE", &format!("/v1/providers/{evo}"), None)
        .await;
    assert_eq!(code, 204);
    let kept = pombo_store::instance_states::get(&app.db, &evo)
        .await
        .unwrap();
    assert!(kept.is_none(), "{kept:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_gateways_event_catalogue_says_what_pombo_reads() {
    let app = app().await;
    let (code, events) = app.call("GET", "/v1/gateways/evolution/events", None).await;
    assert_eq!(code, 200, "{events}");
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 25, "Evolution's whole catalogue: {events:?}");
    let event = |name: &str| {
        events
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    for read in [
        "MESSAGES_UPSERT",
        "MESSAGES_UPDATE",
        "MESSAGES_EDITED",
        "MESSAGES_DELETE",
        "CONNECTION_UPDATE",
        "QRCODE_UPDATED",
    ] {
        assert_eq!(event(read)["understood"], true, "{read}");
        assert!(event(read)["pombo"].is_string(), "{read}");
    }
    assert_eq!(event("CALL")["understood"], false);
    assert!(event("CALL").get("pombo").is_none());
    // The catalogue is the gateway's own: the fake's list of what Evolution accepts.
    let names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, evolution::EVENTS);

    let (code, events) = app.call("GET", "/v1/gateways/waha/events", None).await;
    assert_eq!(code, 200, "{events}");
    let names: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, waha::EVENTS);

    let (code, problem) = app.call("GET", "/v1/gateways/twilio/events", None).await;
    assert_eq!(code, 404, "{problem}");
}
