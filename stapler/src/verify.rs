//! Verifying an OCSP response before it is stapled, or when a checker
//! receives one: the same OpenSSL calls nginx makes (`OCSP_basic_verify`,
//! `OCSP_resp_find_status`, `OCSP_check_validity`), plus the checks nginx
//! leaves out (exactly one answer, nextUpdate present and in the future,
//! nonce). Fields are read with `x509-ocsp`, a second, independent parser.

use std::time::{Duration, SystemTime};

use der::Decode;
use labcore::RevocationReason;
use labcore::ocsp::ResponseStatus;
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspFlag, OcspResponse, OcspResponseStatus};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509, X509Ref};
use x509_ocsp::{BasicOcspResponse, CertStatus};

/// What a verified response says about the certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertState {
    /// Not revoked.
    Good,
    /// Revoked.
    Revoked {
        /// revocationTime.
        at: SystemTime,
        /// CRLReason name (`keyCompromise`…), when given.
        reason: Option<String>,
    },
}

/// A response that passed verification: the only thing the server staples.
///
/// Its fields are private and it is built only in this module, by [`verify`]
/// (every check, the signature included unless the operator turned it off)
/// or by [`unverified`] (a static file served with `--no-verify`, which the
/// operator asked for): an unchecked response can never reach a handshake.
#[derive(Clone, Debug)]
pub struct VerifiedStaple {
    der: Vec<u8>,
    state: CertState,
    this_update: SystemTime,
    next_update: SystemTime,
    produced_at: SystemTime,
    signer: String,
}

impl VerifiedStaple {
    /// Whether it is still usable at `now` (before nextUpdate): the one
    /// place an expiry is decided.
    pub fn is_current(&self, now: SystemTime) -> bool {
        now < self.next_update
    }

    /// The exact bytes the responder signed (what gets stapled).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate's status.
    pub fn state(&self) -> &CertState {
        &self.state
    }

    /// thisUpdate.
    pub fn this_update(&self) -> SystemTime {
        self.this_update
    }

    /// nextUpdate: the staple must not be sent from then on.
    pub fn next_update(&self) -> SystemTime {
        self.next_update
    }

    /// producedAt.
    pub fn produced_at(&self) -> SystemTime {
        self.produced_at
    }

    /// Who signed it, for people.
    pub fn signer(&self) -> &str {
        &self.signer
    }

    /// A staple for the unit tests of the modules that hold one, which
    /// cannot sign OCSP responses.
    #[cfg(test)]
    pub(crate) fn for_tests(
        state: CertState,
        this_update: SystemTime,
        next_update: SystemTime,
    ) -> Self {
        VerifiedStaple {
            der: b"test staple".to_vec(),
            state,
            this_update,
            next_update,
            produced_at: this_update,
            signer: "test".into(),
        }
    }
}

/// Why a response must not be stapled (or a staple is not to be trusted).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Not a DER OCSP response at all.
    #[error("the response is not a DER-encoded OCSP response")]
    NotDer,
    /// An error status instead of a response (tryLater, internalError…).
    #[error("the responder answered {0} instead of a status")]
    Unsuccessful(&'static str),
    /// Not a basic OCSP response.
    #[error("the response is not a basic OCSP response")]
    NotBasic,
    /// Signature, signer certificate or signer authority did not verify.
    #[error("signature verification failed: {0}")]
    Signature(String),
    /// No answer for this certificate (CertID mismatch).
    #[error("the response does not answer for this certificate (CertID mismatch)")]
    WrongCertificate,
    /// Answers for other certificates too.
    #[error("the response answers for {0} certificates, not exactly this one")]
    ExtraResponses(usize),
    /// The responder does not know the certificate.
    #[error("the responder says the certificate is unknown")]
    Unknown,
    /// No nextUpdate: nothing says how long the response is good for.
    #[error("the response has no nextUpdate")]
    NoNextUpdate,
    /// thisUpdate is in the future beyond the clock-skew margin.
    #[error("the response's thisUpdate is in the future")]
    NotYetValid,
    /// nextUpdate has passed.
    #[error("the response has expired (nextUpdate has passed)")]
    Expired,
    /// A nonce was sent and the response does not echo it.
    #[error("the response does not echo the request's nonce")]
    NonceMismatch,
    /// The issuer of the certificate is unknown, so nothing can be verified.
    #[error("the certificate's issuer is in neither the chain nor the trusted certificates")]
    NoIssuer,
}

impl Problem {
    /// A short machine-friendly name, for metrics and JSON.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::NotDer => "not-der",
            Problem::Unsuccessful(_) => "error-status",
            Problem::NotBasic => "not-basic",
            Problem::Signature(_) => "bad-signature",
            Problem::WrongCertificate => "wrong-cert-id",
            Problem::ExtraResponses(_) => "extra-responses",
            Problem::Unknown => "unknown",
            Problem::NoNextUpdate => "no-next-update",
            Problem::NotYetValid => "not-yet-valid",
            Problem::Expired => "expired",
            Problem::NonceMismatch => "nonce-mismatch",
            Problem::NoIssuer => "no-issuer",
        }
    }

    /// The likely fix, for people.
    pub fn remedy(&self) -> &'static str {
        match self {
            Problem::NotDer | Problem::NotBasic => {
                "check the responder URL points at an OCSP responder"
            }
            Problem::Unsuccessful(_) => {
                "the responder refused to answer; check its logs and that it serves this issuer"
            }
            Problem::Signature(_) => {
                "the responder's signer is not certified by the issuer (needs id-kp-OCSPSigning, valid dates) or the signature is corrupt"
            }
            Problem::WrongCertificate | Problem::ExtraResponses(_) => {
                "the responder answered for another certificate"
            }
            Problem::Unknown => {
                "the responder does not know this certificate: is it the right responder for this issuer?"
            }
            Problem::NoNextUpdate | Problem::NotYetValid | Problem::Expired => {
                "the responder's clock or its response validity settings are wrong"
            }
            Problem::NonceMismatch => "the responder does not echo nonces; retry without one",
            Problem::NoIssuer => {
                "serve the full chain (leaf, then intermediates), or give the issuer as a trusted certificate"
            }
        }
    }
}

/// What a response is checked against.
pub struct Expectation<'a> {
    /// The certificate the response must be about.
    pub leaf: &'a X509Ref,
    /// Its issuer.
    pub issuer: &'a X509Ref,
    /// Other certificates that may help build the signer's chain.
    pub untrusted: &'a [X509],
    /// Trust anchors besides the issuer (roots from a CA file).
    pub trusted: &'a [X509],
    /// The nonce sent, if any.
    pub nonce: Option<&'a [u8]>,
    /// How far thisUpdate may be ahead of our clock.
    pub clock_skew: Duration,
    /// Verify the signature and the signer's authority (`ssl_stapling_verify`).
    pub check_signature: bool,
}

/// Checks a response for `expected.leaf` at time `now`.
pub fn verify(
    der: &[u8],
    expected: &Expectation<'_>,
    now: SystemTime,
) -> Result<VerifiedStaple, Problem> {
    let response = OcspResponse::from_der(der).map_err(|_| Problem::NotDer)?;
    let status = response.status();
    if status != OcspResponseStatus::SUCCESSFUL {
        return Err(Problem::Unsuccessful(status_name(status)));
    }
    let basic = response.basic().map_err(|_| Problem::NotBasic)?;
    if expected.check_signature {
        let mut store = X509StoreBuilder::new().map_err(signature_problem)?;
        // The issuer is a trust anchor in its own right: delegated signers chain to it.
        store
            .set_flags(X509VerifyFlags::PARTIAL_CHAIN)
            .map_err(signature_problem)?;
        store
            .add_cert(expected.issuer.to_owned())
            .map_err(signature_problem)?;
        for cert in expected.trusted {
            store.add_cert(cert.clone()).map_err(signature_problem)?;
        }
        let store = store.build();
        let mut certs = Stack::new().map_err(signature_problem)?;
        for cert in expected.untrusted {
            certs.push(cert.clone()).map_err(signature_problem)?;
        }
        basic
            .verify(&certs, &store, OcspFlag::empty())
            .map_err(signature_problem)?;
    }

    // Our requests use SHA-1 CertIDs; a staple file may carry SHA-256 ones.
    let found = [MessageDigest::sha1(), MessageDigest::sha256()]
        .into_iter()
        .find_map(|digest| {
            let id = OcspCertId::from_cert(digest, expected.leaf, expected.issuer).ok()?;
            let status = basic.find_status(&id)?;
            Some((status.status, status.revocation_time.map(|t| t.to_string())))
        });
    let Some((cert_status, _)) = found else {
        return Err(Problem::WrongCertificate);
    };

    // The independent reading of the fields.
    let parsed = x509_ocsp::OcspResponse::from_der(der).map_err(|_| Problem::NotDer)?;
    let bytes = parsed.response_bytes.ok_or(Problem::NotBasic)?;
    let basic_parsed =
        BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(|_| Problem::NotBasic)?;
    let data = &basic_parsed.tbs_response_data;
    if data.responses.len() != 1 {
        return Err(Problem::ExtraResponses(data.responses.len()));
    }
    let single = &data.responses[0];
    let leaf_serial = expected
        .leaf
        .serial_number()
        .to_bn()
        .map(|bn| bn.to_vec())
        .unwrap_or_default();
    if strip_zeros(single.cert_id.serial_number.as_bytes()) != strip_zeros(&leaf_serial) {
        return Err(Problem::WrongCertificate);
    }
    let this_update = single.this_update.0.to_system_time();
    let next_update = single
        .next_update
        .map(|t| t.0.to_system_time())
        .ok_or(Problem::NoNextUpdate)?;
    if this_update > now + expected.clock_skew {
        return Err(Problem::NotYetValid);
    }
    if next_update <= now {
        return Err(Problem::Expired);
    }
    if let Some(sent) = expected.nonce {
        let echoed = data
            .response_extensions
            .as_ref()
            .and_then(|exts| {
                exts.iter()
                    .find(|e| e.extn_id == const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE)
            })
            .and_then(|e| der::asn1::OctetString::from_der(e.extn_value.as_bytes()).ok());
        if echoed.as_ref().map(|o| o.as_bytes()) != Some(sent) {
            return Err(Problem::NonceMismatch);
        }
    }
    let state = match (&single.cert_status, cert_status) {
        (CertStatus::Good(_), OcspCertStatus::GOOD) => CertState::Good,
        (CertStatus::Revoked(info), OcspCertStatus::REVOKED) => CertState::Revoked {
            at: info.revocation_time.0.to_system_time(),
            reason: info
                .revocation_reason
                .map(|r| RevocationReason::from(r).name().to_string()),
        },
        (CertStatus::Unknown(_), _) | (_, OcspCertStatus::UNKNOWN) => return Err(Problem::Unknown),
        // The two parsers disagree: trust neither.
        _ => return Err(Problem::NotBasic),
    };
    let signer = match basic_parsed.certs.as_ref().and_then(|c| c.first()) {
        Some(cert) => format!("delegated signer {}", cert.tbs_certificate.subject),
        None => format!("the issuer {}", name_text(expected.issuer)),
    };
    Ok(VerifiedStaple {
        der: der.to_vec(),
        state,
        this_update,
        next_update,
        produced_at: data.produced_at.0.to_system_time(),
        signer,
    })
}

/// A static staple file served without verification (`--no-verify`): only
/// its status and dates are read. Public for the fuzz targets (`fuzz/`).
pub fn unverified(der: &[u8]) -> Result<VerifiedStaple, Problem> {
    use der::Decode;
    let parsed = x509_ocsp::OcspResponse::from_der(der).map_err(|_| Problem::NotDer)?;
    let bytes = parsed.response_bytes.ok_or(Problem::NotBasic)?;
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes())
        .map_err(|_| Problem::NotBasic)?;
    let single = basic
        .tbs_response_data
        .responses
        .first()
        .ok_or(Problem::WrongCertificate)?;
    let next_update = single
        .next_update
        .map(|t| t.0.to_system_time())
        .ok_or(Problem::NoNextUpdate)?;
    let state = match &single.cert_status {
        x509_ocsp::CertStatus::Good(_) => CertState::Good,
        x509_ocsp::CertStatus::Revoked(info) => CertState::Revoked {
            at: info.revocation_time.0.to_system_time(),
            reason: None,
        },
        x509_ocsp::CertStatus::Unknown(_) => return Err(Problem::Unknown),
    };
    Ok(VerifiedStaple {
        der: der.to_vec(),
        state,
        this_update: single.this_update.0.to_system_time(),
        next_update,
        produced_at: basic.tbs_response_data.produced_at.0.to_system_time(),
        signer: "not verified".into(),
    })
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn signature_problem(e: openssl::error::ErrorStack) -> Problem {
    // OpenSSL's stack repeats itself; the last entry with a reason says most.
    let reasons: Vec<String> = e
        .errors()
        .iter()
        .map(|err| match err.data() {
            Some(data) if !data.is_empty() => {
                format!("{} ({data})", err.reason().unwrap_or("error"))
            }
            _ => err.reason().unwrap_or("error").to_string(),
        })
        .collect();
    Problem::Signature(if reasons.is_empty() {
        "unknown error".into()
    } else {
        reasons.join("; ")
    })
}

/// The RFC 6960 name of a response status.
pub fn status_name(status: OcspResponseStatus) -> &'static str {
    ResponseStatus::name_of_code(i64::from(status.as_raw()))
}

/// A certificate's subject as one line, `CN=…, O=…`.
pub fn name_text(cert: &X509Ref) -> String {
    cert.subject_name()
        .entries()
        .filter_map(|e| {
            let key = e.object().nid().short_name().ok()?;
            let value = e.data().to_string().ok()?;
            Some(format!("{key}={value}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
