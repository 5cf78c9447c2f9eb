//! The stapler's settings, each declared once, in [`ServeArgs`]: a flag,
//! its environment variable and its default (which `--help` shows). The
//! TOML file (`--config`) is a layer between the environment and the
//! defaults: each of its keys is a flag's name in snake_case (`--no-X` is
//! `X = false`), and its values are parsed by the flag's own parser, so the
//! file accepts exactly what the command line does. A value given on the
//! command line or in the environment wins over the file; the file wins
//! over the defaults.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::error::{ContextKind, ContextValue};
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Args, Command, FromArgMatches, ValueEnum};
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

    /// TOML file with these settings (snake_case keys: `refresh_fraction = 0.25`, `stapling =
    /// false` for --no-stapling) and [[certificate]] tables; flags and environment win over it.
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

/// The flags that have no key in the file: certificates come in
/// `[[certificate]]` tables, and a file does not name another.
const NOT_IN_FILE: [&str; 3] = ["certs", "keys", "config"];

/// The `[[certificate]]` tables of the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCertificates {
    #[serde(default)]
    certificate: Vec<CertConfig>,
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
    /// The settings: these options (parsed from `args`, the command line
    /// without the program name, into `matches`) over the TOML file named by
    /// `--config`, if any.
    pub fn resolve(
        self,
        matches: &ArgMatches,
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<Settings, ConfigError> {
        let (options, file_certs) = match self.config.clone() {
            Some(path) => over_file(&path, matches, args)?,
            None => (self, Vec::new()),
        };
        options.into_settings(file_certs)
    }

    fn into_settings(self, file_certs: Vec<CertConfig>) -> Result<Settings, ConfigError> {
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

/// The options parsed again with the file's values as arguments before
/// `args`, for the settings that neither the command line nor the
/// environment gave (as `matches` says); and the file's certificates.
fn over_file(
    path: &Path,
    matches: &ArgMatches,
    args: impl IntoIterator<Item = OsString>,
) -> Result<(ServeArgs, Vec<CertConfig>), ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| file_error(e.message().to_string()))?;
    let certificates = match table.remove("certificate") {
        Some(value) => {
            toml::Table::from_iter([("certificate".to_string(), value)])
                .try_into::<FileCertificates>()
                .map_err(|e| file_error(e.message().to_string()))?
                .certificate
        }
        None => Vec::new(),
    };
    let command = ServeArgs::augment_args(Command::new("stapler").no_binary_name(true));
    let given = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let mut file_args = Vec::new();
    for (key, value) in &table {
        let (arg, inverted) = arg_of_key(&command, key).ok_or_else(|| {
            file_error(match key.strip_prefix("no_") {
                Some(positive) if arg_of_key(&command, positive).is_some() => {
                    format!("unknown setting `{key}`: write `{positive} = false`")
                }
                _ => format!(
                    "unknown setting `{key}` (the settings are the flags of `stapler --help`, in snake_case)"
                ),
            })
        })?;
        if !given(arg.get_id().as_str()) {
            file_args.extend(
                as_argument(arg, inverted, key, value).map_err(|e| file_error(e.to_string()))?,
            );
        }
    }
    let matches = command
        .try_get_matches_from(file_args.into_iter().chain(args))
        .map_err(|e| file_error(clap_reason(&e)))?;
    let options = ServeArgs::from_arg_matches(&matches).map_err(|e| file_error(clap_reason(&e)))?;
    Ok((options, certificates))
}

/// The flag a key of the file sets, and whether the key says the opposite
/// of the flag (`stapling = false` is `--no-stapling`).
fn arg_of_key<'a>(command: &'a Command, key: &str) -> Option<(&'a Arg, bool)> {
    let find = |id: &str| {
        command
            .get_arguments()
            .find(|a| a.get_id() == id && a.get_long().is_some() && !NOT_IN_FILE.contains(&id))
    };
    if key.starts_with("no_") {
        // The file says `X = false`, never `no_X = true`.
        return None;
    }
    find(key)
        .map(|arg| (arg, false))
        .or_else(|| find(&format!("no_{key}")).map(|arg| (arg, true)))
}

/// The command-line argument that says what `key = value` says.
fn as_argument(
    arg: &Arg,
    inverted: bool,
    key: &str,
    value: &toml::Value,
) -> Result<Option<OsString>, ValueTypeError> {
    let long = arg.get_long().unwrap_or(key);
    if !arg.get_action().takes_values() {
        let on = value.as_bool().ok_or_else(|| ValueTypeError::NotBoolean {
            key: key.to_string(),
            value: value.clone(),
        })?;
        return Ok((on != inverted).then(|| format!("--{long}").into()));
    }
    let text = match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        other => {
            return Err(ValueTypeError::NotScalar {
                key: key.to_string(),
                value: other.clone(),
            });
        }
    };
    // One argument, `--flag=value`: a value may begin with a dash.
    Ok(Some(format!("--{long}={text}").into()))
}

/// A value of the file that cannot be a flag's.
#[derive(Debug, thiserror::Error)]
enum ValueTypeError {
    #[error("`{key}` must be true or false, not {value}")]
    NotBoolean { key: String, value: toml::Value },
    #[error("`{key}` must be a string or a number, not {value}")]
    NotScalar { key: String, value: toml::Value },
}

/// What clap found wrong with a value from the file, on one line, with the
/// file's name for the setting.
fn clap_reason(e: &clap::Error) -> String {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        _ => None,
    };
    let key = context(ContextKind::InvalidArg).map(|flag| {
        flag.trim_start_matches("--")
            .split([' ', '='])
            .next()
            .unwrap_or_default()
            .replace('-', "_")
    });
    let cause = match (std::error::Error::source(e), e.get(ContextKind::ValidValue)) {
        (Some(cause), _) => cause.to_string(),
        (None, Some(ContextValue::Strings(valid))) => format!("expected {}", valid.join(" or ")),
        (None, _) => e.kind().to_string(),
    };
    match (key, context(ContextKind::InvalidValue)) {
        (Some(key), Some(value)) => format!("`{key}`: invalid value {value:?}: {cause}"),
        (Some(key), None) => format!("`{key}`: {cause}"),
        _ => cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `args` as the server's command line (the environment's
    /// OCSPLAB_STAPLER_* variables, if any, apply as in production).
    fn resolve(args: &[&str]) -> Result<Settings, ConfigError> {
        let command = ServeArgs::augment_args(Command::new("stapler").no_binary_name(true));
        let matches = command.try_get_matches_from(args).unwrap();
        let options = ServeArgs::from_arg_matches(&matches).unwrap();
        options.resolve(&matches, args.iter().map(OsString::from))
    }

    fn with_file(text: &str, args: &[&str]) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stapler.toml");
        std::fs::write(&path, text).unwrap();
        let path = path.display().to_string();
        let mut all = vec!["--config", path.as_str()];
        all.extend(args);
        resolve(&all)
    }

    #[test]
    fn the_file_keys_are_the_flags_in_snake_case() {
        // The keys the file has always taken (README, tests), and no others.
        let mut keys = vec![
            "listen",
            "admin_listen",
            "dir",
            "issuer",
            "responder",
            "fetch_issuer",
            "stapling",
            "verify",
            "staple_file",
            "cache_dir",
            "revoked",
            "require_staple",
            "require_staple_timeout",
            "strict",
            "refresh_fraction",
            "min_refresh",
            "max_refresh",
            "fetch_timeout",
            "backoff_min",
            "backoff_max",
            "clock_skew",
            "nonce",
            "read_timeout",
            "idle_timeout",
            "max_connections",
        ];
        let command = ServeArgs::augment_args(Command::new("stapler"));
        let mut found: Vec<String> = command
            .get_arguments()
            .map(|a| a.get_id().as_str())
            .filter(|id| !NOT_IN_FILE.contains(id))
            .map(|id| id.strip_prefix("no_").unwrap_or(id).to_string())
            .collect();
        found.sort();
        keys.sort_unstable();
        assert_eq!(found, keys);
        for key in keys {
            assert!(arg_of_key(&command, key).is_some(), "{key}");
        }
        for not_a_key in ["certs", "keys", "config", "no_stapling", "cert", "help"] {
            assert!(arg_of_key(&command, not_a_key).is_none(), "{not_a_key}");
        }
    }

    #[test]
    fn without_a_file_the_defaults_are_the_ones_help_shows() {
        let settings = resolve(&[]).unwrap();
        let o = &settings.options;
        assert_eq!(o.refresh_fraction, 0.5);
        assert_eq!(o.min_refresh, Duration::from_secs(5));
        assert_eq!(o.max_refresh, Duration::from_secs(3600));
        assert_eq!(o.backoff_min, Duration::from_secs(1));
        assert_eq!(o.backoff_max, Duration::from_secs(300));
        assert_eq!(o.revoked, RevokedPolicy::Staple);
        assert!(settings.stapling() && settings.verify());
        // One certificate: the lab's default leaf.
        assert_eq!(settings.certificates.len(), 1);
        assert!(
            settings.certificates[0]
                .cert
                .ends_with("certs/localhost/fullchain.pem")
        );
    }

    #[test]
    fn the_file_fills_what_the_command_line_leaves() {
        let settings = with_file(
            "refresh_fraction = 0.25\nmin_refresh = \"2s\"\nstapling = false\nverify = true\n\
             nonce = true\nrevoked = \"drop\"\nlisten = \"127.0.0.1:9443\"\nmax_connections = 7\n",
            &["--min-refresh", "3s"],
        )
        .unwrap();
        let o = &settings.options;
        assert_eq!(o.refresh_fraction, 0.25, "from the file");
        assert_eq!(o.min_refresh, Duration::from_secs(3), "the flag wins");
        assert!(o.no_stapling, "stapling = false is --no-stapling");
        assert!(!o.no_verify, "verify = true is no flag");
        assert!(o.nonce);
        assert_eq!(o.revoked, RevokedPolicy::Drop);
        assert_eq!(o.listen, "127.0.0.1:9443".parse().unwrap());
        assert_eq!(o.max_connections, Some(7));
        // What neither says keeps its default.
        assert_eq!(o.max_refresh, Duration::from_secs(3600));
    }

    #[test]
    fn file_values_are_checked_like_flags_and_name_the_file_and_key() {
        let error = |text: &str| with_file(text, &[]).unwrap_err().to_string();
        let e = error("min_refresh = \"soon\"\n");
        assert!(
            e.contains("stapler.toml") && e.contains("`min_refresh`"),
            "{e}"
        );
        let e = error("max_connections = 0\n");
        assert!(e.contains("`max_connections`"), "{e}");
        let e = error("revoked = \"maybe\"\n");
        assert!(e.contains("staple or drop"), "{e}");
        let e = error("stapling = \"no\"\n");
        assert!(e.contains("true or false"), "{e}");
        let e = error("listen = true\n");
        assert!(e.contains("`listen`"), "{e}");
        let e = error("refresh_fractoin = 0.5\n");
        assert!(e.contains("refresh_fractoin"), "{e}");
        let e = error("no_verify = true\n");
        assert!(e.contains("verify = false"), "{e}");
        // Range checks apply to the file's values too.
        let e = error("refresh_fraction = 1.5\n");
        assert!(e.contains("--refresh-fraction 1.5"), "{e}");
        let e = error("[[certificate]]\ncert = \"a.pem\"\n");
        assert!(e.contains("key"), "{e}");
    }

    #[test]
    fn file_certificates_inherit_the_global_issuer_and_responder() {
        let settings = with_file(
            "responder = \"http://ocsp.test/\"\n\
             [[certificate]]\ncert = \"a.pem\"\nkey = \"a.key\"\n\
             [[certificate]]\ncert = \"b.pem\"\nkey = \"b.key\"\nresponder = \"http://other.test/\"\n",
            &["--cert", "c.pem", "--key", "c.key"],
        )
        .unwrap();
        let names: Vec<_> = settings
            .certificates
            .iter()
            .map(|c| (c.cert.display().to_string(), c.responder.clone().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("c.pem".to_string(), "http://ocsp.test/".to_string()),
                ("a.pem".to_string(), "http://ocsp.test/".to_string()),
                ("b.pem".to_string(), "http://other.test/".to_string()),
            ]
        );
    }
}
