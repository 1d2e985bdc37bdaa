//! The one typed configuration of Pombo, shared by the API and the worker.
//!
//! Loaded from defaults that run locally, then an optional TOML file (`POMBO_CONFIG`), then
//! environment variables `POMBO_*` (nested keys with `__`: `POMBO_SMTP__PORT=2525`).

use std::net::SocketAddr;

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

// Defined with what uses them; named here too, as part of the configuration.
pub use crate::providers::SmtpTls;
pub use crate::secret::{Secret, serialize_masked};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `development` (the default: `make run`, tests) or `production`, where the processes
    /// refuse to start without what a real deployment needs (see [`Config::validate`]).
    pub mode: RunMode,
    /// Where the API listens.
    pub listen: SocketAddr,
    /// sea-orm URL: `sqlite://path?mode=rwc` (default, embedded) or `postgres://…`.
    pub database_url: String,
    pub temporal: TemporalConfig,
    pub smtp: SmtpConfig,
    pub delivery: DeliveryConfig,
    pub api: ApiConfig,
    /// Server-wide provider accounts, used for tenants that registered none of their own
    /// for a channel. Tried in the order given. Email always has `[smtp]` last.
    pub providers: Vec<ProviderAccountConfig>,
    /// Which loopback or private `host:port` targets a tenant may point us at (none by
    /// default): see [`crate::outbound`].
    pub outbound: crate::outbound::OutboundPolicy,
    pub encryption: EncryptionConfig,
    /// S3-compatible object storage for uploaded files (`/v1/files`).
    pub storage: StorageConfig,
    /// How long personal data and rendered bodies are kept (a Temporal Schedule purges them).
    pub retention: RetentionConfig,
    /// The child processes that render tenants' templates (`pombo-render`).
    pub render: RenderConfig,
    /// When set, the API makes sure a `dev` tenant exists with this key (for `make run`).
    pub dev_api_key: Option<Secret>,
    /// `text` for people, `json` for log shippers.
    pub log_format: LogFormat,
    /// Where the worker serves its Prometheus metrics (`GET /metrics`); `"off"` for nowhere.
    #[serde(with = "optional_listen")]
    pub worker_metrics_listen: Option<SocketAddr>,
}

/// How strict start-up is. Development runs on the embedded defaults; production refuses
/// to start without an encryption key (personal data would be stored in clear) and without
/// `api.public_url` over https (signatures over URLs, callback URLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    #[default]
    Development,
    Production,
}

/// An optional address that survives a round trip through TOML (which has no null) and can
/// be turned off from the environment: `None` is written `"off"`, and `"off"`, `"none"` or
/// an empty string read as `None`.
mod optional_listen {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(
        address: &Option<SocketAddr>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match address {
            Some(address) => serializer.collect_str(address),
            None => serializer.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SocketAddr>, D::Error> {
        match Option::<String>::deserialize(deserializer)?
            .as_deref()
            .map(str::trim)
        {
            None | Some("" | "off" | "none") => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|e| {
                D::Error::custom(format!(
                    "`{text}` is not an address like 127.0.0.1:9464 (or `off`): {e}"
                ))
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TemporalConfig {
    /// Frontend gRPC address of the Temporal server or cluster.
    pub address: String,
    pub namespace: String,
    /// Base name of the task queues: each priority runs on `{task_queue}-{priority}`
    /// (`pombo-notifications-high`, `-medium`, `-low`), with slots of its own.
    pub task_queue: String,
    /// How many tasks of each priority one worker runs at once (workflow tasks, activities
    /// and local activities, each). High has the most, so an alert never waits for a slot;
    /// low the fewest, so a promotion blast cannot flood the server ahead of an alert.
    pub slots: PrioritySlots,
    /// Longest a medium or low activity waits, in one worker, while a more urgent one runs
    /// there (`pombo_worker::priority_gate`); 0 turns the wait off. Capped at half of
    /// `delivery.heartbeat_timeout_secs`, so a held send is never taken for a dead one.
    pub yield_to_urgent_ms: u64,
    /// Which processes start accepted notifications' workflows.
    pub starts: WorkflowStarts,
    /// Shown to people (links from the API and `make run`); not used to connect.
    pub ui_url: String,
    /// TLS to the frontend (`https://` addresses): a private CA, and a client certificate
    /// for mTLS. Temporal Cloud needs only `api_key` or the client certificate.
    pub tls: Option<TemporalTls>,
    /// An API key sent as a bearer token (Temporal Cloud API keys).
    pub api_key: Option<Secret>,
}

/// Files for TLS to Temporal, PEM-encoded.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TemporalTls {
    /// The CA that signed the frontend's certificate; absent: the system's roots.
    pub ca_cert_path: Option<String>,
    /// A client certificate and its key, for mTLS (both or neither).
    pub client_cert_path: Option<String>,
    pub client_key_path: Option<String>,
    /// The name to check the server certificate against; absent: the address's host.
    pub server_name: Option<String>,
}

/// Who starts the workflow of an accepted notification. The API stores every notification
/// first either way (that row is the promise), and its dispatch sweep starts whatever nobody
/// started within `api.dispatch_grace_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowStarts {
    /// The workers: each claims stored notifications, most urgent first, and starts them
    /// *eagerly*: Temporal hands the first workflow task straight back to that worker, past
    /// its queue, which takes ~40% of the server's work per notification off.
    #[default]
    Worker,
    /// The API, right after storing each one: for deployments whose workers cannot reach the
    /// database's unstarted rows quickly, and for an API that runs without workers.
    Api,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrioritySlots {
    pub high: usize,
    pub medium: usize,
    pub low: usize,
}

impl PrioritySlots {
    pub fn of(&self, priority: crate::Priority) -> usize {
        match priority {
            crate::Priority::High => self.high,
            crate::Priority::Medium => self.medium,
            crate::Priority::Low => self.low,
        }
    }
}

impl Default for PrioritySlots {
    fn default() -> Self {
        PrioritySlots {
            high: 100,
            medium: 50,
            low: 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    /// Whether this server-wide SMTP account delivers email (after any `[[providers]]` of
    /// the email channel). Turn it off when email goes through an HTTP provider only.
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Sender of every email (`Name <address>` or a bare address).
    pub from: String,
    /// Longest wait for the SMTP server on one connection.
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    /// Send attempts per notification, first one included (the seed's rule: 3).
    pub max_attempts: u32,
    /// Pause between attempts, in seconds (the seed's rule: 5 minutes).
    pub retry_interval_secs: u64,
    /// Longest one send attempt may run in all (Temporal's start-to-close timeout).
    pub attempt_timeout_secs: u64,
    /// A running attempt reports liveness this often at the least; one silent for longer
    /// (its worker died) is retried elsewhere. Short, so a crash costs seconds, while a live
    /// but slow send is never cut off mid-way and sent again.
    pub heartbeat_timeout_secs: u64,
    /// After the provider accepts a message, how long its workflow waits for the
    /// provider's delivery reports (delivered, read, failed) before it ends, per channel.
    /// 0: do not wait. Reports that arrive later are still recorded.
    pub confirmation_timeout_secs: ConfirmationTimeouts,
}

/// Seconds to wait for delivery reports, per channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfirmationTimeouts {
    pub email: u64,
    pub sms: u64,
    pub push: u64,
    pub whatsapp: u64,
    pub instagram: u64,
    pub telegram: u64,
    pub webhook: u64,
}

impl Default for ConfirmationTimeouts {
    fn default() -> Self {
        ConfirmationTimeouts {
            // Opens come late, if at all; bounces within hours.
            email: 24 * 3600,
            sms: 24 * 3600,
            push: 3600,
            // Chat apps report delivery within seconds when the phone is online.
            whatsapp: 600,
            instagram: 600,
            // Telegram's Bot API reports no deliveries; a webhook's 2xx is its delivery.
            telegram: 0,
            webhook: 0,
        }
    }
}

impl ConfirmationTimeouts {
    pub fn of(&self, channel: crate::Channel) -> u64 {
        use crate::Channel;
        match channel {
            Channel::Email => self.email,
            Channel::Sms => self.sms,
            Channel::Push => self.push,
            Channel::Whatsapp => self.whatsapp,
            Channel::Instagram => self.instagram,
            Channel::Telegram => self.telegram,
            Channel::Webhook => self.webhook,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How often accepted notifications whose workflow did not start (Temporal down, API
    /// crash) are swept and started.
    pub dispatch_sweep_secs: u64,
    /// A notification is swept only when it has waited this long, so the sweep does not race
    /// the request that is starting it.
    pub dispatch_grace_secs: u64,
    /// Whether this API process runs those sweeps (of notifications and of batches). Every
    /// replica running them is harmless (a start is idempotent) but multiplies their
    /// queries: with many replicas, leave them on in one or two (`POMBO_API__SWEEPS=false`
    /// in the others).
    pub sweeps: bool,
    /// The API's address as providers reach it (`https://pombo.example.com`), to tell them
    /// where to call back and to check signatures over the URL (Twilio). Default: taken
    /// from each request's `Host` header, over http.
    pub public_url: Option<String>,
    pub rate_limit: RateLimitConfig,
    /// Per-client-address limits of the provider callbacks (`/v1/callbacks/*`).
    pub callback_rate_limit: CallbackRateLimitConfig,
    /// Serve HTTPS with this certificate and key (PEM files, reloaded on SIGHUP and when
    /// they change); absent: plain HTTP, for localhost or behind a TLS-terminating proxy.
    pub tls: Option<ApiTls>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTls {
    /// The certificate chain, leaf first.
    pub cert_path: String,
    pub key_path: String,
}

/// Provider callbacks carry no API key, so they are limited by the client's address (the
/// socket peer's; an IPv6 address by its /64): a request rate, and a much stricter rate of
/// failed authentications (401, and 404 for an unknown account), past which the address
/// is refused with 429 until a failure is allowed again. Behind a reverse proxy every
/// provider shares the proxy's address: raise the limits accordingly.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CallbackRateLimitConfig {
    pub enabled: bool,
    /// Sustained callbacks per second from one address.
    pub per_second: u32,
    /// Callbacks one address may make at once above the sustained rate.
    pub burst: u32,
    /// Sustained failed authentications per minute from one address.
    pub failures_per_minute: u32,
    /// Failed authentications one address may make at once.
    pub failure_burst: u32,
}

impl Default for CallbackRateLimitConfig {
    fn default() -> Self {
        // A provider's reports of a busy account come from a few addresses at up to
        // thousands per minute; a forger guessing secrets needs far more than ten a minute.
        CallbackRateLimitConfig {
            enabled: true,
            per_second: 100,
            burst: 1000,
            failures_per_minute: 10,
            failure_burst: 20,
        }
    }
}

/// Per-tenant request rate limit of the API (a token bucket per tenant).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Sustained requests per second per tenant.
    pub per_second: u32,
    /// Requests a tenant may make at once above the sustained rate.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            per_second: 100,
            burst: 200,
        }
    }
}

/// One server-wide provider account: `[[providers]]` with `name`, `type` and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderAccountConfig {
    /// Unique among the server-wide accounts; shown in attempts as `<name>`.
    pub name: String,
    /// How fast this account may be sent to, across all workers
    /// (`rate_limit = { per_second = 2 }`); unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::providers::SendRateLimit>,
    /// The tenant (by name) whose conversations get what people send to this account
    /// (`inbound_tenant = "acme"`). Without it, a callback that carries inbound messages
    /// is answered 422 once its delivery reports are recorded: the provider keeps retrying
    /// it, and nothing a person wrote is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_tenant: Option<String>,
    #[serde(flatten)]
    pub settings: crate::providers::ProviderSettings,
}

/// Keys for data encrypted at rest (AES-256-GCM). New data is sealed with `current_key`;
/// data sealed with any key still listed stays readable, so a key is rotated by adding a
/// new one, making it current, re-sealing (`pombo-worker reseal`), then removing the old.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EncryptionConfig {
    /// Id of the key that seals new data.
    pub current_key: String,
    /// Key id → base64 of 32 random bytes (`openssl rand -base64 32`).
    pub keys: std::collections::BTreeMap<String, Secret>,
}

/// S3-compatible object storage for uploaded files. The defaults point at the local store
/// that `make run` starts (`pombo-s3`); for AWS leave `endpoint` unset and set `region`,
/// `bucket` and the keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// Endpoint URL (`http://127.0.0.1:9000`, `https://minio.example.com`); `None`: AWS's
    /// own endpoint for `region`.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// `http://host/bucket/key` instead of `http://bucket.host/key`: what local and most
    /// self-hosted S3-compatible servers need.
    pub force_path_style: bool,
    /// How long a presigned download URL stays valid, in seconds (SigV4 allows up to 7 days).
    pub presign_expiry_secs: u64,
    /// Largest file accepted, in bytes.
    pub max_file_bytes: u64,
    /// Content types accepted (`type/subtype`, or `type/*` for all of a type).
    pub allowed_content_types: Vec<String>,
    /// Create the bucket at start if it is missing (local development).
    pub create_bucket: bool,
    /// Largest total size of the files attached to one email, in bytes.
    pub max_email_attachment_bytes: u64,
    /// How long the presigned URL handed to a provider for a chat media file or a push image
    /// stays valid, in seconds (at most 7 days). Push images are fetched by the device when
    /// the notification arrives, which may be long after the send.
    pub provider_url_expiry_secs: u64,
}

/// Retention of notifications' personal data: `days` after a notification's last change
/// (once it is no longer pending or sending), its recipient, content, data, rendered
/// message, fallback and the free text of its timeline and attempts are purged; its
/// metadata and statuses stay. Uploaded files older than `days` are deleted too. A Temporal
/// Schedule runs the purge every `every_secs`; the worker creates or updates it at
/// start-up, and deletes it when `days` is 0.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// Days to keep personal data; 0 keeps it forever.
    pub days: u32,
    /// How often the purge runs, in seconds.
    pub every_secs: u64,
    /// The Temporal Schedule's id (one per namespace).
    pub schedule_id: String,
    /// Rows purged per activity call.
    pub batch_size: u64,
}

/// Tenants' templates are rendered in `pombo-render` child processes, each limited to
/// `memory_limit_mib` of address space: a template whose values outgrow it (a string
/// doubled in a loop) ends its child and is refused, instead of ending the API or the worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RenderConfig {
    /// The `pombo-render` executable; `None`: the one beside the running binary.
    pub program: Option<std::path::PathBuf>,
    /// Children rendering at once (each renders one job at a time); 0: one per CPU.
    pub processes: usize,
    /// Address space of each child, in MiB. A message renders to at most 1 MiB and a
    /// request body is at most `api.max_body_bytes`, so the default leaves ample room.
    pub memory_limit_mib: u64,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            program: None,
            processes: 0,
            memory_limit_mib: 256,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            days: 30,
            every_secs: 3600,
            schedule_id: "pombo-retention".into(),
            batch_size: 500,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: "us-east-1".into(),
            bucket: "pombo-files".into(),
            // The local store's keys (`make run`); nothing else accepts them.
            access_key_id: "pombo".into(),
            secret_access_key: Secret::new("pombo-local-secret"),
            force_path_style: true,
            presign_expiry_secs: 3600,
            max_file_bytes: 10 * 1024 * 1024,
            allowed_content_types: [
                "image/png",
                "image/jpeg",
                "image/gif",
                "image/webp",
                "application/pdf",
                "audio/mpeg",
                "audio/ogg",
                "audio/aac",
                "audio/mp4",
                "audio/wav",
                "video/mp4",
                "video/webm",
                "video/3gpp",
                "text/plain",
                "text/csv",
            ]
            .map(String::from)
            .to_vec(),
            create_bucket: true,
            max_email_attachment_bytes: 20 * 1024 * 1024,
            provider_url_expiry_secs: 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: RunMode::Development,
            listen: ([127, 0, 0, 1], 8080).into(),
            database_url: "sqlite://.data/pombo.db?mode=rwc".into(),
            temporal: TemporalConfig::default(),
            smtp: SmtpConfig::default(),
            delivery: DeliveryConfig::default(),
            api: ApiConfig::default(),
            providers: Vec::new(),
            outbound: Default::default(),
            encryption: EncryptionConfig::default(),
            storage: StorageConfig::default(),
            retention: RetentionConfig::default(),
            render: RenderConfig::default(),
            dev_api_key: None,
            log_format: LogFormat::Text,
            worker_metrics_listen: Some(([127, 0, 0, 1], 9464).into()),
        }
    }
}

impl Default for TemporalConfig {
    fn default() -> Self {
        TemporalConfig {
            address: "http://127.0.0.1:7233".into(),
            namespace: "default".into(),
            task_queue: "pombo-notifications".into(),
            slots: PrioritySlots::default(),
            yield_to_urgent_ms: 3000,
            starts: WorkflowStarts::default(),
            ui_url: "http://127.0.0.1:8233".into(),
            tls: None,
            api_key: None,
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 1025,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "Pombo <pombo@localhost>".into(),
            timeout_secs: 10,
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 3,
            retry_interval_secs: 300,
            attempt_timeout_secs: 120,
            heartbeat_timeout_secs: 10,
            confirmation_timeout_secs: ConfirmationTimeouts::default(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 256 * 1024,
            dispatch_sweep_secs: 5,
            sweeps: true,
            dispatch_grace_secs: 10,
            public_url: None,
            rate_limit: RateLimitConfig::default(),
            callback_rate_limit: CallbackRateLimitConfig::default(),
            tls: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Defaults, then the file named by `POMBO_CONFIG` (if any), then `POMBO_*` variables.
    pub fn load() -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Ok(path) = std::env::var("POMBO_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment
            .merge(Env::prefixed("POMBO_").ignore(&["CONFIG"]).split("__"))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.delivery.max_attempts == 0 {
            return Err(ConfigError(
                "delivery.max_attempts must be at least 1".into(),
            ));
        }
        if self.delivery.attempt_timeout_secs == 0 {
            return Err(ConfigError(
                "delivery.attempt_timeout_secs must be at least 1".into(),
            ));
        }
        if self.delivery.heartbeat_timeout_secs == 0
            || self.delivery.heartbeat_timeout_secs >= self.delivery.attempt_timeout_secs
        {
            return Err(ConfigError(
                "delivery.heartbeat_timeout_secs must be at least 1 and below attempt_timeout_secs"
                    .into(),
            ));
        }
        for priority in crate::Priority::ALL {
            // The SDK needs two workflow-task slots per queue (one for sticky polls).
            if self.temporal.slots.of(priority) < 2 {
                return Err(ConfigError(format!(
                    "temporal.slots.{} must be at least 2",
                    priority.as_str()
                )));
            }
        }
        let mut names = std::collections::HashSet::new();
        for p in &self.providers {
            if !names.insert(p.name.as_str()) {
                return Err(ConfigError(format!(
                    "providers: the name `{}` is used twice",
                    p.name
                )));
            }
            if let Some(Err(reason)) = p.rate_limit.map(|r| r.check()) {
                return Err(ConfigError(format!(
                    "providers `{}`: rate_limit.per_second {reason}",
                    p.name
                )));
            }
        }
        if !self.encryption.keys.is_empty()
            && !self
                .encryption
                .keys
                .contains_key(&self.encryption.current_key)
        {
            return Err(ConfigError(format!(
                "encryption.current_key `{}` is not among encryption.keys",
                self.encryption.current_key
            )));
        }
        if !(1..=7 * 24 * 3600).contains(&self.storage.presign_expiry_secs) {
            return Err(ConfigError(
                "storage.presign_expiry_secs must be between 1 and 604800 (7 days)".into(),
            ));
        }
        if !(1..=7 * 24 * 3600).contains(&self.storage.provider_url_expiry_secs) {
            return Err(ConfigError(
                "storage.provider_url_expiry_secs must be between 1 and 604800 (7 days)".into(),
            ));
        }
        if self.retention.every_secs == 0
            || self.retention.batch_size == 0
            || self.retention.schedule_id.trim().is_empty()
        {
            return Err(ConfigError(
                "retention.every_secs and retention.batch_size must be at least 1, and retention.schedule_id set"
                    .into(),
            ));
        }
        if self.storage.max_file_bytes == 0 || self.storage.bucket.is_empty() {
            return Err(ConfigError(
                "storage.max_file_bytes must be at least 1 and storage.bucket must be set".into(),
            ));
        }
        if self.api.rate_limit.enabled
            && (self.api.rate_limit.per_second == 0 || self.api.rate_limit.burst == 0)
        {
            return Err(ConfigError(
                "api.rate_limit.per_second and burst must be at least 1 (or disable it)".into(),
            ));
        }
        if self.render.memory_limit_mib < 64 {
            return Err(ConfigError(
                "render.memory_limit_mib must be at least 64 (the render process itself needs some)"
                    .into(),
            ));
        }
        if self.api.max_body_bytes < 1024 {
            return Err(ConfigError(
                "api.max_body_bytes must be at least 1024".into(),
            ));
        }
        if let Some(tls) = &self.temporal.tls
            && tls.client_cert_path.is_some() != tls.client_key_path.is_some()
        {
            return Err(ConfigError(
                "temporal.tls: give client_cert_path and client_key_path together".into(),
            ));
        }
        if self.mode == RunMode::Production {
            self.validate_production()?;
        }
        Ok(())
    }

    /// What production refuses to start without, every missing piece named at once.
    fn validate_production(&self) -> Result<(), ConfigError> {
        let mut missing = Vec::new();
        if self.encryption.keys.is_empty() {
            missing.push(
                "an encryption key (encryption.current_key and encryption.keys.<id>): without \
                 one, personal data would be stored in clear",
            );
        }
        match self.api.public_url.as_deref().map(url::Url::parse) {
            Some(Ok(url)) if url.scheme() == "https" => {}
            _ => missing.push(
                "api.public_url, the https URL providers reach the API at: Twilio signs it, \
                 and callback URLs are built from it",
            ),
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(format!(
                "mode = \"production\" needs {}",
                missing.join("; and ")
            )))
        }
    }
}

#[cfg(test)]
// figment's Jail API returns its large error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let mut config = Config::default();
        config.smtp.password = Some(Secret::new("hunter2"));
        config.dev_api_key = Some(Secret::new("pk_live_topsecret"));
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("topsecret"),
            "{shown}"
        );
    }

    #[test]
    fn worker_metrics_listen_defaults_and_turns_off() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load().expect("loads");
            assert_eq!(
                config.worker_metrics_listen,
                Some(([127, 0, 0, 1], 9464).into())
            );
            jail.set_env("POMBO_WORKER_METRICS_LISTEN", "off");
            assert_eq!(Config::load().expect("loads").worker_metrics_listen, None);
            jail.set_env("POMBO_WORKER_METRICS_LISTEN", "0.0.0.0:9000");
            assert_eq!(
                Config::load().expect("loads").worker_metrics_listen,
                Some(([0, 0, 0, 0], 9000).into())
            );
            jail.set_env("POMBO_WORKER_METRICS_LISTEN", "nine");
            assert!(Config::load().is_err());
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_nested_keys() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("POMBO_SMTP__PORT", "2525");
            jail.set_env("POMBO_DELIVERY__MAX_ATTEMPTS", "5");
            jail.set_env("POMBO_DATABASE_URL", "postgres://localhost/x");
            let config = Config::load().expect("loads");
            assert_eq!(config.smtp.port, 2525);
            assert_eq!(config.delivery.max_attempts, 5);
            assert_eq!(config.database_url, "postgres://localhost/x");
            assert_eq!(config.delivery.retry_interval_secs, 300);
            Ok(())
        });
    }

    #[test]
    fn production_refuses_to_start_without_a_key_and_a_public_url() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("POMBO_MODE", "production");
            let err = Config::load().unwrap_err().to_string();
            assert!(
                err.contains("encryption key") && err.contains("api.public_url"),
                "{err}"
            );
            jail.set_env("POMBO_API__PUBLIC_URL", "http://pombo.example.com");
            jail.set_env("POMBO_ENCRYPTION__CURRENT_KEY", "k1");
            jail.set_env("POMBO_ENCRYPTION__KEYS__K1", "a2V5");
            let err = Config::load().unwrap_err().to_string();
            assert!(
                err.contains("api.public_url") && !err.contains("encryption key"),
                "{err}"
            );
            jail.set_env("POMBO_API__PUBLIC_URL", "https://pombo.example.com");
            assert_eq!(Config::load().expect("loads").mode, RunMode::Production);
            jail.set_env("POMBO_MODE", "development");
            jail.set_env("POMBO_API__PUBLIC_URL", "");
            assert!(Config::load().is_ok());
            Ok(())
        });
    }

    #[test]
    fn outbound_exceptions_come_from_a_list_or_commas() {
        figment::Jail::expect_with(|jail| {
            assert_eq!(Config::load().expect("loads").outbound, Default::default());
            jail.create_file(
                "pombo.toml",
                "[outbound]\nallowed_private_targets = [\"[::1]:9\"]\n",
            )?;
            jail.set_env("POMBO_CONFIG", "pombo.toml");
            assert!(Config::load().expect("loads").outbound.is_allowed("::1", 9));
            jail.set_env(
                "POMBO_OUTBOUND__ALLOWED_PRIVATE_TARGETS",
                "127.0.0.1:4010, localhost:1025",
            );
            let policy = Config::load().expect("loads").outbound;
            assert!(policy.is_allowed("127.0.0.1", 4010) && policy.is_allowed("localhost", 1025));
            assert!(!policy.is_allowed("127.0.0.1", 1025));
            jail.set_env("POMBO_OUTBOUND__ALLOWED_PRIVATE_TARGETS", "");
            assert_eq!(Config::load().expect("loads").outbound, Default::default());
            jail.set_env("POMBO_OUTBOUND__ALLOWED_PRIVATE_TARGETS", "nowhere");
            let err = Config::load().unwrap_err().to_string();
            assert!(err.contains("allowed_private_targets"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn provider_accounts_come_from_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "pombo.toml",
                r#"
                [[providers]]
                name = "twilio-main"
                type = "twilio"
                account_sid = "AC123"
                auth_token = "tok"
                from = "+15005550006"
                base_url = "http://127.0.0.1:4010/twilio"
                "#,
            )?;
            jail.set_env("POMBO_CONFIG", "pombo.toml");
            let config = Config::load().expect("loads");
            assert_eq!(config.providers.len(), 1);
            assert_eq!(config.providers[0].name, "twilio-main");
            assert_eq!(config.providers[0].settings.kind(), "twilio");
            Ok(())
        });
    }

    #[test]
    fn provider_rate_limits_come_from_the_file_and_are_checked() {
        figment::Jail::expect_with(|jail| {
            let account = |rate: &str| {
                format!(
                    r#"
                    [[providers]]
                    name = "twilio-main"
                    type = "twilio"
                    account_sid = "AC123"
                    auth_token = "tok"
                    from = "+15005550006"
                    rate_limit = {{ per_second = {rate} }}
                    "#
                )
            };
            jail.create_file("pombo.toml", &account("2.5"))?;
            jail.set_env("POMBO_CONFIG", "pombo.toml");
            let config = Config::load().expect("loads");
            let limit = config.providers[0].rate_limit.expect("rate limit");
            assert_eq!(limit.per_second, 2.5);
            assert_eq!(limit.interval(), std::time::Duration::from_millis(400));
            assert_eq!(config.providers[0].settings.kind(), "twilio");
            for bad in ["0", "-1", "20000"] {
                jail.create_file("pombo.toml", &account(bad))?;
                let error = Config::load().expect_err(bad).to_string();
                assert!(error.contains("rate_limit.per_second"), "{error}");
            }
            Ok(())
        });
    }

    #[test]
    fn retention_keeps_30_days_by_default_and_is_configurable() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load().expect("defaults load");
            assert_eq!(config.retention.days, 30);
            assert_eq!(config.retention.every_secs, 3600);
            assert_eq!(config.retention.schedule_id, "pombo-retention");
            jail.set_env("POMBO_RETENTION__DAYS", "0");
            jail.set_env("POMBO_RETENTION__EVERY_SECS", "600");
            let config = Config::load().expect("loads");
            assert_eq!(
                (config.retention.days, config.retention.every_secs),
                (0, 600)
            );
            jail.set_env("POMBO_RETENTION__EVERY_SECS", "0");
            let error = Config::load().expect_err("every 0 s").to_string();
            assert!(error.contains("retention.every_secs"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn zero_attempts_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("POMBO_DELIVERY__MAX_ATTEMPTS", "0");
            assert!(Config::load().is_err());
            Ok(())
        });
    }
}
