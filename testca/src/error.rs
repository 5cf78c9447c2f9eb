//! Errors of the test CA and the revocation database.

use std::path::PathBuf;

/// Everything that can go wrong in the test CA library.
///
/// Each message is one line that names what was wrong and, where there is
/// one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `init` found a lab and was not told to replace it.
    #[error(
        "a lab already exists in {0}; pass --force to replace it (its keys and database are deleted)"
    )]
    LabExists(PathBuf),
    /// `init` found a directory with foreign files.
    #[error(
        "{0} exists and is not empty; choose another --dir (init only replaces an existing lab)"
    )]
    DirNotEmpty(PathBuf),
    /// No certificate carries that name.
    #[error("no certificate named '{0}'; `testca list` shows the names")]
    UnknownName(String),
    /// No certificate carries that serial.
    #[error("no certificate with serial {0}; `testca list` shows the serials")]
    UnknownSerial(String),
    /// Two issuers issued the same serial.
    #[error("serial {0} was issued by more than one CA; name the certificate instead")]
    AmbiguousSerial(String),
    /// A name is already taken.
    #[error("a certificate named '{0}' already exists; choose another name or pass --replace")]
    NameTaken(String),
    /// The certificate is already revoked.
    #[error(
        "certificate {name} (serial {serial}) is already revoked; `testca unrevoke` first to change it"
    )]
    AlreadyRevoked {
        /// Name of the certificate.
        name: String,
        /// Its serial.
        serial: String,
    },
    /// The certificate is not revoked.
    #[error("certificate {name} (serial {serial}) is not revoked")]
    NotRevoked {
        /// Name of the certificate.
        name: String,
        /// Its serial.
        serial: String,
    },
    /// Another process holds the write lock for longer than the lock timeout.
    #[error(
        "the revocation database {0} is locked by another writer; retry, or stop the other writer"
    )]
    Locked(String),
    /// The database is not one this tool can use.
    #[error("cannot use the revocation database {database}: {source}")]
    Database {
        /// The database, as shown to people (a file, or a URL without its password).
        database: String,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// A schema migration failed.
    #[error("cannot migrate the revocation database {database}: {source}")]
    Migrate {
        /// The database, as shown to people.
        database: String,
        /// The underlying error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A lab that is not there, a file that cannot be read or written, text
    /// that does not parse (the shared building blocks' errors).
    #[error(transparent)]
    Labcore(#[from] labcore::Error),
    /// The database server does not answer.
    #[error(
        "cannot reach the revocation database {database}: {reason}; check the host and port of --db (OCSPLAB_DB) and that PostgreSQL is running there"
    )]
    Unreachable {
        /// The database, as shown to people.
        database: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// The server refused the user or password.
    #[error(
        "the revocation database {database} refused the login: {reason}; check the user and password of --db (OCSPLAB_DB), or PGPASSWORD"
    )]
    LoginRefused {
        /// The database, as shown to people.
        database: String,
        /// What the server said.
        reason: String,
    },
    /// The server has no database of that name.
    #[error(
        "the revocation database {database} does not exist: {reason}; create it (createdb) or fix the database name in --db"
    )]
    NoSuchDatabase {
        /// The database, as shown to people.
        database: String,
        /// What the server said.
        reason: String,
    },
    /// The role connected has no right to do this.
    #[error(
        "the revocation database {database} refused: {reason}; connect as the writer role (the one that ran `testca init`), or grant a reader with `testca db grant-reader`"
    )]
    PermissionDenied {
        /// The database, as shown to people.
        database: String,
        /// What the server said.
        reason: String,
    },
    /// The database was made by a newer version of the lab.
    #[error(
        "the revocation database {database} has schema version {found}, newer than this testca knows ({known}); use the newer testca that wrote it"
    )]
    NewerSchema {
        /// The database, as shown to people.
        database: String,
        /// The newest migration applied to it.
        found: i64,
        /// The newest migration this build has.
        known: i64,
    },
    /// The database has not been brought to this version's schema, and the
    /// role connected may not migrate it.
    #[error(
        "the revocation database {database} has schema version {found}, older than this program needs ({known}); run any `testca` command on it as the writer role to migrate it"
    )]
    OlderSchema {
        /// The database, as shown to people.
        database: String,
        /// The newest migration applied to it.
        found: i64,
        /// The newest migration this build has.
        known: i64,
    },
    /// A PostgreSQL database without the lab's tables.
    #[error(
        "no OCSP Lab database in {database}; create one with `testca init --db URL`, or fix --db"
    )]
    NoLabDatabase {
        /// The database, as shown to people.
        database: String,
    },
    /// `init` found a lab's tables in the PostgreSQL database.
    #[error(
        "{database} already holds an OCSP Lab database; pass --force to replace it (its certificates are deleted), or choose another database"
    )]
    LabDatabaseExists {
        /// The database, as shown to people.
        database: String,
    },
    /// The lab keeps its database elsewhere than where the command looked.
    #[error("the lab in {dir} keeps its revocation database in {kept}, not {given}; {fix}")]
    WrongDatabase {
        /// The lab directory.
        dir: PathBuf,
        /// Where its database is (as recorded at `init`).
        kept: String,
        /// Where the command looked.
        given: String,
        /// What to do.
        fix: &'static str,
    },
    /// A file of the lab holds something unexpected.
    #[error("{path} is damaged: {reason}; re-create the lab with `testca init --force`")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Certificate generation failed.
    #[error("cannot build certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// OpenSSL refused an operation (key generation, parsing).
    #[error("openssl: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    /// DER encoding of an extension failed.
    #[error("cannot encode: {0}")]
    Der(#[from] der::Error),
}

impl Error {
    /// Shorthand for an input that did not parse.
    pub fn invalid(
        what: &'static str,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Error::Labcore(labcore::Error::invalid(what, value, expected))
    }

    /// Shorthand for an I/O failure on a path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Labcore(labcore::Error::io(action, path, source))
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
