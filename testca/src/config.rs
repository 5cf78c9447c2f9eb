//! `lab.toml`: the settings a lab was created with, which every later
//! certificate of the lab repeats (the URLs in its extensions, its key algorithm).

use std::path::Path;

use url::Url;

use crate::error::{Error, Result};
use crate::key_alg::KeyAlg;
use labcore::CaName;
use labcore::files::{Secrecy, read_text, write_atomic};

/// The responder's default address, and so the default OCSP URL of a lab.
pub const DEFAULT_OCSP_URL: &str = "http://127.0.0.1:8080/";

/// Settings of one lab.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LabConfig {
    /// The OCSP URL written into Authority Information Access.
    pub ocsp_url: String,
    /// Base URL of the CA Issuers entries: a CA's certificate is at `<base><ca>.der`.
    pub ca_issuers_base: String,
    /// Base URL of the CRL distribution points: a CA's CRL is at `<base><ca>.crl`.
    pub crl_base: String,
    /// Key algorithm of every key of the lab.
    pub key_alg: KeyAlg,
    /// The PostgreSQL database that holds the lab's revocation database,
    /// without its password; absent for the SQLite file in the lab directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

impl LabConfig {
    /// Settings from the `init` options: the CA Issuers and CRL bases default
    /// to `/ca/` and `/crl/` on the OCSP URL's host, where the responder serves them.
    pub fn new(
        ocsp_url: &str,
        ca_issuers_base: Option<&str>,
        crl_base: Option<&str>,
        key_alg: KeyAlg,
    ) -> Result<Self> {
        let ocsp = parse_http_url("OCSP URL", ocsp_url)?;
        let origin_path = |path: &str| -> Result<String> {
            let mut url = ocsp.clone();
            url.set_path(path);
            url.set_query(None);
            url.set_fragment(None);
            Ok(url.to_string())
        };
        let ca_issuers_base = match ca_issuers_base {
            Some(base) => as_base(parse_http_url("CA Issuers URL", base)?),
            None => origin_path("/ca/")?,
        };
        let crl_base = match crl_base {
            Some(base) => as_base(parse_http_url("CRL URL", base)?),
            None => origin_path("/crl/")?,
        };
        Ok(LabConfig {
            ocsp_url: ocsp.to_string(),
            ca_issuers_base,
            crl_base,
            key_alg,
            database: None,
        })
    }

    /// Where a CA's certificate is published (the CA Issuers URI of what it issues).
    pub fn ca_issuers_url(&self, ca: CaName) -> String {
        format!("{}{}.der", self.ca_issuers_base, ca.name())
    }

    /// Where a CA's CRL is published.
    pub fn crl_url(&self, ca: CaName) -> String {
        format!("{}{}.crl", self.crl_base, ca.name())
    }

    /// Reads `lab.toml`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        toml::from_str(&text).map_err(|e| Error::Damaged {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })
    }

    /// Writes `lab.toml` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let body = toml::to_string_pretty(self).map_err(|e| Error::Damaged {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let text = format!("# OCSP Lab settings, written by `testca init`.\n{body}");
        Ok(write_atomic(path, text.as_bytes(), Secrecy::Public)?)
    }
}

fn parse_http_url(what: &'static str, text: &str) -> Result<Url> {
    let expected = "an http:// or https:// URL such as http://127.0.0.1:8080/";
    let url = Url::parse(text)
        .map_err(|e| Error::invalid(what, text, format!("{e}; expected {expected}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::invalid(what, text, expected));
    }
    if !url.as_str().is_ascii() {
        return Err(Error::invalid(what, text, "ASCII characters only"));
    }
    Ok(url)
}

/// A base URL ends with `/`, so that a file name can be appended.
fn as_base(url: Url) -> String {
    let text = url.to_string();
    if text.ends_with('/') {
        text
    } else {
        format!("{text}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_default_to_the_responder_host() {
        let cfg =
            LabConfig::new("http://127.0.0.1:8080/ocsp/", None, None, KeyAlg::EcdsaP256).unwrap();
        assert_eq!(cfg.ocsp_url, "http://127.0.0.1:8080/ocsp/");
        assert_eq!(
            cfg.ca_issuers_url(CaName::Intermediate),
            "http://127.0.0.1:8080/ca/intermediate.der"
        );
        assert_eq!(
            cfg.crl_url(CaName::Root),
            "http://127.0.0.1:8080/crl/root.crl"
        );
    }

    #[test]
    fn explicit_bases_get_a_trailing_slash() {
        let cfg = LabConfig::new(
            "http://responder:8080",
            Some("http://files.example/certs"),
            Some("http://files.example/crl/"),
            KeyAlg::Ed25519,
        )
        .unwrap();
        assert_eq!(cfg.ocsp_url, "http://responder:8080/");
        assert_eq!(
            cfg.ca_issuers_url(CaName::Root),
            "http://files.example/certs/root.der"
        );
        assert_eq!(
            cfg.crl_url(CaName::Root),
            "http://files.example/crl/root.crl"
        );
    }

    #[test]
    fn non_http_urls_are_refused() {
        for bad in ["ftp://x/", "not a url", "http://", "/relative"] {
            let err = LabConfig::new(bad, None, None, KeyAlg::EcdsaP256)
                .unwrap_err()
                .to_string();
            assert!(err.contains("OCSP URL"), "{err}");
        }
    }
}
