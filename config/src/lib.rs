//! The one typed configuration of Pombo, shared by the API and the worker: its sections
//! (`pombo_contract::config`, re-exported here) and the provider accounts (`[[providers]]`,
//! whose settings are each provider's own, `pombo_providers`).
//!
//! Loaded from defaults that run locally, then an optional TOML file (`POMBO_CONFIG`), then
//! environment variables `POMBO_*` (nested keys with `__`: `POMBO_SMTP__PORT=2525`).

use std::net::SocketAddr;

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use pombo_contract::providers::SendRateLimit;
use pombo_providers::ProviderSettings;
use serde::{Deserialize, Serialize};

pub use pombo_contract::config::*;

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
    /// default): see [`pombo_contract::outbound`].
    pub outbound: pombo_contract::outbound::OutboundPolicy,
    pub encryption: EncryptionConfig,
    /// S3-compatible object storage for uploaded files (`/v1/files`).
    pub storage: StorageConfig,
    /// How long personal data and rendered bodies are kept (a Temporal Schedule purges them).
    pub retention: RetentionConfig,
    /// The child processes that render tenants' templates (`pombo-render`).
    pub render: RenderConfig,
    /// The live event stream and its tokens.
    pub stream: StreamConfig,
    /// Deliveries to tenants' webhook endpoints: retries, pauses, disabling.
    pub webhooks: WebhooksConfig,
    pub hub: HubConfig,
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

/// One server-wide provider account: `[[providers]]` with `name`, `type` and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderAccountConfig {
    /// Unique among the server-wide accounts; shown in attempts as `<name>`.
    pub name: String,
    /// How fast this account may be sent to, across all workers
    /// (`rate_limit = { per_second = 2 }`); unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<SendRateLimit>,
    /// The tenant (by name) whose conversations get what people send to this account
    /// (`inbound_tenant = "acme"`). Without it, a callback that carries inbound messages
    /// is answered 422 once its delivery reports are recorded: the provider keeps retrying
    /// it, and nothing a person wrote is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_tenant: Option<String>,
    #[serde(flatten)]
    pub settings: ProviderSettings,
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
            stream: StreamConfig::default(),
            webhooks: WebhooksConfig::default(),
            hub: HubConfig::default(),
            dev_api_key: None,
            log_format: LogFormat::Text,
            worker_metrics_listen: Some(([127, 0, 0, 1], 9464).into()),
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
        for priority in pombo_contract::Priority::ALL {
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
        if self.stream.token_max_secs == 0
            || self.stream.queue == 0
            || self.stream.heartbeat_secs == 0
            || self.stream.poll_millis == 0
        {
            return Err(ConfigError(
                "stream.token_max_secs, stream.queue, stream.heartbeat_secs and stream.poll_millis must be at least 1".into(),
            ));
        }
        let hooks = &self.webhooks;
        if hooks.attempt_timeout_secs == 0
            || hooks.failures_before_pause == 0
            || hooks.pause_secs == 0
            || hooks.poll_millis == 0
            || hooks.recover_max_days == 0
        {
            return Err(ConfigError(
                "webhooks.attempt_timeout_secs, failures_before_pause, pause_secs, poll_millis and recover_max_days must be at least 1".into(),
            ));
        }
        if hooks.retry_schedule_secs.len() > 50 {
            return Err(ConfigError(
                "webhooks.retry_schedule_secs has at most 50 steps".into(),
            ));
        }
        if self.hub.ping_schedule_id.trim().is_empty()
            || self.hub.import_users_schedule_id.trim().is_empty()
        {
            return Err(ConfigError(
                "hub.ping_schedule_id and hub.import_users_schedule_id must not be empty".into(),
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
