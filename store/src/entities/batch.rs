use pombo_contract::{Channel, Priority};
use sea_orm::entity::prelude::*;

use super::Text;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "batches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub channel: Text<Channel>,
    pub priority: Text<Priority>,
    /// `accepted`, `running` or `completed`.
    pub status: String,
    /// Recipients in the batch: its notification rows.
    pub total: i32,
    /// Recipients left out because their own idempotency key was already used.
    pub skipped: i32,
    pub max_attempts: i32,
    pub retry_interval_secs: i64,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request, to tell a retried request from another reusing its key.
    pub request_hash: String,
    /// Not sent before this time (a scheduled batch).
    pub send_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// When its workflow was started; `None` means the batch sweep still owes a start.
    pub dispatched_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
