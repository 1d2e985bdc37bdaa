//! Server-wide provider accounts pointing at a running fakes server, with credentials the
//! fakes accept: what `make run` configures (`pombo-fakes --print-config`) and what the
//! tests start from. Throwaway test credentials only. Written as the configuration file's
//! JSON/TOML tables, not Pombo's types: the fakes share no code with the clients they check.

use serde_json::{Value, json};

/// The WhatsApp Cloud account's business number id and app secret (which signs its webhooks).
pub const WHATSAPP_PHONE_NUMBER_ID: &str = "106540352242922";
pub const WHATSAPP_APP_SECRET: &str = "pombo-test-app-secret";
/// The Evolution account's `?secret=` and the WAHA account's HMAC key.
pub const EVOLUTION_WEBHOOK_SECRET: &str = "evolution-test-webhook-secret";
pub const WAHA_WEBHOOK_SECRET: &str = "waha-test-webhook-secret";
/// The `secret_token` the Telegram bot's webhook is set with.
pub const TELEGRAM_SECRET_TOKEN: &str = "telegram-test-secret-token";

/// The Twilio account the fake accepts (test SID and auth token shapes).
pub const TWILIO_ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_AUTH_TOKEN: &str = "fedcba9876543210fedcba9876543210";
pub const TWILIO_FROM: &str = "+15005550006";

/// Every non-email provider, grouped by channel in failover order, each a `[[providers]]`
/// table (`name`, `type` and its settings) as Pombo's configuration reads it. Email is left
/// to the server's SMTP account (maildev locally), where people can read what was sent.
pub fn accounts(base_url: &str) -> Vec<Value> {
    let url = |prefix: &str| format!("{}/{prefix}", base_url.trim_end_matches('/'));
    let account = |name: &str, mut settings: Value| {
        settings["name"] = name.into();
        settings
    };
    vec![
        account("twilio", twilio(&url("twilio"))),
        account(
            "vonage",
            json!({
                "type": "vonage",
                "api_key": "a1b2c3d4",
                "api_secret": "A1b2C3d4E5f6G7h8",
                "from": "Pombo",
                "base_url": url("vonage"),
            }),
        ),
        account(
            "fcm",
            json!({
                "type": "fcm",
                "project_id": crate::fcm::TEST_PROJECT_ID,
                "client_email": crate::fcm::TEST_CLIENT_EMAIL,
                "private_key": crate::fcm::TEST_SERVICE_ACCOUNT_PRIVATE_KEY_PEM,
                "token_uri": format!("{}/token", url("fcm")),
                "base_url": url("fcm"),
            }),
        ),
        account(
            "apns",
            json!({
                "type": "apns",
                "team_id": crate::apns::TEST_TEAM_ID,
                "key_id": crate::apns::TEST_KEY_ID,
                "private_key": crate::apns::TEST_P8_PRIVATE_KEY_PEM,
                "topic": "dev.pombo.app",
                "base_url": url("apns"),
            }),
        ),
        account(
            "whatsapp-cloud",
            json!({
                "type": "whatsapp_cloud",
                "verify_token": "pombo-test-verify-token",
                "phone_number_id": WHATSAPP_PHONE_NUMBER_ID,
                "access_token": "EAAGpombotesttoken",
                "app_secret": WHATSAPP_APP_SECRET,
                "base_url": url("whatsapp_cloud"),
            }),
        ),
        account(
            "callbell",
            json!({
                "type": "callbell",
                // Reports through an account without its secret are refused.
                "webhook_secret": "callbell-test-webhook-secret",
                "api_token": "callbell-test-token",
                "base_url": url("callbell"),
            }),
        ),
        account(
            "evolution",
            json!({
                "type": "evolution",
                "webhook_secret": EVOLUTION_WEBHOOK_SECRET,
                "base_url": url("evolution"),
                "instance": "pombo",
                "api_key": "evolution-test-key",
            }),
        ),
        account(
            "waha",
            json!({
                "type": "waha",
                "webhook_secret": WAHA_WEBHOOK_SECRET,
                "base_url": url("waha"),
                "api_key": "waha-test-key",
            }),
        ),
        account(
            "instagram",
            json!({
                "type": "instagram",
                "account_id": "17841400000000001",
                "access_token": "IGQVpombotesttoken",
                "app_secret": "pombo-test-app-secret",
                "base_url": url("instagram"),
            }),
        ),
        account(
            "telegram",
            json!({
                "type": "telegram",
                "bot_token": "123456789:AAPomboTestTokenForTheFakeBotApi",
                "secret_token": TELEGRAM_SECRET_TOKEN,
                "base_url": url("telegram"),
            }),
        ),
        account(
            "webhook",
            json!({"type": "webhook", "secret": crate::webhook::TEST_SECRET}),
        ),
    ]
}

/// A Twilio account's settings the fake accepts.
pub fn twilio(base_url: &str) -> Value {
    json!({
        "type": "twilio",
        "account_sid": TWILIO_ACCOUNT_SID,
        "auth_token": TWILIO_AUTH_TOKEN,
        "from": TWILIO_FROM,
        "base_url": base_url,
    })
}

/// An Amazon SES account's settings the fake accepts (its test key, signing for
/// `us-east-1`). Not in [`accounts`]: email stays with the SMTP account, where people can
/// read what was sent.
pub fn ses(base_url: &str) -> Value {
    json!({
        "type": "ses",
        "region": crate::ses::TEST_REGION,
        "access_key_id": crate::ses::TEST_ACCESS_KEY_ID,
        "secret_access_key": crate::ses::TEST_SECRET_ACCESS_KEY,
        "from": "Pombo <noreply@pombo.test>",
        "base_url": base_url,
    })
}

/// The accounts as a Pombo configuration file (`[[providers]]` tables).
pub fn config_toml(base_url: &str) -> String {
    let header = format!(
        "# Provider accounts for the local fakes at {base_url} (generated by\n\
         # `pombo-fakes --print-config`). Throwaway test credentials.\n\n"
    );
    // What people write to the chat accounts goes to the tenant of `make run`'s dev key
    // (`pombo_api::DEV_TENANT`).
    let providers = accounts(base_url)
        .into_iter()
        .map(|mut a| {
            if matches!(
                a["type"].as_str().unwrap_or_default(),
                "whatsapp_cloud"
                    | "twilio"
                    | "evolution"
                    | "waha"
                    | "telegram"
                    | "callbell"
                    | "instagram"
            ) {
                a["inbound_tenant"] = "dev".into();
            }
            a
        })
        .collect::<Vec<_>>();
    header
        + &toml::to_string(&json!({ "providers": providers })).expect("accounts serialise to TOML")
}
