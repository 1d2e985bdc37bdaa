use pombo_contract::hub::PlatformStatus;
use sea_orm::entity::prelude::*;

use super::Text;

/// A chat platform of a tenant's hub (`m0026_hub`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "hub_platforms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Unique in the tenant's hub: the name other platforms know it by.
    pub name: String,
    /// The base of its API (`…/api/`): `users`, `user`, `room` and `message` are under it.
    pub endpoint: String,
    /// `["audio", "image", …]` (`pombo_contract::hub::Capability`).
    pub capabilities: Json,
    /// SHA-256 (hex) of the token it authenticates with.
    pub token_hash: String,
    pub status: Text<PlatformStatus>,
    pub last_success_at: Option<DateTimeUtc>,
    pub last_failure_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
