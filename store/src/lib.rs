//! Pombo's database: connection, migrations, entities and the queries that both the API
//! and the activities need. Status changes go through [`notifications::transition`] only,
//! which applies the forward-only rule of [`pombo_contract::NotificationStatus`].
//! [`objects`] is the other place Pombo keeps data: the S3-compatible store of uploaded files.

pub mod analytics;
pub mod audit;
pub mod batches;
pub mod conversations;
pub mod digests;
pub mod entities;
pub mod event_log;
pub mod events;
pub mod files;
pub mod hub;
pub mod inbound_media;
pub mod inbox;
pub mod instance_states;
pub mod notifications;
pub mod objects;
pub mod operators;
pub mod preferences;
pub mod provider_accounts;
pub mod recipients;
pub mod retention;
pub mod routing_rules;
pub mod sealed;
pub mod send_slots;
pub mod signed_links;
mod sqlite_busy;
pub mod suppressions;
pub mod templates;
pub mod tenants;
pub mod webhooks;

use std::time::Duration;

use pombo_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

pub use sea_orm::DatabaseConnection as Db;

/// Raw SQL's `n`-th bound value (from 1): `$n` on PostgreSQL, `?n` on SQLite, so a value
/// used in several places of a statement is bound once on both.
pub(crate) fn param(backend: sea_orm::DbBackend, n: usize) -> String {
    match backend {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("not found")]
    NotFound,
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    #[error("could not prepare the database: {0}")]
    Setup(String),
    #[error("{0}")]
    Sealed(#[from] sealed::SealError),
    #[error("encryption at rest is not configured: set encryption.keys and encryption.current_key")]
    NoKeyring,
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored template cannot serve the request (no variant for the channel, no such
    /// version); the message says why.
    #[error("{0}")]
    Template(String),
}

/// Connects to `url` (SQLite or PostgreSQL). For SQLite, creates the file's directory and
/// turns on WAL, foreign keys and a busy handler that waits for the write lock up to 10 s
/// (`sqlite_busy`), so that the API and the worker can share one file.
pub async fn connect(url: &str) -> Result<DatabaseConnection, StoreError> {
    if let Some(path) = sqlite_path(url)
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Setup(format!("creating {}: {e}", dir.display())))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(16)
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                // Until the connection's own busy handler replaces it (below).
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // Every pooled connection keeps its own page cache (2 MiB by default, so up
                // to 32 MiB for the pool): memory is a target, and the OS caches the file.
                .pragma("cache_size", "-512")
        })
        .map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|conn, _| Box::pin(async move { sqlite_busy::install(conn).await }))
        });
    Ok(Database::connect(options).await?)
}

/// Begins a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails at once with
/// SQLITE_BUSY when another writer got in between, where an immediate one waits its turn in
/// the busy handler. Other databases begin as usual.
pub async fn begin_write<C: TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Connects and applies pending migrations: what every Pombo process does at start-up.
pub async fn open(url: &str) -> Result<DatabaseConnection, StoreError> {
    let db = connect(url).await?;
    migrate(&db).await?;
    Ok(db)
}

/// Applies pending migrations. Several processes (API and workers) start together and
/// may race to apply the same migration: the loser sees a conflict, waits, and finds it
/// applied on the next try.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    let mut tries = 0;
    loop {
        match Migrator::up(db, None).await {
            Ok(()) => return Ok(()),
            Err(e) if tries < 5 => {
                tries += 1;
                tracing::info!(error = %e, "migration raced another process; retrying");
                tokio::time::sleep(Duration::from_millis(300 * tries)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// A migrated SQLite database in memory, shared by the pool's connections: for unit tests
/// that need the schema.
#[cfg(test)]
pub(crate) async fn memory_db(name: &str) -> DatabaseConnection {
    let db = connect(&format!("sqlite:file:{name}?mode=memory&cache=shared"))
        .await
        .unwrap();
    migrate(&db).await.unwrap();
    db
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_sqlite_file_of_a_url() {
        assert_eq!(
            super::sqlite_path("sqlite://.data/p.db?mode=rwc"),
            Some(".data/p.db")
        );
        assert_eq!(super::sqlite_path("sqlite::memory:"), None);
        assert_eq!(super::sqlite_path("postgres://x/y"), None);
    }

    /// `.cargo/config.toml` builds the bundled SQLite with the query planner stability
    /// guarantee and the math functions (analytics' duration buckets need `ln`). Without the first, a statement with a bound `LIMIT` (every sea-orm `.one()`) is
    /// compiled again each time it is used.
    #[tokio::test]
    async fn the_bundled_sqlite_is_built_with_the_query_planner_stability_guarantee() {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let db = super::connect("sqlite::memory:").await.unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA compile_options",
            ))
            .await
            .unwrap();
        let options: Vec<String> = rows
            .iter()
            .map(|row| row.try_get_by_index::<String>(0).unwrap())
            .collect();
        for wanted in ["ENABLE_QPSG", "ENABLE_MATH_FUNCTIONS"] {
            assert!(
                options.iter().any(|o| o == wanted),
                "{wanted} not in the compile options: {options:?}"
            );
        }
    }
}
