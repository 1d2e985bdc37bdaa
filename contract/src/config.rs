//! The sections of Pombo's configuration, each with its defaults, read by the crates that
//! use them (the store reads `[storage]` and `[encryption]`, the providers `[smtp]`).
//! `pombo-config` assembles them with the provider accounts into the one `Config` and
//! loads it.

use serde::{Deserialize, Serialize};

// Defined with what uses them; named here too, as part of the configuration.
pub use crate::providers::SmtpTls;
pub use crate::secret::{Secret, serialize_masked};

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
    pub in_app: u64,
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
            // Delivered when stored in the inbox; read whenever the recipient reads it.
            in_app: 0,
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
            Channel::InApp => self.in_app,
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
    /// Days the event log (`GET /v1/events`) keeps each event; 0 keeps them forever. Purged
    /// by the same scheduled run, so not while `days` is 0.
    pub event_days: u32,
}

/// The live event stream (`GET /v1/stream`, `GET /v1/stream/sse`): each API process follows
/// the event log (woken by PostgreSQL's `NOTIFY`, and polling) and fans new events out to
/// its connections.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamConfig {
    /// Signs the short-lived tokens browsers connect with (`POST /v1/stream/tokens`): base64
    /// of at least 32 random bytes, the same in every API process. `None`: derived from the
    /// current encryption key; without one either, a random key per process (tokens then
    /// work only on the process that made them).
    pub token_key: Option<Secret>,
    /// Longest life of such a token, in seconds.
    pub token_max_secs: u64,
    /// Connections one tenant may hold open on one API process.
    pub max_connections_per_tenant: usize,
    /// Events waiting to be written to one connection; a client that lets more pile up is
    /// closed with its cursor, to resume from, so a slow reader costs bounded memory.
    pub queue: usize,
    /// How often a connection is pinged (WebSocket) or sent a comment (SSE), in seconds. A
    /// WebSocket client that has not answered by the next ping is closed.
    pub heartbeat_secs: u64,
    /// How often the log is read when nothing woke the follower, in milliseconds. SQLite
    /// has no notifications: this is its latency.
    pub poll_millis: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            token_key: None,
            token_max_secs: 3600,
            max_connections_per_tenant: 200,
            queue: 1000,
            heartbeat_secs: 25,
            poll_millis: 50,
        }
    }
}

/// Tenants' webhook endpoints (`/v1/webhook-endpoints`): how Pombo delivers its events to
/// them. Every duration is in seconds unless named otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhooksConfig {
    /// Waits before each retry of a delivery that failed (the first attempt goes at once),
    /// each with ±20% jitter; an endpoint may set its own.
    pub retry_schedule_secs: Vec<u64>,
    /// Bound of one POST: the receiver has this long to answer.
    pub attempt_timeout_secs: u64,
    /// Failed attempts in a row after which deliveries to an endpoint pause
    /// (`pause_secs`), one probe attempt going out per pause.
    pub failures_before_pause: u32,
    pub pause_secs: u64,
    /// An endpoint with no successful attempt for this long, while attempts fail, is
    /// disabled (an `endpoint.disabled` event is written).
    pub disable_after_secs: u64,
    /// After a rotation, the old secret still signs (beside the new one) this long.
    pub secret_overlap_secs: u64,
    /// Endpoints one tenant may have.
    pub max_endpoints_per_tenant: u64,
    /// How far back `recover` may reach, in days.
    pub recover_max_days: u32,
    /// How often the log is read for new events to fan out when nothing is happening, in
    /// milliseconds: the most an event waits before its deliveries exist.
    pub poll_millis: u64,
    /// The worker that claims a delivery makes its first attempt itself, and a workflow is
    /// started only for a delivery that needs retries. `false`: every delivery is a workflow
    /// from its first attempt (slower; kept to measure the difference).
    pub first_attempt_in_worker: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            retry_schedule_secs: crate::webhooks::DEFAULT_SCHEDULE_SECS.to_vec(),
            attempt_timeout_secs: 15,
            failures_before_pause: 10,
            pause_secs: 300,
            disable_after_secs: 5 * 24 * 3600,
            secret_overlap_secs: 24 * 3600,
            max_endpoints_per_tenant: 50,
            recover_max_days: 14,
            poll_millis: 50,
            first_attempt_in_worker: true,
        }
    }
}

/// The chat hub's scheduled checks (`/v1/hub`): Temporal Schedules the worker keeps,
/// visible in the Temporal UI. 0 turns a check off (its schedule is deleted).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HubConfig {
    /// How often every platform is pinged (`GET {endpoint}users`) and marked up or down; a
    /// platform back up has its backlog sent at once.
    pub ping_every_secs: u64,
    /// How often every platform's users are imported (`GET {endpoint}users`): new or
    /// renamed ones are told to the other platforms. Daily, as the source asks.
    pub import_users_every_secs: u64,
    /// The two Schedules' ids (one of each per namespace).
    pub ping_schedule_id: String,
    pub import_users_schedule_id: String,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            ping_every_secs: 60,
            import_users_every_secs: 24 * 3600,
            ping_schedule_id: "pombo-hub-ping".into(),
            import_users_schedule_id: "pombo-hub-import-users".into(),
        }
    }
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
            event_days: 7,
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
