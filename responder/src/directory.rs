//! What the responder knows between two database changes: the issuers it
//! answers for (matched by CertID hashes), who signs for each, and the
//! faults in force. Rebuilt whenever the database's generation moves.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use labcore::CaName;
use labcore::files::read_text;
use labcore::layout::Layout;
use rcgen::KeyPair;
use testca::Serial;
use testca::cert_id::{HashAlg, IssuerKeyMaterial};
use testca::faults::{Fault, FaultMode};
use testca::ids::IssuerId;
use testca::key_alg::load_key_pem;
use testca::store::{RevocationStatus, Store};
use time::OffsetDateTime;

use crate::config::{Config, SignWith};
use crate::error::{Error, Result};
use crate::request::RequestCertId;
use crate::signer::ResponderSigner;

/// A key and certificate that sign responses.
#[derive(Debug)]
pub struct SigningIdentity {
    /// The key and its certificate.
    pub signer: ResponderSigner<KeyPair>,
    /// Put the certificate in the response's `certs` (delegated signers).
    pub include_cert: bool,
    /// For logs: who this is.
    pub description: String,
    /// SHA-1 of the certificate: identifies the signer across reloads.
    pub fingerprint: [u8; 20],
}

impl SigningIdentity {
    /// An identity from a PEM key and a DER certificate.
    pub fn new(
        key: KeyPair,
        cert_der: &[u8],
        include_cert: bool,
        description: String,
    ) -> Result<Self> {
        use sha1::Digest;
        Ok(SigningIdentity {
            signer: ResponderSigner::new(key, cert_der)?,
            include_cert,
            description,
            fingerprint: sha1::Sha1::digest(cert_der).into(),
        })
    }
}

/// An issuer the responder answers for.
#[derive(Debug)]
pub struct IssuerEntry {
    /// Its row id.
    pub id: IssuerId,
    /// Its short name (`intermediate`).
    pub name: String,
    /// Its certificate, DER (served at the CA Issuers URL).
    pub cert_der: Vec<u8>,
    /// Who signs responses about its certificates; `None` when nobody can
    /// (no delegated signer recorded), which is answered with internalError.
    pub signer: Option<Arc<SigningIdentity>>,
}

/// The responder's view of the database at one generation.
#[derive(Debug, Default)]
pub struct Directory {
    /// The database generation this view was built at.
    pub generation: i64,
    issuers: Vec<IssuerEntry>,
    by_hashes: HashMap<(HashAlg, Vec<u8>, Vec<u8>), usize>,
    faults: Vec<Fault>,
    /// Statuses read from the database at this generation. A new generation
    /// gets a new, empty directory: nothing read before a change outlives it.
    statuses: StatusCache,
}

/// Revocation states already read, by issuer and serial (issued serials only).
pub struct StatusCache(quick_cache::sync::Cache<(IssuerId, Serial), Option<RevocationStatus>>);

impl StatusCache {
    fn new(capacity: usize) -> Self {
        StatusCache(quick_cache::sync::Cache::new(capacity.max(1)))
    }
}

impl Default for StatusCache {
    fn default() -> Self {
        StatusCache::new(1)
    }
}

impl std::fmt::Debug for StatusCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StatusCache({} entries)", self.0.len())
    }
}

/// Signing material given on the command line (--signer-cert, --signer-key).
#[derive(Debug)]
pub struct SignerOverride {
    cert_der: Vec<u8>,
    key_pem: String,
}

impl SignerOverride {
    /// Reads the files named by the configuration, if any.
    pub fn from_config(config: &Config) -> Result<Option<Self>> {
        let (Some(cert), Some(key)) = (&config.signer_cert, &config.signer_key) else {
            return Ok(None);
        };
        let cert_pem = read_text(cert)?;
        let cert_der = pem_to_der(&cert_pem)
            .ok_or_else(|| Error::Config(format!("{} holds no PEM certificate", cert.display())))?;
        Ok(Some(SignerOverride {
            cert_der,
            key_pem: read_text(key)?,
        }))
    }
}

impl Directory {
    /// Reads the issuers, signers and faults at the database's current generation.
    pub async fn load(
        store: &Store,
        layout: &Layout,
        config: &Config,
        signer_override: Option<&SignerOverride>,
    ) -> Result<Self> {
        let generation = store.generation().await?;
        let mut issuers = Vec::new();
        let mut by_hashes = HashMap::new();
        for record in store.issuers().await? {
            let material = IssuerKeyMaterial::from_cert_der(&record.cert_der)?;
            for h in material.all_hashes() {
                by_hashes.insert((h.alg, h.name_hash, h.key_hash), issuers.len());
            }
            let signer = match override_for(signer_override, &record.cert_der)? {
                Some(identity) => Some(Arc::new(identity)),
                None => signer_for(
                    store,
                    layout,
                    config.sign_with,
                    record.id,
                    &record.name,
                    &record.cert_der,
                )
                .await?
                .map(Arc::new),
            };
            issuers.push(IssuerEntry {
                id: record.id,
                name: record.name,
                cert_der: record.cert_der,
                signer,
            });
        }
        Ok(Directory {
            generation,
            issuers,
            by_hashes,
            faults: store.faults().await?,
            statuses: StatusCache::new(config.cache_entries),
        })
    }

    /// The issuer a CertID names, if the responder serves it.
    pub fn issuer_for(&self, cert_id: &RequestCertId) -> Option<&IssuerEntry> {
        let key = (
            cert_id.hash_algorithm,
            cert_id.issuer_name_hash.clone(),
            cert_id.issuer_key_hash.clone(),
        );
        self.by_hashes.get(&key).map(|&i| &self.issuers[i])
    }

    /// The revocation state of a serial of an issuer at this generation:
    /// from memory when it was read before, else from the database.
    pub async fn status(
        &self,
        store: &Store,
        issuer: IssuerId,
        serial: Serial,
    ) -> Result<Option<RevocationStatus>> {
        let key = (issuer, serial);
        if let Some(known) = self.statuses.0.get(&key) {
            return Ok(known);
        }
        let status = store.status(issuer, &key.1).await?;
        // Serials never issued are not kept: a flood of made-up ones would evict real ones.
        if status.is_some() {
            self.statuses.0.insert(key, status);
        }
        Ok(status)
    }

    /// The issuer with a short name.
    pub fn issuer_named(&self, name: &str) -> Option<&IssuerEntry> {
        self.issuers.iter().find(|i| i.name == name)
    }

    /// Every issuer.
    pub fn issuers(&self) -> &[IssuerEntry] {
        &self.issuers
    }

    /// The signer used when no served issuer is involved (answers `unknown`
    /// for foreign issuers): the last issuer's, normally the intermediate's.
    pub fn fallback_signer(&self) -> Option<Arc<SigningIdentity>> {
        self.issuers.iter().rev().find_map(|i| i.signer.clone())
    }

    /// The fault in force for a request about these serials: a certificate's
    /// own fault first, else the one for every certificate.
    pub fn fault_for(
        &self,
        serials: &[Option<Serial>],
        now: OffsetDateTime,
    ) -> Option<(FaultMode, Option<String>)> {
        let active = || self.faults.iter().filter(|f| f.active_at(now));
        let own = active().find(|f| {
            f.certificate
                .as_ref()
                .is_some_and(|t| serials.iter().flatten().any(|s| *s == t.serial))
        });
        own.or_else(|| active().find(|f| f.certificate.is_none()))
            .map(|f| (f.mode, f.certificate.as_ref().map(|t| t.name.clone())))
    }
}

/// The signer for an issuer: its newest delegated signer, or the CA's own key.
async fn signer_for(
    store: &Store,
    layout: &Layout,
    sign_with: SignWith,
    issuer_id: IssuerId,
    issuer_name: &str,
    issuer_der: &[u8],
) -> Result<Option<SigningIdentity>> {
    match sign_with {
        SignWith::Delegated => {
            let Some(record) = store.newest_signer(issuer_id).await? else {
                return Ok(None);
            };
            let key = load_key_pem(&record.key_pem)
                .map_err(|e| Error::Config(format!("the delegated signer's key: {e}")))?;
            let description = format!(
                "delegated signer '{}' (serial {}) for {issuer_name}",
                record.certificate.name, record.certificate.serial
            );
            Ok(Some(SigningIdentity::new(
                key,
                &record.certificate.der,
                true,
                description,
            )?))
        }
        SignWith::Issuer => {
            let ca: CaName = issuer_name
                .parse()
                .map_err(|_| Error::Config(format!("no key file for issuer '{issuer_name}'")))?;
            let key_path = layout.ca_key(ca);
            let key = load_key_pem(&read_text(&key_path)?)
                .map_err(|e| Error::Config(format!("{}: {e}", key_path.display())))?;
            Ok(Some(
                SigningIdentity::new(
                    key,
                    issuer_der,
                    false,
                    format!("the {issuer_name} CA itself"),
                )
                .map_err(|e| {
                    Error::Config(format!(
                        "{} does not match the {issuer_name} certificate: {e}",
                        key_path.display()
                    ))
                })?,
            ))
        }
    }
}

/// The command-line signer, when it belongs to this issuer: either the CA
/// certificate itself or a certificate the CA issued.
fn override_for(
    signer_override: Option<&SignerOverride>,
    issuer_der: &[u8],
) -> Result<Option<SigningIdentity>> {
    let Some(o) = signer_override else {
        return Ok(None);
    };
    let issuer = parse_cert(issuer_der)?;
    let signer = parse_cert(&o.cert_der)?;
    let is_issuer = signer.tbs_certificate.subject_public_key_info
        == issuer.tbs_certificate.subject_public_key_info;
    let issued_by = signer.tbs_certificate.issuer == issuer.tbs_certificate.subject;
    if !is_issuer && !issued_by {
        return Ok(None);
    }
    let key = load_key_pem(&o.key_pem).map_err(|e| Error::Config(format!("--signer-key: {e}")))?;
    let description = format!("--signer-cert {}", signer.tbs_certificate.subject);
    Ok(Some(SigningIdentity::new(
        key,
        &o.cert_der,
        !is_issuer,
        description,
    )?))
}

fn parse_cert(der: &[u8]) -> Result<x509_cert::Certificate> {
    use der::Decode;
    Ok(x509_cert::Certificate::from_der(der)?)
}

/// The DER of the first certificate in a PEM text.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let chain = x509_cert::Certificate::load_pem_chain(pem.as_bytes()).ok()?;
    der::Encode::to_der(chain.first()?).ok()
}

/// Checks a lab directory exists before anything opens it, for a clear error.
pub fn check_lab(dir: &Path) -> Result<()> {
    Ok(Layout::new(dir).require_lab()?)
}
