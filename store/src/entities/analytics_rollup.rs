use sea_orm::entity::prelude::*;

use super::Text;
use crate::analytics::Grouping;

/// Which hours of a tenant's notifications are rolled up for a grouping, and how far the
/// roll-ups have followed the event log (`m0032_analytics_rollups`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "analytics_rollups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub grouping: Text<Grouping>,
    /// Hours `[covered_from, covered_to)`, as hour labels.
    pub covered_from: String,
    pub covered_to: String,
    pub cursor_xact: i64,
    pub cursor_id: i64,
    /// Bumped by every refresh: a refresh that finds it changed under it writes nothing.
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
