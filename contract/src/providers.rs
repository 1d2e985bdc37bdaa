//! Provider accounts: which service delivers a channel, with which credentials.
//!
//! The same settings come from two places: server-wide defaults in the configuration
//! (`[[providers]]`), and accounts a tenant registers through `/v1/providers` (stored
//! encrypted). Every base URL is configurable, so tests, local fakes and self-hosted
//! gateways work with the same code as the real services.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Channel, secret::Secret};

/// The settings of one provider account, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderSettings {
    /// Email through any SMTP server (the server-wide `[smtp]` section is the default one).
    Smtp(SmtpSettings),
    /// Email through SendGrid's v3 Mail Send API.
    Sendgrid(SendgridSettings),
    /// Email through Mailgun's Messages API.
    Mailgun(MailgunSettings),
    /// Email through Amazon SES (API v2, SigV4-signed).
    Ses(SesSettings),
    /// SMS through Twilio Programmable Messaging.
    Twilio(TwilioSettings),
    /// SMS through the Vonage SMS API.
    Vonage(VonageSettings),
    /// Push through Firebase Cloud Messaging HTTP v1.
    Fcm(FcmSettings),
    /// Push through Apple Push Notification service (HTTP/2, token auth).
    Apns(ApnsSettings),
    /// WhatsApp through Meta's WhatsApp Cloud API.
    WhatsappCloud(WhatsappCloudSettings),
    /// WhatsApp through Callbell.
    Callbell(CallbellSettings),
    /// WhatsApp through a self-hosted Evolution API instance.
    Evolution(EvolutionSettings),
    /// WhatsApp through a self-hosted WAHA session.
    Waha(WahaSettings),
    /// Instagram Direct messages through Meta's Graph API.
    Instagram(InstagramSettings),
    /// Telegram through the Bot API.
    Telegram(TelegramSettings),
    /// Outbound HTTP webhooks signed per the Standard Webhooks specification.
    Webhook(WebhookSettings),
}

impl ProviderSettings {
    /// The provider's type name, as in the `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderSettings::Smtp(_) => "smtp",
            ProviderSettings::Sendgrid(_) => "sendgrid",
            ProviderSettings::Mailgun(_) => "mailgun",
            ProviderSettings::Ses(_) => "ses",
            ProviderSettings::Twilio(_) => "twilio",
            ProviderSettings::Vonage(_) => "vonage",
            ProviderSettings::Fcm(_) => "fcm",
            ProviderSettings::Apns(_) => "apns",
            ProviderSettings::WhatsappCloud(_) => "whatsapp_cloud",
            ProviderSettings::Callbell(_) => "callbell",
            ProviderSettings::Evolution(_) => "evolution",
            ProviderSettings::Waha(_) => "waha",
            ProviderSettings::Instagram(_) => "instagram",
            ProviderSettings::Telegram(_) => "telegram",
            ProviderSettings::Webhook(_) => "webhook",
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            ProviderSettings::Smtp(_)
            | ProviderSettings::Sendgrid(_)
            | ProviderSettings::Mailgun(_)
            | ProviderSettings::Ses(_) => Channel::Email,
            ProviderSettings::Twilio(_) | ProviderSettings::Vonage(_) => Channel::Sms,
            ProviderSettings::Fcm(_) | ProviderSettings::Apns(_) => Channel::Push,
            ProviderSettings::WhatsappCloud(_)
            | ProviderSettings::Callbell(_)
            | ProviderSettings::Evolution(_)
            | ProviderSettings::Waha(_) => Channel::Whatsapp,
            ProviderSettings::Instagram(_) => Channel::Instagram,
            ProviderSettings::Telegram(_) => Channel::Telegram,
            ProviderSettings::Webhook(_) => Channel::Webhook,
        }
    }

    /// Whether this provider can deliver to `to` at all: an APNs account cannot reach an
    /// FCM token, and the other way round. Routing skips those that cannot.
    pub fn can_reach(&self, to: &str) -> bool {
        use crate::recipient::{PushTarget, push_target};
        match self {
            ProviderSettings::Fcm(_) => push_target(to) == Ok(PushTarget::Fcm),
            ProviderSettings::Apns(_) => push_target(to) == Ok(PushTarget::Apns),
            _ => true,
        }
    }

    /// Every place this account makes Pombo connect to, with the setting that names it.
    /// Callback URLs given to a provider (Twilio's `status_callback_url`) are not here:
    /// the provider calls them, Pombo does not.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let url = |field: &'static str, url: &str| Endpoint::Url {
            field,
            url: url.to_owned(),
        };
        match self {
            ProviderSettings::Smtp(s) => vec![Endpoint::Host {
                field: "host",
                host: s.host.clone(),
                port: s.port,
            }],
            ProviderSettings::Ses(s) => {
                let field = match s.base_url.as_deref().map(str::trim) {
                    Some(u) if !u.is_empty() => "base_url",
                    _ => "region",
                };
                vec![url(field, &s.endpoint())]
            }
            ProviderSettings::Fcm(s) => {
                vec![url("token_uri", &s.token_uri), url("base_url", &s.base_url)]
            }
            ProviderSettings::Sendgrid(SendgridSettings { base_url, .. })
            | ProviderSettings::Mailgun(MailgunSettings { base_url, .. })
            | ProviderSettings::Twilio(TwilioSettings { base_url, .. })
            | ProviderSettings::Vonage(VonageSettings { base_url, .. })
            | ProviderSettings::Apns(ApnsSettings { base_url, .. })
            | ProviderSettings::WhatsappCloud(WhatsappCloudSettings { base_url, .. })
            | ProviderSettings::Callbell(CallbellSettings { base_url, .. })
            | ProviderSettings::Evolution(EvolutionSettings { base_url, .. })
            | ProviderSettings::Waha(WahaSettings { base_url, .. })
            | ProviderSettings::Instagram(InstagramSettings { base_url, .. })
            | ProviderSettings::Telegram(TelegramSettings { base_url, .. }) => {
                vec![url("base_url", base_url)]
            }
            // Its target is each notification's `to`, checked when sending.
            ProviderSettings::Webhook(_) => Vec::new(),
        }
    }

    /// The endpoints the outbound rule refuses, each with the setting that names it: for a
    /// tenant's account, refused when it is saved (literal addresses, local names) and
    /// again when its client is built.
    pub fn refused_endpoints(
        &self,
        policy: &crate::outbound::OutboundPolicy,
    ) -> Vec<(&'static str, crate::outbound::TargetRefused)> {
        self.endpoints()
            .into_iter()
            .filter_map(|endpoint| {
                let checked = match &endpoint {
                    Endpoint::Url { url, .. } => policy.check_url(url).map(|_| ()),
                    Endpoint::Host { host, port, .. } => policy.check_host(host, *port),
                };
                checked.err().map(|e| (endpoint.field(), e))
            })
            .collect()
    }

    /// The settings as JSON with every secret replaced by `"********"`: what the API shows.
    pub fn masked(&self) -> serde_json::Value {
        crate::secret::serialize_masked(self, MASK).expect("settings serialise")
    }

    /// Names of the fields that hold credentials (typed [`Secret`]) and are set: found by
    /// serialising with a marker in their place, so a new credential field is masked and
    /// kept on PATCH without being listed anywhere.
    pub fn secret_fields(&self) -> Vec<String> {
        const MARK: &str = "\u{0}pombo-secret\u{0}";
        let marked = crate::secret::serialize_masked(self, MARK).expect("settings serialise");
        marked
            .as_object()
            .map(|fields| {
                fields
                    .iter()
                    .filter(|(_, v)| v.as_str() == Some(MARK))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub const MASK: &str = "********";

/// A place an account makes Pombo connect to (see [`ProviderSettings::endpoints`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Url {
        field: &'static str,
        url: String,
    },
    /// A server reached without a URL (SMTP).
    Host {
        field: &'static str,
        host: String,
        port: u16,
    },
}

impl Endpoint {
    /// The setting that names it (`base_url`, `token_uri`, `host`).
    pub fn field(&self) -> &'static str {
        match self {
            Endpoint::Url { field, .. } | Endpoint::Host { field, .. } => field,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub password: Option<Secret>,
    /// Sender of every email (`Name <address>` or a bare address).
    pub from: String,
}

/// How an SMTP account secures its connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP: local capture servers only.
    None,
    /// STARTTLS on the submission port (587), required.
    #[default]
    Starttls,
    /// Implicit TLS (SMTPS, port 465).
    Tls,
}

fn default_smtp_port() -> u16 {
    587
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendgridSettings {
    #[schema(value_type = String)]
    pub api_key: Secret,
    /// Sender (`Name <address>` or a bare address), verified in SendGrid.
    pub from: String,
    /// The Signed Event Webhook's verification key (base64 DER of an ECDSA P-256 public
    /// key, from SendGrid's Mail Settings). When set, unsigned or forged events are refused.
    #[serde(default)]
    pub webhook_public_key: Option<String>,
    #[serde(default = "SendgridSettings::default_base_url")]
    pub base_url: String,
}

impl SendgridSettings {
    pub fn default_base_url() -> String {
        "https://api.sendgrid.com".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailgunSettings {
    #[schema(value_type = String)]
    pub api_key: Secret,
    /// The sending domain registered in Mailgun.
    pub domain: String,
    pub from: String,
    /// The HTTP webhook signing key (Mailgun's Webhooks page), to verify event signatures.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub webhook_signing_key: Option<Secret>,
    /// `https://api.mailgun.net` (US) or `https://api.eu.mailgun.net` (EU).
    #[serde(default = "MailgunSettings::default_base_url")]
    pub base_url: String,
}

impl MailgunSettings {
    pub fn default_base_url() -> String {
        "https://api.mailgun.net".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SesSettings {
    /// The AWS region whose SES endpoint sends (`us-east-1`, `eu-west-1`, …); it is also
    /// part of every request's signature.
    #[serde(default = "SesSettings::default_region")]
    pub region: String,
    /// An IAM access key allowed `ses:SendEmail`.
    pub access_key_id: String,
    #[schema(value_type = String)]
    pub secret_access_key: Secret,
    /// For temporary credentials (STS): the session token that goes with the key.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub session_token: Option<Secret>,
    /// Sender (`Name <address>` or a bare address), a verified identity in SES.
    pub from: String,
    /// The configuration set to send with: SES publishes the delivery events of its
    /// event destinations (SNS, EventBridge, …).
    #[serde(default)]
    pub configuration_set: Option<String>,
    /// The API endpoint; by default `https://email.{region}.amazonaws.com`.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl SesSettings {
    pub fn default_region() -> String {
        "us-east-1".into()
    }

    /// The endpoint requests go to: `base_url`, else the region's public endpoint.
    pub fn endpoint(&self) -> String {
        match self.base_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => url.to_owned(),
            _ => format!("https://email.{}.amazonaws.com", self.region.trim()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    pub account_sid: String,
    #[schema(value_type = String)]
    pub auth_token: Secret,
    /// Sender number (E.164); or give `messaging_service_sid`.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// Where Twilio posts status callbacks (our `/v1/callbacks/twilio`), if set.
    #[serde(default)]
    pub status_callback_url: Option<String>,
    #[serde(default = "TwilioSettings::default_base_url")]
    pub base_url: String,
}

impl TwilioSettings {
    pub fn default_base_url() -> String {
        "https://api.twilio.com".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VonageSettings {
    pub api_key: String,
    #[schema(value_type = String)]
    pub api_secret: Secret,
    /// Sender id: a number or an alphanumeric name.
    pub from: String,
    #[serde(default = "VonageSettings::default_base_url")]
    pub base_url: String,
}

impl VonageSettings {
    pub fn default_base_url() -> String {
        "https://rest.nexmo.com".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FcmSettings {
    pub project_id: String,
    /// The service account's `client_email`.
    pub client_email: String,
    /// The service account's `private_key` (PEM, RSA).
    #[schema(value_type = String)]
    pub private_key: Secret,
    /// The service account's `token_uri`, where the signed JWT is exchanged for a token.
    #[serde(default = "FcmSettings::default_token_uri")]
    pub token_uri: String,
    #[serde(default = "FcmSettings::default_base_url")]
    pub base_url: String,
}

impl FcmSettings {
    pub fn default_token_uri() -> String {
        "https://oauth2.googleapis.com/token".into()
    }
    pub fn default_base_url() -> String {
        "https://fcm.googleapis.com".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApnsSettings {
    pub team_id: String,
    /// Id of the `.p8` signing key.
    pub key_id: String,
    /// The `.p8` key (PEM, EC P-256).
    #[schema(value_type = String)]
    pub private_key: Secret,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// `https://api.push.apple.com`, or `https://api.sandbox.push.apple.com` for
    /// development builds.
    #[serde(default = "ApnsSettings::default_base_url")]
    pub base_url: String,
}

impl ApnsSettings {
    pub fn default_base_url() -> String {
        "https://api.push.apple.com".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsappCloudSettings {
    /// The business phone number's id in Meta.
    pub phone_number_id: String,
    #[schema(value_type = String)]
    pub access_token: Secret,
    /// The app secret, to verify `X-Hub-Signature-256` on Meta's callbacks.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub app_secret: Option<Secret>,
    /// The verify token typed into Meta's webhook settings, echoed on its `GET` handshake.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub verify_token: Option<Secret>,
    #[serde(default = "default_graph_base_url")]
    pub base_url: String,
    #[serde(default = "default_graph_api_version")]
    pub api_version: String,
}

pub fn default_graph_base_url() -> String {
    "https://graph.facebook.com".into()
}

pub fn default_graph_api_version() -> String {
    "v21.0".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbellSettings {
    #[schema(value_type = String)]
    pub api_token: Secret,
    /// The WhatsApp channel to send from, when the account has several.
    #[serde(default)]
    pub channel_uuid: Option<String>,
    /// A secret our callback URL must carry (`?secret=`): Callbell does not sign its
    /// webhooks, so the URL itself is the credential.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub webhook_secret: Option<Secret>,
    #[serde(default = "CallbellSettings::default_base_url")]
    pub base_url: String,
}

impl CallbellSettings {
    pub fn default_base_url() -> String {
        "https://api.callbell.eu".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvolutionSettings {
    /// The Evolution API server (self-hosted: no default).
    pub base_url: String,
    /// The instance (one connected WhatsApp number).
    pub instance: String,
    #[schema(value_type = String)]
    pub api_key: Secret,
    /// A secret our callback URL must carry (`?secret=`): Evolution does not sign its
    /// webhooks, so the URL itself is the credential.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub webhook_secret: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WahaSettings {
    /// The WAHA server (self-hosted: no default).
    pub base_url: String,
    #[serde(default = "WahaSettings::default_session")]
    pub session: String,
    /// `X-Api-Key`, when the server requires one.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Secret>,
    /// The HMAC key configured on the session's webhook (`X-Webhook-Hmac`, SHA-512).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub webhook_secret: Option<Secret>,
}

impl WahaSettings {
    pub fn default_session() -> String {
        "default".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstagramSettings {
    /// The Instagram professional account's id (or its Facebook page id).
    pub account_id: String,
    #[schema(value_type = String)]
    pub access_token: Secret,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub app_secret: Option<Secret>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub verify_token: Option<Secret>,
    #[serde(default = "default_graph_base_url")]
    pub base_url: String,
    #[serde(default = "default_graph_api_version")]
    pub api_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelegramSettings {
    #[schema(value_type = String)]
    pub bot_token: Secret,
    /// Checked against `X-Telegram-Bot-Api-Secret-Token` on updates, if set.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret_token: Option<Secret>,
    #[serde(default = "TelegramSettings::default_base_url")]
    pub base_url: String,
}

impl TelegramSettings {
    pub fn default_base_url() -> String {
        "https://api.telegram.org".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Signing secret, `whsec_` followed by base64 of 24 to 64 random bytes.
    #[schema(value_type = String)]
    pub secret: Secret,
}

/// How fast one provider account may be sent to (`rate_limit` of a tenant's account or of a
/// server-wide `[[providers]]` entry). Enforced across every worker of every process: each
/// send first reserves the account's next free slot in the database, and a burst queues,
/// each workflow waiting on a durable timer for its slot, instead of failing at the
/// provider with 429s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRateLimit {
    /// Sends per second, spaced evenly (`0.5`: one every 2 s); from 0.001 to 10000.
    pub per_second: f64,
}

impl SendRateLimit {
    pub const MIN_PER_SECOND: f64 = 0.001;
    pub const MAX_PER_SECOND: f64 = 10_000.0;

    /// Why the rate cannot work, if it cannot (the reason for `rate_limit.per_second`).
    pub fn check(&self) -> Result<(), String> {
        if (Self::MIN_PER_SECOND..=Self::MAX_PER_SECOND).contains(&self.per_second) {
            Ok(())
        } else {
            Err(format!(
                "must be a number of sends per second from {} to {}",
                Self::MIN_PER_SECOND,
                Self::MAX_PER_SECOND
            ))
        }
    }

    /// The time between two sends, rounded up to the microsecond so that the rate is never
    /// exceeded.
    pub fn interval(&self) -> std::time::Duration {
        let micros = (1_000_000.0 / self.per_second.max(Self::MIN_PER_SECOND)).ceil();
        std::time::Duration::from_micros(micros as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whatsapp(app_secret: Option<&str>) -> ProviderSettings {
        ProviderSettings::WhatsappCloud(WhatsappCloudSettings {
            phone_number_id: "106540352242922".into(),
            access_token: Secret::new("EAAG-token"),
            app_secret: app_secret.map(Secret::new),
            verify_token: None,
            base_url: default_graph_base_url(),
            api_version: default_graph_api_version(),
        })
    }

    #[test]
    fn secret_fields_are_found_by_their_type() {
        let mut fields = whatsapp(Some("app-secret")).secret_fields();
        fields.sort();
        assert_eq!(fields, ["access_token", "app_secret"]);
        // An absent credential has nothing to mask or keep.
        assert_eq!(whatsapp(None).secret_fields(), ["access_token"]);
    }

    #[test]
    fn masked_settings_hold_no_credential_and_everything_else() {
        let settings = whatsapp(Some("app-secret"));
        let masked = settings.masked();
        let text = masked.to_string();
        assert!(
            !text.contains("EAAG-token") && !text.contains("app-secret"),
            "{text}"
        );
        assert_eq!(masked["access_token"], MASK);
        assert_eq!(masked["app_secret"], MASK);
        assert!(masked["verify_token"].is_null());
        assert_eq!(masked["phone_number_id"], "106540352242922");
        assert_eq!(masked["type"], "whatsapp_cloud");
        // Masking is for that one serialisation: the stored form keeps the values.
        let plain = serde_json::to_value(&settings).unwrap();
        assert_eq!(plain["access_token"], "EAAG-token");
    }
}
