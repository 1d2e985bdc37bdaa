//! What every crate knows about a provider account without knowing which providers exist:
//! the mask shown in place of credentials, send rate limits, and [`AccountSettings`], the
//! little the store needs of an account's settings. The providers themselves, their
//! settings and the list of them are `pombo_providers`' (one folder each).

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use utoipa::ToSchema;

use crate::Channel;

/// What the API shows in place of a credential.
pub const MASK: &str = "********";

/// The settings of one provider account as the store keeps them: sealed JSON, with its
/// type and channel in clear beside it (to list and route without opening them).
/// Implemented by `pombo_providers::ProviderSettings`.
pub trait AccountSettings:
    Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static
{
    /// The provider's type name, as in the `type` tag.
    fn kind(&self) -> &'static str;
    fn channel(&self) -> Channel;
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
