use pombo_contract::Channel;
use sea_orm::entity::prelude::*;

use super::Text;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Unique per tenant; named in attempts and routing.
    pub name: String,
    /// The provider type (`twilio`, `sendgrid`, …).
    pub kind: String,
    pub channel: Text<Channel>,
    /// Lower goes first within a channel; the next one takes over when it fails.
    pub priority: i32,
    pub enabled: bool,
    /// Settings with credentials, sealed (see `pombo_store::sealed`).
    pub settings_sealed: String,
    pub key_id: String,
    /// Sends per second the account allows (`None`: unlimited).
    pub rate_limit_per_second: Option<f64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
