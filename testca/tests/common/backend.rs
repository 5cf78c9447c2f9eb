//! The two store backends in tests: a fresh SQLite file, or a fresh
//! PostgreSQL database (its own, so that tests run in parallel) in the
//! cluster named by `OCSPLAB_TEST_PG` (a superuser's URL: `scripts/test`
//! starts a throw-away cluster with `scripts/pg-cluster` and passes it).
//! Without it the PostgreSQL tests say `skipped: <reason>` (and fail under CI).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tempfile::TempDir;
use testca::store::DatabaseUrl;
use testkit::postgres::url_with;

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// A fresh, empty database for one test; a PostgreSQL one is dropped at the end.
pub struct TestDb {
    /// What to open.
    pub url: DatabaseUrl,
    /// The same, as text with its password (for `--db`).
    pub url_text: String,
    /// Holds the SQLite file.
    _tmp: TempDir,
    postgres: Option<PgDatabase>,
}

struct PgDatabase {
    admin: String,
    name: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// A fresh database of `backend`; `None` (reported skipped) when the
    /// PostgreSQL cluster is not configured.
    #[track_caller]
    pub fn new(backend: Backend) -> Option<TestDb> {
        let tmp = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => {
                let path: PathBuf = tmp.path().join("revocation.db");
                Some(TestDb {
                    url_text: path.display().to_string(),
                    url: DatabaseUrl::sqlite(path),
                    _tmp: tmp,
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let admin = testkit::postgres::test_cluster()?;
                let name = format!(
                    "t{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    rand::random::<u32>()
                );
                admin_sql(&admin, &[&format!("CREATE DATABASE \"{name}\"")]);
                let url_text = url_with(&admin, &name, None);
                Some(TestDb {
                    url: url_text.parse().unwrap(),
                    url_text,
                    _tmp: tmp,
                    postgres: Some(PgDatabase { admin, name }),
                })
            }
        }
    }

    /// The PostgreSQL database's name and the cluster's superuser URL.
    pub fn postgres(&self) -> Option<(&str, &str)> {
        self.postgres
            .as_ref()
            .map(|pg| (pg.name.as_str(), pg.admin.as_str()))
    }

    /// A URL of this PostgreSQL database for another user and password.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        let name = self.postgres.as_ref().map_or("", |pg| pg.name.as_str());
        url_with(&self.url_text, name, Some((user, password)))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(pg) = &self.postgres {
            let (admin, name) = (pg.admin.clone(), pg.name.clone());
            // Its own thread: the test may be inside a runtime.
            let dropped = std::thread::spawn(move || {
                admin_sql(
                    &admin,
                    &[&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")],
                );
            })
            .join();
            if dropped.is_err() {
                eprintln!("could not drop the test database {}", pg.name);
            }
        }
    }
}

/// Runs statements as the cluster's superuser, on its own runtime and thread.
pub fn admin_sql(admin: &str, statements: &[&str]) {
    let admin = admin.to_string();
    let statements: Vec<String> = statements.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let mut conn = PgConnection::connect(&admin).await.unwrap();
                for statement in statements {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                        .execute(&mut conn)
                        .await
                        .unwrap_or_else(|e| panic!("{statement}: {e}"));
                }
                conn.close().await.unwrap();
            })
    })
    .join()
    .unwrap();
}

/// Another process's open write transaction, holding the database's write
/// lock (SQLite's `BEGIN IMMEDIATE`; PostgreSQL's lock on the generation
/// row, which every writer takes first) while readers go on reading.
pub enum WriteLockHolder {
    /// On an SQLite file.
    Sqlite(sqlx::SqliteConnection),
    /// On a PostgreSQL database.
    Postgres(PgConnection),
}

impl WriteLockHolder {
    /// Takes the lock on `url` (`url_text`: the same with its password).
    pub async fn take(url: &DatabaseUrl, url_text: &str) -> WriteLockHolder {
        match url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                WriteLockHolder::Sqlite(conn)
            }
            DatabaseUrl::Postgres(_) => {
                let mut conn = PgConnection::connect(url_text).await.unwrap();
                sqlx::raw_sql("BEGIN; SELECT 1 FROM lab_meta FOR UPDATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                WriteLockHolder::Postgres(conn)
            }
        }
    }

    /// Rolls back, releasing the lock.
    pub async fn release(self) {
        match self {
            WriteLockHolder::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            WriteLockHolder::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}
