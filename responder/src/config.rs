//! The responder's settings: one definition, read from flags and environment
//! variables, with the defaults that `--help` shows.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use testca::store::DatabaseUrl;

use crate::signer::ResponderIdKind;

/// Settings of the responder.
#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        env = "OCSPLAB_RESPONDER_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// Lab directory (made by `testca init`).
    #[arg(long, env = labcore::layout::LAB_DIR_ENV, default_value = labcore::layout::DEFAULT_LAB_DIR)]
    pub dir: PathBuf,

    /// Revocation database: an SQLite file, or PostgreSQL as
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE, best as a reader role (`testca db
    /// grant-reader`), which cannot read the signers' keys: they are then read from the lab
    /// directory's ca/NAME/ocsp-signer/key.pem [default: DIR/revocation.db].
    #[arg(long, env = "OCSPLAB_DB", hide_env_values = true, value_name = "URL", value_parser = parse_db)]
    pub db: Option<DatabaseUrl>,

    /// Sign with this certificate (PEM) instead of the lab's newest delegated signer; it must be
    /// a CA of the lab or a signer one of them certified. Needs --signer-key.
    #[arg(long, env = "OCSPLAB_SIGNER_CERT", requires = "signer_key")]
    pub signer_cert: Option<PathBuf>,

    /// Private key (PKCS#8 PEM) of --signer-cert.
    #[arg(long, env = "OCSPLAB_SIGNER_KEY", requires = "signer_cert")]
    pub signer_key: Option<PathBuf>,

    /// Path under which OCSP requests are served (GET PREFIX<base64>, POST PREFIX), as in the AIA URL.
    #[arg(long, env = "OCSPLAB_PATH_PREFIX", default_value = "/", value_parser = parse_prefix)]
    pub path_prefix: String,

    /// How long a response is valid: nextUpdate = now + VALIDITY.
    #[arg(long, env = "OCSPLAB_VALIDITY", default_value = "1h", value_parser = humantime::parse_duration)]
    pub validity: Duration,

    /// Clock skew margin: thisUpdate is backdated by this much, for clients whose clock is behind.
    #[arg(long, env = "OCSPLAB_CLOCK_SKEW", default_value = "1m", value_parser = humantime::parse_duration)]
    pub clock_skew: Duration,

    /// How long a pre-signed response (no nonce) is reused before it is signed anew
    /// [default: a quarter of --validity]. Any change of status is served at once regardless.
    #[arg(long, env = "OCSPLAB_REUSE_FOR", value_parser = humantime::parse_duration)]
    pub reuse_for: Option<Duration>,

    /// Longest max-age advertised in the Cache-Control of a GET's answer (RFC 5019) [default: until
    /// the answer's nextUpdate]. An HTTP cache in front of the responder may serve an answer this
    /// long after the certificate was revoked.
    #[arg(long, env = "OCSPLAB_MAX_AGE", value_parser = humantime::parse_duration)]
    pub max_age: Option<Duration>,

    /// Who signs: the lab's delegated OCSP signer, or the issuing CA itself.
    #[arg(long, env = "OCSPLAB_SIGN_WITH", value_enum, default_value_t = SignWith::Delegated)]
    pub sign_with: SignWith,

    /// ResponderID form: the SHA-1 of the signer's key, or its subject name.
    #[arg(long, env = "OCSPLAB_RESPONDER_ID", value_enum, default_value_t = ResponderIdKind::ByKey)]
    pub responder_id: ResponderIdKind,

    /// Answer for a serial the issuer never issued: `unknown`, or `revoked` (RFC 6960 §2.2
    /// extended revoked: revocationTime 1970-01-01, reason certificateHold).
    #[arg(long, env = "OCSPLAB_UNKNOWN_SERIAL", value_enum, default_value_t = UnknownSerial::Unknown)]
    pub unknown_serial: UnknownSerial,

    /// Answer for an issuer this responder does not serve: the `unauthorized` error, or a signed `unknown`.
    #[arg(long, env = "OCSPLAB_UNKNOWN_ISSUER", value_enum, default_value_t = UnknownIssuer::Unauthorized)]
    pub unknown_issuer: UnknownIssuer,

    /// Accept nonces up to 128 octets (RFC 9654) instead of RFC 8954's 32.
    #[arg(long, env = "OCSPLAB_LONG_NONCES")]
    pub long_nonces: bool,

    /// Largest request body accepted, in bytes; larger ones get HTTP 413.
    #[arg(long, env = "OCSPLAB_MAX_REQUEST_BYTES", default_value_t = 10 * 1024)]
    pub max_request_bytes: usize,

    /// Time a client has to send a whole request, headers and body (slower ones get 408 or
    /// are cut off), counted from its first byte.
    #[arg(long, env = "OCSPLAB_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub read_timeout: Duration,

    /// Time an idle keep-alive connection is kept open.
    #[arg(long, env = "OCSPLAB_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// Connections open at once; when full, the oldest idle (else slowest) connection is closed
    /// so that new clients are served [default: the open-file limit, raised to its hard limit
    /// at start, minus 64].
    #[arg(long, env = "OCSPLAB_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// Revocation states kept in memory (issued certificates only).
    #[arg(long, env = "OCSPLAB_CACHE_ENTRIES", default_value_t = 100_000)]
    pub cache_entries: usize,

    /// Bytes of signed answers kept in memory: by CertID, and a quarter of them prepared for
    /// HTTP by raw request; an eighth of each is for answers about serials never issued, so that
    /// a flood of those cannot evict the real certificates' answers.
    #[arg(long, env = "OCSPLAB_CACHE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub cache_bytes: u64,
}

impl Config {
    /// The revocation database: `--db`, else the lab's SQLite file.
    pub fn database(&self) -> DatabaseUrl {
        self.db
            .clone()
            .unwrap_or_else(|| DatabaseUrl::sqlite(labcore::Layout::new(&self.dir).database()))
    }

    /// How long a pre-signed response is reused.
    pub fn reuse_for(&self) -> Duration {
        self.reuse_for.unwrap_or(self.validity / 4)
    }
}

/// Who signs responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SignWith {
    /// The CA's delegated OCSP signer (its certificate goes in the response's `certs`).
    Delegated,
    /// The issuing CA's own key.
    Issuer,
}

/// Answer for serials an issuer never issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum UnknownSerial {
    /// `unknown`.
    Unknown,
    /// `revoked`, per RFC 6960 §2.2.
    Revoked,
}

/// Answer for issuers the responder does not serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum UnknownIssuer {
    /// The `unauthorized` error response.
    Unauthorized,
    /// A signed `unknown` status.
    Unknown,
}

/// `--db`: testca's parser, so that both name a database the same way and
/// neither shows its password.
fn parse_db(text: &str) -> Result<DatabaseUrl, String> {
    text.parse::<DatabaseUrl>().map_err(|e| e.to_string())
}

fn parse_prefix(text: &str) -> Result<String, String> {
    if !text.starts_with('/') || text.contains(['?', '#']) {
        return Err(format!(
            "path prefix '{text}' must start with '/' and hold no '?' or '#', e.g. /ocsp/"
        ));
    }
    Ok(if text.ends_with('/') {
        text.to_string()
    } else {
        format!("{text}/")
    })
}
