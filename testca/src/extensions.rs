//! Certificate extensions that rcgen does not build itself: Authority
//! Information Access, id-pkix-ocsp-nocheck and the TLS Feature (must-staple).
//! They are encoded with the RustCrypto `der`/`x509-cert` types, not by hand.
//! Reading must-staple back is [`labcore::tls_feature`]'s.

use const_oid::db::rfc5280::{ID_AD_CA_ISSUERS, ID_AD_OCSP, ID_PE_AUTHORITY_INFO_ACCESS};
use const_oid::db::rfc6960::ID_PKIX_OCSP_NOCHECK;
use der::Encode;
use der::asn1::{Ia5String, Null, ObjectIdentifier};
use rcgen::CustomExtension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};

use labcore::tls_feature::{ID_PE_TLS_FEATURE, TLS_FEATURE_STATUS_REQUEST};

use crate::error::{Error, Result};

/// The Authority Information Access extension with an OCSP URI and a CA Issuers URI.
pub fn authority_info_access(ocsp_url: &str, ca_issuers_url: &str) -> Result<CustomExtension> {
    let uri = |url: &str| -> Result<GeneralName> {
        let ia5 =
            Ia5String::new(url).map_err(|_| Error::invalid("URL", url, "ASCII characters only"))?;
        Ok(GeneralName::UniformResourceIdentifier(ia5))
    };
    let aia = AuthorityInfoAccessSyntax(vec![
        AccessDescription {
            access_method: ID_AD_OCSP,
            access_location: uri(ocsp_url)?,
        },
        AccessDescription {
            access_method: ID_AD_CA_ISSUERS,
            access_location: uri(ca_issuers_url)?,
        },
    ]);
    Ok(custom(ID_PE_AUTHORITY_INFO_ACCESS, aia.to_der()?))
}

/// id-pkix-ocsp-nocheck: clients need not check the delegated signer's own status.
pub fn ocsp_nocheck() -> Result<CustomExtension> {
    Ok(custom(ID_PKIX_OCSP_NOCHECK, Null.to_der()?))
}

/// TLS Feature with status_request: the certificate must be stapled ("must-staple").
pub fn tls_feature_status_request() -> Result<CustomExtension> {
    let features: Vec<u16> = vec![TLS_FEATURE_STATUS_REQUEST];
    Ok(custom(ID_PE_TLS_FEATURE, features.to_der()?))
}

fn custom(oid: ObjectIdentifier, content: Vec<u8>) -> CustomExtension {
    let arcs: Vec<u64> = oid.arcs().map(u64::from).collect();
    CustomExtension::from_oid_content(&arcs, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn must_staple_is_the_well_known_encoding() {
        // RFC 7633 example: SEQUENCE { INTEGER 5 }.
        assert_eq!(
            tls_feature_status_request().unwrap().content(),
            [0x30, 0x03, 0x02, 0x01, 0x05]
        );
    }

    #[test]
    fn the_reader_finds_what_the_writer_wrote() {
        let key = rcgen::KeyPair::generate().unwrap();
        let der = |must_staple: bool| {
            let mut params = rcgen::CertificateParams::new(vec!["leaf.test".into()]).unwrap();
            if must_staple {
                params
                    .custom_extensions
                    .push(tls_feature_status_request().unwrap());
            }
            params.self_signed(&key).unwrap().der().to_vec()
        };
        assert!(labcore::tls_feature::has_must_staple(&der(true)));
        assert!(!labcore::tls_feature::has_must_staple(&der(false)));
    }

    #[test]
    fn nocheck_is_an_asn1_null() {
        assert_eq!(ocsp_nocheck().unwrap().content(), [0x05, 0x00]);
    }

    #[test]
    fn non_ascii_url_is_refused() {
        assert!(authority_info_access("http://exämple/", "http://x/").is_err());
    }
}
