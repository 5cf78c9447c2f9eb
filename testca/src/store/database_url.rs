//! Where the revocation database is: the embedded SQLite file of a lab, or a
//! PostgreSQL database named by a URL. The URL may carry a password, which is
//! never displayed: messages name the database by [`DatabaseUrl`]'s `Display`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::error::{Error, Result};

/// What `--db` accepts, for messages.
pub const EXPECTED_URL: &str = "a PostgreSQL URL such as postgres://USER:PASSWORD@HOST:5432/DATABASE (or leave it out for the lab's SQLite file)";

/// A revocation database.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file (the lab's `revocation.db` by default).
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PostgresUrl),
}

/// A PostgreSQL connection URL. The full text (password included) is used
/// only to connect; `Display` and `Debug` show it without the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    secret: String,
    shown: String,
}

impl DatabaseUrl {
    /// The SQLite file at `path`.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        DatabaseUrl::Sqlite(path.into())
    }

    /// Whether this is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }

    /// The SQLite file, when it is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            DatabaseUrl::Sqlite(path) => Some(path),
            DatabaseUrl::Postgres(_) => None,
        }
    }
}

impl PostgresUrl {
    /// Parses `postgres://…` or `postgresql://…`.
    pub fn parse(text: &str) -> Result<Self> {
        let shown = redact(text);
        let url = url::Url::parse(text).map_err(|e| {
            Error::invalid(
                "database URL",
                shown.clone(),
                format!("{e}; {EXPECTED_URL}"),
            )
        })?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(Error::invalid("database URL", shown, EXPECTED_URL));
        }
        // sqlx's own parser decides what it accepts (ports, parameters).
        PgConnectOptions::from_str(text).map_err(|e| {
            Error::invalid(
                "database URL",
                shown.clone(),
                format!("{e}; {EXPECTED_URL}"),
            )
        })?;
        Ok(PostgresUrl {
            secret: text.to_string(),
            shown,
        })
    }

    /// The connection options, password included.
    pub(crate) fn connect_options(&self) -> Result<PgConnectOptions> {
        PgConnectOptions::from_str(&self.secret)
            .map_err(|e| Error::invalid("database URL", self.shown.clone(), e.to_string()))
    }

    /// Server and database, without user or password: what names the same
    /// database whoever connects to it (`127.0.0.1:5432/lab`).
    pub fn identity(&self) -> String {
        match self.connect_options() {
            Ok(options) => format!(
                "{}:{}/{}",
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or(options.get_username())
            ),
            Err(_) => self.shown.clone(),
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = Error;

    /// A PostgreSQL URL, `sqlite:PATH`, or a plain path of an SQLite file.
    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::invalid("database URL", "", EXPECTED_URL));
        }
        if let Some(path) = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return PostgresUrl::parse(text).map(DatabaseUrl::Postgres);
        }
        if text.contains("://") {
            return Err(Error::invalid("database URL", redact(text), EXPECTED_URL));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(text)))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "{}", path.display()),
            DatabaseUrl::Postgres(url) => url.fmt(f),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            DatabaseUrl::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shown)
    }
}

/// The URL without its password (in the user part or a `password=` parameter).
/// Text that is not a URL is shown up to its scheme only: it may be anything.
pub fn redact(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return match text.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => text.to_string(),
        };
    };
    if url.password().is_some() {
        // Only fails for URLs that cannot have a password, which this one has.
        let _ = url.set_password(None);
    }
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(key, _)| key != "password")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_are_shown_without_their_password() {
        let db: DatabaseUrl =
            "postgres://writer:s3cret@db.example:5433/lab?password=x&sslmode=disable"
                .parse()
                .unwrap();
        let shown = db.to_string();
        assert_eq!(
            shown,
            "postgres://writer@db.example:5433/lab?sslmode=disable"
        );
        assert!(!format!("{db:?}").contains("s3cret"));
        let DatabaseUrl::Postgres(url) = db else {
            panic!("a PostgreSQL URL");
        };
        assert_eq!(url.identity(), "db.example:5433/lab");
    }

    #[test]
    fn paths_and_sqlite_urls_are_sqlite_files() {
        for text in [
            "lab/revocation.db",
            "sqlite:lab/revocation.db",
            "sqlite://lab/revocation.db",
        ] {
            assert_eq!(
                text.parse::<DatabaseUrl>().unwrap(),
                DatabaseUrl::sqlite("lab/revocation.db"),
                "{text}"
            );
        }
    }

    #[test]
    fn other_schemes_are_refused_without_showing_secrets() {
        let err = "mysql://root:hunter2@localhost/lab"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("mysql://root@localhost/lab"), "{err}");
        assert!(err.contains("postgres://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = "postgres://u:hunter2@host:notaport/db"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("invalid database URL"), "{err}");
    }
}
