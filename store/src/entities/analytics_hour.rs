use sea_orm::entity::prelude::*;

use super::Text;
use crate::analytics::Grouping;

/// One hour of a tenant's notifications, one group's figures (`m0032_analytics_rollups`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "analytics_hours")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub grouping: Text<Grouping>,
    /// The hour's start, `2026-12-07T04:00:00Z`.
    pub hour: String,
    pub grp: Option<String>,
    pub accepted: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    pub opened: i64,
    pub clicked: i64,
    pub skipped: i64,
    pub tracked: i64,
    /// `Durations::encode` of the times to send and to deliver.
    pub to_send: String,
    pub to_deliver: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
