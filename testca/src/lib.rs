//! The OCSP Lab's test CA and revocation database.
//!
//! A lab is a directory (see [`labcore::layout`]) holding a root and an intermediate
//! CA, a delegated OCSP signer for each, TLS leaf certificates whose
//! Authority Information Access points at the lab's responder, and the
//! revocation database ([`store`]) that the responder answers from.
#![deny(missing_docs)]

pub mod authority;
pub mod bulk;
pub mod cert_id;
pub mod config;
pub mod error;
pub mod export;
pub mod extensions;
pub mod faults;
pub mod ids;
pub mod key_alg;
pub mod lab;
pub mod recovery;
pub mod report;
pub mod serial;
pub mod serve;
pub mod store;
pub mod token;

pub use authority::{LeafSpec, SignerDefects, Validity};
pub use error::{Error, Result};
pub use key_alg::KeyAlg;
pub use lab::{InitOptions, IssueOptions, Lab};
pub use serial::Serial;
pub use store::{CertRecord, CertSelector, RevocationStatus, Store, StoreOptions};
