use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "operators")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Lower-cased; unique.
    pub email: String,
    /// argon2id, PHC string format (algorithm, parameters and salt travel with the hash).
    pub password_hash: String,
    /// The TOTP shared secret, sealed (`sealed::Keyring`) and bound to this row.
    pub totp_secret_sealed: String,
    /// The RFC 6238 time step of the last code accepted: a code is accepted once.
    pub totp_last_step: Option<i64>,
    pub created_at: DateTimeUtc,
    /// When an administrator disabled it: its sessions end and sign-in is refused.
    pub disabled_at: Option<DateTimeUtc>,
}

// Credentials stay out of debug output, so that no log line can carry them.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
