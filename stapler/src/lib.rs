//! The OCSP Lab's stapling TLS server and staple checker.
//!
//! The server ([`server`]) fetches each certificate's OCSP response before
//! it accepts a connection, verifies every response before it replaces the
//! last good one ([`verify`]), refreshes in the background, keeps the last
//! good response until it really expires, persists it across restarts, and
//! staples it with rustls ([`tls`]). The checker ([`check`]) judges any
//! server's staple like a careful client.
#![deny(missing_docs)]

pub mod chain;
pub mod check;
pub mod config;
pub mod fetch;
pub mod metrics;
pub mod server;
pub mod staple;
pub mod tls;
pub mod verify;
pub mod web;

pub use config::{ServeArgs, Settings};
pub use server::serve;
