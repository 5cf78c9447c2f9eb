//! Key algorithms the lab can issue certificates for.

use std::fmt;
use std::str::FromStr;

use rcgen::KeyPair;

use crate::error::{Error, Result};

/// The key algorithm of every key a lab creates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlg {
    /// ECDSA on P-256 with SHA-256 (the default: small and fast).
    #[default]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA 2048 with PKCS#1 v1.5 and SHA-256.
    Rsa2048,
}

impl KeyAlg {
    /// Every algorithm, with its command-line name.
    pub const ALL: [KeyAlg; 4] = [
        KeyAlg::EcdsaP256,
        KeyAlg::EcdsaP384,
        KeyAlg::Ed25519,
        KeyAlg::Rsa2048,
    ];

    /// The command-line name, e.g. `ecdsa-p256`.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlg::EcdsaP256 => "ecdsa-p256",
            KeyAlg::EcdsaP384 => "ecdsa-p384",
            KeyAlg::Ed25519 => "ed25519",
            KeyAlg::Rsa2048 => "rsa2048",
        }
    }

    /// A fresh key pair. RSA keys come from OpenSSL, because ring (rcgen's
    /// backend here) signs with RSA but cannot generate RSA keys.
    pub fn generate(self) -> Result<KeyPair> {
        let key = match self {
            KeyAlg::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
            KeyAlg::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?,
            KeyAlg::Ed25519 => pkcs8_v1(&KeyPair::generate_for(&rcgen::PKCS_ED25519)?)?,
            KeyAlg::Rsa2048 => {
                let rsa = openssl::rsa::Rsa::generate(2048)?;
                let pkey = openssl::pkey::PKey::from_rsa(rsa)?;
                let der = pkey.private_key_to_pkcs8()?;
                KeyPair::from_pkcs8_der_and_sign_algo(&der.into(), &rcgen::PKCS_RSA_SHA256)?
            }
        };
        Ok(key)
    }
}

impl FromStr for KeyAlg {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                Error::invalid(
                    "key algorithm",
                    text,
                    "one of ecdsa-p256, ecdsa-p384, ed25519, rsa2048",
                )
            })
    }
}

impl fmt::Display for KeyAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The same key re-encoded as PKCS#8 v1 (PrivateKeyInfo, RFC 5208). ring
/// makes Ed25519 keys as PKCS#8 v2 (OneAsymmetricKey with the public key
/// attached), which OpenSSL 3.0, Python `cryptography`, nginx and Apache
/// refuse; v1 carries the same private key and every one of them loads it.
fn pkcs8_v1(key: &KeyPair) -> Result<KeyPair> {
    use der::{Decode, Encode};
    let der = key.serialize_der();
    let info = pkcs8::PrivateKeyInfo::from_der(&der)?;
    let v1 = pkcs8::PrivateKeyInfo {
        public_key: None,
        ..info
    }
    .to_der()?;
    Ok(KeyPair::from_pkcs8_der_and_sign_algo(
        &v1.into(),
        key.algorithm(),
    )?)
}

/// Loads a PKCS#8 PEM private key written by the lab, whatever its algorithm.
pub fn load_key_pem(pem: &str) -> std::result::Result<KeyPair, rcgen::Error> {
    match KeyPair::from_pem(pem) {
        Ok(key) => Ok(key),
        // rcgen cannot tell RSA-PSS from PKCS#1 v1.5 by itself; the lab only makes the latter.
        Err(_) => KeyPair::from_pem_and_sign_algo(pem, &rcgen::PKCS_RSA_SHA256),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PKCS#8 v1 (version 0, no public key): what OpenSSL 3.0 and Python
    /// `cryptography` load. A v2 document has version 1 and a `[1]` public key.
    #[test]
    fn every_generated_key_is_pkcs8_v1() {
        use der::Decode;
        for alg in KeyAlg::ALL {
            let key = alg.generate().expect("generate");
            let der = key.serialize_der();
            let info = pkcs8::PrivateKeyInfo::from_der(&der).expect("parse");
            assert_eq!(info.version(), pkcs8::Version::V1, "{alg}");
            assert!(info.public_key.is_none(), "{alg}");
            let loaded = load_key_pem(&key.serialize_pem()).expect("reload");
            assert_eq!(loaded.public_key_pem(), key.public_key_pem(), "{alg}");
        }
    }
}
