use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub notification_id: Uuid,
    /// Temporal's attempt number of the send activity (1-based).
    pub attempt: i32,
    /// The provider account's name.
    pub provider: String,
    /// Its type (`smtp`, `twilio`, …).
    pub provider_kind: Option<String>,
    /// `in_progress`, `sent`, `retryable_error`, `permanent_error` or `lost` (the worker
    /// died during the attempt; a later attempt found it unfinished).
    pub outcome: String,
    pub error: Option<String>,
    /// The provider's own error code.
    pub error_code: Option<String>,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
