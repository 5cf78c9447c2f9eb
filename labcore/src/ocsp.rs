//! The words of OCSP (RFC 6960) that the lab's crates print, log, count and
//! exchange: the response status and the certificate status. One enum each,
//! so that the responder's metrics, the stapler's messages and testca's
//! reports spell them the same way.

use std::fmt;

/// OCSPResponseStatus (RFC 6960 §4.2.1). The discriminants are the codes
/// (code 4 is unused there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ResponseStatus {
    /// successful (0): the response carries an answer.
    Successful = 0,
    /// malformedRequest (1)
    MalformedRequest = 1,
    /// internalError (2)
    InternalError = 2,
    /// tryLater (3)
    TryLater = 3,
    /// sigRequired (5)
    SigRequired = 5,
    /// unauthorized (6)
    Unauthorized = 6,
}

impl ResponseStatus {
    /// Every status, in code order.
    pub const ALL: [ResponseStatus; 6] = [
        ResponseStatus::Successful,
        ResponseStatus::MalformedRequest,
        ResponseStatus::InternalError,
        ResponseStatus::TryLater,
        ResponseStatus::SigRequired,
        ResponseStatus::Unauthorized,
    ];

    /// The code on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The status for a code; `None` for a code RFC 6960 does not define.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| i64::from(s.code()) == code)
    }

    /// The RFC 6960 name of a status code as it came off the wire, or
    /// `an unknown status` for a code RFC 6960 does not define.
    pub fn name_of_code(code: i64) -> &'static str {
        Self::from_code(code).map_or("an unknown status", Self::name)
    }

    /// The RFC 6960 name, e.g. `tryLater`.
    pub fn name(self) -> &'static str {
        match self {
            ResponseStatus::Successful => "successful",
            ResponseStatus::MalformedRequest => "malformedRequest",
            ResponseStatus::InternalError => "internalError",
            ResponseStatus::TryLater => "tryLater",
            ResponseStatus::SigRequired => "sigRequired",
            ResponseStatus::Unauthorized => "unauthorized",
        }
    }
}

impl fmt::Display for ResponseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// CertStatus (RFC 6960 §4.2.1): what a successful response says about one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertStatus {
    /// good: not revoked (as far as the responder knows).
    Good,
    /// revoked, temporarily or for good.
    Revoked,
    /// unknown: the responder knows nothing of that certificate.
    Unknown,
}

impl CertStatus {
    /// The RFC 6960 name: `good`, `revoked` or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            CertStatus::Good => "good",
            CertStatus::Revoked => "revoked",
            CertStatus::Unknown => "unknown",
        }
    }
}

impl fmt::Display for CertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_statuses_keep_their_codes_and_names() {
        for status in ResponseStatus::ALL {
            assert_eq!(
                ResponseStatus::from_code(i64::from(status.code())),
                Some(status)
            );
        }
        assert_eq!(ResponseStatus::from_code(4), None, "code 4 is unused");
        assert_eq!(ResponseStatus::TryLater.to_string(), "tryLater");
        assert_eq!(ResponseStatus::Unauthorized.code(), 6);
    }

    #[test]
    fn cert_statuses_are_named_as_in_rfc_6960() {
        let names: Vec<_> = [CertStatus::Good, CertStatus::Revoked, CertStatus::Unknown]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(names, ["good", "revoked", "unknown"]);
    }
}
