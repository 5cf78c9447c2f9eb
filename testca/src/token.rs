//! The bearer token of `testca serve`'s API: `LAB/api-token`, a random
//! secret readable by its owner only, made by `testca init` (or by the first
//! `serve` of a lab made before there was one).

use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use labcore::files::{Secrecy, write_atomic};
use labcore::layout::Layout;

/// Bytes of randomness in a token (shown as twice as many hex digits).
const TOKEN_BYTES: usize = 32;

/// Writes a new random token to `LAB/api-token` (mode 0600) and returns it.
pub fn create(layout: &Layout) -> Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_atomic(
        &layout.api_token(),
        format!("{token}\n").as_bytes(),
        Secrecy::Secret,
    )?;
    Ok(token)
}

/// Reads the lab's token; creates one when the lab has none (labs made
/// before tokens existed). The flag says whether it was created.
pub fn load_or_create(layout: &Layout) -> Result<(String, bool)> {
    let path = layout.api_token();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((create(layout)?, true)),
        Err(e) => return Err(Error::io("cannot read", path, e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .map_err(|e| Error::io("cannot read", &path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Error::invalid(
                "permissions of the API token file",
                format!("{} (mode {:o})", path.display(), mode & 0o777),
                format!("readable by its owner only: chmod 600 {}", path.display()),
            ));
        }
    }
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(Error::invalid(
            "API token",
            path.display().to_string(),
            "a non-empty token; delete the file and `testca serve` makes a new one",
        ));
    }
    Ok((token, false))
}

/// Whether the `Authorization` header value is `Bearer TOKEN` for this
/// token; compares in constant time, so the answer's timing tells nothing
/// about how much of a guess was right.
pub fn authorizes(header: Option<&[u8]>, token: &str) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
        return false;
    };
    let given = given.trim_ascii();
    given.ct_eq(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_authorizes() {
        let token = "abc123";
        assert!(authorizes(Some(b"Bearer abc123"), token));
        assert!(!authorizes(None, token));
        assert!(!authorizes(Some(b"abc123"), token));
        assert!(!authorizes(Some(b"Bearer abc124"), token));
        assert!(!authorizes(Some(b"Bearer abc12"), token));
        assert!(!authorizes(Some(b"Bearer abc1234"), token));
        assert!(!authorizes(Some(b"Basic abc123"), token));
        assert!(!authorizes(Some(b"Bearer "), token));
    }

    #[test]
    fn a_token_is_created_once_and_kept_secret() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let (first, created) = load_or_create(&layout).unwrap();
        assert!(created);
        assert_eq!(first.len(), 2 * TOKEN_BYTES);
        let (again, created) = load_or_create(&layout).unwrap();
        assert!(!created);
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(layout.api_token())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(layout.api_token(), std::fs::Permissions::from_mode(0o644))
                .unwrap();
            let err = load_or_create(&layout).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
    }
}
