//! The OCSP Lab's OCSP responder (RFC 6960, RFC 5019, RFC 8954/9654 nonces).
//!
//! It answers from the lab's revocation database ([`testca::store`]): a
//! change committed by any process is reflected in the very next response.
//! Responses without a nonce are signed once and reused while nothing they
//! say has changed; responses with a nonce are signed live. QA can make it
//! misbehave on purpose through faults stored in the same database.
//!
//! The responder is built as layers, each a [`source::Source`] wrapping the
//! next (see [`stack`]): [`filter`], [`faults`], [`cache`], and at the bottom
//! [`source::StoreSource`]; [`http`] alone speaks HTTP.
#![deny(missing_docs)]

pub mod cache;
pub mod changes;
pub mod config;
pub mod crl;
pub mod directory;
pub mod error;
pub mod faults;
pub mod filter;
pub mod get_path;
pub mod http;
pub mod metrics;
pub mod request;
pub mod response;
pub mod server;
pub mod signer;
pub mod source;
pub mod stack;

pub use config::Config;
pub use error::{Error, Result};
pub use server::serve;
pub use stack::Responder;
