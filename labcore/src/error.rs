//! Errors of the shared building blocks: a lab that is not there, a file
//! that cannot be read or written, text that does not parse.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// Each message is one line that names what was wrong and, where there is
/// one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lab directory is missing.
    #[error("lab directory {0} does not exist; create it with `testca init` or pass --dir")]
    NoLab(PathBuf),
    /// The directory exists but holds no lab.
    #[error(
        "{0} is not an OCSP Lab directory (no lab.toml); run `testca init` there or pass --dir"
    )]
    NotALab(PathBuf),
    /// Text given on the command line or in a file did not parse.
    #[error("invalid {what} '{value}': {expected}")]
    Invalid {
        /// What the value was meant to be.
        what: &'static str,
        /// The value as given.
        value: String,
        /// What is accepted instead.
        expected: String,
    },
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read", "cannot write"…).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for an input that did not parse.
    pub fn invalid(
        what: &'static str,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            what,
            value: value.into(),
            expected: expected.into(),
        }
    }

    /// Shorthand for an I/O failure on a path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
