//! A certificate the server presents: its chain and key, where its OCSP
//! responder is, who issued it, and whether it must be stapled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use der::Decode;
use labcore::tls_feature::must_staple;
use openssl::x509::{X509, X509VerifyResult};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use x509_cert::ext::pkix::AuthorityInfoAccessSyntax;
use x509_cert::ext::pkix::name::GeneralName;

/// Why a certificate cannot be served, or cannot be stapled.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A file could not be read (the cause follows as the error's source).
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no usable certificate or key.
    #[error("{path}: {reason}")]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key does not belong to the certificate.
    #[error("{key} is not the key of the certificate in {cert}")]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
}

/// Where the issuer certificate was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuerSource {
    /// The next certificate of the served chain.
    Chain,
    /// The separate issuer/trusted file (`ssl_trusted_certificate`, `SSLCACertificateFile`).
    IssuerFile,
    /// Fetched from the Authority Information Access CA Issuers URL.
    CaIssuersUrl,
}

/// One served certificate.
#[derive(Clone)]
pub struct ServedCert {
    /// The file it came from.
    pub cert_path: PathBuf,
    /// The chain as sent to clients, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: std::sync::Arc<PrivateKeyDer<'static>>,
    /// The leaf.
    pub leaf: X509,
    /// The other certificates of the chain.
    pub intermediates: Vec<X509>,
    /// DNS names (for SNI) from the subject alternative names.
    pub dns_names: Vec<String>,
    /// OCSP URL from Authority Information Access.
    pub ocsp_url: Option<String>,
    /// CA Issuers URL from Authority Information Access.
    pub ca_issuers_url: Option<String>,
    /// The TLS Feature extension asks for status_request (must-staple).
    pub must_staple: bool,
}

impl std::fmt::Debug for ServedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedCert")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl ServedCert {
    /// Loads a PEM chain (leaf first, like nginx's `ssl_certificate`) and its PEM key.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, ChainError> {
        let pem = read(cert_path)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| content(cert_path, format!("not a PEM certificate chain ({e})")))?;
        if chain.is_empty() {
            return Err(content(cert_path, "holds no certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(&read(key_path)?)
            .map_err(|e| content(key_path, format!("not a PEM private key ({e})")))?;
        let x509s: Vec<X509> = chain
            .iter()
            .map(|c| {
                X509::from_der(c)
                    .map_err(|e| content(cert_path, format!("a certificate does not parse ({e})")))
            })
            .collect::<Result<_, _>>()?;
        let leaf = x509s[0].clone();
        let key_pkey = openssl::pkey::PKey::private_key_from_der(key.secret_der())
            .map_err(|e| content(key_path, format!("the key does not parse ({e})")))?;
        let cert_key = leaf
            .public_key()
            .map_err(|e| content(cert_path, format!("no public key ({e})")))?;
        if !key_pkey.public_eq(&cert_key) {
            return Err(ChainError::KeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            });
        }
        let parsed = x509_cert::Certificate::from_der(&chain[0])
            .map_err(|e| content(cert_path, format!("the leaf does not parse ({e})")))?;
        let (ocsp_url, ca_issuers_url) = aia_urls(&parsed);
        let must_staple = must_staple(&parsed);
        let dns_names = leaf
            .subject_alt_names()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default();
        Ok(ServedCert {
            cert_path: cert_path.to_path_buf(),
            chain,
            key: std::sync::Arc::new(key),
            intermediates: x509s[1..].to_vec(),
            leaf,
            dns_names,
            ocsp_url,
            ca_issuers_url,
            must_staple,
        })
    }

    /// A short name for logs and the status page: the leaf's common name, else the file.
    pub fn name(&self) -> String {
        self.leaf
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok())
            .unwrap_or_else(|| self.cert_path.display().to_string())
    }

    /// Whether the leaf is outside its validity period at `now`: `Some("expired
    /// at …")` or `Some("not valid before …")`.
    pub fn validity_problem(&self, now: &openssl::asn1::Asn1TimeRef) -> Option<String> {
        use std::cmp::Ordering;
        if self.leaf.not_after().compare(now).ok()? == Ordering::Less {
            return Some(format!("has expired (notAfter {})", self.leaf.not_after()));
        }
        if self.leaf.not_before().compare(now).ok()? == Ordering::Greater {
            return Some(format!(
                "is not yet valid (notBefore {})",
                self.leaf.not_before()
            ));
        }
        None
    }

    /// The leaf's serial, upper-case hex.
    pub fn serial_hex(&self) -> String {
        self.leaf
            .serial_number()
            .to_bn()
            .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    /// The issuer among `candidates`, if one of them issued the leaf.
    pub fn issuer_among<'a>(&self, candidates: impl IntoIterator<Item = &'a X509>) -> Option<X509> {
        candidates
            .into_iter()
            .find(|c| {
                c.issued(&self.leaf) == X509VerifyResult::OK && verify_signature(c, &self.leaf)
            })
            .cloned()
    }

    /// The issuer from the chain, else from the issuer file, else (when
    /// `fetch` allows) from the CA Issuers URL, fetched with `timeout`.
    pub async fn find_issuer(
        &self,
        issuer_file: &[X509],
        fetch: Option<Duration>,
    ) -> Option<(X509, IssuerSource)> {
        if let Some(issuer) = self.issuer_among(&self.intermediates) {
            return Some((issuer, IssuerSource::Chain));
        }
        if let Some(issuer) = self.issuer_among(issuer_file) {
            return Some((issuer, IssuerSource::IssuerFile));
        }
        let timeout = fetch?;
        let url = self.ca_issuers_url.as_ref()?;
        let fetched = crate::fetch::fetch_certificates(url, timeout).await.ok()?;
        self.issuer_among(&fetched)
            .map(|c| (c, IssuerSource::CaIssuersUrl))
    }
}

fn verify_signature(issuer: &X509, leaf: &X509) -> bool {
    issuer
        .public_key()
        .and_then(|key| leaf.verify(&key))
        .unwrap_or(false)
}

/// Reads a PEM file of certificates (an issuer or trusted file); empty for no file.
pub fn load_pem_certificates(path: &Path) -> Result<Vec<X509>, ChainError> {
    let pem = read(path)?;
    let certs = X509::stack_from_pem(&pem)
        .map_err(|e| content(path, format!("not PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(content(path, "holds no certificate".into()));
    }
    Ok(certs)
}

fn aia_urls(cert: &x509_cert::Certificate) -> (Option<String>, Option<String>) {
    let Some(exts) = &cert.tbs_certificate.extensions else {
        return (None, None);
    };
    let Some(aia) = exts
        .iter()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_PE_AUTHORITY_INFO_ACCESS)
        .and_then(|e| AuthorityInfoAccessSyntax::from_der(e.extn_value.as_bytes()).ok())
    else {
        return (None, None);
    };
    let url_of = |method| {
        aia.0
            .iter()
            .find_map(|d| match (&d.access_location, d.access_method == method) {
                (GeneralName::UniformResourceIdentifier(uri), true) => Some(uri.to_string()),
                _ => None,
            })
    };
    (
        url_of(const_oid::db::rfc5280::ID_AD_OCSP),
        url_of(const_oid::db::rfc5280::ID_AD_CA_ISSUERS),
    )
}

fn read(path: &Path) -> Result<Vec<u8>, ChainError> {
    std::fs::read(path).map_err(|source| ChainError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn content(path: &Path, reason: String) -> ChainError {
    ChainError::Content {
        path: path.to_path_buf(),
        reason,
    }
}
