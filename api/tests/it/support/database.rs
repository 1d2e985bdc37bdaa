//! A fresh database per test: PostgreSQL (127.0.0.1:5432, user postgres) when
//! `POMBO_TEST_DB=postgres`, otherwise an SQLite file in a temporary directory.

use sea_orm::{ConnectionTrait, Database};
use uuid::Uuid;

pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub async fn fresh_database() -> TestDatabase {
    match std::env::var("POMBO_TEST_DB").as_deref() {
        Ok("postgres") => fresh_postgres().await,
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("pombo.db").display()
            );
            TestDatabase {
                url,
                _dir: Some(dir),
            }
        }
    }
}

/// A fresh PostgreSQL database, whatever `POMBO_TEST_DB` says: for what only PostgreSQL
/// does (concurrent writers).
pub async fn fresh_postgres() -> TestDatabase {
    let admin_url = std::env::var("POMBO_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("pombo_test_{}", Uuid::new_v4().simple());
    let admin = Database::connect(format!("{admin_url}/postgres"))
        .await
        .expect("connecting to PostgreSQL as postgres");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("creating the test database");
    admin.close().await.ok();
    TestDatabase {
        url: format!("{admin_url}/{name}"),
        _dir: None,
    }
}

/// Fails when `needle` is anywhere in the app's database in clear. On SQLite, the bytes of
/// the database file and its write-ahead log (free pages and old row versions included);
/// on PostgreSQL, every row of every table of the test's database, as text.
pub async fn assert_not_stored(app: &super::TestApp, needle: &str, what: &str) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    if let Some(path) = app
        .config
        .database_url
        .strip_prefix("sqlite://")
        .map(|rest| rest.split('?').next().unwrap().to_owned())
    {
        let mut scanned = 0;
        for file in [path.clone(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                scanned += bytes.len();
                let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
                assert!(!found, "{file} holds {what} in clear");
            }
        }
        assert!(scanned > 0, "no database file at {path}");
        return;
    }
    assert_eq!(app.db.get_database_backend(), DbBackend::Postgres);
    let tables = app
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT table_name::text AS t FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        ))
        .await
        .unwrap();
    assert!(!tables.is_empty(), "no tables to scan");
    for table in tables {
        let table: String = table.try_get("", "t").unwrap();
        let rows = app
            .db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT CAST(row_to_json(r) AS TEXT) AS v FROM \"{table}\" r"),
            ))
            .await
            .unwrap();
        for row in rows {
            let row: String = row.try_get("", "v").unwrap();
            assert!(
                !row.contains(needle),
                "table {table} holds {what} in clear: {row}"
            );
        }
    }
}
