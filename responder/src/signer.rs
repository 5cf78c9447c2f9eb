//! Adapting an rcgen signing key to the `signature`/`spki` traits that the `x509-ocsp`
//! response builder needs, plus the responder's certificate and `ResponderID`.
//!
//! ECDSA (P-256/P-384), Ed25519 and RSA PKCS#1 v1.5 keys all go through the same code path:
//! [`rcgen::SigningKey::sign`] already returns the signature in the encoding X.509 wants
//! (ring's `*_ASN1_SIGNING` algorithms give DER `Ecdsa-Sig-Value`s, Ed25519 gives the raw
//! 64 bytes, RSA gives the raw modulus-length signature), and the signature bytes are put into
//! the BIT STRING as-is.

use der::Decode;
use der::asn1::{AnyRef, BitString, OctetString};
use rcgen::{SignatureAlgorithm, SigningKey};
use sha1::{Digest, Sha1};
use spki::SignatureBitStringEncoding;
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, ObjectIdentifier};
use x509_cert::Certificate;
use x509_ocsp::ResponderId;

/// sha256WithRSAEncryption.
const OID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// sha384WithRSAEncryption.
const OID_SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
/// sha512WithRSAEncryption.
const OID_SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
/// ecdsa-with-SHA256.
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// ecdsa-with-SHA384.
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// id-Ed25519.
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Errors setting up a signer.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The rcgen key uses an algorithm this module has no AlgorithmIdentifier mapping for.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// The responder certificate could not be decoded.
    #[error("malformed responder certificate: {0}")]
    Certificate(#[from] der::Error),
    /// The responder certificate's public key is not the signing key's public key.
    #[error("responder certificate does not match the signing key")]
    KeyMismatch,
}

/// Returns the X.509 signature `AlgorithmIdentifier` for an rcgen signature algorithm.
///
/// RSA algorithms carry an explicit NULL parameter (RFC 4055); ECDSA and Ed25519 carry none
/// (RFC 5758, RFC 8410). P-521 is not mapped (ring cannot sign with it).
pub fn signature_algorithm_identifier(
    alg: &'static SignatureAlgorithm,
) -> Result<AlgorithmIdentifierOwned, SignerError> {
    let (oid, null_params) = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        (OID_ECDSA_SHA256, false)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        (OID_ECDSA_SHA384, false)
    } else if alg == &rcgen::PKCS_ED25519 {
        (OID_ED25519, false)
    } else if alg == &rcgen::PKCS_RSA_SHA256 {
        (OID_SHA256_WITH_RSA, true)
    } else if alg == &rcgen::PKCS_RSA_SHA384 {
        (OID_SHA384_WITH_RSA, true)
    } else if alg == &rcgen::PKCS_RSA_SHA512 {
        (OID_SHA512_WITH_RSA, true)
    } else {
        return Err(SignerError::UnsupportedAlgorithm(format!("{alg:?}")));
    };
    Ok(AlgorithmIdentifierOwned {
        oid,
        parameters: null_params.then(|| AnyRef::NULL.into()),
    })
}

/// A signature produced by an rcgen key, already in its X.509 encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSignature(pub Vec<u8>);

impl SignatureBitStringEncoding for RawSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

/// Wraps any rcgen [`SigningKey`] (e.g. `rcgen::KeyPair` or `&rcgen::KeyPair`) as a
/// `signature::Signer<RawSignature>` + `spki::DynSignatureAlgorithmIdentifier`, which is what
/// `x509_ocsp::builder::OcspResponseBuilder::sign` requires.
#[derive(Debug)]
pub struct RcgenSigner<K> {
    key: K,
    algorithm: AlgorithmIdentifierOwned,
    /// Flip a bit of every signature (the bad-signature fault).
    corrupt: bool,
}

impl<K: SigningKey> RcgenSigner<K> {
    /// Wraps `key`; fails if its algorithm has no known AlgorithmIdentifier.
    pub fn new(key: K) -> Result<Self, SignerError> {
        let algorithm = signature_algorithm_identifier(key.algorithm())?;
        Ok(Self {
            key,
            algorithm,
            corrupt: false,
        })
    }

    /// The wrapped key.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The signature AlgorithmIdentifier placed in `signatureAlgorithm`.
    pub fn algorithm_identifier(&self) -> &AlgorithmIdentifierOwned {
        &self.algorithm
    }

    /// A signer borrowing this one's key (cheap; lets a shared signer be used with the
    /// builder's `&mut S` API).
    pub fn by_ref(&self) -> RcgenSigner<&K> {
        RcgenSigner {
            key: &self.key,
            algorithm: self.algorithm.clone(),
            corrupt: false,
        }
    }

    /// Like [`by_ref`](Self::by_ref), but every signature it makes is wrong
    /// in its last bit: still well-formed, never valid.
    pub fn corrupted(&self) -> RcgenSigner<&K> {
        RcgenSigner {
            corrupt: true,
            ..self.by_ref()
        }
    }
}

impl<K: SigningKey> signature::Signer<RawSignature> for RcgenSigner<K> {
    fn try_sign(&self, msg: &[u8]) -> Result<RawSignature, signature::Error> {
        let mut signature = self.key.sign(msg).map_err(signature::Error::from_source)?;
        if self.corrupt
            && let Some(last) = signature.last_mut()
        {
            *last ^= 0x01;
        }
        Ok(RawSignature(signature))
    }
}

impl<K> DynSignatureAlgorithmIdentifier for RcgenSigner<K> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.algorithm.clone())
    }
}

/// Which `ResponderID` choice to put in responses (`--responder-id`). `byKey`, the SHA-1
/// of the responder certificate's subjectPublicKey bits, is recommended and required by
/// the CA/B Forum profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ResponderIdKind {
    /// byKey: SHA-1 of the signer's public key.
    #[default]
    ByKey,
    /// byName: the signer's subject.
    ByName,
}

/// An OCSP signing identity: the key, its certificate and the derived `ResponderID`s.
///
/// The certificate is either the CA certificate itself (issuer-signed responses) or a
/// delegated OCSP signing certificate issued by the CA (EKU id-kp-OCSPSigning).
#[derive(Debug)]
pub struct ResponderSigner<K> {
    signer: RcgenSigner<K>,
    certificate: Certificate,
    key_hash: [u8; 20],
}

impl<K: SigningKey> ResponderSigner<K> {
    /// Creates a responder identity from a key and its certificate (DER). Fails if the
    /// certificate's subjectPublicKey is not the key's public key.
    pub fn new(key: K, certificate_der: &[u8]) -> Result<Self, SignerError> {
        let certificate = Certificate::from_der(certificate_der)?;
        let spk = certificate
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        if spk != key.der_bytes() {
            return Err(SignerError::KeyMismatch);
        }
        let key_hash: [u8; 20] = Sha1::digest(spk).into();
        Ok(Self {
            signer: RcgenSigner::new(key)?,
            certificate,
            key_hash,
        })
    }

    /// Whether one signature takes tens of microseconds (ECDSA P-256, Ed25519)
    /// rather than hundreds (RSA, ECDSA P-384 with ring).
    pub fn is_fast(&self) -> bool {
        let alg = self.signer.key().algorithm();
        alg == &rcgen::PKCS_ECDSA_P256_SHA256 || alg == &rcgen::PKCS_ED25519
    }

    /// The wrapped signer.
    pub fn signer(&self) -> &RcgenSigner<K> {
        &self.signer
    }

    /// The responder certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// SHA-1 of the responder certificate's subjectPublicKey bits (the `byKey` KeyHash).
    pub fn key_hash(&self) -> &[u8; 20] {
        &self.key_hash
    }

    /// The `ResponderID` of the requested kind.
    pub fn responder_id(&self, kind: ResponderIdKind) -> Result<ResponderId, der::Error> {
        Ok(match kind {
            ResponderIdKind::ByKey => ResponderId::ByKey(OctetString::new(self.key_hash.to_vec())?),
            ResponderIdKind::ByName => {
                ResponderId::ByName(self.certificate.tbs_certificate.subject.clone())
            }
        })
    }
}
