//! The OCSP Lab's stapling TLS server and staple checker.
//!
//! The server ([`server`]) sets each certificate up ([`setup`]), fetches its
//! OCSP response ([`source`]) before it accepts a connection, verifies every
//! response before it replaces the last good one ([`verify`]), refreshes in
//! the background ([`schedule`]), keeps the last good response until it
//! really expires ([`lifecycle`]: the staple's states and transitions),
//! persists it across restarts ([`persist`]), and staples it with rustls
//! ([`tls`], [`identity`]); [`staple`] is the glue, [`status`] what the status page shows.
//! The checker ([`check`]) judges any server's staple like a careful client.
#![deny(missing_docs)]

pub mod chain;
pub mod check;
pub mod config;
pub mod fetch;
pub mod identity;
pub mod lifecycle;
pub mod metrics;
pub mod persist;
pub mod schedule;
pub mod server;
pub mod setup;
pub mod source;
pub mod staple;
pub mod status;
pub mod tls;
pub mod verify;
pub mod web;

pub use config::{ServeArgs, Settings};
pub use server::serve;
