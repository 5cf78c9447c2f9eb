//! Revocation reasons (RFC 5280 §5.3.1 CRLReason).

use std::fmt;
use std::str::FromStr;

use x509_cert::ext::pkix::CrlReason;

use crate::error::{Error, Result};

/// Why a certificate was revoked. The discriminants are the CRLReason codes
/// of RFC 5280 (code 7 is unused there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RevocationReason {
    /// unspecified (0)
    Unspecified = 0,
    /// keyCompromise (1)
    KeyCompromise = 1,
    /// cACompromise (2)
    CaCompromise = 2,
    /// affiliationChanged (3)
    AffiliationChanged = 3,
    /// superseded (4)
    Superseded = 4,
    /// cessationOfOperation (5)
    CessationOfOperation = 5,
    /// certificateHold (6)
    CertificateHold = 6,
    /// removeFromCRL (8)
    RemoveFromCrl = 8,
    /// privilegeWithdrawn (9)
    PrivilegeWithdrawn = 9,
    /// aACompromise (10)
    AaCompromise = 10,
}

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [RevocationReason; 10] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::RemoveFromCrl,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The reason for a CRLReason code.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| i64::from(r.code()) == code)
    }

    /// The RFC 5280 name, e.g. `keyCompromise`.
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::RemoveFromCrl => "removeFromCRL",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aACompromise",
        }
    }
}

impl FromStr for RevocationReason {
    type Err = Error;

    /// Accepts the RFC 5280 name in any case (`keyCompromise`, `keycompromise`)
    /// or the numeric code.
    fn from_str(text: &str) -> Result<Self> {
        let wanted = text.trim();
        Self::ALL
            .into_iter()
            .find(|r| {
                r.name().eq_ignore_ascii_case(wanted)
                    || wanted.parse::<i64>().ok() == Some(i64::from(r.code()))
            })
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|r| r.name()).collect();
                Error::invalid(
                    "revocation reason",
                    text,
                    format!("one of {}", names.join(", ")),
                )
            })
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The reason as x509-cert encodes it in OCSP responses and CRLs.
impl From<RevocationReason> for CrlReason {
    fn from(reason: RevocationReason) -> Self {
        match reason {
            RevocationReason::Unspecified => CrlReason::Unspecified,
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::CaCompromise => CrlReason::CaCompromise,
            RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
            RevocationReason::Superseded => CrlReason::Superseded,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
            RevocationReason::CertificateHold => CrlReason::CertificateHold,
            RevocationReason::RemoveFromCrl => CrlReason::RemoveFromCRL,
            RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
            RevocationReason::AaCompromise => CrlReason::AaCompromise,
        }
    }
}

/// The reason a decoded OCSP response or CRL gives.
impl From<CrlReason> for RevocationReason {
    fn from(reason: CrlReason) -> Self {
        match reason {
            CrlReason::Unspecified => RevocationReason::Unspecified,
            CrlReason::KeyCompromise => RevocationReason::KeyCompromise,
            CrlReason::CaCompromise => RevocationReason::CaCompromise,
            CrlReason::AffiliationChanged => RevocationReason::AffiliationChanged,
            CrlReason::Superseded => RevocationReason::Superseded,
            CrlReason::CessationOfOperation => RevocationReason::CessationOfOperation,
            CrlReason::CertificateHold => RevocationReason::CertificateHold,
            CrlReason::RemoveFromCRL => RevocationReason::RemoveFromCrl,
            CrlReason::PrivilegeWithdrawn => RevocationReason::PrivilegeWithdrawn,
            CrlReason::AaCompromise => RevocationReason::AaCompromise,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for reason in RevocationReason::ALL {
            assert_eq!(reason.name().parse::<RevocationReason>().unwrap(), reason);
            assert_eq!(
                RevocationReason::from_code(i64::from(reason.code())),
                Some(reason)
            );
        }
        assert_eq!(
            "KEYCOMPROMISE".parse::<RevocationReason>().unwrap(),
            RevocationReason::KeyCompromise
        );
        assert_eq!(RevocationReason::from_code(7), None);
    }

    #[test]
    fn unknown_reason_lists_the_valid_ones() {
        let err = "stolen"
            .parse::<RevocationReason>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("keyCompromise"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn the_encoded_reason_keeps_its_code() {
        for reason in RevocationReason::ALL {
            let encoded = CrlReason::from(reason);
            assert_eq!(encoded as u8, reason.code());
            assert_eq!(RevocationReason::from(encoded), reason);
        }
    }
}
