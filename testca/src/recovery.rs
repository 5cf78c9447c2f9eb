//! Finishing or undoing what a crashed `testca` command left behind.
//!
//! Issuing a leaf is three steps: its files are written and synced in a
//! staging directory `certs/.NAME.new-XXXXXX`, the certificate is committed
//! to the database, then the staging directory is renamed to `certs/NAME`
//! (an older `certs/NAME` is first moved aside to `certs/.NAME.old-SERIAL`
//! and deleted). A crash can stop it between any two steps; the database
//! commit decides which way it goes:
//!
//! * staged but not committed: the issue never happened; the staging
//!   directory (with its private key) is deleted;
//! * committed, not yet renamed: the certificate exists; its staged files
//!   are moved into place.
//!
//! A signer is committed (certificate and key together) before its files are
//! written; files that do not match the newest signer in the database are
//! rewritten from it. Left-over `.tmp-*` files of atomic writes are deleted.
//!
//! Commands that write files hold the lab's `.lock` shared; recovery runs
//! only when it can take the lock exclusively, so it never touches the
//! staging files of a command still running. The lock dies with its process.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::store::{CertSelector, Store};
use labcore::CaName;
use labcore::files::{Secrecy, sync_dir, write_atomic};
use labcore::layout::Layout;

/// Prefix of the temporary files of [`write_atomic`].
const TMP_PREFIX: &str = ".tmp-";

/// What recovery did; empty when there was nothing to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Leaves whose interrupted issue was completed (files moved into place).
    pub completed: Vec<String>,
    /// Staging directories of issues that never committed, deleted.
    pub rolled_back: usize,
    /// Of those, how many held a private key.
    pub keys_removed: usize,
    /// Signers whose files were rewritten from the database.
    pub signers_rewritten: Vec<String>,
    /// Other left-overs deleted: old leaf directories and temporary files.
    pub leftovers_removed: usize,
}

impl Recovery {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        *self == Recovery::default()
    }
}

impl fmt::Display for Recovery {
    /// One line, e.g. `recovered from an interrupted command: completed the
    /// issue of shop; rolled back 2 unfinished issues (2 private keys deleted)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.completed.is_empty() {
            parts.push(format!(
                "completed the issue of {}",
                self.completed.join(", ")
            ));
        }
        if self.rolled_back > 0 {
            parts.push(format!(
                "rolled back {} unfinished issue{} ({} private key{} deleted)",
                self.rolled_back,
                plural(self.rolled_back),
                self.keys_removed,
                plural(self.keys_removed)
            ));
        }
        if !self.signers_rewritten.is_empty() {
            parts.push(format!(
                "rewrote the files of {}",
                self.signers_rewritten.join(", ")
            ));
        }
        if self.leftovers_removed > 0 {
            parts.push(format!(
                "removed {} temporary file{}",
                self.leftovers_removed,
                plural(self.leftovers_removed)
            ));
        }
        write!(
            f,
            "recovered from an interrupted command: {}",
            parts.join("; ")
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A left-over entry of `certs/`, by its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leftover {
    /// `.NAME.new-XXXXXX`: the staging directory of leaf NAME.
    Staging(String),
    /// `.NAME.old-SERIAL`: a superseded leaf directory not yet deleted.
    Old,
    /// `.tmp-XXXXXX`: an atomic write's temporary file.
    Temporary,
}

/// Classifies an entry of `certs/`; `None` for a leaf directory (or anything
/// not left by the lab's own writes).
pub fn classify(file_name: &str) -> Option<Leftover> {
    if file_name.starts_with(TMP_PREFIX) {
        return Some(Leftover::Temporary);
    }
    let rest = file_name.strip_prefix('.')?;
    // Names never start with '.', and the random suffix holds no '.': the last marker is the one.
    if let Some((name, _)) = rest.rsplit_once(".new-") {
        return (!name.is_empty()).then(|| Leftover::Staging(name.to_string()));
    }
    if rest
        .rsplit_once(".old-")
        .is_some_and(|(n, _)| !n.is_empty())
    {
        return Some(Leftover::Old);
    }
    None
}

/// What to do with a staging directory, from what the database says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StagingAction {
    /// The staged certificate is the newest of its name: move it into place.
    Complete,
    /// It was never committed (or a newer one superseded it): delete it.
    RollBack,
}

/// Decides a staging directory's fate: `staged` is the DER of its
/// `cert.pem` (`None` when missing or unreadable, so never committed: the
/// files are synced before the commit), `newest` the DER of the newest
/// certificate of that name in the database.
pub fn staging_action(staged: Option<&[u8]>, newest: Option<&[u8]>) -> StagingAction {
    match (staged, newest) {
        (Some(staged), Some(newest)) if staged == newest => StagingAction::Complete,
        _ => StagingAction::RollBack,
    }
}

/// Brings the lab's files in line with its database after a crash. Call it
/// holding the lab's lock exclusively.
pub async fn recover(layout: &Layout, store: &Store) -> Result<Recovery> {
    let mut report = Recovery::default();
    recover_leaves(layout, store, &mut report).await?;
    recover_signers(layout, store, &mut report).await?;
    let mut dirs = vec![layout.dir().to_path_buf(), layout.dir().join("ca")];
    for ca in CaName::ALL {
        dirs.push(layout.ca_dir(ca));
    }
    for dir in dirs {
        report.leftovers_removed += remove_temporaries(&dir)?;
    }
    Ok(report)
}

async fn recover_leaves(layout: &Layout, store: &Store, report: &mut Recovery) -> Result<()> {
    let certs = layout.certs_dir();
    let entries = match fs::read_dir(&certs) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("cannot read", &certs, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot read", &certs, e))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if let Some(kind) = classify(&file_name) {
            found.push((entry.path(), kind));
        }
    }
    for (path, kind) in found {
        match kind {
            Leftover::Temporary | Leftover::Old => {
                remove(&path)?;
                report.leftovers_removed += 1;
            }
            Leftover::Staging(name) => {
                let staged = fs::read(path.join("cert.pem"))
                    .ok()
                    .and_then(|pem| first_cert_der(&pem));
                let newest = match store.find(&CertSelector::Name(name.clone())).await {
                    Ok(record) => Some(record.der),
                    Err(Error::UnknownName(_)) => None,
                    Err(e) => return Err(e),
                };
                match staging_action(staged.as_deref(), newest.as_deref()) {
                    StagingAction::Complete => {
                        move_into_place(&path, &layout.leaf_dir(&name))?;
                        report.completed.push(name);
                    }
                    StagingAction::RollBack => {
                        if path.join("key.pem").exists() {
                            report.keys_removed += 1;
                        }
                        remove(&path)?;
                        report.rolled_back += 1;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Replaces `target` with `staged` (both in the same directory).
pub(crate) fn move_into_place(staged: &Path, target: &Path) -> Result<()> {
    let parent = target.parent().unwrap_or(Path::new("."));
    if target.exists() {
        let file_name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let aside = parent.join(format!(".{file_name}.old-{}", std::process::id()));
        fs::rename(target, &aside).map_err(|e| Error::io("cannot move", target, e))?;
        fs::rename(staged, target).map_err(|e| Error::io("cannot move into place", target, e))?;
        sync_dir(parent);
        remove(&aside)?;
    } else {
        fs::rename(staged, target).map_err(|e| Error::io("cannot move into place", target, e))?;
        sync_dir(parent);
    }
    Ok(())
}

async fn recover_signers(layout: &Layout, store: &Store, report: &mut Recovery) -> Result<()> {
    for ca in CaName::ALL {
        let Some(issuer) = store.issuer_by_name(ca.name()).await? else {
            continue;
        };
        let Some(signer) = store.newest_signer(issuer.id).await? else {
            continue;
        };
        let dir = layout.signer_dir(ca);
        report.leftovers_removed += remove_temporaries(&dir)?;
        let cert_ok = fs::read(dir.join("cert.pem"))
            .ok()
            .and_then(|pem| first_cert_der(&pem))
            .is_some_and(|der| der == signer.certificate.der);
        let key_ok = fs::read_to_string(dir.join("key.pem")).is_ok_and(|k| k == signer.key_pem);
        if cert_ok && key_ok {
            continue;
        }
        let pem = der_to_pem(&signer.certificate.der)?;
        write_atomic(
            &dir.join("key.pem"),
            signer.key_pem.as_bytes(),
            Secrecy::Secret,
        )?;
        write_atomic(&dir.join("cert.pem"), pem.as_bytes(), Secrecy::Public)?;
        report.signers_rewritten.push(signer.certificate.name);
    }
    Ok(())
}

fn remove_temporaries(dir: &Path) -> Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("cannot read", dir, e)),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            remove(&entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn remove(path: &Path) -> Result<()> {
    let result = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove", path, e)),
    }
}

fn first_cert_der(pem: &[u8]) -> Option<Vec<u8>> {
    x509_cert::Certificate::load_pem_chain(pem)
        .ok()
        .and_then(|chain| chain.into_iter().next())
        .and_then(|first| der::Encode::to_der(&first).ok())
}

fn der_to_pem(der: &[u8]) -> Result<String> {
    use der::EncodePem;
    let cert: x509_cert::Certificate = der::Decode::from_der(der)?;
    Ok(cert.to_pem(der::pem::LineEnding::LF)?)
}

/// The lab's lock file, open.
#[derive(Debug)]
pub struct LabLock {
    file: fs::File,
    path: PathBuf,
}

impl LabLock {
    /// Opens (creating it 0600) the lock file.
    pub fn open(layout: &Layout) -> Result<LabLock> {
        let path = layout.lock_file();
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&path)
            .map_err(|e| Error::io("cannot open", &path, e))?;
        Ok(LabLock { file, path })
    }

    /// Takes the lock shared (waits while a recovery runs) until the guard is dropped.
    pub fn shared(&self) -> Result<SharedLock<'_>> {
        self.file
            .lock_shared()
            .map_err(|e| Error::io("cannot lock", &self.path, e))?;
        Ok(SharedLock(self))
    }

    /// Takes the lock exclusively if no other process holds it.
    pub fn try_exclusive(&self) -> Result<bool> {
        match self.file.try_lock() {
            Ok(()) => Ok(true),
            Err(fs::TryLockError::WouldBlock) => Ok(false),
            Err(fs::TryLockError::Error(e)) => Err(Error::io("cannot lock", &self.path, e)),
        }
    }

    /// Releases whatever this process holds.
    pub fn unlock(&self) -> Result<()> {
        self.file
            .unlock()
            .map_err(|e| Error::io("cannot unlock", &self.path, e))
    }
}

/// A shared hold on the lab's lock, released on drop.
#[derive(Debug)]
pub struct SharedLock<'a>(&'a LabLock);

impl Drop for SharedLock<'_> {
    fn drop(&mut self) {
        // Closing the file or ending the process releases it too.
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_tells_staging_old_and_temporary_from_leaves() {
        assert_eq!(
            classify(".shop.new-AbC123"),
            Some(Leftover::Staging("shop".into()))
        );
        assert_eq!(
            classify(".www.example.new-AbC123"),
            Some(Leftover::Staging("www.example".into()))
        );
        assert_eq!(classify(".shop.old-1F2E"), Some(Leftover::Old));
        assert_eq!(classify(".tmp-xYz"), Some(Leftover::Temporary));
        assert_eq!(classify("shop"), None);
        assert_eq!(classify("shop.new-1"), None);
        assert_eq!(classify(".new-1"), None);
    }

    #[test]
    fn a_staged_certificate_is_completed_only_when_it_is_the_newest_committed() {
        let a = b"cert a".as_slice();
        let b = b"cert b".as_slice();
        assert_eq!(staging_action(Some(a), Some(a)), StagingAction::Complete);
        assert_eq!(staging_action(Some(a), None), StagingAction::RollBack);
        assert_eq!(staging_action(Some(a), Some(b)), StagingAction::RollBack);
        assert_eq!(staging_action(None, Some(a)), StagingAction::RollBack);
        assert_eq!(staging_action(None, None), StagingAction::RollBack);
    }

    #[test]
    fn the_report_is_one_line() {
        let report = Recovery {
            completed: vec!["shop".into()],
            rolled_back: 2,
            keys_removed: 1,
            signers_rewritten: vec![],
            leftovers_removed: 3,
        };
        let text = report.to_string();
        assert!(!text.contains('\n'));
        assert_eq!(
            text,
            "recovered from an interrupted command: completed the issue of shop; \
             rolled back 2 unfinished issues (1 private key deleted); removed 3 temporary files"
        );
        assert!(Recovery::default().is_empty());
    }
}
