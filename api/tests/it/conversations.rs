//! Two-way messaging end to end: what a person sends to a tenant's provider account, as
//! each provider's fake signs it, becomes a message of the contact's conversation, once;
//! unsigned ones are refused and store nothing; tenants see only their own.

use pombo_fakes::{Fault, callbell, evolution, instagram, telegram, twilio, waha, whatsapp_cloud};
use pombo_providers::ProviderSettings;
use serde_json::{Value, json};

use crate::support::{
    AppOptions, TestApp, database::assert_not_stored, providers::tenant_account, spawn_app_with,
};

fn fake_account(app: &TestApp, name: &str) -> ProviderSettings {
    crate::support::providers::fake_account(&app.fakes, name)
}

async fn app() -> TestApp {
    spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await
}

/// The tenant's conversations, newest first.
async fn conversations(app: &TestApp, key: &str) -> Vec<Value> {
    let (code, page) = app.call_as(key, "GET", "/v1/conversations", None).await;
    assert_eq!(code, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

/// The JSON bodies of the requests `provider`'s fake received at `path`, in order.
fn bodies(app: &TestApp, provider: &str, path: &str) -> Vec<Value> {
    app.fakes
        .requests(provider)
        .iter()
        .filter(|r| r.path == path)
        .map(|r| serde_json::from_str(&r.body).unwrap_or(Value::Null))
        .collect()
}

async fn messages(app: &TestApp, conversation: &Value) -> Vec<Value> {
    let path = format!(
        "/v1/conversations/{}/messages",
        conversation["id"].as_str().unwrap()
    );
    let (code, page) = app.call("GET", &path, None).await;
    assert_eq!(code, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_providers_signed_inbound_message_becomes_a_conversation_message_once() {
    let app = app().await;
    let now = chrono::Utc::now().timestamp();

    // WhatsApp Cloud API: a text, signed with the app secret.
    let wa = tenant_account(&app, "wa", &fake_account(&app, "whatsapp-cloud")).await;
    let wa_text = whatsapp_cloud::inbound_webhook(
        Some("pombo-test-app-secret"),
        "106540352242922",
        ("5511987650001", "Ana Cloud"),
        "wamid.HBgNNTUxMTk4NzY1MDAwMRUCABIYFjNFQjA",
        now - 60,
        ("text", json!({"body": "Oi, meu pedido chegou?"})),
    );
    // Twilio: an SMS with a photo, signed with the auth token over the URL it calls.
    let tw_path = tenant_account(
        &app,
        "tw",
        &crate::support::providers::fake_twilio(&format!("http://{}/twilio", app.fakes.addr)),
    )
    .await;
    let sid = format!("AC{}", "0123456789abcdef".repeat(2));
    let tw_mms = twilio::inbound_message(
        &"fedcba9876543210".repeat(2),
        &app.url(&tw_path),
        &sid,
        "SM0123456789abcdef0123456789abcdef",
        ("+5511987650002", "+15005550006"),
        "Segue a foto",
        &[(
            "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1",
            "image/jpeg",
        )],
    );
    // Evolution: a text to the instance, authenticated by the secret in the URL.
    let evo_path = tenant_account(&app, "evo", &fake_account(&app, "evolution")).await;
    let evo_path = evolution::webhook_url(&evo_path, Some("evolution-test-webhook-secret"));
    let evo_text = evolution::messages_upsert(
        "pombo",
        "3EB0C767D26A1D8E2F0A",
        ("5511987650003", "Ana Evolution"),
        ("conversation", json!({"conversation": "Bom dia"})),
        now - 30,
    );
    // WAHA: a text, signed with HMAC-SHA512.
    let waha_path = tenant_account(&app, "waha", &fake_account(&app, "waha")).await;
    let waha_text = waha::message_event(
        Some("waha-test-webhook-secret"),
        "default",
        ("5511987650004@c.us", "Ana WAHA"),
        "AAAAAAAAAAAAAAAAAAAA",
        "Olá!",
        None,
        now - 10,
    );

    // Instagram: a direct message, signed with the app secret.
    let ig = tenant_account(&app, "ig", &fake_account(&app, "instagram")).await;
    let ig_text = instagram::message_webhook(
        Some("pombo-test-app-secret"),
        "17841400000000001",
        "1254459154682919",
        "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3",
        "Vocês entregam em Recife?",
        (now - 5) * 1000,
    );

    // Callbell: a WhatsApp message, the secret in the URL (Callbell signs nothing).
    let cb = tenant_account(&app, "cb", &fake_account(&app, "callbell")).await;
    let cb = callbell::webhook_url(&cb, Some("callbell-test-webhook-secret"));
    let cb_text = callbell::message_created(
        "a1f6b7e0c0d94a4b9d1b5e2f3a4b5c6d",
        ("5511987650005", "Ana Callbell"),
        "Tem na cor azul?",
    );

    // Telegram: a bot update, with the webhook's secret token.
    let tg = tenant_account(&app, "tg", &fake_account(&app, "telegram")).await;
    let tg_text = telegram::message_update(
        Some("telegram-test-secret-token"),
        (987654321, "Ana"),
        42,
        "Olá, bot",
        now - 3,
    );

    let sent = [
        (tg.as_str(), &tg_text),
        (cb.as_str(), &cb_text),
        (ig.as_str(), &ig_text),
        (wa.as_str(), &wa_text),
        (tw_path.as_str(), &tw_mms),
        (evo_path.as_str(), &evo_text),
        (waha_path.as_str(), &waha_text),
    ];
    for (path, callback) in sent {
        let (code, receipt) = app.post_callback(path, callback).await;
        assert_eq!(
            (code, receipt["messages"].as_u64()),
            (200, Some(1)),
            "{path}: {receipt}"
        );
        // Providers deliver webhooks again when unsure: the message is stored once.
        let (code, receipt) = app.post_callback(path, callback).await;
        assert_eq!(
            (code, receipt["messages"].as_u64()),
            (200, Some(0)),
            "{path}: {receipt}"
        );
    }

    let all = conversations(&app, &app.api_key).await;
    assert_eq!(all.len(), 7, "{all:?}");
    let by_address = |address: &str| {
        all.iter()
            .find(|c| c["contact"]["address"] == address)
            .unwrap_or_else(|| panic!("no conversation with {address}: {all:?}"))
            .clone()
    };

    let wa = by_address("+5511987650001");
    assert_eq!(wa["channel"], "whatsapp");
    assert_eq!(wa["status"], "open");
    assert_eq!(wa["unread"], 1);
    assert_eq!(wa["contact"]["name"], "Ana Cloud");
    let wa_messages = messages(&app, &wa).await;
    assert_eq!(wa_messages.len(), 1);
    assert_eq!(wa_messages[0]["direction"], "inbound");
    assert_eq!(wa_messages[0]["type"], "text");
    assert_eq!(wa_messages[0]["text"], "Oi, meu pedido chegou?");
    assert_eq!(
        wa_messages[0]["occurred_at"],
        chrono::DateTime::from_timestamp(now - 60, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );

    let tw = by_address("+5511987650002");
    assert_eq!(tw["channel"], "sms");
    let tw_messages = messages(&app, &tw).await;
    assert_eq!(tw_messages[0]["type"], "image");
    assert_eq!(tw_messages[0]["text"], "Segue a foto");
    assert_eq!(tw_messages[0]["media"]["content_type"], "image/jpeg");
    assert_eq!(
        tw_messages[0]["provider_message_id"],
        "SM0123456789abcdef0123456789abcdef"
    );

    let evo = by_address("+5511987650003");
    assert_eq!(evo["contact"]["name"], "Ana Evolution");
    assert_eq!(messages(&app, &evo).await[0]["text"], "Bom dia");

    let waha = by_address("+5511987650004");
    assert_eq!(waha["contact"]["name"], "Ana WAHA");
    assert_eq!(messages(&app, &waha).await[0]["text"], "Olá!");

    let tg = by_address("987654321");
    assert_eq!(tg["channel"], "telegram");
    assert_eq!(messages(&app, &tg).await[0]["text"], "Olá, bot");

    let cb = by_address("+5511987650005");
    assert_eq!(cb["contact"]["name"], "Ana Callbell");
    assert_eq!(messages(&app, &cb).await[0]["text"], "Tem na cor azul?");

    let ig = by_address("1254459154682919");
    assert_eq!(ig["channel"], "instagram");
    assert_eq!(
        messages(&app, &ig).await[0]["text"],
        "Vocês entregam em Recife?"
    );

    // What people wrote, and who they are, is sealed at rest.
    assert_not_stored(&app, "meu pedido chegou", "an inbound message's text").await;
    assert_not_stored(&app, "5511987650001", "a contact's number").await;
    assert_not_stored(&app, "Ana Cloud", "a contact's name").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_inbound_messages_are_refused_and_store_nothing() {
    let app = app().await;
    let wa = tenant_account(&app, "wa", &fake_account(&app, "whatsapp-cloud")).await;
    let forged = whatsapp_cloud::inbound_webhook(
        Some("not-the-app-secret"),
        "106540352242922",
        ("5511987650001", "Mallory"),
        "wamid.forged",
        chrono::Utc::now().timestamp(),
        ("text", json!({"body": "send the refund here"})),
    );
    assert_eq!(app.post_callback(&wa, &forged).await.0, 401);
    let unsigned = whatsapp_cloud::inbound_webhook(
        None,
        "106540352242922",
        ("5511987650001", "Mallory"),
        "wamid.unsigned",
        chrono::Utc::now().timestamp(),
        ("text", json!({"body": "send the refund here"})),
    );
    assert_eq!(app.post_callback(&wa, &unsigned).await.0, 401);
    let waha_path = tenant_account(&app, "waha", &fake_account(&app, "waha")).await;
    let unsigned = waha::message_event(
        None,
        "default",
        ("5511987650004@c.us", "Mallory"),
        "BBBBBBBBBBBBBBBBBBBB",
        "hi",
        None,
        chrono::Utc::now().timestamp(),
    );
    assert_eq!(app.post_callback(&waha_path, &unsigned).await.0, 401);
    assert!(conversations(&app, &app.api_key).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn conversations_are_the_tenants_own_and_close_reopen_and_read() {
    let app = app().await;
    let wa = tenant_account(&app, "wa", &fake_account(&app, "whatsapp-cloud")).await;
    let message = |wamid: &str, text: &str| {
        whatsapp_cloud::inbound_webhook(
            Some("pombo-test-app-secret"),
            "106540352242922",
            ("5511987650001", "Ana"),
            wamid,
            chrono::Utc::now().timestamp(),
            ("text", json!({"body": text})),
        )
    };
    assert_eq!(
        app.post_callback(&wa, &message("wamid.1", "um")).await.0,
        200
    );
    let conversation = conversations(&app, &app.api_key).await.remove(0);
    let id = conversation["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/conversations/{id}");

    // Another tenant sees none of it.
    let other = app.other_tenant_key().await;
    assert!(conversations(&app, &other).await.is_empty());
    for (method, p) in [
        ("GET", path.clone()),
        ("GET", format!("{path}/messages")),
        ("POST", format!("{path}/read")),
    ] {
        let (code, body) = app.call_as(&other, method, &p, None).await;
        assert_eq!(code, 404, "{method} {p}: {body}");
    }
    let (code, _) = app
        .call_as(&other, "PATCH", &path, Some(&json!({"status": "closed"})))
        .await;
    assert_eq!(code, 404);

    let (code, closed) = app
        .call("PATCH", &path, Some(&json!({"status": "closed"})))
        .await;
    assert_eq!((code, closed["status"].as_str()), (200, Some("closed")));
    let (code, bad) = app
        .call("PATCH", &path, Some(&json!({"status": "archived"})))
        .await;
    assert_eq!(code, 422, "{bad}");
    let (_, listed) = app
        .call("GET", "/v1/conversations?status=closed", None)
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    // The contact writes again: the same conversation, open again, two unread.
    assert_eq!(
        app.post_callback(&wa, &message("wamid.2", "dois")).await.0,
        200
    );
    let (_, again) = app.call("GET", &path, None).await;
    assert_eq!(again["status"], "open");
    assert_eq!(again["unread"], 2);
    let texts: Vec<Value> = messages(&app, &again)
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [json!("dois"), json!("um")]);

    let (code, read) = app.call("POST", &format!("{path}/read"), None).await;
    assert_eq!((code, read["unread"].as_i64()), (200, Some(0)), "{read}");
    // WhatsApp hears it: one receipt naming the newest message, which marks both read.
    assert_eq!(
        read["receipt"],
        json!({"status": "sent", "messages": 2}),
        "{read}"
    );
    assert_eq!(
        bodies(&app, "whatsapp_cloud", "/v21.0/106540352242922/messages")
            .into_iter()
            .filter(|b| b.get("status").is_some())
            .collect::<Vec<_>>(),
        [json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.2"})]
    );

    let (code, bad) = app
        .call("GET", "/v1/conversations?channel=fax&status=x", None)
        .await;
    assert_eq!(code, 422);
    let fields: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["channel", "status"]);
}

/// A server-wide account belongs to no tenant: without `inbound_tenant` its inbound
/// messages are refused (the provider retries them) after its reports are recorded.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_wide_account_without_an_inbound_tenant_refuses_inbound_messages() {
    let app = app().await;
    let message = whatsapp_cloud::inbound_webhook(
        Some("pombo-test-app-secret"),
        "106540352242922",
        ("5511987650001", "Ana"),
        "wamid.server-wide",
        chrono::Utc::now().timestamp(),
        ("text", json!({"body": "oi"})),
    );
    let (code, problem) = app
        .post_callback("/v1/callbacks/whatsapp_cloud/whatsapp-cloud", &message)
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "inbound_tenant", "{problem}");
    assert!(conversations(&app, &app.api_key).await.is_empty());
}

/// A contact and a message written before a key rotation (here: in clear, as without a
/// keyring) are still read, and `pombo-worker reseal` rewrites them under the current key.
#[tokio::test(flavor = "multi_thread")]
async fn reseal_rewrites_contacts_and_messages_under_the_current_key() {
    use pombo_store::entities::{contact, conversation_message};
    use sea_orm::EntityTrait;

    let app = app().await;
    let wa = tenant_account(&app, "wa", &fake_account(&app, "whatsapp-cloud")).await;
    let message = whatsapp_cloud::inbound_webhook(
        Some("pombo-test-app-secret"),
        "106540352242922",
        ("5511987650001", "Ana"),
        "wamid.reseal",
        chrono::Utc::now().timestamp(),
        ("text", json!({"body": "antes da rotação"})),
    );
    // Written as a process without a keyring writes it.
    pombo_store::sealed::install(None);
    let stored = app.post_callback(&wa, &message).await;
    pombo_store::sealed::install(
        pombo_store::sealed::Keyring::from_config(&app.config.encryption).unwrap(),
    );
    assert_eq!(stored.0, 200, "{:?}", stored.1);
    let contact = contact::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert!(!contact.profile.starts_with("v2:"), "{}", contact.profile);

    pombo_worker::reseal(&app.config).await.unwrap();
    let contact = contact::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert!(
        contact.profile.starts_with("v2:test:"),
        "{}",
        contact.profile
    );
    assert!(
        contact.address_digest.starts_with("h1:test:"),
        "{}",
        contact.address_digest
    );
    let row = conversation_message::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(row.body.starts_with("v2:test:"), "{}", row.body);

    // Still read, and the contact still found by its number: its next message joins it.
    let again = whatsapp_cloud::inbound_webhook(
        Some("pombo-test-app-secret"),
        "106540352242922",
        ("5511987650001", "Ana"),
        "wamid.after",
        chrono::Utc::now().timestamp(),
        ("text", json!({"body": "depois"})),
    );
    assert_eq!(app.post_callback(&wa, &again).await.0, 200);
    let all = conversations(&app, &app.api_key).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let texts: Vec<Value> = messages(&app, &all[0])
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [json!("depois"), json!("antes da rotação")]);
}

/// A reply is a notification through the conversation's account: it reaches the provider
/// with the provider's own request, comes back with its reports, and shows in the
/// conversation as an outbound message with its delivery status.
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_goes_out_through_the_conversations_account_and_shows_its_delivery() {
    let app = spawn_app_with(AppOptions {
        confirmation_timeout_secs: 120,
        ..Default::default()
    })
    .await;
    let wa = tenant_account(&app, "wa", &fake_account(&app, "whatsapp-cloud")).await;
    let inbound = whatsapp_cloud::inbound_webhook(
        Some("pombo-test-app-secret"),
        "106540352242922",
        ("5511987650001", "Ana"),
        "wamid.question",
        chrono::Utc::now().timestamp(),
        ("text", json!({"body": "Meu pedido chegou?"})),
    );
    assert_eq!(app.post_callback(&wa, &inbound).await.0, 200);
    let conversation = conversations(&app, &app.api_key).await.remove(0);
    let path = format!(
        "/v1/conversations/{}/messages",
        conversation["id"].as_str().unwrap()
    );

    let reply = json!({"content": {"text": "Chegou sim, {{ name }}!"}, "data": {"name": "Ana"}, "idempotency_key": "r-1"});
    let (code, accepted) = app.call("POST", &path, Some(&reply)).await;
    assert_eq!(code, 202, "{accepted}");
    let id = accepted["notification_id"].as_str().unwrap().to_owned();
    // The same reply again: the same notification, one message.
    let (code, again) = app.call("POST", &path, Some(&reply)).await;
    assert_eq!(
        (code, again["notification_id"].as_str()),
        (202, Some(id.as_str()))
    );

    let n = app
        .wait_for_status(&id, "sent", std::time::Duration::from_secs(60))
        .await;
    assert_eq!(
        n["provider"], "wa",
        "through the conversation's account: {n}"
    );
    assert_eq!(n["channel"], "whatsapp");
    let sent = app.fakes.requests("whatsapp_cloud");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let body: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(body["to"], "5511987650001");
    assert_eq!(body["type"], "text");
    assert_eq!(body["text"]["body"], "Chegou sim, Ana!");

    // WhatsApp reports the reply delivered: the message shows it.
    let wamid = n["provider_message_id"].as_str().unwrap();
    let delivered = whatsapp_cloud::status_webhook(
        Some("pombo-test-app-secret"),
        "106540352242922",
        &[(wamid, "delivered", chrono::Utc::now().timestamp(), None)],
    );
    assert_eq!(app.post_callback(&wa, &delivered).await.0, 200);
    let all = messages(&app, &conversation).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0]["direction"], "outbound");
    assert_eq!(all[0]["notification_id"], id.as_str());
    assert_eq!(all[0]["status"], "delivered");
    assert_eq!(all[1]["direction"], "inbound");
}

/// Reading a conversation tells its provider (the blue ticks), in the provider's own
/// shape; a provider without read receipts says so and is sent nothing, and a gateway that
/// fails leaves the conversation read all the same, the receipt saying why.
#[tokio::test(flavor = "multi_thread")]
async fn reading_a_conversation_sends_the_providers_read_receipt() {
    let app = app().await;
    let now = chrono::Utc::now().timestamp();
    let evo = tenant_account(&app, "evo", &fake_account(&app, "evolution")).await;
    let evo = evolution::webhook_url(&evo, Some("evolution-test-webhook-secret"));
    let upsert = |id: &str, text: &str| {
        evolution::messages_upsert(
            "pombo",
            id,
            ("5511987650003", "Ana"),
            ("conversation", json!({ "conversation": text })),
            now,
        )
    };
    for (id, text) in [
        ("3EB0000000000000000A", "um"),
        ("3EB0000000000000000B", "dois"),
    ] {
        assert_eq!(app.post_callback(&evo, &upsert(id, text)).await.0, 200);
    }
    let waha = tenant_account(&app, "waha", &fake_account(&app, "waha")).await;
    let waha_message = waha::message_event(
        Some("waha-test-webhook-secret"),
        "default",
        ("5511987650004@c.us", "Bia"),
        "AAAAAAAAAAAAAAAAAAAA",
        "Olá!",
        None,
        now,
    );
    assert_eq!(app.post_callback(&waha, &waha_message).await.0, 200);
    let tg = tenant_account(&app, "tg", &fake_account(&app, "telegram")).await;
    let update = telegram::message_update(
        Some("telegram-test-secret-token"),
        (987654321, "Caio"),
        42,
        "Olá, bot",
        now,
    );
    assert_eq!(app.post_callback(&tg, &update).await.0, 200);

    let all = conversations(&app, &app.api_key).await;
    let read_path = |channel: &str, address: Option<&str>| {
        let c = all
            .iter()
            .find(|c| {
                c["channel"] == channel && address.is_none_or(|a| c["contact"]["address"] == a)
            })
            .unwrap_or_else(|| panic!("no {channel} conversation: {all:?}"));
        format!("/v1/conversations/{}/read", c["id"].as_str().unwrap())
    };

    // Evolution: the keys of both messages, as `messages.upsert` gave them.
    let evo_read = read_path("whatsapp", Some("+5511987650003"));
    let (code, read) = app.call("POST", &evo_read, None).await;
    assert_eq!(code, 200, "{read}");
    assert_eq!(
        read["receipt"],
        json!({"status": "sent", "messages": 2}),
        "{read}"
    );
    let key =
        |id: &str| json!({"remoteJid": "5511987650003@s.whatsapp.net", "fromMe": false, "id": id});
    assert_eq!(
        bodies(&app, "evolution", "/chat/markMessageAsRead/pombo"),
        [json!({"readMessages": [key("3EB0000000000000000A"), key("3EB0000000000000000B")]})]
    );

    // WAHA: `sendSeen` with the session, the chat and the message's id.
    let (code, read) = app
        .call("POST", &read_path("whatsapp", Some("+5511987650004")), None)
        .await;
    assert_eq!(code, 200, "{read}");
    assert_eq!(
        read["receipt"],
        json!({"status": "sent", "messages": 1}),
        "{read}"
    );
    let seen = bodies(&app, "waha", "/api/sendSeen");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["session"], "default");
    assert_eq!(seen[0]["chatId"], "5511987650004@c.us");
    let ids = seen[0]["messageIds"].as_array().unwrap();
    assert!(
        ids.len() == 1 && ids[0].as_str().unwrap().contains("AAAAAAAAAAAAAAAAAAAA"),
        "{seen:?}"
    );

    // Instagram: the `mark_seen` sender action to the person.
    let ig = tenant_account(&app, "ig", &fake_account(&app, "instagram")).await;
    let dm = instagram::message_webhook(
        Some("pombo-test-app-secret"),
        "17841400000000001",
        "1254459154682919",
        "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3",
        "Oi",
        now * 1000,
    );
    assert_eq!(app.post_callback(&ig, &dm).await.0, 200);
    let ig_read = {
        let all = conversations(&app, &app.api_key).await;
        let c = all.iter().find(|c| c["channel"] == "instagram").unwrap();
        format!("/v1/conversations/{}/read", c["id"].as_str().unwrap())
    };
    let (code, read) = app.call("POST", &ig_read, None).await;
    assert_eq!(code, 200, "{read}");
    assert_eq!(
        read["receipt"],
        json!({"status": "sent", "messages": 1}),
        "{read}"
    );
    assert_eq!(
        bodies(&app, "instagram", "/v21.0/17841400000000001/messages"),
        [json!({"recipient": {"id": "1254459154682919"}, "sender_action": "mark_seen"})]
    );

    // Telegram bots have no read receipts: said, and nothing is sent.
    let telegram_before = app.fakes.requests("telegram").len();
    let (code, read) = app.call("POST", &read_path("telegram", None), None).await;
    assert_eq!((code, read["unread"].as_i64()), (200, Some(0)), "{read}");
    assert_eq!(
        read["receipt"],
        json!({"status": "no_such_call", "messages": 0})
    );
    assert_eq!(app.fakes.requests("telegram").len(), telegram_before);

    // Nothing unread: nothing to tell.
    let (_, read) = app.call("POST", &evo_read, None).await;
    assert_eq!(read["receipt"]["status"], "nothing_unread", "{read}");
    assert_eq!(
        bodies(&app, "evolution", "/chat/markMessageAsRead/pombo").len(),
        1
    );

    // The gateway fails: the conversation is read anyway, and the receipt says why.
    assert_eq!(
        app.post_callback(&evo, &upsert("3EB0000000000000000C", "três"))
            .await
            .0,
        200
    );
    app.fakes.fail_next("evolution", 1, Fault::status(503));
    let (code, read) = app.call("POST", &evo_read, None).await;
    assert_eq!((code, read["unread"].as_i64()), (200, Some(0)), "{read}");
    assert_eq!(read["receipt"]["status"], "failed", "{read}");
    assert!(
        read["receipt"]["error"].as_str().unwrap().contains("503"),
        "{read}"
    );
}

/// Where a provider has an API for its webhook, Pombo points it at the account's callback
/// URL with the secret it checks callbacks with (Telegram's `setWebhook`, Evolution's
/// `webhook/set`, WAHA's session webhooks) and reads it back; providers without one, and
/// accounts without the secret, are told so.
#[tokio::test(flavor = "multi_thread")]
async fn callbacks_are_pointed_at_the_account_through_the_providers_api() {
    let app = app().await;
    let id_of = |callback_path: &str| callback_path.rsplit('/').next().unwrap().to_owned();
    let callback_url = |callback_path: &str| app.url(callback_path);

    // Telegram: setWebhook with the account's URL, its secret token and the updates Pombo reads.
    let tg = tenant_account(&app, "tg", &fake_account(&app, "telegram")).await;
    let path = format!("/v1/providers/{}/callbacks", id_of(&tg));
    let (code, pointed) = app.call("PUT", &path, None).await;
    assert_eq!(code, 200, "{pointed}");
    assert_eq!(pointed["url"], callback_url(&tg).as_str(), "{pointed}");
    assert_eq!(pointed["events"], json!(["message", "edited_message"]));
    let bot = "/bot123456789:AAPomboTestTokenForTheFakeBotApi/setWebhook";
    assert_eq!(
        bodies(&app, "telegram", bot),
        [json!({
            "url": callback_url(&tg),
            "secret_token": "telegram-test-secret-token",
            "allowed_updates": ["message", "edited_message"],
        })]
    );
    let (code, read) = app.call("GET", &path, None).await;
    assert_eq!((code, &read), (200, &pointed));

    // Evolution: the secret rides in the URL (Evolution signs nothing); shown masked.
    let evo = tenant_account(&app, "evo", &fake_account(&app, "evolution")).await;
    let path = format!("/v1/providers/{}/callbacks", id_of(&evo));
    let (code, pointed) = app.call("PUT", &path, None).await;
    assert_eq!(code, 200, "{pointed}");
    assert_eq!(
        pointed["url"],
        format!("{}?secret=********", callback_url(&evo)),
        "{pointed}"
    );
    assert_eq!(
        pointed["events"],
        json!([
            "MESSAGES_UPSERT",
            "MESSAGES_UPDATE",
            "MESSAGES_EDITED",
            "MESSAGES_DELETE",
            "CONNECTION_UPDATE",
            "QRCODE_UPDATED"
        ])
    );
    let set = bodies(&app, "evolution", "/webhook/set/pombo");
    assert_eq!(set.len(), 1, "{set:?}");
    assert_eq!(
        set[0]["webhook"]["url"],
        format!(
            "{}?secret=evolution-test-webhook-secret",
            callback_url(&evo)
        )
    );
    assert_eq!(set[0]["webhook"]["enabled"], true);
    let (code, read) = app.call("GET", &path, None).await;
    assert_eq!((code, &read), (200, &pointed));

    // WAHA: a session webhook signed with the account's HMAC key, with WAHA's retries.
    let waha = tenant_account(&app, "waha", &fake_account(&app, "waha")).await;
    let path = format!("/v1/providers/{}/callbacks", id_of(&waha));
    let (code, pointed) = app.call("PUT", &path, None).await;
    assert_eq!(code, 200, "{pointed}");
    assert_eq!(pointed["url"], callback_url(&waha).as_str(), "{pointed}");
    assert_eq!(
        pointed["events"],
        json!([
            "message",
            "message.ack",
            "message.reaction",
            "message.revoked",
            "message.edited",
            "session.status"
        ])
    );
    let put = bodies(&app, "waha", "/api/sessions/default");
    let hook = &put.last().unwrap()["config"]["webhooks"][0];
    assert_eq!(hook["hmac"]["key"], "waha-test-webhook-secret", "{put:?}");
    assert_eq!(hook["retries"]["attempts"], 15);
    // Pointing again replaces Pombo's webhook instead of adding a second one.
    let (code, again) = app.call("PUT", &path, None).await;
    assert_eq!((code, &again), (200, &pointed));
    let put = bodies(&app, "waha", "/api/sessions/default");
    let hooks = put.last().unwrap()["config"]["webhooks"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(hooks, 1, "{put:?}");

    // Stopping them: Telegram's deleteWebhook, Evolution's webhook disabled (without the
    // secret in it), Pombo's webhook out of the WAHA session's.
    let (code, stopped) = app
        .call(
            "DELETE",
            &format!("/v1/providers/{}/callbacks", id_of(&tg)),
            None,
        )
        .await;
    assert_eq!(code, 200, "{stopped}");
    assert!(stopped["url"].is_null(), "{stopped}");
    assert_eq!(
        bodies(
            &app,
            "telegram",
            "/bot123456789:AAPomboTestTokenForTheFakeBotApi/deleteWebhook"
        )
        .len(),
        1
    );
    let (code, stopped) = app
        .call(
            "DELETE",
            &format!("/v1/providers/{}/callbacks", id_of(&evo)),
            None,
        )
        .await;
    assert_eq!(code, 200, "{stopped}");
    assert!(stopped["url"].is_null(), "{stopped}");
    let set = bodies(&app, "evolution", "/webhook/set/pombo");
    assert_eq!(set.last().unwrap()["webhook"]["enabled"], false, "{set:?}");
    assert_eq!(
        set.last().unwrap()["webhook"]["url"],
        callback_url(&evo).as_str()
    );
    let (code, stopped) = app
        .call(
            "DELETE",
            &format!("/v1/providers/{}/callbacks", id_of(&waha)),
            None,
        )
        .await;
    assert_eq!(code, 200, "{stopped}");
    assert!(stopped["url"].is_null(), "{stopped}");
    let put = bodies(&app, "waha", "/api/sessions/default");
    assert_eq!(
        put.last().unwrap()["config"]["webhooks"],
        json!([]),
        "{put:?}"
    );

    // No API for it: configured in the provider's console.
    let twilio = tenant_account(
        &app,
        "sms",
        &crate::support::providers::fake_twilio(&format!("http://{}/twilio", app.fakes.addr)),
    )
    .await;
    let (code, problem) = app
        .call(
            "PUT",
            &format!("/v1/providers/{}/callbacks", id_of(&twilio)),
            None,
        )
        .await;
    assert_eq!(code, 409, "{problem}");

    // Without the secret, callbacks would be refused: said, naming the setting, and the
    // provider is not called.
    let ProviderSettings::Telegram(mut bare) = fake_account(&app, "telegram") else {
        unreachable!("the fakes' telegram account")
    };
    bare.secret_token = None;
    let tg_bare = tenant_account(&app, "tg-bare", &ProviderSettings::Telegram(bare)).await;
    let before = app.fakes.requests("telegram").len();
    let (code, problem) = app
        .call(
            "PUT",
            &format!("/v1/providers/{}/callbacks", id_of(&tg_bare)),
            None,
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "settings.secret_token");
    assert_eq!(app.fakes.requests("telegram").len(), before);

    // Another tenant's account is not found.
    let other = app.other_tenant_key().await;
    let (code, _) = app
        .call_as(
            &other,
            "PUT",
            &format!("/v1/providers/{}/callbacks", id_of(&tg)),
            None,
        )
        .await;
    assert_eq!(code, 404);
}

/// A gateway account's instance is created on its gateway, paired by QR code, watched and
/// deleted (Evolution instances, WAHA sessions), each call in the gateway's own shape;
/// creating one twice is harmless, and other providers have no instances.
#[tokio::test(flavor = "multi_thread")]
async fn gateway_instances_are_created_paired_and_deleted() {
    let app = app().await;
    let id_of = |callback_path: &str| callback_path.rsplit('/').next().unwrap().to_owned();

    // Evolution: a new instance, `loja-2`, beside the fakes' connected `pombo`.
    let ProviderSettings::Evolution(mut settings) = fake_account(&app, "evolution") else {
        unreachable!("the fakes' evolution account")
    };
    settings.instance = "loja-2".into();
    let evo = id_of(&tenant_account(&app, "evo-2", &ProviderSettings::Evolution(settings)).await);
    let instance = format!("/v1/providers/{evo}/instance");
    let (code, problem) = app.call("GET", &instance, None).await;
    assert_eq!(code, 424, "no such instance yet: {problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{problem}"
    );

    let pairing = json!({"name": "loja-2", "connection": "pairing", "gateway_state": "connecting"});
    let (code, created) = app.call("POST", &instance, None).await;
    assert_eq!((code, &created), (201, &pairing));
    assert_eq!(
        bodies(&app, "evolution", "/instance/create"),
        [json!({"instanceName": "loja-2", "integration": "WHATSAPP-BAILEYS", "qrcode": true})]
    );
    // Again: the gateway says the name is in use, which means it is there.
    let (code, again) = app.call("POST", &instance, None).await;
    assert_eq!((code, &again), (201, &pairing));
    let (code, read) = app.call("GET", &instance, None).await;
    assert_eq!((code, &read), (200, &pairing));

    let (code, qr) = app.call("GET", &format!("{instance}/qr"), None).await;
    assert_eq!(code, 200, "{qr}");
    assert_eq!(qr["qr"], "2@fake-qr-loja-2,pombo");
    assert!(
        qr["image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );

    let (code, _) = app.call("DELETE", &instance, None).await;
    assert_eq!(code, 204);
    let deletes: Vec<String> = app
        .fakes
        .requests("evolution")
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        deletes,
        ["/instance/logout/loja-2", "/instance/delete/loja-2"]
    );
    assert_eq!(app.call("GET", &instance, None).await.0, 424);

    // The fakes' own instance is paired: its state says so, and it has no QR code.
    let pombo = id_of(&tenant_account(&app, "evo", &fake_account(&app, "evolution")).await);
    let (code, read) = app
        .call("GET", &format!("/v1/providers/{pombo}/instance"), None)
        .await;
    assert_eq!(code, 200, "{read}");
    assert_eq!(read["connection"], "connected");
    let (code, _) = app
        .call("GET", &format!("/v1/providers/{pombo}/instance/qr"), None)
        .await;
    assert_eq!(code, 409);

    // WAHA: a session, started, waiting for its QR code; then logged out and deleted.
    let ProviderSettings::Waha(mut settings) = fake_account(&app, "waha") else {
        unreachable!("the fakes' waha account")
    };
    settings.session = "loja-2".into();
    let waha = id_of(&tenant_account(&app, "waha-2", &ProviderSettings::Waha(settings)).await);
    let instance = format!("/v1/providers/{waha}/instance");
    let (code, created) = app.call("POST", &instance, None).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        created,
        json!({"name": "loja-2", "connection": "pairing", "gateway_state": "SCAN_QR_CODE"})
    );
    assert_eq!(
        bodies(&app, "waha", "/api/sessions"),
        [json!({"name": "loja-2", "start": true})]
    );
    let (code, qr) = app.call("GET", &format!("{instance}/qr"), None).await;
    assert_eq!((code, &qr), (200, &json!({"qr": "2@fake-qr-loja-2,pombo"})));
    assert_eq!(app.call("DELETE", &instance, None).await.0, 204);
    assert_eq!(app.call("GET", &instance, None).await.0, 424);

    // SMS has no instances.
    let twilio = tenant_account(
        &app,
        "sms",
        &crate::support::providers::fake_twilio(&format!("http://{}/twilio", app.fakes.addr)),
    )
    .await;
    let (code, _) = app
        .call(
            "POST",
            &format!("/v1/providers/{}/instance", id_of(&twilio)),
            None,
        )
        .await;
    assert_eq!(code, 409);
}

/// WhatsApp's Cloud API takes free-form messages only within 24 hours of the contact's last
/// one: outside it a reply must be a template, and anything else is refused, saying so.
#[tokio::test(flavor = "multi_thread")]
async fn whatsapp_replies_outside_the_24_hour_window_must_be_templates() {
    let app = app().await;
    let wa = tenant_account(&app, "wa", &fake_account(&app, "whatsapp-cloud")).await;
    let yesterday = chrono::Utc::now() - chrono::Duration::hours(25);
    let inbound = whatsapp_cloud::inbound_webhook(
        Some("pombo-test-app-secret"),
        "106540352242922",
        ("5511987650001", "Ana"),
        "wamid.old",
        yesterday.timestamp(),
        ("text", json!({"body": "oi"})),
    );
    assert_eq!(app.post_callback(&wa, &inbound).await.0, 200);
    let conversation = conversations(&app, &app.api_key).await.remove(0);
    let path = format!(
        "/v1/conversations/{}/messages",
        conversation["id"].as_str().unwrap()
    );

    let (code, problem) = app
        .call(
            "POST",
            &path,
            Some(&json!({"content": {"text": "ainda aí?"}})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "content");
    let reason = problem["errors"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("24 hours") && reason.contains("template"),
        "{reason}"
    );

    let template = json!({"content": {"template": {"name": "order_update", "language": "pt_BR"}}});
    let (code, accepted) = app.call("POST", &path, Some(&template)).await;
    assert_eq!(code, 202, "{accepted}");
    assert_eq!(accepted["message"]["text"], "template `order_update`");

    // Within the window again once the contact writes.
    let fresh = whatsapp_cloud::inbound_webhook(
        Some("pombo-test-app-secret"),
        "106540352242922",
        ("5511987650001", "Ana"),
        "wamid.new",
        chrono::Utc::now().timestamp(),
        ("text", json!({"body": "sim"})),
    );
    assert_eq!(app.post_callback(&wa, &fresh).await.0, 200);
    let (code, accepted) = app
        .call("POST", &path, Some(&json!({"content": {"text": "ótimo"}})))
        .await;
    assert_eq!(code, 202, "{accepted}");
}

/// A WhatsApp notification opens the recipient's conversation with the account that sent
/// it, so their answer lands beside it.
#[tokio::test(flavor = "multi_thread")]
async fn a_sent_whatsapp_notification_opens_the_conversation_the_answer_joins() {
    let app = spawn_app_with(AppOptions::default()).await;
    let wa = tenant_account(&app, "wa", &fake_account(&app, "whatsapp-cloud")).await;
    let id = app
        .send(&json!({"channel": "whatsapp", "to": "+5511987650001",
                      "content": {"template": {"name": "order_shipped", "language": "pt_BR"}}}))
        .await;
    app.wait_for_status(&id, "sent", std::time::Duration::from_secs(60))
        .await;
    let mut all = Vec::new();
    for _ in 0..100 {
        all = conversations(&app, &app.api_key).await;
        if !all.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["provider"], "wa");
    assert_eq!(all[0]["unread"], 0);

    let answer = whatsapp_cloud::inbound_webhook(
        Some("pombo-test-app-secret"),
        "106540352242922",
        ("5511987650001", "Ana"),
        "wamid.answer",
        chrono::Utc::now().timestamp() + 1,
        ("text", json!({"body": "Obrigada!"})),
    );
    assert_eq!(app.post_callback(&wa, &answer).await.0, 200);
    let all = conversations(&app, &app.api_key).await;
    assert_eq!(all.len(), 1, "the answer joined it: {all:?}");
    let texts: Vec<(Value, Value)> = messages(&app, &all[0])
        .await
        .iter()
        .map(|m| (m["direction"].clone(), m["text"].clone()))
        .collect();
    assert_eq!(
        texts,
        [
            (json!("inbound"), json!("Obrigada!")),
            (json!("outbound"), json!("template `order_shipped`")),
        ]
    );
    assert_eq!(
        messages(&app, &all[0]).await[1]["notification_id"],
        id.as_str()
    );
}

/// An SMS joins the conversation its contact started by writing in, and opens none: the
/// many one-way texts (codes, alerts) leave no conversations behind.
#[tokio::test(flavor = "multi_thread")]
async fn an_sms_joins_only_a_conversation_its_contact_started() {
    let app = spawn_app_with(AppOptions::default()).await;
    let tw = tenant_account(
        &app,
        "tw",
        &crate::support::providers::fake_twilio(&format!("http://{}/twilio", app.fakes.addr)),
    )
    .await;
    let sms =
        |text: &str| json!({"channel": "sms", "to": "+5511987650009", "content": {"text": text}});
    let first = app.send(&sms("Seu código é 1234")).await;
    app.wait_for_status(&first, "sent", std::time::Duration::from_secs(60))
        .await;
    // Long enough for a join to show: it follows the recorded send at once.
    for _ in 0..10 {
        assert!(conversations(&app, &app.api_key).await.is_empty());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let sid = format!("AC{}", "0123456789abcdef".repeat(2));
    let answer = twilio::inbound_message(
        &"fedcba9876543210".repeat(2),
        &app.url(&tw),
        &sid,
        "SM00000000000000000000000000000009",
        ("+5511987650009", "+15005550006"),
        "Não pedi código nenhum",
        &[],
    );
    assert_eq!(app.post_callback(&tw, &answer).await.0, 200);
    let second = app.send(&sms("Desculpe, foi engano")).await;
    app.wait_for_status(&second, "sent", std::time::Duration::from_secs(60))
        .await;
    let mut texts = Vec::new();
    for _ in 0..100 {
        let all = conversations(&app, &app.api_key).await;
        assert_eq!(all.len(), 1, "{all:?}");
        texts = messages(&app, &all[0])
            .await
            .iter()
            .map(|m| {
                (
                    m["direction"].clone(),
                    m["text"].clone(),
                    m["notification_id"].clone(),
                )
            })
            .collect();
        if texts.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        texts,
        [
            (
                json!("outbound"),
                json!("Desculpe, foi engano"),
                json!(second)
            ),
            (
                json!("inbound"),
                json!("Não pedi código nenhum"),
                Value::Null
            ),
        ]
    );
}

/// The API process killed while people's messages pour in loses none it acknowledged: each
/// message is stored before its 2xx, and the provider's retries of the others are stored
/// once each.
#[tokio::test(flavor = "multi_thread")]
async fn an_api_killed_during_ingest_loses_no_acknowledged_message() {
    let app = app().await;
    let wa = tenant_account(&app, "wa", &fake_account(&app, "whatsapp-cloud")).await;
    let mut api = crate::support::ApiProcess::start(&app.config).await;
    let base = api.base.clone();
    let client = reqwest::Client::new();

    const MESSAGES: usize = 200;
    let message = |n: usize| {
        whatsapp_cloud::inbound_webhook(
            Some("pombo-test-app-secret"),
            "106540352242922",
            (&format!("55119876{n:05}"), "Someone"),
            &format!("wamid.crash-{n}"),
            chrono::Utc::now().timestamp(),
            ("text", json!({"body": format!("message {n}")})),
        )
    };
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sends = (0..MESSAGES).map(|n| {
        let (client, url, callback) = (client.clone(), format!("{base}{wa}"), message(n));
        let answered = answered.clone();
        tokio::spawn(async move {
            let mut request = client
                .post(url)
                .header("content-type", &callback.content_type)
                .body(callback.body);
            for (name, value) in &callback.headers {
                request = request.header(name, value);
            }
            let acknowledged = matches!(request.send().await, Ok(r) if r.status() == 200);
            if acknowledged {
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (n, acknowledged)
        })
    });
    let sends: Vec<_> = sends.collect();
    // Killed mid-way, once a few are answered: some answered, some in flight.
    let waiting = std::time::Instant::now();
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 10 {
        assert!(
            waiting.elapsed() < std::time::Duration::from_secs(60),
            "the API answered none of the first messages"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    api.kill();
    let mut acknowledged = Vec::new();
    let mut unanswered = Vec::new();
    for send in sends {
        let (n, ok) = send.await.unwrap();
        if ok {
            acknowledged.push(n);
        } else {
            unanswered.push(n);
        }
    }
    assert!(
        !acknowledged.is_empty(),
        "nothing was answered before the kill"
    );
    assert!(!unanswered.is_empty(), "the kill came after every answer");

    use pombo_store::entities::conversation_message;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let stored = |n: usize| {
        let db = app.db.clone();
        async move {
            conversation_message::Entity::find()
                .filter(
                    conversation_message::Column::ProviderMessageId.eq(format!("wamid.crash-{n}")),
                )
                .all(&db)
                .await
                .unwrap()
                .len()
        }
    };
    for &n in &acknowledged {
        assert_eq!(
            stored(n).await,
            1,
            "message {n} was acknowledged but is not stored"
        );
    }
    // The provider retries what got no 2xx, against a live API: each is stored once.
    for &n in &unanswered {
        let (code, _) = app.post_callback(&wa, &message(n)).await;
        assert_eq!(code, 200);
    }
    for n in 0..MESSAGES {
        assert_eq!(stored(n).await, 1, "message {n}");
    }
}

/// A contact's first messages arriving at once (and a webhook delivered twice at once) race
/// to add the same contact, conversation and message: every one is answered 200, and
/// there is one of each.
#[tokio::test(flavor = "multi_thread")]
async fn simultaneous_first_messages_of_a_contact_make_one_conversation() {
    let app = app().await;
    let wa = tenant_account(&app, "wa", &fake_account(&app, "whatsapp-cloud")).await;
    let message = |n: usize| {
        whatsapp_cloud::inbound_webhook(
            Some("pombo-test-app-secret"),
            "106540352242922",
            ("5511987650001", "Ana"),
            &format!("wamid.rush-{}", n % 10),
            chrono::Utc::now().timestamp(),
            ("text", json!({"body": format!("message {}", n % 10)})),
        )
    };
    let answers = futures::future::join_all((0..20).map(|n| {
        let callback = message(n);
        let (app, wa) = (&app, &wa);
        async move { app.post_callback(wa, &callback).await }
    }))
    .await;
    for (code, body) in &answers {
        assert_eq!(*code, 200, "{body}");
    }
    let all = conversations(&app, &app.api_key).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(messages(&app, &all[0]).await.len(), 10);
    assert_eq!(all[0]["unread"], 10);
}
