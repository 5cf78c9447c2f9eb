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
    Locked(PathBuf),
    /// The database file is not a database this tool can use.
    #[error("cannot use the revocation database {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// A schema migration failed.
    #[error("cannot migrate the revocation database {path}: {source}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A lab that is not there, a file that cannot be read or written, text
    /// that does not parse (the shared building blocks' errors).
    #[error(transparent)]
    Labcore(#[from] labcore::Error),
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
