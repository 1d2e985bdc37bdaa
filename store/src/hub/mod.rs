//! The chat hub's storage (`m0026_hub`, `pombo_contract::hub`): [`platforms`] and their
//! tokens, [`rooms`] with their users and members, [`messages`] posted to rooms, and the
//! [`forwards`] each platform is owed. Whatever a platform posts is stored together with
//! every forward it causes, in one transaction, before the hub answers: the forwarders
//! then deliver from the database, so nothing is lost while a platform (or the worker)
//! is down.

pub mod bridge;
pub mod forwards;
pub mod messages;
pub mod platforms;
pub mod rooms;

use sea_orm::{DbErr, SqlErr};

use crate::StoreError;

/// A unique index refused the row: `what` already exists.
fn conflict(e: DbErr, what: &str) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(what.to_owned()),
        _ => StoreError::Db(e),
    }
}
