use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// SHA-256 of the key, hex: the key itself is shown once and never stored.
    pub key_hash: String,
    pub label: String,
    pub created_at: DateTimeUtc,
    /// Comma-separated [`pombo_contract::Scope`]s, sorted: `send,read`.
    pub scopes: String,
    /// The key's first characters, to tell keys apart in lists (empty for keys made before
    /// prefixes were kept).
    pub prefix: String,
    pub expires_at: Option<DateTimeUtc>,
    /// Updated at most once a minute per key.
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// The key that issued this one (`None` when made by `pombo-admin` or configuration).
    pub created_by_key_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
