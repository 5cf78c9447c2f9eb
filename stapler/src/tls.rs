//! TLS: rustls picks the certificate by SNI and presents it with its
//! current staple. rustls sends the staple only to clients that asked for
//! it (status_request), in TLS 1.2's CertificateStatus message or TLS 1.3's
//! certificate entry, and sends no certificate, hence no staple, on resumption.

use std::sync::Arc;
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, SigningKey};

use crate::staple::Slot;
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

/// Chooses the certificate for a handshake: the one whose DNS names match
/// the SNI name, else the first.
#[derive(Debug)]
pub struct Resolver {
    slots: Vec<Arc<Slot>>,
}

impl Resolver {
    /// A resolver over the served certificates (at least one).
    pub fn new(slots: Vec<Arc<Slot>>) -> Self {
        Resolver { slots }
    }

    fn pick(&self, server_name: Option<&str>) -> Option<&Arc<Slot>> {
        let wanted = server_name.map(str::to_ascii_lowercase);
        wanted
            .and_then(|name| {
                self.slots.iter().find(|slot| {
                    slot.cert.dns_names.iter().any(|dns| {
                        dns == &name
                            || dns.strip_prefix("*.").is_some_and(|suffix| {
                                name.split_once('.').is_some_and(|(_, rest)| rest == suffix)
                            })
                    })
                })
            })
            .or_else(|| self.slots.first())
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.pick(hello.server_name())
            .map(|slot| slot.certified_key())
    }
}

/// The server's TLS configuration: TLS 1.3 and 1.2, HTTP/1.1.
pub fn server_config(slots: Vec<Arc<Slot>>) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver::new(slots)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
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
