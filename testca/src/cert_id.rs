//! The issuer half of an OCSP CertID (RFC 6960 §4.1.1): the hashes of an
//! issuer's name and key, for each hash algorithm a client may use.

use std::fmt;

use der::{Decode, Encode};
use sha1::Digest;
use x509_cert::Certificate;

use crate::error::{Error, Result};

/// A hash algorithm that may appear in a CertID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// SHA-1, what nearly every client sends.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// Every supported algorithm.
    pub const ALL: [HashAlg; 4] = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];

    /// The name stored in the database and shown to people (`sha1`, `sha256`…).
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
        }
    }

    /// The algorithm for a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The algorithm's object identifier.
    pub fn oid(self) -> der::asn1::ObjectIdentifier {
        use const_oid::AssociatedOid;
        match self {
            HashAlg::Sha1 => sha1::Sha1::OID,
            HashAlg::Sha256 => sha2::Sha256::OID,
            HashAlg::Sha384 => sha2::Sha384::OID,
            HashAlg::Sha512 => sha2::Sha512::OID,
        }
    }

    /// The algorithm for an object identifier, if supported.
    pub fn from_oid(oid: &der::asn1::ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.oid() == *oid)
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// issuerNameHash and issuerKeyHash of one issuer under one algorithm.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IssuerHashes {
    /// The hash algorithm.
    pub alg: HashAlg,
    /// Hash of the DER of the issuer's subject name.
    pub name_hash: Vec<u8>,
    /// Hash of the issuer's subjectPublicKey BIT STRING value (no tag, length or unused-bits octet).
    pub key_hash: Vec<u8>,
}

/// The parts of an issuer certificate that CertIDs are computed from.
#[derive(Clone, Debug)]
pub struct IssuerKeyMaterial {
    subject_der: Vec<u8>,
    public_key_bits: Vec<u8>,
}

impl IssuerKeyMaterial {
    /// Extracts the subject name and public key of a DER certificate.
    pub fn from_cert_der(der: &[u8]) -> Result<Self> {
        let cert = Certificate::from_der(der)?;
        let subject_der = cert.tbs_certificate.subject.to_der()?;
        let public_key_bits = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| {
                Error::invalid(
                    "certificate",
                    "subjectPublicKey",
                    "a whole number of octets",
                )
            })?
            .to_vec();
        Ok(IssuerKeyMaterial {
            subject_der,
            public_key_bits,
        })
    }

    /// The hashes under one algorithm.
    pub fn hashes(&self, alg: HashAlg) -> IssuerHashes {
        IssuerHashes {
            alg,
            name_hash: alg.digest(&self.subject_der),
            key_hash: alg.digest(&self.public_key_bits),
        }
    }

    /// The hashes under every supported algorithm.
    pub fn all_hashes(&self) -> Vec<IssuerHashes> {
        HashAlg::ALL
            .into_iter()
            .map(|alg| self.hashes(alg))
            .collect()
    }

    /// SHA-1 of the public key bits: the key identifier of RFC 5280 method 1,
    /// and the OCSP ResponderID byKey value (RFC 6960 §4.2.1).
    pub fn key_sha1(&self) -> Vec<u8> {
        HashAlg::Sha1.digest(&self.public_key_bits)
    }
}
