//! The TLS Feature extension (RFC 7633) with status_request: "must-staple".
//! testca writes it into leaves; the stapler and its checker read it.

use der::Decode;
use der::asn1::ObjectIdentifier;

/// id-pe-tlsfeature (RFC 7633).
pub const ID_PE_TLS_FEATURE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.24");

/// The TLS Feature value for status_request (RFC 6066 extension type 5).
pub const TLS_FEATURE_STATUS_REQUEST: u16 = 5;

/// Whether a DER certificate carries the TLS Feature status_request (must-staple).
pub fn has_must_staple(der: &[u8]) -> bool {
    x509_cert::Certificate::from_der(der).is_ok_and(|cert| must_staple(&cert))
}

/// Whether a parsed certificate carries the TLS Feature status_request (must-staple).
pub fn must_staple(cert: &x509_cert::Certificate) -> bool {
    cert.tbs_certificate
        .extensions
        .as_ref()
        .is_some_and(|exts| {
            exts.iter().any(|e| {
                e.extn_id == ID_PE_TLS_FEATURE
                    && Vec::<u16>::from_der(e.extn_value.as_bytes())
                        .is_ok_and(|features| features.contains(&TLS_FEATURE_STATUS_REQUEST))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_certificate_is_not_must_staple() {
        assert!(!has_must_staple(b""));
        assert!(!has_must_staple(&[0x30, 0x03, 0x02, 0x01, 0x05]));
    }
}
