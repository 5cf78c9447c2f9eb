//! Parsing of DER `OCSPRequest`s (RFC 6960 §4.1) on top of `x509-ocsp`.

use std::collections::BTreeSet;

use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};
use testca::cert_id::HashAlg;
use x509_cert::ext::Extension;
use x509_ocsp::OcspRequest;

/// `id-pkix-ocsp-nonce` (1.3.6.1.5.5.7.48.1.2).
pub const OID_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");

/// Maximum nonce length allowed by RFC 8954 §2.1 (`Nonce ::= OCTET STRING(SIZE(1..32))`).
pub const RFC8954_MAX_NONCE_LEN: usize = 32;

/// Maximum nonce length allowed by RFC 9654, which relaxed RFC 8954.
pub const RFC9654_MAX_NONCE_LEN: usize = 128;

/// One `CertID` from a request, decoded, plus the original structure for exact echoing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestCertId {
    /// Hash algorithm of the CertID.
    pub hash_algorithm: HashAlg,
    /// `issuerNameHash` as sent by the client.
    pub issuer_name_hash: Vec<u8>,
    /// `issuerKeyHash` as sent by the client.
    pub issuer_key_hash: Vec<u8>,
    /// Serial number: the INTEGER content octets (big-endian two's complement, minimal,
    /// so a serial with the high bit set carries a leading `0x00`).
    pub serial: Vec<u8>,
    /// The CertID exactly as decoded (including absent vs. NULL hash parameters);
    /// echo this in the SingleResponse.
    pub raw: x509_ocsp::CertId,
}

/// Reasons a request is rejected. All of them should be answered with `malformedRequest`.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The DER could not be decoded as an `OCSPRequest` (includes trailing data).
    #[error("malformed OCSP request: {0}")]
    Malformed(#[from] der::Error),
    /// `TBSRequest.version` is present and not v1(0).
    #[error("unsupported OCSP request version {0}")]
    UnsupportedVersion(u64),
    /// `requestList` is empty.
    #[error("empty requestList")]
    EmptyRequestList,
    /// A CertID uses a hash algorithm other than SHA-1/256/384/512.
    #[error("unsupported CertID hash algorithm {0}")]
    UnsupportedHashAlgorithm(ObjectIdentifier),
    /// A CertID hash AlgorithmIdentifier has parameters other than absent or NULL.
    #[error("invalid parameters for CertID hash algorithm {0}")]
    InvalidHashParameters(ObjectIdentifier),
    /// The same extension OID appears twice in one extension list.
    #[error("duplicate extension {0}")]
    DuplicateExtension(ObjectIdentifier),
}

/// The nonce extension of a request, kept verbatim so it can be echoed byte-for-byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestNonce {
    /// Contents of the extension's `extnValue` OCTET STRING. For RFC 8954 / OpenSSL clients
    /// this is itself a DER OCTET STRING (`04 len nonce`); some legacy clients put the raw
    /// nonce here.
    pub extn_value: Vec<u8>,
    /// The `critical` flag the client set.
    pub critical: bool,
}

impl RequestNonce {
    /// True if `extn_value` is a single DER OCTET STRING (the RFC 6960/8954 encoding).
    pub fn is_octet_string_encoded(&self) -> bool {
        OctetStringRef::from_der(&self.extn_value).is_ok()
    }

    /// The nonce octets: the inner OCTET STRING contents when `extn_value` is encoded per
    /// RFC 8954, otherwise the raw `extn_value` (legacy clients).
    pub fn nonce_bytes(&self) -> &[u8] {
        match OctetStringRef::from_der(&self.extn_value) {
            Ok(inner) => inner.as_bytes(),
            Err(_) => &self.extn_value,
        }
    }

    /// RFC 8954 §2.1: a responder that supports nonces MUST reject (malformedRequest) a nonce
    /// of 0 or more than `max_len` octets (32 in RFC 8954, 128 in RFC 9654). Returns the
    /// offending length on failure.
    pub fn check_length(&self, max_len: usize) -> Result<(), usize> {
        let len = self.nonce_bytes().len();
        if (1..=max_len).contains(&len) {
            Ok(())
        } else {
            Err(len)
        }
    }
}

/// A decoded and validated OCSP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRequest {
    /// The CertIDs in request order (never empty).
    pub cert_ids: Vec<RequestCertId>,
    /// The nonce extension, if present.
    pub nonce: Option<RequestNonce>,
    /// OIDs of critical extensions this parser does not understand (request-level extensions
    /// other than the nonce, and any critical `singleRequestExtensions`). RFC 5280 semantics
    /// say such a request must not be processed; the caller decides what to answer.
    pub unsupported_critical_extensions: Vec<ObjectIdentifier>,
    /// True if the request carried an `optionalSignature` (not verified here).
    pub is_signed: bool,
    /// True if `requestorName` was present.
    pub has_requestor_name: bool,
}

impl ParsedRequest {
    /// True if any critical extension other than the nonce was present.
    pub fn has_unsupported_critical_extension(&self) -> bool {
        !self.unsupported_critical_extensions.is_empty()
    }
}

/// Parses a DER `OCSPRequest`.
///
/// Rejects: undecodable DER / trailing data, `version` != v1, empty `requestList`,
/// CertID hash algorithms other than SHA-1/256/384/512, hash parameters other than
/// absent/NULL, and duplicate extension OIDs within one extension list.
pub fn parse_request(der: &[u8]) -> Result<ParsedRequest, RequestError> {
    let req = match OcspRequest::from_der(der) {
        Ok(req) => req,
        Err(err) => {
            // x509-ocsp's `Version` enum only knows v1, so a v2 request fails to decode.
            // Look at the raw version field to report it precisely.
            return Err(match peek_version(der) {
                Some(v) if v != 0 => RequestError::UnsupportedVersion(v),
                _ => RequestError::Malformed(err),
            });
        }
    };
    let tbs = req.tbs_request;
    if tbs.request_list.is_empty() {
        return Err(RequestError::EmptyRequestList);
    }

    let mut unsupported_critical_extensions = Vec::new();
    let mut nonce = None;
    if let Some(exts) = &tbs.request_extensions {
        check_duplicates(exts)?;
        for ext in exts {
            if ext.extn_id == OID_OCSP_NONCE {
                nonce = Some(RequestNonce {
                    extn_value: ext.extn_value.as_bytes().to_vec(),
                    critical: ext.critical,
                });
            } else if ext.critical {
                unsupported_critical_extensions.push(ext.extn_id);
            }
        }
    }

    let mut cert_ids = Vec::with_capacity(tbs.request_list.len());
    for single in tbs.request_list {
        if let Some(exts) = &single.single_request_extensions {
            check_duplicates(exts)?;
            unsupported_critical_extensions
                .extend(exts.iter().filter(|e| e.critical).map(|e| e.extn_id));
        }
        cert_ids.push(decode_cert_id(single.req_cert)?);
    }

    Ok(ParsedRequest {
        cert_ids,
        nonce,
        unsupported_critical_extensions,
        is_signed: req.optional_signature.is_some(),
        has_requestor_name: tbs.requestor_name.is_some(),
    })
}

fn decode_cert_id(raw: x509_ocsp::CertId) -> Result<RequestCertId, RequestError> {
    let oid = raw.hash_algorithm.oid;
    let hash_algorithm =
        HashAlg::from_oid(&oid).ok_or(RequestError::UnsupportedHashAlgorithm(oid))?;
    match &raw.hash_algorithm.parameters {
        None => {}
        Some(p) if p.is_null() => {}
        Some(_) => return Err(RequestError::InvalidHashParameters(oid)),
    }
    // Note: hash lengths are deliberately not checked here; a CertID with a wrong-length
    // hash simply never matches a known issuer (-> `unknown`).
    Ok(RequestCertId {
        hash_algorithm,
        issuer_name_hash: raw.issuer_name_hash.as_bytes().to_vec(),
        issuer_key_hash: raw.issuer_key_hash.as_bytes().to_vec(),
        serial: raw.serial_number.as_bytes().to_vec(),
        raw,
    })
}

fn check_duplicates(exts: &[Extension]) -> Result<(), RequestError> {
    let mut seen = BTreeSet::new();
    for ext in exts {
        if !seen.insert(ext.extn_id) {
            return Err(RequestError::DuplicateExtension(ext.extn_id));
        }
    }
    Ok(())
}

/// Extracts `tbsRequest.version` from raw DER without full decoding.
/// Returns `None` if the structure cannot be walked or the field is absent.
fn peek_version(der: &[u8]) -> Option<u64> {
    let outer = AnyRef::from_der(der).ok()?;
    if outer.tag() != Tag::Sequence {
        return None;
    }
    let mut r = SliceReader::new(outer.value()).ok()?;
    let tbs: AnyRef<'_> = r.decode().ok()?;
    let mut t = SliceReader::new(tbs.value()).ok()?;
    let first: AnyRef<'_> = t.decode().ok()?;
    if first.tag()
        != (Tag::ContextSpecific {
            constructed: true,
            number: TagNumber::N0,
        })
    {
        return None;
    }
    u64::from_der(first.value()).ok()
}
