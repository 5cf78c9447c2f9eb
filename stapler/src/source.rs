//! Where a certificate's responses come from (its OCSP responder, or a
//! static file as with nginx's `ssl_stapling_file`), and the verification
//! every one of them passes before it can become a staple.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use openssl::x509::X509;

use crate::fetch::{FetchError, build_request, post};
use crate::verify::{Expectation, Problem, VerifiedStaple, unverified, verify};

/// Why one round produced no response to staple.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ObtainError {
    /// The static staple file could not be read.
    #[error("cannot read {path}: {reason}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        reason: Arc<std::io::Error>,
    },
    /// The static staple file holds a response that must not be stapled.
    #[error("{path}: {problem}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: Problem,
    },
    /// The request could not be built.
    #[error("{0}")]
    Request(FetchError),
    /// No answer from the responder.
    #[error("fetch failed: {0}")]
    Fetch(FetchError),
    /// The responder's answer failed verification.
    #[error("response refused: {0} ({remedy})", remedy = .0.remedy())]
    Refused(Problem),
}

/// What responses for one certificate are verified against.
#[derive(Clone, Debug)]
pub struct Verifier {
    /// The certificate.
    pub leaf: X509,
    /// Its issuer; none only for a static file with `--no-verify`.
    pub issuer: Option<X509>,
    /// The rest of the served chain.
    pub untrusted: Vec<X509>,
    /// The issuer file's certificates (`--issuer`).
    pub trusted: Vec<X509>,
    /// How far thisUpdate may be ahead of our clock.
    pub clock_skew: Duration,
    /// Whether the signature is checked (off with `--no-verify`).
    pub check_signature: bool,
}

impl Verifier {
    /// Checks `der` at `now` (with the nonce sent, if any).
    pub fn check(
        &self,
        der: &[u8],
        nonce: Option<&[u8]>,
        now: SystemTime,
    ) -> Result<VerifiedStaple, Problem> {
        let Some(issuer) = &self.issuer else {
            // Only a static file with verification off comes here.
            return unverified(der);
        };
        let expectation = Expectation {
            leaf: &self.leaf,
            issuer,
            untrusted: &self.untrusted,
            trusted: &self.trusted,
            nonce,
            clock_skew: self.clock_skew,
            check_signature: self.check_signature,
        };
        verify(der, &expectation, now)
    }
}

/// Where a certificate's responses come from.
#[derive(Clone, Debug)]
pub enum Origin {
    /// Its OCSP responder, asked with a POST.
    Responder {
        /// The URL.
        url: String,
        /// The issuer, for the request's CertID.
        issuer: X509,
        /// Whether each request carries a nonce.
        nonce: bool,
        /// Timeout of one request.
        timeout: Duration,
    },
    /// A DER file, read again at each refresh.
    File(PathBuf),
}

impl Origin {
    /// One response, verified by `verifier` at the time `now` gives after it arrives.
    pub async fn obtain(
        &self,
        verifier: &Verifier,
        now: impl Fn() -> SystemTime,
    ) -> Result<VerifiedStaple, ObtainError> {
        match self {
            Origin::File(path) => {
                let der = tokio::fs::read(path)
                    .await
                    .map_err(|e| ObtainError::ReadFile {
                        path: path.clone(),
                        reason: Arc::new(e),
                    })?;
                verifier
                    .check(&der, None, now())
                    .map_err(|problem| ObtainError::BadFile {
                        path: path.clone(),
                        problem,
                    })
            }
            Origin::Responder {
                url,
                issuer,
                nonce,
                timeout,
            } => {
                let request =
                    build_request(&verifier.leaf, issuer, *nonce).map_err(ObtainError::Request)?;
                let der = post(url, &request, *timeout)
                    .await
                    .map_err(ObtainError::Fetch)?;
                verifier
                    .check(&der, request.nonce.as_deref(), now())
                    .map_err(ObtainError::Refused)
            }
        }
    }
}
