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
        Ok("postgres") => {
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
