//! How the lab's files are written and read: atomically, owner-only
//! where they are secret, and with errors that name the file.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Whether a file is secret (mode 0600) or public (0644).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secrecy {
    /// Readable by everyone.
    Public,
    /// Readable by the owner only.
    Secret,
}

/// Writes a file atomically: a temporary file in the same directory, synced,
/// then renamed over the target. Readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, contents: &[u8], secrecy: Secrecy) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    #[cfg(unix)]
    builder.permissions(permissions(secrecy));
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a file in", dir, e))?;
    tmp.write_all(contents)
        .map_err(|e| Error::io("cannot write", path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("cannot write", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot write", path, e.error))?;
    sync_dir(dir);
    Ok(())
}

#[cfg(unix)]
fn permissions(secrecy: Secrecy) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(match secrecy {
        Secrecy::Public => 0o644,
        Secrecy::Secret => 0o600,
    })
}

/// Creates a directory and any missing parents, each created one 0700
/// (owner only) whatever the umask; existing directories are left as they are.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| Error::io("cannot create directory", dir, e))
}

/// Sets `path` to `mode` when its permission bits differ (a lab made by an
/// older version, or under a permissive umask). A missing path is fine.
#[cfg(unix)]
pub fn restrict(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o7777 != mode => {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io("cannot restrict the permissions of", path, e))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// Makes a rename durable. Best effort: not every file system supports it.
pub fn sync_dir(dir: &Path) {
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// Reads a text file of the lab, naming it on failure.
pub fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_write_replaces_the_whole_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("staple.der");
        write_atomic(&path, b"first, longer content", Secrecy::Public).unwrap();
        write_atomic(&path, b"second", Secrecy::Public).unwrap();
        assert_eq!(read_text(&path).unwrap(), "second");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["staple.der"]);
    }

    #[cfg(unix)]
    #[test]
    fn secrets_are_owner_only_and_new_directories_private() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("certs").join("key.pem");
        write_atomic(&key, b"secret", Secrecy::Secret).unwrap();
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&dir.path().join("certs")), 0o700);
        let cert = dir.path().join("certs").join("cert.pem");
        write_atomic(&cert, b"public", Secrecy::Public).unwrap();
        assert_eq!(mode(&cert), 0o644);
        restrict(&cert, 0o600).unwrap();
        assert_eq!(mode(&cert), 0o600);
        restrict(&dir.path().join("missing"), 0o600).unwrap();
    }

    #[test]
    fn a_missing_file_is_named_in_one_line() {
        let err = read_text(Path::new("/nonexistent/lab.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read /nonexistent/lab.toml"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}
