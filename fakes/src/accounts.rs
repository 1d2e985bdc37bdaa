//! Server-wide provider accounts pointing at a running fakes server, with credentials the
//! fakes accept: what `make run` configures (`pombo-fakes --print-config`) and what the
//! tests start from. Throwaway test credentials only.

use pombo_contract::{
    config::{ProviderAccountConfig, Secret},
    providers::*,
};

/// The WhatsApp Cloud account's business number id and app secret (which signs its webhooks).
pub const WHATSAPP_PHONE_NUMBER_ID: &str = "106540352242922";
pub const WHATSAPP_APP_SECRET: &str = "pombo-test-app-secret";
/// The Evolution account's `?secret=` and the WAHA account's HMAC key.
pub const EVOLUTION_WEBHOOK_SECRET: &str = "evolution-test-webhook-secret";
pub const WAHA_WEBHOOK_SECRET: &str = "waha-test-webhook-secret";
/// The `secret_token` the Telegram bot's webhook is set with.
pub const TELEGRAM_SECRET_TOKEN: &str = "telegram-test-secret-token";

/// Every non-email provider, grouped by channel in failover order. Email is left to the
/// server's SMTP account (maildev locally), where people can read what was sent.
pub fn accounts(base_url: &str) -> Vec<ProviderAccountConfig> {
    let url = |prefix: &str| format!("{}/{prefix}", base_url.trim_end_matches('/'));
    let account = |name: &str, settings| ProviderAccountConfig {
        name: name.into(),
        rate_limit: None,
        inbound_tenant: None,
        settings,
    };
    vec![
        account("twilio", twilio(&url("twilio"))),
        account(
            "vonage",
            ProviderSettings::Vonage(VonageSettings {
                api_key: "a1b2c3d4".into(),
                api_secret: Secret::new("A1b2C3d4E5f6G7h8"),
                from: "Pombo".into(),
                base_url: url("vonage"),
            }),
        ),
        account(
            "fcm",
            ProviderSettings::Fcm(FcmSettings {
                project_id: crate::fcm::TEST_PROJECT_ID.into(),
                client_email: crate::fcm::TEST_CLIENT_EMAIL.into(),
                private_key: Secret::new(crate::fcm::TEST_SERVICE_ACCOUNT_PRIVATE_KEY_PEM),
                token_uri: format!("{}/token", url("fcm")),
                base_url: url("fcm"),
            }),
        ),
        account(
            "apns",
            ProviderSettings::Apns(ApnsSettings {
                team_id: crate::apns::TEST_TEAM_ID.into(),
                key_id: crate::apns::TEST_KEY_ID.into(),
                private_key: Secret::new(crate::apns::TEST_P8_PRIVATE_KEY_PEM),
                topic: "dev.pombo.app".into(),
                base_url: url("apns"),
            }),
        ),
        account(
            "whatsapp-cloud",
            ProviderSettings::WhatsappCloud(WhatsappCloudSettings {
                verify_token: Some(Secret::new("pombo-test-verify-token")),
                phone_number_id: WHATSAPP_PHONE_NUMBER_ID.into(),
                access_token: Secret::new("EAAGpombotesttoken"),
                app_secret: Some(Secret::new(WHATSAPP_APP_SECRET)),
                base_url: url("whatsapp_cloud"),
                api_version: default_graph_api_version(),
            }),
        ),
        account(
            "callbell",
            ProviderSettings::Callbell(CallbellSettings {
                // Reports through an account without its secret are refused.
                webhook_secret: Some(Secret::new("callbell-test-webhook-secret")),
                api_token: Secret::new("callbell-test-token"),
                channel_uuid: None,
                base_url: url("callbell"),
            }),
        ),
        account(
            "evolution",
            ProviderSettings::Evolution(EvolutionSettings {
                webhook_secret: Some(Secret::new(EVOLUTION_WEBHOOK_SECRET)),
                base_url: url("evolution"),
                instance: "pombo".into(),
                api_key: Secret::new("evolution-test-key"),
            }),
        ),
        account(
            "waha",
            ProviderSettings::Waha(WahaSettings {
                webhook_secret: Some(Secret::new(WAHA_WEBHOOK_SECRET)),
                base_url: url("waha"),
                session: WahaSettings::default_session(),
                api_key: Some(Secret::new("waha-test-key")),
            }),
        ),
        account(
            "instagram",
            ProviderSettings::Instagram(InstagramSettings {
                verify_token: None,
                account_id: "17841400000000001".into(),
                access_token: Secret::new("IGQVpombotesttoken"),
                app_secret: Some(Secret::new("pombo-test-app-secret")),
                base_url: url("instagram"),
                api_version: default_graph_api_version(),
            }),
        ),
        account(
            "telegram",
            ProviderSettings::Telegram(TelegramSettings {
                bot_token: Secret::new("123456789:AAPomboTestTokenForTheFakeBotApi"),
                secret_token: Some(Secret::new(TELEGRAM_SECRET_TOKEN)),
                base_url: url("telegram"),
            }),
        ),
        account(
            "webhook",
            ProviderSettings::Webhook(WebhookSettings {
                secret: Secret::new(crate::webhook::TEST_SECRET),
            }),
        ),
    ]
}

/// A Twilio account the fake accepts (test SID and auth token shapes).
pub fn twilio(base_url: &str) -> ProviderSettings {
    ProviderSettings::Twilio(TwilioSettings {
        account_sid: format!("AC{}", "0123456789abcdef".repeat(2)),
        auth_token: Secret::new("fedcba9876543210".repeat(2)),
        from: Some("+15005550006".into()),
        messaging_service_sid: None,
        status_callback_url: None,
        base_url: base_url.into(),
    })
}

/// An Amazon SES account the fake accepts (its test key, signing for `us-east-1`). Not in
/// [`accounts`]: email stays with the SMTP account, where people can read what was sent.
pub fn ses(base_url: &str) -> ProviderSettings {
    ProviderSettings::Ses(SesSettings {
        region: crate::ses::TEST_REGION.into(),
        access_key_id: crate::ses::TEST_ACCESS_KEY_ID.into(),
        secret_access_key: Secret::new(crate::ses::TEST_SECRET_ACCESS_KEY),
        session_token: None,
        from: "Pombo <noreply@pombo.test>".into(),
        configuration_set: None,
        base_url: Some(base_url.into()),
    })
}

/// The accounts as a Pombo configuration file (`[[providers]]` tables).
pub fn config_toml(base_url: &str) -> String {
    #[derive(serde::Serialize)]
    struct File {
        providers: Vec<ProviderAccountConfig>,
    }
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
                a.settings.kind(),
                "whatsapp_cloud"
                    | "twilio"
                    | "evolution"
                    | "waha"
                    | "telegram"
                    | "callbell"
                    | "instagram"
            ) {
                a.inbound_tenant = Some("dev".into());
            }
            a
        })
        .collect();
    header + &toml::to_string(&File { providers }).expect("accounts serialise to TOML")
}
