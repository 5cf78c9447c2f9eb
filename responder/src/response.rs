//! Building signed `BasicOCSPResponse`s (wrapped in `OCSPResponse`) and the unsigned error
//! responses (RFC 6960 §4.2).

use std::time::SystemTime;

use der::{Encode, Length, Writer};
use labcore::ocsp::ResponseStatus;
use rcgen::SigningKey;
use spki::ObjectIdentifier;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::Name;
use x509_ocsp::builder::OcspResponseBuilder;
use x509_ocsp::{CertStatus, OcspGeneralizedTime, OcspResponse, RevokedInfo, SingleResponse};

use crate::request::{OID_OCSP_NONCE, RequestCertId, RequestNonce};
use crate::signer::{ResponderIdKind, ResponderSigner};

/// Errors while building a signed response. All map to `internalError`.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// No SingleResponses were supplied.
    #[error("a response needs at least one SingleResponse")]
    NoResponses,
    /// A time is not representable as GeneralizedTime (before 1970 or after 9999).
    #[error("time not representable as GeneralizedTime: {0}")]
    Time(der::Error),
    /// DER encoding failed.
    #[error("DER encoding failed: {0}")]
    Encode(#[from] der::Error),
    /// The x509-ocsp builder failed (encoding or signing).
    #[error("signing the response failed: {0}")]
    Build(#[from] x509_ocsp::builder::Error),
}

/// Status of one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `good`.
    Good,
    /// `revoked`, with `revocationTime` and optional `revocationReason`.
    Revoked {
        /// When the certificate was revoked.
        revocation_time: SystemTime,
        /// CRLReason, if known.
        reason: Option<CrlReason>,
    },
    /// `unknown`.
    Unknown,
}

/// One SingleResponse to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleResponseSpec {
    /// The CertID to echo (use [`RequestCertId::raw`] so it matches the request exactly).
    pub cert_id: x509_ocsp::CertId,
    /// Certificate status.
    pub status: Status,
    /// `thisUpdate`.
    pub this_update: SystemTime,
    /// `nextUpdate` (optional).
    pub next_update: Option<SystemTime>,
}

impl SingleResponseSpec {
    /// A spec echoing `cert_id` from the request, without `nextUpdate`.
    pub fn new(cert_id: &RequestCertId, status: Status, this_update: SystemTime) -> Self {
        Self {
            cert_id: cert_id.raw.clone(),
            status,
            this_update,
            next_update: None,
        }
    }

    /// Sets `nextUpdate`.
    pub fn with_next_update(mut self, next_update: SystemTime) -> Self {
        self.next_update = Some(next_update);
        self
    }
}

/// Response-level options.
#[derive(Clone, Copy, Debug)]
pub struct ResponseOptions<'a> {
    /// `producedAt` (truncated to whole seconds).
    pub produced_at: SystemTime,
    /// ResponderID choice.
    pub responder_id: ResponderIdKind,
    /// Put the responder certificate into `certs` (needed for delegated signers unless the
    /// client already has it; not needed when the CA signs itself).
    pub include_signer_cert: bool,
    /// Nonce from the request, echoed verbatim if present.
    pub nonce: Option<&'a RequestNonce>,
    /// Make the signature invalid (the bad-signature fault).
    pub corrupt_signature: bool,
    /// Some `revoked` status stands for a serial that was never issued: RFC 6960 §2.2 and
    /// §4.4.8 then require the extended revoked definition extension.
    pub extended_revoke: bool,
}

/// Builds and signs an `OCSPResponse` (status successful, `id-pkix-ocsp-basic`).
pub fn build_signed_response<K: SigningKey>(
    signer: &ResponderSigner<K>,
    responses: &[SingleResponseSpec],
    options: &ResponseOptions<'_>,
) -> Result<OcspResponse, ResponseError> {
    if responses.is_empty() {
        return Err(ResponseError::NoResponses);
    }
    let mut builder = OcspResponseBuilder::new(signer.responder_id(options.responder_id)?);
    for spec in responses {
        builder = builder.with_single_response(single_response(spec)?);
    }
    if let Some(nonce) = options.nonce {
        builder = builder.with_extension(EchoedNonce(nonce))?;
    }
    if options.extended_revoke {
        builder = builder.with_extension(ExtendedRevoke)?;
    }
    let certs = options
        .include_signer_cert
        .then(|| vec![signer.certificate().clone()]);
    let mut key = if options.corrupt_signature {
        signer.signer().corrupted()
    } else {
        signer.signer().by_ref()
    };
    Ok(builder.sign(&mut key, certs, gtime(options.produced_at)?)?)
}

/// Builds, signs and DER-encodes a successful `OCSPResponse`.
pub fn build_signed_response_der<K: SigningKey>(
    signer: &ResponderSigner<K>,
    responses: &[SingleResponseSpec],
    options: &ResponseOptions<'_>,
) -> Result<Vec<u8>, ResponseError> {
    Ok(build_signed_response(signer, responses, options)?.to_der()?)
}

fn gtime(t: SystemTime) -> Result<OcspGeneralizedTime, ResponseError> {
    OcspGeneralizedTime::try_from(t).map_err(ResponseError::Time)
}

fn single_response(spec: &SingleResponseSpec) -> Result<SingleResponse, ResponseError> {
    let cert_status = match spec.status {
        Status::Good => CertStatus::good(),
        Status::Unknown => CertStatus::unknown(),
        Status::Revoked {
            revocation_time,
            reason,
        } => CertStatus::revoked(RevokedInfo {
            revocation_time: gtime(revocation_time)?,
            revocation_reason: reason,
        }),
    };
    let mut single =
        SingleResponse::new(spec.cert_id.clone(), cert_status, gtime(spec.this_update)?);
    if let Some(next) = spec.next_update {
        single = single.with_next_update(gtime(next)?);
    }
    Ok(single)
}

/// Request nonce echoed verbatim. Its `der::Encode` impl writes the request's `extnValue`
/// contents unchanged, so the default `AsExtension::to_extension` (which wraps `to_der()` in
/// the extnValue OCTET STRING) reproduces the client's extension byte-for-byte, whatever
/// encoding the client used.
struct EchoedNonce<'a>(&'a RequestNonce);

impl const_oid::AssociatedOid for EchoedNonce<'_> {
    const OID: ObjectIdentifier = OID_OCSP_NONCE;
}

impl Encode for EchoedNonce<'_> {
    fn encoded_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.extn_value.len())
    }

    fn encode(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.0.extn_value)
    }
}

impl AsExtension for EchoedNonce<'_> {
    fn critical(&self, _subject: &Name, _extensions: &[Extension]) -> bool {
        self.0.critical
    }
}

/// id-pkix-ocsp-extended-revoke (RFC 6960 §4.4.8): value NULL, not critical.
struct ExtendedRevoke;

impl const_oid::AssociatedOid for ExtendedRevoke {
    const OID: ObjectIdentifier = const_oid::db::rfc6960::ID_PKIX_OCSP_EXTENDED_REVOKE;
}

impl Encode for ExtendedRevoke {
    fn encoded_len(&self) -> der::Result<Length> {
        der::asn1::Null.encoded_len()
    }

    fn encode(&self, writer: &mut impl Writer) -> der::Result<()> {
        der::asn1::Null.encode(writer)
    }
}

impl AsExtension for ExtendedRevoke {
    fn critical(&self, _subject: &Name, _extensions: &[Extension]) -> bool {
        false
    }
}

/// Unsigned, unsuccessful `OCSPResponse` statuses (no `responseBytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorStatus {
    /// malformedRequest (1).
    MalformedRequest,
    /// internalError (2).
    InternalError,
    /// tryLater (3).
    TryLater,
    /// sigRequired (5).
    SigRequired,
    /// unauthorized (6).
    Unauthorized,
}

impl From<ErrorStatus> for ResponseStatus {
    fn from(status: ErrorStatus) -> Self {
        match status {
            ErrorStatus::MalformedRequest => ResponseStatus::MalformedRequest,
            ErrorStatus::InternalError => ResponseStatus::InternalError,
            ErrorStatus::TryLater => ResponseStatus::TryLater,
            ErrorStatus::SigRequired => ResponseStatus::SigRequired,
            ErrorStatus::Unauthorized => ResponseStatus::Unauthorized,
        }
    }
}

impl ErrorStatus {
    /// The complete DER `OCSPResponse` for this status: `SEQUENCE { ENUMERATED n }`.
    pub fn der(self) -> &'static [u8] {
        match self {
            Self::MalformedRequest => &[0x30, 0x03, 0x0a, 0x01, 0x01],
            Self::InternalError => &[0x30, 0x03, 0x0a, 0x01, 0x02],
            Self::TryLater => &[0x30, 0x03, 0x0a, 0x01, 0x03],
            Self::SigRequired => &[0x30, 0x03, 0x0a, 0x01, 0x05],
            Self::Unauthorized => &[0x30, 0x03, 0x0a, 0x01, 0x06],
        }
    }

    /// The same response as an `x509-ocsp` structure.
    pub fn to_ocsp_response(self) -> OcspResponse {
        match self {
            Self::MalformedRequest => OcspResponse::malformed_request(),
            Self::InternalError => OcspResponse::internal_error(),
            Self::TryLater => OcspResponse::try_later(),
            Self::SigRequired => OcspResponse::sig_required(),
            Self::Unauthorized => OcspResponse::unauthorized(),
        }
    }
}
