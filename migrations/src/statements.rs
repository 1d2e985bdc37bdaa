//! Raw SQL for what sea-query does not build (triggers, functions, column changes): one list
//! of statements per database, the right one run in order.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

/// Runs `sqlite` on SQLite and `postgres` on PostgreSQL, in order.
pub async fn run<S: AsRef<str>, P: AsRef<str>>(
    manager: &SchemaManager<'_>,
    sqlite: &[S],
    postgres: &[P],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match manager.get_database_backend() {
        DbBackend::Sqlite => {
            for statement in sqlite {
                db.execute_unprepared(statement.as_ref()).await?;
            }
        }
        _ => {
            for statement in postgres {
                db.execute_unprepared(statement.as_ref()).await?;
            }
        }
    }
    Ok(())
}
