//! The stapler's settings: flags and environment variables (with the
//! defaults `--help` shows), optionally completed by a TOML file. A value
//! given on the command line or in the environment wins over the file;
//! the file wins over the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, ValueEnum};
use labcore::layout::{DEFAULT_LAB_DIR, LAB_DIR_ENV};
use serde::Deserialize;

/// What to do with a `revoked` response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokedPolicy {
    /// Staple it: it is the truth, and clients must learn it.
    Staple,
    /// Stop stapling.
    Drop,
}

/// Options of the server (`stapler` without a subcommand).
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Certificate chain, PEM, leaf first (nginx ssl_certificate, Apache SSLCertificateFile); repeat
    /// with --key for several certificates, chosen by SNI [default: DIR/certs/localhost/fullchain.pem].
    #[arg(
        long = "cert",
        value_name = "FULLCHAIN.pem",
        env = "OCSPLAB_STAPLER_CERT",
        value_delimiter = ','
    )]
    pub certs: Vec<PathBuf>,

    /// Private key, PEM, one per --cert (nginx ssl_certificate_key, Apache SSLCertificateKeyFile)
    /// [default: DIR/certs/localhost/key.pem].
    #[arg(
        long = "key",
        value_name = "KEY.pem",
        env = "OCSPLAB_STAPLER_KEY",
        value_delimiter = ','
    )]
    pub keys: Vec<PathBuf>,

    /// Address to listen on (HTTPS).
    #[arg(long, env = "OCSPLAB_STAPLER_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,

    /// Also serve `POST /admin/refresh`, `/health` and `/status.json` over plain HTTP on this
    /// address, to every client that reaches it: bind it to loopback, or publish it on the
    /// host's loopback only (docker-compose.yml). The HTTPS port serves the refresh to loopback
    /// clients only. Off unless given.
    #[arg(long, value_name = "ADDR", env = "OCSPLAB_STAPLER_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// Lab directory, for the default certificate and cache directory.
    #[arg(long, env = LAB_DIR_ENV, default_value = DEFAULT_LAB_DIR)]
    pub dir: PathBuf,

    /// Issuer / trusted certificates, PEM, used to find a certificate's issuer when the chain
    /// lacks it and to verify responses (nginx ssl_trusted_certificate, Apache SSLCACertificateFile).
    #[arg(long, value_name = "FILE", env = "OCSPLAB_STAPLER_ISSUER")]
    pub issuer: Option<PathBuf>,

    /// Do not download a missing issuer from the certificate's AIA CA Issuers URL
    /// (nginx and Apache never do; without it, an incomplete chain means no staple).
    #[arg(long, env = "OCSPLAB_STAPLER_NO_FETCH_ISSUER")]
    pub no_fetch_issuer: bool,

    /// OCSP responder URL used instead of the certificate's AIA URL
    /// (nginx ssl_stapling_responder, Apache SSLStaplingForceURL).
    #[arg(long, value_name = "URL", env = "OCSPLAB_STAPLER_RESPONDER")]
    pub responder: Option<String>,

    /// Do not staple at all (nginx ssl_stapling off, Apache SSLUseStapling off).
    #[arg(long, env = "OCSPLAB_STAPLER_NO_STAPLING")]
    pub no_stapling: bool,

    /// Staple responses without verifying them (nginx ssl_stapling_verify off). Not recommended.
    #[arg(long, env = "OCSPLAB_STAPLER_NO_VERIFY")]
    pub no_verify: bool,

    /// Staple this DER response file instead of fetching (nginx ssl_stapling_file).
    #[arg(long, value_name = "FILE", env = "OCSPLAB_STAPLER_STAPLE_FILE")]
    pub staple_file: Option<PathBuf>,

    /// Where the last good response of each certificate is kept across restarts
    /// [default: DIR/stapler-cache].
    #[arg(long, value_name = "DIR", env = "OCSPLAB_STAPLER_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// What to do with a `revoked` response: staple it (clients learn the truth) or stop stapling.
    #[arg(long, value_enum, env = "OCSPLAB_STAPLER_REVOKED", default_value_t = RevokedPolicy::Staple)]
    pub revoked: RevokedPolicy,

    /// Accept no connection until every certificate has a valid staple.
    #[arg(long, env = "OCSPLAB_STAPLER_REQUIRE_STAPLE")]
    pub require_staple: bool,

    /// How long --require-staple waits before giving up.
    #[arg(long, env = "OCSPLAB_STAPLER_REQUIRE_STAPLE_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub require_staple_timeout: Duration,

    /// Exit at startup when a certificate cannot be stapled (missing issuer, no OCSP URL).
    #[arg(long, env = "OCSPLAB_STAPLER_STRICT")]
    pub strict: bool,

    /// TOML file with these settings (snake_case keys) and [[certificate]] tables.
    #[arg(long, value_name = "FILE", env = "OCSPLAB_STAPLER_CONFIG")]
    pub config: Option<PathBuf>,

    /// Refresh when this fraction of a response's validity has passed.
    #[arg(long, env = "OCSPLAB_STAPLER_REFRESH_FRACTION", default_value_t = 0.5)]
    pub refresh_fraction: f64,

    /// Shortest time between two refreshes of a good response.
    #[arg(long, env = "OCSPLAB_STAPLER_MIN_REFRESH", default_value = "5s", value_parser = humantime::parse_duration)]
    pub min_refresh: Duration,

    /// Longest time between two refreshes (nginx refreshes at least hourly).
    #[arg(long, env = "OCSPLAB_STAPLER_MAX_REFRESH", default_value = "1h", value_parser = humantime::parse_duration)]
    pub max_refresh: Duration,

    /// Timeout of one request to the responder (nginx ssl_stapling_responder_timeout).
    #[arg(long, env = "OCSPLAB_STAPLER_FETCH_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub fetch_timeout: Duration,

    /// First retry delay after a failed fetch; doubles on each failure, with jitter.
    #[arg(long, env = "OCSPLAB_STAPLER_BACKOFF_MIN", default_value = "1s", value_parser = humantime::parse_duration)]
    pub backoff_min: Duration,

    /// Longest retry delay.
    #[arg(long, env = "OCSPLAB_STAPLER_BACKOFF_MAX", default_value = "5m", value_parser = humantime::parse_duration)]
    pub backoff_max: Duration,

    /// How far a response's thisUpdate may be ahead of this machine's clock.
    #[arg(long, env = "OCSPLAB_STAPLER_CLOCK_SKEW", default_value = "5m", value_parser = humantime::parse_duration)]
    pub clock_skew: Duration,

    /// Send a nonce with each request (defeats the responder's caching; off in nginx and Apache).
    #[arg(long, env = "OCSPLAB_STAPLER_NONCE")]
    pub nonce: bool,

    /// Time a client has for its TLS handshake, and then for each whole request (headers and
    /// body, counted from its first byte); slower ones are cut off.
    #[arg(long, env = "OCSPLAB_STAPLER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub read_timeout: Duration,

    /// Time an idle keep-alive connection is kept open.
    #[arg(long, env = "OCSPLAB_STAPLER_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// Connections open at once; when full, the oldest idle (else slowest) connection is closed
    /// so that new clients are served [default: the open-file limit, raised to its hard limit
    /// at start, minus 64].
    #[arg(long, env = "OCSPLAB_STAPLER_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
}

/// One certificate to serve.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertConfig {
    /// Chain file.
    pub cert: PathBuf,
    /// Key file.
    pub key: PathBuf,
    /// Issuer/trusted file for this certificate.
    #[serde(default)]
    pub issuer: Option<PathBuf>,
    /// Responder URL for this certificate.
    #[serde(default)]
    pub responder: Option<String>,
    /// Static response file for this certificate.
    #[serde(default)]
    pub staple_file: Option<PathBuf>,
}

/// The TOML file: every server option, plus certificates.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    dir: Option<PathBuf>,
    issuer: Option<PathBuf>,
    responder: Option<String>,
    fetch_issuer: Option<bool>,
    stapling: Option<bool>,
    verify: Option<bool>,
    staple_file: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    revoked: Option<RevokedPolicy>,
    require_staple: Option<bool>,
    #[serde(default, with = "humantime_serde_opt")]
    require_staple_timeout: Option<Duration>,
    strict: Option<bool>,
    refresh_fraction: Option<f64>,
    #[serde(default, with = "humantime_serde_opt")]
    min_refresh: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    max_refresh: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    fetch_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    backoff_min: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    backoff_max: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    clock_skew: Option<Duration>,
    nonce: Option<bool>,
    #[serde(default, with = "humantime_serde_opt")]
    read_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    idle_timeout: Option<Duration>,
    max_connections: Option<u32>,
    #[serde(default)]
    certificate: Vec<CertConfig>,
}

/// Durations in the file are written like on the command line ("30s", "5m").
mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Settings after flags, environment and file are merged.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Certificates to serve; the first is the default for clients without SNI.
    pub certificates: Vec<CertConfig>,
    /// The merged options.
    pub options: ServeArgs,
}

impl Settings {
    /// Whether stapling is on.
    pub fn stapling(&self) -> bool {
        !self.options.no_stapling
    }

    /// Whether responses are verified.
    pub fn verify(&self) -> bool {
        !self.options.no_verify
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> PathBuf {
        self.options
            .cache_dir
            .clone()
            .unwrap_or_else(|| self.options.dir.join("stapler-cache"))
    }
}

/// Why the settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A contradiction or an out-of-range value.
    #[error("{0}")]
    Invalid(String),
}

impl ServeArgs {
    /// Merges the TOML file named by `--config` (if any) under the values
    /// given on the command line or in the environment.
    pub fn resolve(mut self, matches: &ArgMatches) -> Result<Settings, ConfigError> {
        let mut file_certs = Vec::new();
        if let Some(path) = self.config.clone() {
            let file = read_file(&path)?;
            let unset = |id: &str| {
                matches!(
                    matches.value_source(id),
                    None | Some(ValueSource::DefaultValue)
                )
            };
            macro_rules! take {
                ($field:ident) => {
                    if let Some(v) = file.$field
                        && unset(stringify!($field))
                    {
                        self.$field = v;
                    }
                };
                ($field:ident, some) => {
                    if file.$field.is_some() && unset(stringify!($field)) {
                        self.$field = file.$field;
                    }
                };
            }
            take!(listen);
            take!(admin_listen, some);
            take!(dir);
            take!(issuer, some);
            take!(responder, some);
            take!(staple_file, some);
            take!(cache_dir, some);
            take!(revoked);
            take!(require_staple);
            take!(require_staple_timeout);
            take!(strict);
            take!(refresh_fraction);
            take!(min_refresh);
            take!(max_refresh);
            take!(fetch_timeout);
            take!(backoff_min);
            take!(backoff_max);
            take!(clock_skew);
            take!(nonce);
            take!(read_timeout);
            take!(idle_timeout);
            take!(max_connections, some);
            if let Some(on) = file.stapling
                && unset("no_stapling")
            {
                self.no_stapling = !on;
            }
            if let Some(on) = file.verify
                && unset("no_verify")
            {
                self.no_verify = !on;
            }
            if let Some(on) = file.fetch_issuer
                && unset("no_fetch_issuer")
            {
                self.no_fetch_issuer = !on;
            }
            file_certs = file.certificate;
        }
        self.check()?;
        let mut certificates: Vec<CertConfig> = self
            .certs
            .iter()
            .zip(&self.keys)
            .map(|(cert, key)| CertConfig {
                cert: cert.clone(),
                key: key.clone(),
                issuer: self.issuer.clone(),
                responder: self.responder.clone(),
                staple_file: self.staple_file.clone(),
            })
            .collect();
        for mut c in file_certs {
            c.issuer = c.issuer.or_else(|| self.issuer.clone());
            c.responder = c.responder.or_else(|| self.responder.clone());
            c.staple_file = c.staple_file.or_else(|| self.staple_file.clone());
            certificates.push(c);
        }
        if certificates.is_empty() {
            let lab = labcore::Layout::new(&self.dir).leaf_dir(labcore::layout::DEFAULT_LEAF);
            certificates.push(CertConfig {
                cert: lab.join("fullchain.pem"),
                key: lab.join("key.pem"),
                issuer: self.issuer.clone(),
                responder: self.responder.clone(),
                staple_file: self.staple_file.clone(),
            });
        }
        Ok(Settings {
            certificates,
            options: self,
        })
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.certs.len() != self.keys.len() {
            return Err(ConfigError::Invalid(format!(
                "{} --cert but {} --key: give one key per certificate, in the same order",
                self.certs.len(),
                self.keys.len()
            )));
        }
        if !(self.refresh_fraction > 0.0 && self.refresh_fraction < 1.0) {
            return Err(ConfigError::Invalid(format!(
                "--refresh-fraction {} must be between 0 and 1 (e.g. 0.5: refresh at half the validity)",
                self.refresh_fraction
            )));
        }
        if self.min_refresh > self.max_refresh || self.backoff_min > self.backoff_max {
            return Err(ConfigError::Invalid(
                "--min-refresh must not exceed --max-refresh, nor --backoff-min --backoff-max"
                    .into(),
            ));
        }
        if self.backoff_min.is_zero() {
            return Err(ConfigError::Invalid(
                "--backoff-min must be more than 0".into(),
            ));
        }
        if let Some(url) = &self.responder
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(format!(
                "--responder '{url}' is not an http:// URL"
            )));
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        reason: e.message().to_string(),
    })
}
