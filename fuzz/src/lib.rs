//! What the fuzz targets run (`fuzz_targets/`, one per family, `make fuzz`): each feeds the
//! bytes libFuzzer makes to one family of Pombo's callback parsers or request validators,
//! the way the API does, without I/O, and checks the one property that matters: whatever
//! the input, it is accepted or refused with a 4xx problem, never a panic (and never a
//! 5xx, which would mean the API blamed itself for bad input).
//!
//! Families: provider callbacks (every parser, with and without the account's secret, and
//! Meta's GET handshake), `POST /v1/notifications`, `POST /v1/notifications/batch`,
//! `POST /v1/templates`, `POST /v1/providers`, `POST /v1/routing-rules`,
//! `POST /v1/recipients` and `POST /v1/keys`.

use std::{collections::HashMap, sync::OnceLock};

use axum::{
    http::{HeaderMap, HeaderName, HeaderValue, Method},
    response::IntoResponse,
};
use pombo_api::{
    batches::request::CreateBatch,
    error::ApiError,
    extract::parse_json,
    notifications::request::CreateNotification,
    providers::CreateProvider,
    recipients::CreateRecipient,
    routing_rules::{CreateRoutingRule, target::Target},
    templates::CreateTemplate,
    tenants::CreateKey,
};
use pombo_providers::{CallbackError, CallbackRequest};
use pombo_contract::{
    Channel,
    config::{DeliveryConfig, Secret},
    outbound::OutboundPolicy,
};
use pombo_providers::*;

/// Refused input must be a client error: a 5xx (or anything else) for bad input is a bug.
fn must_be_client_error(e: ApiError) {
    let status = e.into_response().status();
    assert!(
        status.is_client_error(),
        "bad input answered {status}, not a 4xx problem"
    );
}

/// Renders in this process: libFuzzer sees a panic in rendering itself, not a dead child.
fn renderer() -> pombo_renderer::Renderer {
    pombo_renderer::Renderer::in_process()
}

/// The runtime the async validators (rendering through the renderer) run on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// The providers that send delivery reports, each with its callback secret (`signed`: the
/// handler's path, signature checks included) or without (the handler refuses those
/// before parsing; here they go straight to the parser, which then checks no signature, so
/// that the fuzzer reaches the parsing itself: a genuine provider's report is no less
/// untrusted input).
pub const CALLBACK_PROVIDERS: [&str; 8] = [
    "twilio",
    "sendgrid",
    "mailgun",
    "whatsapp_cloud",
    "instagram",
    "callbell",
    "evolution",
    "waha",
];

/// A SendGrid Event Webhook public key (P-256, base64 DER), so that signed SendGrid
/// callbacks get to the signature check itself.
const SENDGRID_PUBLIC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERqCh3YPu8Mnmqqc5qeM7BeBi0nUnscKx/vr0seyT2qbM6XZha19W2fjRnbB3fCwYyn01ggUCvo7zeW1H/zdyDg==";

fn secret(signed: bool, value: &str) -> Option<Secret> {
    signed.then(|| Secret::new(value))
}

/// The account of `CALLBACK_PROVIDERS[index]`, the same ids as the seeds use.
pub fn callback_account(index: usize, signed: bool) -> ProviderSettings {
    let url = "https://provider.example.com".to_owned();
    match index % CALLBACK_PROVIDERS.len() {
        0 => ProviderSettings::Twilio(TwilioSettings {
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            auth_token: Secret::new(if signed {
                "fedcba9876543210fedcba9876543210"
            } else {
                ""
            }),
            from: Some("+15005550006".into()),
            messaging_service_sid: None,
            status_callback_url: None,
            base_url: url,
        }),
        1 => ProviderSettings::Sendgrid(SendgridSettings {
            api_key: Secret::new("SG.key"),
            from: "noreply@pombo.test".into(),
            webhook_public_key: signed.then(|| SENDGRID_PUBLIC_KEY.to_owned()),
            base_url: url,
        }),
        2 => ProviderSettings::Mailgun(MailgunSettings {
            api_key: Secret::new("key"),
            domain: "mg.pombo.test".into(),
            from: "noreply@mg.pombo.test".into(),
            webhook_signing_key: secret(signed, "mailgun-signing-key"),
            base_url: url,
        }),
        3 => ProviderSettings::WhatsappCloud(WhatsappCloudSettings {
            verify_token: secret(signed, "verify-token"),
            phone_number_id: "106540352242922".into(),
            access_token: Secret::new("EAAG"),
            app_secret: secret(signed, "app-secret"),
            base_url: url,
            api_version: default_graph_api_version(),
        }),
        4 => ProviderSettings::Instagram(InstagramSettings {
            verify_token: secret(signed, "verify-token"),
            account_id: "17841400000000001".into(),
            access_token: Secret::new("IGQV"),
            app_secret: secret(signed, "app-secret"),
            base_url: url,
            api_version: default_graph_api_version(),
        }),
        5 => ProviderSettings::Callbell(CallbellSettings {
            webhook_secret: secret(signed, "callbell-secret"),
            api_token: Secret::new("token"),
            channel_uuid: None,
            base_url: url,
        }),
        6 => ProviderSettings::Evolution(EvolutionSettings {
            webhook_secret: secret(signed, "evolution-secret"),
            base_url: url,
            instance: "pombo".into(),
            api_key: Secret::new("key"),
        }),
        _ => ProviderSettings::Waha(WahaSettings {
            webhook_secret: secret(signed, "waha-secret"),
            base_url: url,
            session: WahaSettings::default_session(),
            api_key: None,
        }),
    }
}

/// One provider callback. The input is a selector byte, then an optional head and the
/// body: `head\n\nbody`, where each head line is `name: value` (a header) or `?query`.
/// The selector's low 3 bits pick the provider, bit 3 gives the account its secret, bit 4
/// makes it a GET (Meta's handshake).
pub fn callback(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let index = usize::from(selector & 0b111);
    let signed = selector & 0b1000 != 0;
    let method = if selector & 0b1_0000 != 0 {
        Method::GET
    } else {
        Method::POST
    };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&rest[..at], &rest[at + 2..]),
        None => (&b""[..], rest),
    };
    let mut headers = HeaderMap::new();
    let mut query = None;
    for line in head.split(|b| *b == b'\n') {
        if let Some(q) = line.strip_prefix(b"?") {
            // A query reaches the handler as a string (axum's `RawQuery`).
            query = std::str::from_utf8(q).ok();
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        // Only what HTTP can carry reaches the handler.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) {
            headers.append(name, value);
        }
    }
    let kind = CALLBACK_PROVIDERS[index];
    let url = match query {
        Some(q) => format!("https://pombo.example.com/v1/callbacks/{kind}/main?{q}"),
        None => format!("https://pombo.example.com/v1/callbacks/{kind}/main"),
    };
    let request = CallbackRequest {
        method: &method,
        url: &url,
        headers: &headers,
        query,
        body,
    };
    let settings = callback_account(index, signed);
    // The handler refuses an account without its secret first; without a secret the
    // parsers check nothing, which is how the fuzzer gets past the signatures.
    let result = if signed && let Err(e) = pombo_providers::required_secret(&settings) {
        Err(e)
    } else if method == Method::GET {
        match pombo_providers::handshake(&request, &settings) {
            Some(answer) => answer.map(|_| Vec::new()),
            None => return,
        }
    } else {
        parse_callback(&request, &settings)
    };
    match result {
        Ok(events) => {
            // What the handler records: it must serialise.
            serde_json::to_string(&events).expect("events serialise");
        }
        // As the handler maps them.
        Err(CallbackError::NoSecret(setting)) => {
            must_be_client_error(ApiError::CallbackNoSecret(setting.to_owned()))
        }
        Err(CallbackError::BadSignature(reason)) => {
            must_be_client_error(ApiError::CallbackSignature(reason))
        }
        Err(CallbackError::Malformed(reason)) => {
            must_be_client_error(ApiError::field("body", reason))
        }
    }
}

/// The provider's own parser: unsigned accounts reach it too (without a secret it checks
/// no signature), which is how the fuzzer gets past the signatures.
fn parse_callback(
    req: &CallbackRequest<'_>,
    settings: &ProviderSettings,
) -> Result<Vec<pombo_providers::ProviderEvent>, CallbackError> {
    use pombo_providers::*;
    // Each provider's inbound parser reads the same requests as its report parser: both
    // run, as the handler runs them.
    let inbound = match settings {
        ProviderSettings::Twilio(s) => twilio::inbound::parse(req, s).map(drop),
        ProviderSettings::WhatsappCloud(s) => whatsapp_cloud::inbound::parse(req, s).map(drop),
        ProviderSettings::Instagram(s) => instagram::inbound::parse(req, s).map(drop),
        ProviderSettings::Callbell(s) => callbell::inbound::parse(req, s).map(drop),
        ProviderSettings::Evolution(s) => evolution::inbound::parse(req, s).map(drop),
        ProviderSettings::Waha(s) => waha::inbound::parse(req, s).map(drop),
        _ => Ok(()),
    };
    let reports = match settings {
        ProviderSettings::Twilio(s) => twilio::report::parse(req, s),
        ProviderSettings::Sendgrid(s) => sendgrid::report::parse(req, s),
        ProviderSettings::Mailgun(s) => mailgun::report::parse(req, s),
        ProviderSettings::WhatsappCloud(s) => whatsapp_cloud::report::parse(req, s),
        ProviderSettings::Instagram(s) => instagram::report::parse(req, s),
        ProviderSettings::Callbell(s) => callbell::report::parse(req, s),
        ProviderSettings::Evolution(s) => evolution::report::parse(req, s),
        ProviderSettings::Waha(s) => waha::report::parse(req, s),
        _ => Ok(Vec::new()),
    }?;
    inbound.map(|()| reports)
}

/// The outbound rule of a default configuration: public https targets only.
fn outbound() -> OutboundPolicy {
    OutboundPolicy::default()
}

/// `POST /v1/notifications` with a body that names its `channel` and `to` (the routing
/// rules and stored profiles of the other forms need the database).
pub fn notification_request(data: &[u8]) {
    let body = match parse_json::<CreateNotification>(data) {
        Ok(body) => body,
        Err(e) => return must_be_client_error(e),
    };
    let target = Target {
        channel: body.channel.unwrap_or(Channel::Email),
        to: body.to.clone().unwrap_or_default(),
        locale: None,
        routing: Default::default(),
    };
    let result =
        runtime().block_on(body.validate(&renderer(), None, &DeliveryConfig::default(), &outbound(), &target));
    if let Err(e) = result {
        must_be_client_error(e);
    }
}

/// `POST /v1/notifications/batch` with its own `content`.
pub fn batch_request(data: &[u8]) {
    let body = match parse_json::<CreateBatch>(data) {
        Ok(body) => body,
        Err(e) => return must_be_client_error(e),
    };
    let content = body.content.clone();
    let result =
        runtime().block_on(body.validate(&renderer(), None, content, &DeliveryConfig::default(), &outbound()));
    if let Err(e) = result {
        must_be_client_error(e);
    }
}

/// `POST /v1/templates`.
pub fn template(data: &[u8]) {
    match parse_json::<CreateTemplate>(data).and_then(|body| body.check()) {
        Ok(variants) => {
            serde_json::to_string(&variants).expect("variants serialise");
        }
        Err(e) => must_be_client_error(e),
    }
}

/// `POST /v1/providers`.
pub fn provider_account(data: &[u8]) {
    match parse_json::<CreateProvider>(data).and_then(|body| body.check(&outbound())) {
        Ok(settings) => {
            // What the API answers: the settings, credentials masked.
            serde_json::to_string(&settings.masked()).expect("settings serialise");
        }
        Err(e) => must_be_client_error(e),
    }
}

/// `POST /v1/routing-rules`, for a tenant with one account of each channel.
pub fn routing_rule(data: &[u8]) {
    let accounts: HashMap<uuid::Uuid, Channel> = Channel::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| (uuid::Uuid::from_u128(i as u128 + 1), *c))
        .collect();
    let result = parse_json::<CreateRoutingRule>(data).and_then(|mut body| {
        body.check(&accounts)?;
        Ok(body)
    });
    if let Err(e) = result {
        must_be_client_error(e);
    }
}

/// `POST /v1/recipients`.
pub fn recipient(data: &[u8]) {
    if let Err(e) = parse_json::<CreateRecipient>(data).and_then(|body| body.check(&outbound())) {
        must_be_client_error(e);
    }
}

/// `POST /v1/keys` (and an administrator's `POST /v1/tenants/{id}/keys`).
pub fn api_key(data: &[u8]) {
    let result =
        parse_json::<CreateKey>(data).and_then(|body| pombo_api::tenants::check_key_request(&body));
    if let Err(e) = result {
        must_be_client_error(e);
    }
}
