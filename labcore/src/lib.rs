//! What the OCSP Lab's test CA, responder and stapler share, each thing
//! with one owner:
//!
//! - [`layout`]: where a lab keeps its files, and the names of its CAs ([`ca`]);
//! - [`files`]: atomic, permission-aware file writes and reads;
//! - [`accept`]: the accept loop both servers run (limits, connection cap,
//!   graceful drain), with [`resources`] (open-file limit, memory trimming);
//! - [`media`]: the media types on the wire;
//! - [`ocsp`]: the OCSP response and certificate statuses, by name;
//! - [`reason`]: revocation reasons (RFC 5280 CRLReason);
//! - [`sync`]: locks that outlive a panic elsewhere;
//! - [`timestamp`]: times as the command lines and the API take them;
//! - [`tls_feature`]: the must-staple extension (RFC 7633);
//! - [`verdict`]: the verdicts (exit codes) of `stapler check`.
//!
//! It stays light: no database, no certificate builder, no web framework.
#![deny(missing_docs)]

pub mod accept;
pub mod ca;
pub mod error;
pub mod files;
pub mod layout;
pub mod media;
pub mod ocsp;
pub mod reason;
pub mod resources;
pub mod sync;
pub mod timestamp;
pub mod tls_feature;
pub mod verdict;

pub use ca::CaName;
pub use error::{Error, Result};
pub use layout::Layout;
pub use reason::RevocationReason;
