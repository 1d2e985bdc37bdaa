use sea_orm::entity::prelude::*;

/// A tenant's webhook endpoint (`m0025_webhooks`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub url: String,
    pub description: String,
    /// Event types it receives, as a JSON array (empty: all).
    pub event_types: Json,
    /// Channels it receives events of, as a JSON array (empty: all).
    pub channels: Json,
    /// Conditions on the delivered body, all of which must hold
    /// (`pombo_contract::webhooks::FilterCondition`); `None`: none.
    pub payload_filter: Option<Json>,
    /// Custom headers, a JSON object, sealed.
    pub headers: Option<String>,
    /// `whsec_…`, sealed.
    pub secret: String,
    /// The secret before the last rotation, sealed: it still signs until
    /// `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTimeUtc>,
    pub enabled: bool,
    pub ordered: bool,
    /// Deliveries per second at most.
    pub rate_limit: Option<i32>,
    /// Its own retry schedule (seconds), a JSON array; `None`: the configuration's.
    pub retry_schedule_secs: Option<Json>,
    pub consecutive_failures: i32,
    /// The first failed attempt since the last success.
    pub failing_since: Option<DateTimeUtc>,
    /// Deliveries wait until then (circuit breaker).
    pub paused_until: Option<DateTimeUtc>,
    /// A probe attempt holds the endpoint until then.
    pub probe_until: Option<DateTimeUtc>,
    pub last_success_at: Option<DateTimeUtc>,
    pub last_failure_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub disabled_at: Option<DateTimeUtc>,
    pub disabled_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
