//! End-to-end tests of the OCSP Lab, and the harness they share.
//!
//! The tests drive the workspace's real binaries (`testca`, `responder`,
//! later `stapler`) as separate processes and look at them only through
//! independent peers: the `openssl` crate, the `openssl` command line and a
//! plain HTTP/1.1 client.
//!
//! * [`harness`]: temporary labs made by `testca`, servers started on free
//!   ports and stopped on drop, bounded child processes, a minimal HTTP client.
//! * [`hostile`]: slow clients that hold connections open.
//! * [`ocsp`]: OCSP requests built byte by byte (any version, hash, nonce or
//!   defect), responses parsed with OpenSSL and with a small DER reader.
//! * [`clients`]: `stapler check`, `openssl s_client`, `curl --cert-status`
//!   and `gnutls-cli`, run as a user runs them.
//! * [`peers`]: nginx and Apache configured for stapling as the seeds say.
//! * [`postgres`]: labs on a PostgreSQL database, responders as its reader
//!   role, throw-away clusters that can be stopped and resumed.
//! * [`scenario`]: the QA scenarios as TOML files (`scenarios/`), their engine
//!   and reports, used by the tests and by `scripts/scenario`.
#![deny(missing_docs)]

pub mod clients;
pub mod harness;
pub mod hostile;
pub mod ocsp;
pub mod peers;
pub mod postgres;
pub mod scenario;
