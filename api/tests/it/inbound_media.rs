//! Files people send, end to end: a signed inbound message with a file is stored and
//! answered at once; a worker then fetches the file from the provider's fake, the
//! provider's way, into object storage (s3s-fs), where it is the message's `file_id`, byte
//! for byte. A file the provider no longer has leaves a media error on a message that
//! stays; a provider that is down is retried; a worker that comes later (or after a crash)
//! still fetches what was accepted.

use std::time::Duration;

use pombo_fakes::{Fault, twilio, whatsapp_cloud};
use serde_json::{Value, json};

use crate::support::{
    AppOptions, InProcessWorker, TestApp,
    providers::{fake_account, messages_with, tenant_account},
    s3::LocalS3,
    spawn_app_with,
};

const PHOTO_ID: &str = "4490709327384033";

/// Bytes no text decoding would keep intact.
fn photo() -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    bytes.extend((0..=255u8).rev());
    bytes.extend([0x0D, 0x0A, 0x00, 0x1A, 0xFF, 0xD9]);
    bytes
}

async fn app(s3: &LocalS3, worker: bool) -> TestApp {
    spawn_app_with(AppOptions {
        storage: Some(s3.storage()),
        worker,
        ..Default::default()
    })
    .await
}

/// A WhatsApp Cloud image from `from` with the media id `media_id`.
fn whatsapp_image(from: &str, wamid: &str, media_id: &str) -> pombo_fakes::FakeCallback {
    whatsapp_cloud::inbound_webhook(
        Some(pombo_fakes::accounts::WHATSAPP_APP_SECRET),
        pombo_fakes::accounts::WHATSAPP_PHONE_NUMBER_ID,
        (from, "Ana"),
        wamid,
        chrono::Utc::now().timestamp(),
        (
            "image",
            json!({"id": media_id, "mime_type": "image/jpeg", "caption": "Comprovante"}),
        ),
    )
}

/// The newest message of the conversation with `address`.
async fn message_from(app: &TestApp, address: &str) -> Value {
    messages_with(app, address).await[0].clone()
}

/// Waits until the message from `address` has a file fetched or failed.
async fn fetched(app: &TestApp, address: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let message = message_from(app, address).await;
        if message["media"]["status"] != "pending" {
            return message;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the file of {address}'s message is still pending: {message}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many times Meta's fake was asked for the photo's URL (its media node, not the
/// download).
fn photo_lookups(app: &TestApp) -> usize {
    app.fakes
        .requests("whatsapp_cloud")
        .iter()
        .filter(|r| r.path.ends_with(PHOTO_ID) && !r.path.contains("lookaside"))
        .count()
}

/// Records the fetch's workflow of `message` as the replay fixture
/// `inbound_media/<case>.json` when `POMBO_RECORD_HISTORIES` asks for it.
async fn record_history(app: &TestApp, case: &str, message: &Value) {
    let id = message["id"].as_str().unwrap().parse().unwrap();
    let workflow_id = pombo_contract::inbound_media::workflow_id(id);
    crate::support::histories::record(&app.config, "inbound_media", case, &workflow_id).await;
}

/// The bytes of a stored file, through its presigned URL, as the tenant downloads it.
async fn download(app: &TestApp, file_id: &str) -> (Value, Vec<u8>) {
    let (code, file) = app.call("GET", &format!("/v1/files/{file_id}"), None).await;
    assert_eq!(code, 200, "{file}");
    let bytes = reqwest::get(file["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    (file, bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_files_are_fetched_into_storage_byte_for_byte() {
    let s3 = LocalS3::start().await;
    let app = app(&s3, true).await;
    let wa = tenant_account(&app, "wa", &fake_account(&app.fakes, "whatsapp-cloud")).await;
    app.fakes.state.media.put(PHOTO_ID, photo(), "image/jpeg");

    let (code, receipt) = app
        .post_callback(
            &wa,
            &whatsapp_image("5511987650001", "wamid.PHOTO1", PHOTO_ID),
        )
        .await;
    assert_eq!(
        (code, receipt["messages"].as_u64()),
        (200, Some(1)),
        "{receipt}"
    );

    // Twilio: an MMS whose MediaUrl is on the account's API (the fake's).
    let tw_path = tenant_account(
        &app,
        "tw",
        &crate::support::providers::fake_twilio(&app.fakes.base_url("twilio")),
    )
    .await;
    let sid = pombo_fakes::accounts::TWILIO_ACCOUNT_SID;
    let media_sid = "ME0123456789abcdef0123456789abcdef";
    let media_url = format!(
        "{}/2010-04-01/Accounts/{sid}/Messages/MM0123456789abcdef0123456789abcdef/Media/{media_sid}",
        app.fakes.base_url("twilio")
    );
    let pdf = b"%PDF-1.4\n\x00\xff\xfe binary \r\n%%EOF".to_vec();
    app.fakes
        .state
        .media
        .put(media_sid, pdf.clone(), "application/pdf");
    let mms = twilio::inbound_message(
        pombo_fakes::accounts::TWILIO_AUTH_TOKEN,
        &app.url(&tw_path),
        sid,
        "MM0123456789abcdef0123456789abcdef",
        ("+5511987650002", pombo_fakes::accounts::TWILIO_FROM),
        "Segue o boleto",
        &[(media_url.as_str(), "application/pdf")],
    );
    let (code, receipt) = app.post_callback(&tw_path, &mms).await;
    assert_eq!(
        (code, receipt["messages"].as_u64()),
        (200, Some(1)),
        "{receipt}"
    );

    let image = fetched(&app, "+5511987650001").await;
    assert_eq!(image["media"]["status"], "stored", "{image}");
    assert_eq!(image["type"], "image");
    assert_eq!(image["text"], "Comprovante");
    let (file, bytes) = download(&app, image["file_id"].as_str().unwrap()).await;
    assert_eq!(
        bytes,
        photo(),
        "the stored file is the person's, byte for byte"
    );
    assert_eq!(file["content_type"], "image/jpeg");
    assert_eq!(file["size"], photo().len());

    let boleto = fetched(&app, "+5511987650002").await;
    assert_eq!(boleto["media"]["status"], "stored", "{boleto}");
    let (file, bytes) = download(&app, boleto["file_id"].as_str().unwrap()).await;
    assert_eq!(bytes, pdf);
    assert_eq!(file["content_type"], "application/pdf");
    // The media URL was fetched with the account's credentials (it is on its API).
    let media_request = app
        .fakes
        .requests("twilio")
        .into_iter()
        .find(|r| r.path.ends_with(media_sid))
        .expect("the MediaUrl was fetched");
    assert!(media_request.headers["authorization"].starts_with("Basic "));

    // The file is the tenant's: another tenant's key does not find it.
    let other = app.other_tenant_key().await;
    let path = format!("/v1/files/{}", image["file_id"].as_str().unwrap());
    let (code, _) = app.call_as(&other, "GET", &path, None).await;
    assert_eq!(code, 404);
    record_history(&app, "stored", &image).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_the_provider_lost_leaves_a_media_error_and_a_provider_down_is_retried() {
    let s3 = LocalS3::start().await;
    let app = app(&s3, true).await;
    let wa = tenant_account(&app, "wa", &fake_account(&app.fakes, "whatsapp-cloud")).await;

    // Meta no longer has the media: final at once, the message stays with its caption.
    let (code, _) = app
        .post_callback(
            &wa,
            &whatsapp_image("5511987650003", "wamid.GONE", "1111111111"),
        )
        .await;
    assert_eq!(code, 200);
    let lost = fetched(&app, "+5511987650003").await;
    assert_eq!(lost["media"]["status"], "failed", "{lost}");
    assert!(
        lost["media"]["error"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{lost}"
    );
    assert_eq!(lost["text"], "Comprovante");
    assert!(lost.get("file_id").is_none(), "{lost}");
    record_history(&app, "failed_for_good", &lost).await;

    // Meta answers 503 twice, then the file: fetched on a later attempt.
    app.fakes.state.media.put(PHOTO_ID, photo(), "image/jpeg");
    app.fakes.fail_next("whatsapp_cloud", 2, Fault::status(503));
    let (code, _) = app
        .post_callback(
            &wa,
            &whatsapp_image("5511987650004", "wamid.LATER", PHOTO_ID),
        )
        .await;
    assert_eq!(code, 200);
    let later = fetched(&app, "+5511987650004").await;
    assert_eq!(later["media"]["status"], "stored", "{later}");
    let (_, bytes) = download(&app, later["file_id"].as_str().unwrap()).await;
    assert_eq!(bytes, photo());
    assert_eq!(
        photo_lookups(&app),
        3,
        "two refused attempts, then the one that worked"
    );
    record_history(&app, "retried_then_stored", &later).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_accepted_while_no_worker_runs_is_fetched_by_the_worker_that_comes() {
    let s3 = LocalS3::start().await;
    let app = app(&s3, false).await;
    let wa = tenant_account(&app, "wa", &fake_account(&app.fakes, "whatsapp-cloud")).await;
    app.fakes.state.media.put(PHOTO_ID, photo(), "image/jpeg");
    let (code, _) = app
        .post_callback(
            &wa,
            &whatsapp_image("5511987650005", "wamid.WAIT", PHOTO_ID),
        )
        .await;
    assert_eq!(code, 200, "the provider hears 200 without any worker");
    let waiting = message_from(&app, "+5511987650005").await;
    assert_eq!(waiting["media"]["status"], "pending", "{waiting}");

    let _worker = InProcessWorker::start(app.config.clone());
    let stored = fetched(&app, "+5511987650005").await;
    assert_eq!(stored["media"]["status"], "stored", "{stored}");
    let (_, bytes) = download(&app, stored["file_id"].as_str().unwrap()).await;
    assert_eq!(bytes, photo());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_whose_worker_is_killed_mid_fetch_is_fetched_by_the_next_worker() {
    let s3 = LocalS3::start().await;
    let app = app(&s3, false).await;
    let wa = tenant_account(&app, "wa", &fake_account(&app.fakes, "whatsapp-cloud")).await;
    app.fakes.state.media.put(PHOTO_ID, photo(), "image/jpeg");
    // Meta takes two minutes to answer the first lookup: the worker dies waiting for it.
    app.fakes.fail_next(
        "whatsapp_cloud",
        1,
        Fault {
            delay: Some(Duration::from_secs(120)),
            ..Fault::status(503)
        },
    );
    let doomed = crate::support::WorkerProcess::spawn(&app.config);
    let (code, _) = app
        .post_callback(
            &wa,
            &whatsapp_image("5511987650006", "wamid.KILLED", PHOTO_ID),
        )
        .await;
    assert_eq!(code, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while photo_lookups(&app) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never asked Meta for the file"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    doomed.kill();
    assert_eq!(
        message_from(&app, "+5511987650006").await["media"]["status"],
        "pending",
        "nothing fetched before the kill"
    );

    // The next worker takes the attempt over once the dead one's heartbeats are missed.
    let _next = crate::support::WorkerProcess::spawn(&app.config);
    let stored = fetched(&app, "+5511987650006").await;
    assert_eq!(stored["media"]["status"], "stored", "{stored}");
    let (_, bytes) = download(&app, stored["file_id"].as_str().unwrap()).await;
    assert_eq!(bytes, photo());
    assert_eq!(
        photo_lookups(&app),
        2,
        "the killed attempt, then the next worker's"
    );
}
