//! Decoding the OCSP request of a GET (RFC 6960 Appendix A.1:
//! `GET {url}/{url-encoding of base-64 encoding of the DER encoding of the OCSPRequest}`),
//! tolerant of what clients and proxies really send: percent-encoded or
//! not, `+` turned into a space, `/` inside the base64 (so the request
//! spans path segments), doubled slashes, base64url and missing padding.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet, padding optional.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a GET path holds no request.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GetPathError {
    /// The path is outside the OCSP path prefix.
    #[error("path is outside the OCSP prefix")]
    OutsidePrefix,
    /// Nothing after the prefix.
    #[error("no request in the path")]
    Empty,
    /// Not base64 in any of the accepted forms.
    #[error("the path is not base64")]
    NotBase64,
}

/// Extracts the DER request from a raw (not yet percent-decoded) request
/// path, given the OCSP path prefix (starting and ending with `/`).
pub fn decode_get_path(raw_path: &str, prefix: &str) -> Result<Vec<u8>, GetPathError> {
    let rest = strip_prefix(raw_path, prefix).ok_or(GetPathError::OutsidePrefix)?;
    // Base64 of a DER SEQUENCE starts with 'M', so leading slashes are never part of it.
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return Err(GetPathError::Empty);
    }
    let decoded = percent_encoding::percent_decode_str(rest).collect::<Vec<u8>>();
    let text: String = decoded
        .iter()
        .filter_map(|&b| match b {
            // A '+' that a form decoder turned into a space.
            b' ' => Some('+'),
            // base64url.
            b'-' => Some('+'),
            b'_' => Some('/'),
            b'\r' | b'\n' | b'\t' => None,
            b => Some(char::from(b)),
        })
        .collect();
    LENIENT
        .decode(text.trim_end_matches('='))
        .map_err(|_| GetPathError::NotBase64)
}

/// The path below the prefix, tolerating doubled slashes in the prefix part.
fn strip_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if let Some(rest) = path.strip_prefix(prefix) {
        return Some(rest);
    }
    // "/ocsp/" also matches "/ocsp" + nothing, and "//ocsp//…" from clients that join URLs naively.
    let mut rest = path;
    for segment in prefix.split('/').filter(|s| !s.is_empty()) {
        rest = rest.trim_start_matches('/');
        rest = rest.strip_prefix(segment)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
    }
    Some(rest)
}

/// Whether a path is at or below the OCSP prefix (for POST routing).
pub fn under_prefix(raw_path: &str, prefix: &str) -> bool {
    strip_prefix(raw_path, prefix).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bytes whose base64 holds '+', '/' and padding: after the 3-byte group 30 07 00,
    // fb ff bf -> "+/+/" twice, then fe -> "/g==".
    const DER: &[u8] = &[0x30, 0x07, 0x00, 0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf, 0xfe];

    fn b64() -> String {
        base64::engine::general_purpose::STANDARD.encode(DER)
    }

    #[test]
    fn plain_base64_with_slashes_and_plus() {
        let path = format!("/{}", b64());
        assert!(path.contains('+') && path[1..].contains('/'), "{path}");
        assert_eq!(decode_get_path(&path, "/").unwrap(), DER);
    }

    #[test]
    fn percent_encoded() {
        let enc = b64()
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        assert_eq!(decode_get_path(&format!("/{enc}"), "/").unwrap(), DER);
    }

    #[test]
    fn plus_turned_into_space() {
        let spaced = b64().replace('+', "%20");
        assert_eq!(decode_get_path(&format!("/{spaced}"), "/").unwrap(), DER);
    }

    #[test]
    fn base64url_unpadded() {
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(DER);
        assert_eq!(decode_get_path(&format!("/{url}"), "/").unwrap(), DER);
    }

    #[test]
    fn doubled_slashes_and_prefixes() {
        assert_eq!(decode_get_path(&format!("//{}", b64()), "/").unwrap(), DER);
        assert_eq!(
            decode_get_path(&format!("/ocsp/{}", b64()), "/ocsp/").unwrap(),
            DER
        );
        assert_eq!(
            decode_get_path(&format!("//ocsp//{}", b64()), "/ocsp/").unwrap(),
            DER
        );
        assert_eq!(
            decode_get_path(&format!("/other/{}", b64()), "/ocsp/"),
            Err(GetPathError::OutsidePrefix)
        );
        assert_eq!(
            decode_get_path("/ocspx/AAAA", "/ocsp/"),
            Err(GetPathError::OutsidePrefix)
        );
        assert_eq!(
            decode_get_path("/ocsp/", "/ocsp/"),
            Err(GetPathError::Empty)
        );
        assert!(under_prefix("/ocsp", "/ocsp/"));
    }

    #[test]
    fn garbage_is_not_base64() {
        assert_eq!(decode_get_path("/%%%", "/"), Err(GetPathError::NotBase64));
        assert_eq!(decode_get_path("/a!b", "/"), Err(GetPathError::NotBase64));
    }
}
