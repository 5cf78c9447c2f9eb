//! What a certificate presents in a handshake: its chain and key, and the
//! staple held, swapped in whole (through an `ArcSwap` in the slot) so that
//! a handshake reads it without a lock.

use std::sync::Arc;
use std::time::SystemTime;

use rustls::pki_types::CertificateDer;
use rustls::sign::{CertifiedKey, SigningKey};

use crate::verify::VerifiedStaple;

/// What a certificate presents in a handshake: its chain and key, with the
/// staple held while that is valid.
#[derive(Debug)]
pub struct Identity {
    bare: Arc<CertifiedKey>,
    stapled: Option<(Arc<CertifiedKey>, Arc<VerifiedStaple>)>,
}

impl Identity {
    /// The certificate without a staple.
    pub fn bare(chain: Vec<CertificateDer<'static>>, key: Arc<dyn SigningKey>) -> Self {
        Identity {
            bare: Arc::new(CertifiedKey::new(chain, key)),
            stapled: None,
        }
    }

    /// The same certificate with `staple` (or without one); unchanged when
    /// it already presents that staple.
    pub fn with_staple(&self, staple: Option<&Arc<VerifiedStaple>>) -> Option<Identity> {
        let current = self.stapled.as_ref().map(|(_, s)| s);
        let same = match (current, staple) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            return None;
        }
        let stapled = staple.map(|staple| {
            let mut key = CertifiedKey::new(self.bare.cert.clone(), self.bare.key.clone());
            key.ocsp = Some(staple.der().to_vec());
            (Arc::new(key), staple.clone())
        });
        Some(Identity {
            bare: self.bare.clone(),
            stapled,
        })
    }

    /// What to present at `now`, and whether it carries a staple: never one
    /// past its nextUpdate, even before the background task drops it.
    pub fn for_handshake(&self, now: SystemTime) -> (Arc<CertifiedKey>, bool) {
        match &self.stapled {
            Some((key, staple)) if staple.is_current(now) => (key.clone(), true),
            _ => (self.bare.clone(), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    use super::*;
    use crate::verify::CertState;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn bare() -> Identity {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            key.private_key_to_pkcs8().unwrap(),
        ));
        let signing = rustls::crypto::ring::sign::any_supported_type(&der).unwrap();
        Identity::bare(vec![CertificateDer::from(b"leaf".to_vec())], signing)
    }

    #[test]
    fn the_staple_is_presented_until_its_next_update_and_never_after() {
        let staple = Arc::new(VerifiedStaple::for_tests(CertState::Good, at(0), at(600)));
        let identity = bare().with_staple(Some(&staple)).unwrap();
        let (key, stapled) = identity.for_handshake(at(599));
        assert!(stapled);
        assert_eq!(key.ocsp.as_deref(), Some(staple.der()));
        let (key, stapled) = identity.for_handshake(at(600));
        assert!(!stapled, "expired: the bare certificate");
        assert_eq!(key.ocsp, None);
    }

    #[test]
    fn an_identity_is_rebuilt_only_when_the_staple_changes() {
        let staple = Arc::new(VerifiedStaple::for_tests(CertState::Good, at(0), at(600)));
        let none = bare();
        assert!(none.with_staple(None).is_none(), "no staple, still none");
        let with = none.with_staple(Some(&staple)).unwrap();
        assert!(with.with_staple(Some(&staple)).is_none(), "the same staple");
        let other = Arc::new(VerifiedStaple::for_tests(CertState::Good, at(0), at(600)));
        assert!(with.with_staple(Some(&other)).is_some(), "a new one");
        let dropped = with.with_staple(None).unwrap();
        assert!(!dropped.for_handshake(at(1)).1);
    }
}
