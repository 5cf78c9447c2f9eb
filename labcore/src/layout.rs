//! Where a lab keeps its files (how they are written: [`crate::files`]).
//!
//! ```text
//! lab/
//!   lab.toml                         URLs and key algorithm of this lab
//!   api-token                        bearer token of `testca serve` (mode 0600)
//!   revocation.db                    the revocation database (SQLite)
//!   ca/bundle.pem                    intermediate + root (ssl_trusted_certificate, SSLCACertificateFile)
//!   ca/root/cert.pem, key.pem        the root CA
//!   ca/root/ocsp-signer/…            delegated OCSP signer for certificates the root issued
//!   ca/intermediate/cert.pem, key.pem, chain.pem
//!   ca/intermediate/ocsp-signer/cert.pem, key.pem
//!   certs/NAME/cert.pem              a leaf
//!   certs/NAME/key.pem               its key (mode 0600)
//!   certs/NAME/chain.pem             the intermediates above it
//!   certs/NAME/fullchain.pem         leaf + intermediates (ssl_certificate, SSLCertificateFile)
//!   .lock                            held while a command writes files (see testca's `recovery`)
//! ```
//!
//! Every directory is 0700 and the database files 0600, whatever the umask:
//! the database holds the delegated signers' keys, and the directories hold
//! every other key.

use std::fs;
use std::path::{Path, PathBuf};

use crate::ca::CaName;
use crate::error::{Error, Result};

/// The lab directory used when neither `--dir` nor `OCSPLAB_DIR` says otherwise.
pub const DEFAULT_LAB_DIR: &str = "lab";

/// The environment variable that every binary of the workspace reads for the lab directory.
pub const LAB_DIR_ENV: &str = "OCSPLAB_DIR";

/// The leaf that `testca init` issues, and the one the stapler serves by default.
pub const DEFAULT_LEAF: &str = "localhost";

/// Entries that `init` creates; a directory holding only these may be replaced with `--force`.
const LAB_ENTRIES: [&str; 8] = [
    ".lock",
    "lab.toml",
    "api-token",
    "revocation.db",
    "revocation.db-wal",
    "revocation.db-shm",
    "ca",
    "certs",
];

/// The paths of one lab directory.
#[derive(Clone, Debug)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// The layout of the lab in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Layout { dir: dir.into() }
    }

    /// The lab directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `lab.toml`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("lab.toml")
    }

    /// `api-token`: the bearer token of `testca serve`'s API.
    pub fn api_token(&self) -> PathBuf {
        self.dir.join("api-token")
    }

    /// `revocation.db`.
    pub fn database(&self) -> PathBuf {
        self.dir.join("revocation.db")
    }

    /// `.lock`: shared by commands writing files, exclusive for recovery.
    pub fn lock_file(&self) -> PathBuf {
        self.dir.join(".lock")
    }

    /// `certs/`: one directory per leaf, and the staging directories of leaves being issued.
    pub fn certs_dir(&self) -> PathBuf {
        self.dir.join("certs")
    }

    /// `ca/bundle.pem`: every CA certificate, intermediate first.
    pub fn ca_bundle(&self) -> PathBuf {
        self.dir.join("ca").join("bundle.pem")
    }

    /// The directory of a CA.
    pub fn ca_dir(&self, ca: CaName) -> PathBuf {
        self.dir.join("ca").join(ca.name())
    }

    /// A CA's certificate.
    pub fn ca_cert(&self, ca: CaName) -> PathBuf {
        self.ca_dir(ca).join("cert.pem")
    }

    /// A CA's private key.
    pub fn ca_key(&self, ca: CaName) -> PathBuf {
        self.ca_dir(ca).join("key.pem")
    }

    /// The chain above a CA (empty for the root).
    pub fn ca_chain(&self, ca: CaName) -> PathBuf {
        self.ca_dir(ca).join("chain.pem")
    }

    /// The directory of a CA's delegated OCSP signer.
    pub fn signer_dir(&self, ca: CaName) -> PathBuf {
        self.ca_dir(ca).join("ocsp-signer")
    }

    /// The directory of a leaf.
    pub fn leaf_dir(&self, name: &str) -> PathBuf {
        self.dir.join("certs").join(name)
    }

    /// Whether `dir` holds a lab.
    pub fn is_lab(&self) -> bool {
        self.config().is_file()
    }

    /// Checks that the directory exists and holds a lab, with the error a person can act on.
    pub fn require_lab(&self) -> Result<()> {
        if !self.dir.exists() {
            return Err(Error::NoLab(self.dir.clone()));
        }
        if !self.dir.is_dir() || !self.is_lab() {
            return Err(Error::NotALab(self.dir.clone()));
        }
        Ok(())
    }

    /// Whether the directory is missing, empty, or holds only what `init` makes.
    pub fn holds_only_lab_entries(&self) -> Result<bool> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(Error::io("cannot read", &self.dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("cannot read", &self.dir, e))?;
            let name = entry.file_name();
            if !LAB_ENTRIES.iter().any(|known| name == *known) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Deletes everything `init` makes, lab.toml last, so that a half-deleted
    /// lab is never taken for a whole one.
    pub fn remove_lab_entries(&self) -> Result<()> {
        for name in LAB_ENTRIES.iter().rev() {
            let path = self.dir.join(name);
            let result = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("cannot remove", path, e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_documented_layout() {
        let layout = Layout::new("lab");
        assert_eq!(layout.database(), Path::new("lab/revocation.db"));
        assert_eq!(
            layout.signer_dir(CaName::Intermediate),
            Path::new("lab/ca/intermediate/ocsp-signer")
        );
        assert_eq!(
            layout.leaf_dir(DEFAULT_LEAF),
            Path::new("lab/certs/localhost")
        );
    }

    #[test]
    fn a_missing_or_foreign_directory_is_not_a_lab() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Layout::new(dir.path().join("none")).require_lab();
        assert!(matches!(missing, Err(Error::NoLab(_))), "{missing:?}");
        let empty = Layout::new(dir.path()).require_lab();
        assert!(matches!(empty, Err(Error::NotALab(_))), "{empty:?}");
        assert!(Layout::new(dir.path()).holds_only_lab_entries().unwrap());
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        assert!(!Layout::new(dir.path()).holds_only_lab_entries().unwrap());
    }
}
