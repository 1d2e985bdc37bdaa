//! Changes people make to what they sent: an edit replaces the message's text (it says
//! when), a deletion for everyone withdraws its text and file; as Evolution (Baileys'
//! protocol messages, `messages.delete`), WAHA (`message.edited`, `message.revoked`) and
//! Telegram (`edited_message`) report them. No change adds a message, and an edit of a
//! message Pombo never saw is kept as the message it now is.

use pombo_fakes::{evolution, telegram, waha};
use serde_json::json;

use crate::support::{
    AppOptions, TestApp,
    providers::{fakes_tenant_account as tenant_account, messages_with as messages_of},
    spawn_app_with,
};

async fn app() -> TestApp {
    spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await
}

async fn post(app: &TestApp, path: &str, callback: &pombo_fakes::FakeCallback) {
    let (code, receipt) = app.post_callback(path, callback).await;
    assert_eq!(code, 200, "{path}: {receipt}");
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_replace_the_text_and_deletions_withdraw_it() {
    let app = app().await;
    let now = chrono::Utc::now().timestamp();

    // Evolution: a text, then Baileys' edit of it, then its deletion for everyone.
    let evo = evolution::webhook_url(
        &tenant_account(&app, "evolution").await,
        Some(pombo_fakes::accounts::EVOLUTION_WEBHOOK_SECRET),
    );
    let person = ("5511987650003", "Ana");
    let original = "3EB0C767D26A1D8E2F0A";
    post(
        &app,
        &evo,
        &evolution::messages_upsert(
            "pombo",
            original,
            person,
            ("conversation", json!({"conversation": "Quero 2 camisas"})),
            now - 60,
        ),
    )
    .await;
    let edit = json!({"protocolMessage": {
        "key": {"remoteJid": "5511987650003@s.whatsapp.net", "fromMe": false, "id": original},
        "type": "MESSAGE_EDIT",
        "editedMessage": {"conversation": "Quero 3 camisas"},
        "timestampMs": (now - 30) * 1000,
    }});
    post(
        &app,
        &evo,
        &evolution::messages_upsert(
            "pombo",
            "3EB0EDIT0000000001",
            person,
            ("protocolMessage", edit),
            now - 30,
        ),
    )
    .await;
    // A protocol message that is no one's words (disappearing messages turned on).
    let setting =
        json!({"protocolMessage": {"type": "EPHEMERAL_SETTING", "ephemeralExpiration": 604800}});
    post(
        &app,
        &evo,
        &evolution::messages_upsert(
            "pombo",
            "3EB0EPHEMERAL00001",
            person,
            ("protocolMessage", setting),
            now - 20,
        ),
    )
    .await;
    let messages = messages_of(&app, "+5511987650003").await;
    assert_eq!(messages.len(), 1, "an edit adds no message: {messages:?}");
    assert_eq!(messages[0]["text"], "Quero 3 camisas");
    assert!(messages[0]["edited_at"].is_string(), "{messages:?}");

    let deleted = evolution::instance_event(
        "pombo",
        "messages.delete",
        json!({"remoteJid": "5511987650003@s.whatsapp.net", "fromMe": false, "id": original}),
    );
    post(&app, &evo, &deleted).await;
    let messages = messages_of(&app, "+5511987650003").await;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].get("text").is_none(), "withdrawn: {messages:?}");
    assert!(messages[0]["revoked_at"].is_string(), "{messages:?}");

    // WAHA: `message.edited`, then `message.revoked`, naming the message by its key id.
    let waha_path = tenant_account(&app, "waha").await;
    let chat = "5511987650004@c.us";
    let secret = Some(pombo_fakes::accounts::WAHA_WEBHOOK_SECRET);
    post(
        &app,
        &waha_path,
        &waha::message_event(
            secret,
            "default",
            (chat, "Bia"),
            "AAAA1111",
            "Chego às 10",
            None,
            now - 60,
        ),
    )
    .await;
    let edited = json!({
        "id": format!("false_{chat}_BBBB2222"), "timestamp": now - 30, "from": chat,
        "fromMe": false, "body": "Chego às 11", "editedMessageId": "AAAA1111",
    });
    post(
        &app,
        &waha_path,
        &waha::session_event(
            secret,
            "default",
            "message.edited",
            edited,
            (now - 30) * 1000,
        ),
    )
    .await;
    let messages = messages_of(&app, "+5511987650004").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["text"], "Chego às 11");
    let revoked = json!({
        "after": {"id": format!("false_{chat}_CCCC3333"), "timestamp": now - 10, "from": chat,
                  "fromMe": false, "body": ""},
        "before": null,
        "revokedMessageId": "AAAA1111",
    });
    post(
        &app,
        &waha_path,
        &waha::session_event(
            secret,
            "default",
            "message.revoked",
            revoked,
            (now - 10) * 1000,
        ),
    )
    .await;
    let messages = messages_of(&app, "+5511987650004").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].get("text").is_none(), "{messages:?}");
    assert!(messages[0]["revoked_at"].is_string(), "{messages:?}");
    // A deletion from someone who never wrote before opens no conversation.
    let stranger = "5511987650099@c.us";
    let revoked = json!({
        "after": {"id": format!("false_{stranger}_DDDD4444"), "timestamp": now - 5,
                  "from": stranger, "fromMe": false, "body": ""},
        "before": null,
        "revokedMessageId": "EEEE5555",
    });
    post(
        &app,
        &waha_path,
        &waha::session_event(
            secret,
            "default",
            "message.revoked",
            revoked,
            (now - 5) * 1000,
        ),
    )
    .await;
    let (_, page) = app.call("GET", "/v1/conversations", None).await;
    assert!(
        !page["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["contact"]["address"] == "+5511987650099"),
        "{page}"
    );

    // Telegram: an `edited_message` of the message stored under the same ids.
    let tg = tenant_account(&app, "telegram").await;
    let token = Some(pombo_fakes::accounts::TELEGRAM_SECRET_TOKEN);
    post(
        &app,
        &tg,
        &telegram::message_update(token, (987654321, "Caio"), 42, "Olá", now - 60),
    )
    .await;
    post(
        &app,
        &tg,
        &telegram::edited_message_update(
            token,
            (987654321, "Caio"),
            42,
            "Olá, tudo bem?",
            (now - 60, now - 5),
        ),
    )
    .await;
    let messages = messages_of(&app, "987654321").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["text"], "Olá, tudo bem?");
    assert!(messages[0]["edited_at"].is_string());

    // An edit of a message sent before Pombo listened: kept as what it now says.
    post(
        &app,
        &tg,
        &telegram::edited_message_update(
            token,
            (987654321, "Caio"),
            7,
            "Mensagem antiga, editada",
            (now - 3600, now - 2),
        ),
    )
    .await;
    let messages = messages_of(&app, "987654321").await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m["text"] == "Mensagem antiga, editada"),
        "{messages:?}"
    );
}
