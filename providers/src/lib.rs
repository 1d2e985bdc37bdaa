//! Every provider Pombo delivers through, one folder each: `twilio/send.rs` is how an SMS
//! goes out through Twilio, `twilio/report.rs` what Twilio's status callback means. A
//! folder holds all that is Twilio's (its request, its error codes, its signature check),
//! so adding a provider is its folder, its fake (`fakes/`), its contract test
//! (`tests/it/`) and one line of [`registry!`] below.
//!
//! Each provider implements [`Provider`]: its settings (`settings.rs` in its folder), its
//! channel, where it connects, how its client is built from its settings, how it sends,
//! and its reports ([`Reports`]: the setting that authenticates them and their parser, or
//! none). The registry is the only list of providers: it generates [`ProviderSettings`]
//! (the `type`-tagged settings of the configuration and of tenants' accounts) and
//! [`Client`], and dispatches sends and reports, so a registry line without a settings
//! type, a send, a channel or a `REPORTS` does not compile.
//!
//! What providers do not decide: when to retry (`pombo_contract::retry`, from the
//! classification each send returns), which account sends (`pombo_contract::routing`),
//! where they may connect (`outbound`, applied by the clients here).
//!
//! The store keeps settings as sealed JSON through `pombo_contract::providers::AccountSettings`
//! and `pombo-config` reads `[[providers]]` into [`ProviderSettings`]; the fakes (`fakes/`)
//! depend on none of this, so they stay an independent check of the clients.

pub mod callback_setup;
pub mod gateway;
pub mod http;
pub mod media;
pub mod outbound;
pub mod read;
pub mod report;
pub mod send;
pub mod settings;
pub mod whatsapp_jid;

pub mod apns;
pub mod callbell;
pub mod evolution;
pub mod fcm;
pub mod instagram;
pub mod mailgun;
pub mod sendgrid;
pub mod ses;
pub mod smtp;
pub mod telegram;
pub mod twilio;
pub mod vonage;
pub mod waha;
pub mod webhook;
pub mod whatsapp_cloud;

use std::future::Future;

use pombo_contract::{Channel, conversation::InboundMessage};

pub use callback_setup::{CallbackSetup, CallbackSetupError, Callbacks};
pub use read::{Read, Receipt};
pub use report::{CallbackError, CallbackRequest, DeliveryStatus, ProviderEvent};
pub use send::{Accepted, Attachment, DeliveryError, Outbound, SetupError, Unsubscribe};
pub use settings::{Endpoint, default_graph_api_version, default_graph_base_url};

/// What one provider implements. No method has a default: a provider states what it does
/// with reports, even when it sends none.
pub trait Provider: Sized {
    /// Its settings, as `[[providers]]` or a tenant's saved account gives them
    /// (`settings.rs` in its folder).
    type Settings: 'static;

    /// The channel it delivers.
    const CHANNEL: Channel;

    /// How long after a contact's last message the provider takes free-form replies in a
    /// conversation (outside it, only templates go out); `None`: any time.
    const REPLY_WINDOW: Option<std::time::Duration>;

    /// Its reports: the setting that authenticates them and their parser; `None` when the
    /// provider sends no delivery reports (the account's view then shows no callback URL).
    const REPORTS: Option<Reports<Self::Settings>>;

    /// Every place an account makes Pombo connect to, with the setting that names it: what
    /// the outbound rule checks before a tenant's account is saved or used. Callback URLs
    /// given to a provider (Twilio's `status_callback_url`) are not here: the provider
    /// calls them, Pombo does not.
    fn endpoints(settings: &Self::Settings) -> Vec<Endpoint>;

    /// Its client for `settings`: every check that can fail before a send fails here,
    /// naming the setting (what the API runs when a tenant saves an account).
    fn connect(settings: &Self::Settings, with: &Connect<'_>) -> Result<Self, SetupError>;

    /// Sends one message. Content of another channel, or files it cannot carry, are
    /// permanent refusals ([`send::wrong_channel`], [`Outbound::refuse_attachments`]).
    fn send(
        &self,
        msg: Outbound<'_>,
    ) -> impl Future<Output = Result<Accepted, DeliveryError>> + Send;

    /// Tells the provider that a contact's messages were read, where it has a call for
    /// that ([`Receipt::NoSuchCall`] otherwise).
    fn mark_read(
        &self,
        read: Read<'_>,
    ) -> impl Future<Output = Result<Receipt, DeliveryError>> + Send;

    /// Fetches a file a person sent in (`media.rs` in its folder); `Ok(None)` when the
    /// provider brings in no files.
    fn fetch_media(
        &self,
        fetch: media::Fetch<'_>,
    ) -> impl Future<Output = Result<Option<media::Fetched>, DeliveryError>> + Send;

    /// Points the provider's callbacks at Pombo, or reads where they point, where it has
    /// an API for that (`Ok(None)` otherwise).
    fn callbacks(
        &self,
        setup: CallbackSetup<'_>,
    ) -> impl Future<Output = Result<Option<Callbacks>, CallbackSetupError>> + Send;
}

/// How a provider's delivery reports are authenticated and read.
pub struct Reports<S: 'static> {
    /// The setting that authenticates reports and its value, `None` when absent or blank:
    /// every report through such an account is refused (401 naming the setting).
    pub secret: fn(&S) -> (&'static str, Option<&str>),
    /// Verifies the request (signature, token, account) and reads its events.
    pub parse: fn(&CallbackRequest<'_>, &S) -> Result<Vec<ProviderEvent>, CallbackError>,
    /// The `GET` a provider checks its callback URL with before using it (Meta's
    /// `hub.challenge`): the body to answer. `None`: no handshake (a `GET` gets 405).
    pub handshake: Option<Handshake<S>>,
    /// Reads what people send in through the same route and check (`inbound.rs`), `None`
    /// when Pombo does not read them from this provider yet.
    pub messages: Option<Inbound<S>>,
}

/// Verifies a callback and reads the messages people sent in it.
pub type Inbound<S> = fn(&CallbackRequest<'_>, &S) -> Result<Vec<InboundMessage>, CallbackError>;

/// What one callback carried: delivery reports of our messages, and messages sent to us.
#[derive(Debug, Default)]
pub struct Parsed {
    pub reports: Vec<ProviderEvent>,
    pub messages: Vec<InboundMessage>,
}

/// Answers a provider's `GET` check of its callback URL with the body it expects.
pub type Handshake<S> = fn(&CallbackRequest<'_>, &S) -> Result<String, CallbackError>;

/// What a client is built with: the shared HTTP clients and whose settings these are.
pub struct Connect<'a> {
    pub clients: &'a outbound::OutboundClients,
    pub trust: outbound::Trust,
}

impl Connect<'_> {
    /// The shared HTTP client (one connection pool per trust), guarded for tenants' settings.
    pub fn http(&self) -> reqwest::Client {
        self.clients.http(self.trust).clone()
    }

    /// A client builder with the same guard, for a provider that needs its own client
    /// (APNs: HTTP/2 only).
    pub fn builder(&self) -> reqwest::ClientBuilder {
        self.clients.builder(self.trust)
    }

    /// The outbound rule, for tenants' settings only (the operator's are trusted).
    pub fn tenant_policy(
        &self,
    ) -> Option<std::sync::Arc<pombo_contract::outbound::OutboundPolicy>> {
        (self.trust == outbound::Trust::Tenant).then(|| self.clients.policy().clone())
    }

    /// The outbound rule, whoever's settings these are (webhook targets are each
    /// notification's, never trusted).
    pub fn policy(&self) -> std::sync::Arc<pombo_contract::outbound::OutboundPolicy> {
        self.clients.policy().clone()
    }
}

/// The list of providers: `Variant(folder::Settings) = "type" => folder::Type`, where
/// `Variant` becomes the [`ProviderSettings`] variant holding `Settings`, `"type"` its tag
/// in the configuration and the API, and `Type` implements [`Provider`] for `Settings`.
macro_rules! registry {
    ($(
        $(#[doc = $doc:tt])*
        $variant:ident($folder:ident :: $settings:ident) = $kind:tt => $provider:ty,
    )+) => {
        $(pub use $folder::$settings;)+

        /// The settings of one provider account, tagged by `type`.
        #[derive(
            Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(tag = "type")]
        pub enum ProviderSettings {
            $(
                $(#[doc = $doc])*
                #[serde(rename = $kind)]
                $variant($folder::$settings),
            )+
        }

        impl ProviderSettings {
            /// The provider's type name, as in the `type` tag.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(ProviderSettings::$variant(_) => $kind,)+
                }
            }

            pub fn channel(&self) -> Channel {
                match self {
                    $(ProviderSettings::$variant(_) => <$provider as Provider>::CHANNEL,)+
                }
            }

            /// How long after a contact's last message free-form replies go out
            /// ([`Provider::REPLY_WINDOW`]).
            pub fn reply_window(&self) -> Option<std::time::Duration> {
                match self {
                    $(ProviderSettings::$variant(_) => <$provider as Provider>::REPLY_WINDOW,)+
                }
            }

            /// Every place this account makes Pombo connect to ([`Provider::endpoints`]).
            pub fn endpoints(&self) -> Vec<Endpoint> {
                match self {
                    $(ProviderSettings::$variant(s) => <$provider as Provider>::endpoints(s),)+
                }
            }
        }

        /// A ready-to-use client of one provider account.
        pub enum Client {
            $($variant($provider),)+
        }

        impl Client {
            /// Builds the client for `settings`. A tenant's endpoints are checked against
            /// the outbound rule first (webhooks, whose target is each notification's,
            /// before each send as well).
            pub fn new(
                settings: &ProviderSettings,
                clients: &outbound::OutboundClients,
                trust: outbound::Trust,
            ) -> Result<Client, SetupError> {
                clients.check(settings, trust)?;
                let with = Connect { clients, trust };
                Ok(match settings {
                    $(ProviderSettings::$variant(s) => {
                        Client::$variant(<$provider as Provider>::connect(s, &with)?)
                    })+
                })
            }

            pub async fn send(&self, msg: Outbound<'_>) -> Result<Accepted, DeliveryError> {
                match self {
                    $(Client::$variant(p) => Provider::send(p, msg).await,)+
                }
            }

            pub async fn mark_read(&self, read: Read<'_>) -> Result<Receipt, DeliveryError> {
                match self {
                    $(Client::$variant(p) => Provider::mark_read(p, read).await,)+
                }
            }

            pub async fn fetch_media(
                &self,
                fetch: media::Fetch<'_>,
            ) -> Result<Option<media::Fetched>, DeliveryError> {
                match self {
                    $(Client::$variant(p) => Provider::fetch_media(p, fetch).await,)+
                }
            }

            pub async fn callbacks(
                &self,
                setup: CallbackSetup<'_>,
            ) -> Result<Option<Callbacks>, CallbackSetupError> {
                match self {
                    $(Client::$variant(p) => Provider::callbacks(p, setup).await,)+
                }
            }
        }

        /// Refuses every report through an account that has no secret to authenticate
        /// it with, naming the missing setting, before any parsing. (Providers without
        /// reports refuse in [`parse_report`].)
        pub fn required_secret(settings: &ProviderSettings) -> Result<(), CallbackError> {
            match settings {
                $(ProviderSettings::$variant(s) => match &<$provider as Provider>::REPORTS {
                    Some(reports) => match (reports.secret)(s) {
                        (_, Some(_)) => Ok(()),
                        (setting, None) => Err(CallbackError::NoSecret(setting)),
                    },
                    None => Ok(()),
                },)+
            }
        }

        /// Authenticates a callback of `settings`' account and reads its delivery reports
        /// and inbound messages.
        pub fn parse_callback(
            req: &CallbackRequest<'_>,
            settings: &ProviderSettings,
        ) -> Result<Parsed, CallbackError> {
            required_secret(settings)?;
            match settings {
                $(ProviderSettings::$variant(s) => match &<$provider as Provider>::REPORTS {
                    Some(reports) => Ok(Parsed {
                        reports: (reports.parse)(req, s)?,
                        messages: match reports.messages {
                            Some(read) => read(req, s)?,
                            None => Vec::new(),
                        },
                    }),
                    None => Err(CallbackError::Malformed(format!(
                        "`{}` sends no delivery callbacks",
                        settings.kind()
                    ))),
                },)+
            }
        }

        /// Answers a provider's check of its callback URL (`GET`): `None` when its provider
        /// has no such handshake.
        pub fn handshake(
            req: &CallbackRequest<'_>,
            settings: &ProviderSettings,
        ) -> Option<Result<String, CallbackError>> {
            match settings {
                $(ProviderSettings::$variant(s) => <$provider as Provider>::REPORTS
                    .as_ref()
                    .and_then(|r| r.handshake)
                    .map(|answer| answer(req, s)),)+
            }
        }

        /// Whether `settings`' provider sends delivery reports: the accounts whose view
        /// shows a `callback_url`.
        pub fn receives_reports(settings: &ProviderSettings) -> bool {
            match settings {
                $(ProviderSettings::$variant(_) => <$provider as Provider>::REPORTS.is_some(),)+
            }
        }
    };
}

registry! {
    /// Email through any SMTP server (the server-wide `[smtp]` section is the default one).
    Smtp(smtp::SmtpSettings) = "smtp" => smtp::SmtpProvider,
    /// Email through SendGrid's v3 Mail Send API.
    Sendgrid(sendgrid::SendgridSettings) = "sendgrid" => sendgrid::Sendgrid,
    /// Email through Mailgun's Messages API.
    Mailgun(mailgun::MailgunSettings) = "mailgun" => mailgun::Mailgun,
    /// Email through Amazon SES (API v2, SigV4-signed).
    Ses(ses::SesSettings) = "ses" => ses::Ses,
    /// SMS through Twilio Programmable Messaging.
    Twilio(twilio::TwilioSettings) = "twilio" => twilio::Twilio,
    /// SMS through the Vonage SMS API.
    Vonage(vonage::VonageSettings) = "vonage" => vonage::Vonage,
    /// Push through Firebase Cloud Messaging HTTP v1.
    Fcm(fcm::FcmSettings) = "fcm" => fcm::Fcm,
    /// Push through Apple Push Notification service (HTTP/2, token auth).
    Apns(apns::ApnsSettings) = "apns" => apns::Apns,
    /// WhatsApp through Meta's WhatsApp Cloud API.
    WhatsappCloud(whatsapp_cloud::WhatsappCloudSettings) = "whatsapp_cloud"
        => whatsapp_cloud::WhatsappCloud,
    /// WhatsApp through Callbell.
    Callbell(callbell::CallbellSettings) = "callbell" => callbell::Callbell,
    /// WhatsApp through a self-hosted Evolution API instance.
    Evolution(evolution::EvolutionSettings) = "evolution" => evolution::Evolution,
    /// WhatsApp through a self-hosted WAHA session.
    Waha(waha::WahaSettings) = "waha" => waha::Waha,
    /// Instagram Direct messages through Meta's Graph API.
    Instagram(instagram::InstagramSettings) = "instagram" => instagram::Instagram,
    /// Telegram through the Bot API.
    Telegram(telegram::TelegramSettings) = "telegram" => telegram::Telegram,
    /// Outbound HTTP webhooks signed per the Standard Webhooks specification.
    Webhook(webhook::WebhookSettings) = "webhook" => webhook::Webhook,
}

impl Client {
    /// Every rule the send applies to `settings`, without sending anything: what the API
    /// runs when a tenant saves an account, so one that cannot send is refused then, naming
    /// the setting, rather than failing the tenant's next notification. (Endpoints are
    /// checked against the outbound rule by the caller, with its own policy.)
    pub fn check_settings(settings: &ProviderSettings) -> Result<(), SetupError> {
        static CLIENTS: std::sync::LazyLock<Result<outbound::OutboundClients, SetupError>> =
            std::sync::LazyLock::new(|| outbound::OutboundClients::new(Default::default()));
        let clients = CLIENTS.as_ref().map_err(Clone::clone)?;
        Client::new(settings, clients, outbound::Trust::Operator).map(drop)
    }
}
