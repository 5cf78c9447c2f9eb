//! TLS: rustls picks the certificate by SNI and presents it with its
//! current staple. rustls sends the staple only to clients that asked for
//! it (status_request), in TLS 1.2's CertificateStatus message or TLS 1.3's
//! certificate entry, and sends no certificate, hence no staple, on resumption.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::staple::Slot;

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
