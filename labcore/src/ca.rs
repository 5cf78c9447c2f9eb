//! The two CAs of a lab and the names they go by in paths, URLs, the
//! database and the command lines.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The CAs of a lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaName {
    /// The self-signed root.
    Root,
    /// The intermediate, issued by the root; it issues the leaves.
    Intermediate,
}

impl CaName {
    /// Both CAs, root first.
    pub const ALL: [CaName; 2] = [CaName::Root, CaName::Intermediate];

    /// The short name used in paths, URLs and the database.
    pub fn name(self) -> &'static str {
        match self {
            CaName::Root => "root",
            CaName::Intermediate => "intermediate",
        }
    }

    /// The lab's name for this CA's delegated OCSP signer.
    pub fn signer_name(self) -> String {
        format!("{}-ocsp-signer", self.name())
    }

    /// The common name in the CA's certificate.
    pub fn common_name(self) -> &'static str {
        match self {
            CaName::Root => "OCSP Lab Root CA",
            CaName::Intermediate => "OCSP Lab Intermediate CA",
        }
    }

    /// Whether `name` is reserved for a CA or signer, and so not a leaf name.
    pub fn is_reserved(name: &str) -> bool {
        CaName::ALL
            .iter()
            .any(|ca| ca.name() == name || ca.signer_name() == name)
    }
}

impl FromStr for CaName {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        CaName::ALL
            .into_iter()
            .find(|ca| ca.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| Error::invalid("issuer", text, "root or intermediate"))
    }
}

impl fmt::Display for CaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
