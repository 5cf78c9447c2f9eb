//! The last response of each certificate, kept in the cache directory across
//! restarts (`--cache-dir`), one file per certificate named after a digest
//! of the certificate.
//!
//! A write is atomic (a synced temporary file renamed over the old one), so
//! it blocks on two fsyncs: it runs on tokio's blocking pool, never on an
//! async worker thread nor under a lock, and the caller awaits it so that
//! one certificate's writes land in order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::Digest;

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Reading the file failed (other than its absence).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing the file failed.
    #[error(transparent)]
    Write(#[from] labcore::Error),
    /// The blocking write was cancelled (the runtime is shutting down).
    #[error("the write of {path} did not finish: {source}")]
    Interrupted {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: tokio::task::JoinError,
    },
}

/// Where one certificate's last response is kept.
#[derive(Clone, Debug)]
pub struct StapleCache {
    path: Arc<Path>,
}

impl StapleCache {
    /// The cache file, in `dir`, of the certificate whose DER is `leaf`.
    pub fn new(dir: &Path, leaf: &[u8]) -> Self {
        let digest = sha2::Sha256::digest(leaf);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        StapleCache {
            path: dir.join(format!("{hex}.ocsp")).into(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The response kept, if there is one.
    pub async fn load(&self) -> Result<Option<Vec<u8>>, PersistError> {
        match tokio::fs::read(&self.path).await {
            Ok(der) => Ok(Some(der)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PersistError::Read {
                path: self.path.to_path_buf(),
                source,
            }),
        }
    }

    /// Replaces the response kept, off the async worker threads.
    pub async fn save(&self, der: Vec<u8>) -> Result<(), PersistError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            labcore::files::write_atomic(&path, &der, labcore::files::Secrecy::Public)
        })
        .await
        .map_err(|source| PersistError::Interrupted {
            path: self.path.to_path_buf(),
            source,
        })?
        .map_err(PersistError::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_saved_response_is_loaded_back_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StapleCache::new(&dir.path().join("cache"), b"leaf");
        assert!(cache.load().await.unwrap().is_none(), "nothing yet");
        cache.save(b"first".to_vec()).await.unwrap();
        assert_eq!(cache.load().await.unwrap().as_deref(), Some(&b"first"[..]));
        cache.save(b"second".to_vec()).await.unwrap();
        assert_eq!(cache.load().await.unwrap().as_deref(), Some(&b"second"[..]));
        // Only the file itself is left: no temporary files.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn each_certificate_has_its_own_file() {
        let dir = Path::new("/cache");
        let a = StapleCache::new(dir, b"leaf a");
        let b = StapleCache::new(dir, b"leaf b");
        assert_ne!(a.path(), b.path());
        assert_eq!(a.path(), StapleCache::new(dir, b"leaf a").path());
        assert!(a.path().starts_with(dir));
        assert_eq!(a.path().extension().and_then(|e| e.to_str()), Some("ocsp"));
    }

    #[tokio::test]
    async fn a_write_failure_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the cache directory should be.
        let blocker = dir.path().join("cache");
        std::fs::write(&blocker, b"").unwrap();
        let cache = StapleCache::new(&blocker, b"leaf");
        let error = cache.save(b"x".to_vec()).await.unwrap_err().to_string();
        assert!(error.contains("cache"), "{error}");
    }
}
