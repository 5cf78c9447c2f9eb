//! Setting one certificate up: its chain and key, its issuer (from the
//! chain, the issuer file, or its AIA CA Issuers URL), its responder, and,
//! when stapling is impossible, a diagnostic that says why in the words of
//! nginx and Apache and what to do. A certificate that cannot be stapled is
//! still served, without a staple (unless `--strict`).

use std::sync::Arc;

use openssl::x509::X509;
use rustls::sign::SigningKey;
use tracing::{error, warn};

use crate::chain::{ChainError, IssuerSource, ServedCert};
use crate::config::{CertConfig, Settings};
use crate::persist::StapleCache;
use crate::source::{Origin, Verifier};

/// Why a certificate cannot be served at all.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Its chain or key file.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// rustls cannot sign with its key.
    #[error("{path}: unsupported private key: {reason}")]
    UnsupportedKey {
        /// The key file.
        path: std::path::PathBuf,
        /// What rustls said.
        reason: rustls::Error,
    },
    /// The system clock cannot be read.
    #[error("clock: {0}")]
    Clock(openssl::error::ErrorStack),
}

/// Whether and how a certificate is stapled.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Stapled.
    Staple(StaplePlan),
    /// Never stapled.
    Off {
        /// Why, and what to do (the `--strict` diagnostic).
        reason: String,
    },
}

/// How a certificate's staple is obtained.
#[derive(Clone, Debug)]
pub struct StaplePlan {
    /// Where responses come from.
    pub origin: Origin,
    /// What they are verified against.
    pub verifier: Verifier,
    /// Where the last fetched response is kept across restarts (not for a
    /// static file, which is its own persistence).
    pub cache: Option<StapleCache>,
}

/// What the setup found about one certificate.
pub struct Setup {
    /// The certificate.
    pub cert: ServedCert,
    /// Its display name.
    pub name: String,
    /// Its key, as rustls signs with it.
    pub signing_key: Arc<dyn SigningKey>,
    /// Its issuer, and where it was found.
    pub issuer: Option<(X509, IssuerSource)>,
    /// Its responder's URL (`--responder`, else its AIA OCSP URL).
    pub responder_url: Option<String>,
    /// Whether responses are verified.
    pub verify: bool,
    /// How it is stapled, or why it is not.
    pub plan: Plan,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Setup {
    /// Loads a certificate and finds out how to staple it.
    pub async fn prepare(config: &CertConfig, settings: &Settings) -> Result<Setup, SetupError> {
        let options = &settings.options;
        let cert = ServedCert::load(&config.cert, &config.key)?;
        let name = cert.name();
        let signing_key =
            rustls::crypto::ring::sign::any_supported_type(&cert.key).map_err(|reason| {
                SetupError::UnsupportedKey {
                    path: config.key.clone(),
                    reason,
                }
            })?;
        let trusted = match &config.issuer {
            Some(path) => crate::chain::load_pem_certificates(path)?,
            None => Vec::new(),
        };
        let responder_url = config.responder.clone().or_else(|| cert.ocsp_url.clone());
        let stapling = settings.stapling();
        // The issuer is needed to ask the responder, and to verify any response.
        let needs_issuer = stapling && (config.staple_file.is_none() || settings.verify());
        let fetch_issuer = (!options.no_fetch_issuer).then_some(options.fetch_timeout);
        let issuer = if needs_issuer {
            cert.find_issuer(&trusted, fetch_issuer).await
        } else {
            None
        };
        if let (Some((_, IssuerSource::CaIssuersUrl)), Some(url)) = (&issuer, &cert.ca_issuers_url)
        {
            warn!(
                certificate = %name,
                "the chain in {} lacks the issuer certificate: fetched it from {url} (AIA CA Issuers) to staple, \
                 but clients that do not fetch it themselves cannot build the chain; append the issuer to {}",
                config.cert.display(),
                config.cert.display()
            );
        }
        let now = openssl::asn1::Asn1Time::days_from_now(0).map_err(SetupError::Clock)?;
        if let Some(problem) = cert.validity_problem(&now) {
            error!(
                certificate = %name,
                "the certificate in {} {problem}: clients will reject it whatever the staple says; renew it",
                config.cert.display()
            );
        }
        let verifier = Verifier {
            leaf: cert.leaf.clone(),
            issuer: issuer.as_ref().map(|(c, _)| c.clone()),
            untrusted: cert.intermediates.clone(),
            trusted,
            clock_skew: options.clock_skew,
            check_signature: settings.verify(),
        };
        let off = |reason: String| Plan::Off { reason };
        let plan = if !stapling {
            off("stapling is off (--no-stapling)".to_string())
        } else if let Some(path) = config.staple_file.clone().filter(|_| {
            // A static file needs the issuer only to verify it.
            issuer.is_some() || !settings.verify()
        }) {
            Plan::Staple(StaplePlan {
                origin: Origin::File(path),
                verifier,
                cache: None,
            })
        } else if let Some((issuer_cert, _)) = &issuer {
            match &responder_url {
                Some(url) => Plan::Staple(StaplePlan {
                    origin: Origin::Responder {
                        url: url.clone(),
                        issuer: issuer_cert.clone(),
                        nonce: options.nonce,
                        timeout: options.fetch_timeout,
                    },
                    verifier,
                    cache: Some(StapleCache::new(&settings.cache_dir(), &cert.chain[0])),
                }),
                None => off(no_responder(&name, config)),
            }
        } else {
            off(no_issuer(&name, config, &cert, fetch_issuer.is_some()))
        };
        Ok(Setup {
            cert,
            name,
            signing_key,
            issuer,
            responder_url,
            verify: settings.verify(),
            plan,
        })
    }

    /// Why clients reject the certificate itself right now (expired, not yet valid), if they do.
    pub fn certificate_problem(&self) -> Option<String> {
        let now = openssl::asn1::Asn1Time::days_from_now(0).ok()?;
        self.cert.validity_problem(&now)
    }
}

fn no_issuer(name: &str, config: &CertConfig, cert: &ServedCert, fetch_issuer: bool) -> String {
    let file_part = match &config.issuer {
        Some(path) => format!(", nor does {}", path.display()),
        None => String::new(),
    };
    let aia_part = match (&cert.ca_issuers_url, fetch_issuer) {
        (Some(url), true) => format!(", and {url} (AIA CA Issuers) did not provide it"),
        (Some(_), false) => {
            ", and fetching it from the AIA CA Issuers URL is off (--no-fetch-issuer)".into()
        }
        (None, _) => String::new(),
    };
    format!(
        "{name} ({}): cannot retrieve the issuer certificate (cf. Apache AH02217 \"Can't retrieve issuer certificate!\", \
         nginx \"issuer certificate not found\"): the chain holds no certificate that issued it{file_part}{aia_part}; \
         put the issuer after the leaf in {} or pass --issuer FILE (ssl_trusted_certificate / SSLCACertificateFile); \
         serving it without a staple",
        config.cert.display(),
        config.cert.display()
    )
}

fn no_responder(name: &str, config: &CertConfig) -> String {
    format!(
        "{name} ({}): no OCSP responder URL in the certificate's Authority Information Access \
         (cf. nginx \"no OCSP responder URL in the certificate\"); pass --responder URL \
         (ssl_stapling_responder / SSLStaplingForceURL); serving it without a staple",
        config.cert.display()
    )
}
