//! Times as people type them on the command lines and send them to the API.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};

/// Parses an RFC 3339 time such as `2026-01-02T03:04:05Z`.
pub fn parse_time(text: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| {
        Error::invalid(
            "time",
            text,
            "an RFC 3339 time such as 2026-01-02T03:04:05Z",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_any_offset_is_taken() {
        let t = parse_time(" 2026-01-02T03:04:05+01:00 ").unwrap();
        assert_eq!(
            t.unix_timestamp(),
            parse_time("2026-01-02T02:04:05Z").unwrap().unix_timestamp()
        );
    }

    #[test]
    fn other_formats_are_refused_with_an_example() {
        let err = parse_time("yesterday").unwrap_err().to_string();
        assert!(
            err.contains("'yesterday'") && err.contains("2026-01-02T03:04:05Z"),
            "{err}"
        );
    }
}
