//! `stapler check`: connect like a client, ask for the certificate status,
//! verify the staple against the chain, and say in a few lines what a
//! careful client would conclude, with an exit code for scripts. Works
//! against any TLS server (ours, nginx, Apache).

use std::fmt::Write;
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, ValueEnum};
use labcore::verdict::Verdict;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion, StatusType};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509StoreContext, X509VerifyResult};

use crate::status::rfc3339;
use crate::verify::{CertState, Expectation, Problem, verify};

/// Options of `stapler check`.
#[derive(Args, Clone, Debug)]
pub struct CheckArgs {
    /// Server to check, HOST:PORT.
    pub target: String,
    /// SNI name to send and to verify the certificate for [default: HOST, unless it is an IP address].
    #[arg(long)]
    pub servername: Option<String>,
    /// Trusted CA certificates, PEM (e.g. lab/ca/root/cert.pem) [default: the system's].
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Require a staple, as for a must-staple certificate (a certificate with the TLS Feature
    /// extension is always treated so).
    #[arg(long)]
    pub must_staple: bool,
    /// TLS version to offer [default: 1.2 and 1.3].
    #[arg(long, value_enum)]
    pub tls: Option<TlsVersion>,
    /// Connection and handshake timeout.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Clock skew allowed for the staple's thisUpdate.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub clock_skew: Duration,
}

/// A TLS version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TlsVersion {
    /// TLS 1.2.
    #[value(name = "1.2")]
    V1_2,
    /// TLS 1.3.
    #[value(name = "1.3")]
    V1_3,
}

/// What `check` found: the report and the verdict.
#[derive(Debug)]
pub struct Report {
    /// Human-readable lines.
    pub text: String,
    /// The verdict (the exit code).
    pub verdict: Verdict,
}

/// Checks a server's staple.
pub fn check(args: &CheckArgs) -> Report {
    let mut text = String::new();
    match run(args, &mut text) {
        Ok(verdict) => Report { text, verdict },
        Err(why) => {
            let _ = writeln!(text, "verdict:     CONNECTION FAILED: {why}");
            Report {
                text,
                verdict: Verdict::ConnectionFailed,
            }
        }
    }
}

/// Why no TLS connection was made (verdict 5).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The target has no port.
    #[error("'{0}' is not HOST:PORT")]
    NotHostPort(String),
    /// The name does not resolve.
    #[error("cannot resolve {target}: {source}")]
    Resolve {
        /// HOST:PORT.
        target: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The name resolves to no address.
    #[error("cannot resolve {0}")]
    NoAddress(String),
    /// The TCP connection failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A socket option.
    #[error("{0}")]
    Socket(#[from] std::io::Error),
    /// The `--ca` file cannot be read.
    #[error("cannot read {path}: {source}")]
    ReadCa {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The `--ca` file holds no certificates.
    #[error("{path} holds no PEM certificates: {source}")]
    CaContent {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: openssl::error::ErrorStack,
    },
    /// OpenSSL could not be set up.
    #[error("{0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    /// The TLS handshake failed.
    #[error("TLS handshake with {addr} failed: {reason}")]
    Handshake {
        /// The address.
        addr: std::net::SocketAddr,
        /// What OpenSSL said.
        reason: String,
    },
    /// The server sent no certificate.
    #[error("the server sent no certificate")]
    NoCertificate,
}

/// Why the server's chain does not verify.
#[derive(Debug, thiserror::Error)]
enum ChainFailure {
    /// OpenSSL could not be set up.
    #[error("{0}")]
    Setup(#[from] openssl::error::ErrorStack),
    /// The chain was rejected.
    #[error("{0}")]
    Rejected(&'static str),
}

fn run(args: &CheckArgs, out: &mut String) -> Result<Verdict, ConnectError> {
    let (host, _) = args
        .target
        .rsplit_once(':')
        .ok_or_else(|| ConnectError::NotHostPort(args.target.clone()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let servername = args
        .servername
        .clone()
        .or_else(|| host.parse::<IpAddr>().is_err().then(|| host.to_string()));
    let addr = args
        .target
        .to_socket_addrs()
        .map_err(|source| ConnectError::Resolve {
            target: args.target.clone(),
            source,
        })?
        .next()
        .ok_or_else(|| ConnectError::NoAddress(args.target.clone()))?;
    let tcp = TcpStream::connect_timeout(&addr, args.timeout)
        .map_err(|source| ConnectError::Connect { addr, source })?;
    tcp.set_read_timeout(Some(args.timeout))?;
    tcp.set_write_timeout(Some(args.timeout))?;

    let trusted = match &args.ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|source| ConnectError::ReadCa {
                path: path.clone(),
                source,
            })?;
            X509::stack_from_pem(&pem).map_err(|source| ConnectError::CaContent {
                path: path.clone(),
                source,
            })?
        }
        None => Vec::new(),
    };
    let mut connector = SslConnector::builder(SslMethod::tls_client())?;
    // The chain is judged below, so that a bad one is reported rather than refused.
    connector.set_verify(SslVerifyMode::NONE);
    if let Some(version) = args.tls {
        let v = match version {
            TlsVersion::V1_2 => SslVersion::TLS1_2,
            TlsVersion::V1_3 => SslVersion::TLS1_3,
        };
        connector.set_min_proto_version(Some(v))?;
        connector.set_max_proto_version(Some(v))?;
    }
    let connector = connector.build();
    let mut config = connector.configure()?;
    config.set_verify_hostname(false);
    config.set_use_server_name_indication(servername.is_some());
    let mut ssl = config.into_ssl(servername.as_deref().unwrap_or(host))?;
    ssl.set_status_type(StatusType::OCSP)?;
    let stream = ssl.connect(tcp).map_err(|e| ConnectError::Handshake {
        addr,
        reason: e.to_string(),
    })?;
    let ssl = stream.ssl();

    let leaf = ssl.peer_certificate().ok_or(ConnectError::NoCertificate)?;
    let chain: Vec<X509> = ssl
        .peer_cert_chain()
        .map(|c| c.iter().map(|x| x.to_owned()).collect())
        .unwrap_or_default();
    let intermediates: Vec<X509> = chain.iter().skip(1).cloned().collect();
    let staple = ssl.ocsp_status().map(<[u8]>::to_vec);
    let _ = writeln!(
        out,
        "server:      {} ({}), {}",
        args.target,
        servername
            .as_deref()
            .map_or("no SNI".to_string(), |s| format!("SNI {s}")),
        ssl.version_str()
    );
    let now = SystemTime::now();
    let not_after = asn1_to_system(leaf.not_after());
    let _ = writeln!(
        out,
        "certificate: {} (serial {}), valid until {}",
        crate::verify::name_text(&leaf),
        leaf.serial_number()
            .to_bn()
            .and_then(|b| b.to_hex_str().map(|s| s.to_string()))
            .unwrap_or_default(),
        not_after.map_or("?".into(), rfc3339)
    );
    let must_staple = args.must_staple
        || leaf
            .to_der()
            .is_ok_and(|der| labcore::tls_feature::has_must_staple(&der));
    if must_staple {
        let _ = writeln!(
            out,
            "must-staple: yes{}",
            if args.must_staple {
                " (--must-staple)"
            } else {
                " (TLS Feature status_request)"
            }
        );
    }

    // The chain, as a careful client judges it.
    let chain_result = verify_chain(
        &leaf,
        &intermediates,
        &trusted,
        args.ca.is_none(),
        servername.as_deref(),
        host,
    );
    match &chain_result {
        Ok(()) => {
            let _ = writeln!(
                out,
                "chain:       verified{}",
                args.ca
                    .as_ref()
                    .map_or(" against the system's CAs".into(), |p| format!(
                        " against {}",
                        p.display()
                    ))
            );
        }
        Err(why) => {
            let _ = writeln!(out, "chain:       FAILED: {why}");
        }
    }

    let issuer = intermediates
        .iter()
        .chain(trusted.iter())
        .find(|c| c.issued(&leaf) == X509VerifyResult::OK)
        .cloned();
    let staple_result = staple.as_ref().map(|der| match &issuer {
        None => Err(Problem::NoIssuer),
        Some(issuer) => verify(
            der,
            &Expectation {
                leaf: &leaf,
                issuer,
                untrusted: &intermediates,
                trusted: &trusted,
                nonce: None,
                clock_skew: args.clock_skew,
                check_signature: true,
            },
            now,
        ),
    });
    let verdict = match (&staple, &staple_result) {
        (None, _) | (_, None) => {
            let _ = writeln!(out, "staple:      none");
            if chain_result.is_err() {
                Verdict::BadCertificate
            } else {
                let _ = writeln!(
                    out,
                    "verdict:     {}",
                    if must_staple {
                        "REJECT: must-staple certificate without a staple (Firefox: MOZILLA_PKIX_ERROR_REQUIRED_TLS_FEATURE_MISSING); fix: make the server staple"
                    } else {
                        "NOT STAPLED: clients fall back to asking the responder themselves (or to nothing); fix: turn stapling on (nginx ssl_stapling on; Apache SSLUseStapling on)"
                    }
                );
                return Ok(Verdict::NoStaple);
            }
        }
        (Some(der), Some(Ok(v))) => {
            let _ = writeln!(out, "staple:      yes, {} bytes", der.len());
            let status = match v.state() {
                CertState::Good => "good".to_string(),
                CertState::Revoked { at, reason } => {
                    format!(
                        "REVOKED at {}, reason {}",
                        rfc3339(*at),
                        reason.as_deref().unwrap_or("unspecified")
                    )
                }
            };
            let _ = writeln!(out, "status:      {status}");
            let age = now
                .duration_since(v.produced_at())
                .unwrap_or(Duration::ZERO);
            let left = v
                .next_update()
                .duration_since(now)
                .unwrap_or(Duration::ZERO);
            let _ = writeln!(
                out,
                "age:         produced {} ago (thisUpdate {}), nextUpdate {} (in {})",
                humantime::format_duration(Duration::from_secs(age.as_secs())),
                rfc3339(v.this_update()),
                rfc3339(v.next_update()),
                humantime::format_duration(Duration::from_secs(left.as_secs()))
            );
            let _ = writeln!(out, "signed by:   {}", v.signer());
            match (v.state(), &chain_result) {
                (CertState::Revoked { .. }, _) => {
                    let _ = writeln!(
                        out,
                        "verdict:     REJECT: the certificate is revoked (Firefox: SEC_ERROR_REVOKED_CERTIFICATE); fix: replace the certificate"
                    );
                    return Ok(Verdict::Revoked);
                }
                (CertState::Good, Err(_)) => Verdict::BadCertificate,
                (CertState::Good, Ok(())) => {
                    let _ = writeln!(out, "verdict:     OK: a valid staple says good");
                    return Ok(Verdict::Good);
                }
            }
        }
        (Some(der), Some(Err(problem))) => {
            let _ = writeln!(
                out,
                "staple:      yes, {} bytes, INVALID: {problem}",
                der.len()
            );
            let _ = writeln!(
                out,
                "verdict:     REJECT: the staple must not be trusted; fix: {}",
                server_remedy(problem)
            );
            return Ok(if chain_result.is_err() {
                Verdict::BadCertificate
            } else {
                Verdict::InvalidStaple
            });
        }
    };
    let _ = writeln!(
        out,
        "verdict:     REJECT: the certificate does not verify ({}); fix: serve a valid certificate and chain",
        chain_result
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    Ok(verdict)
}

/// The fix for a bad staple, from the point of view of the server that sent it.
fn server_remedy(problem: &Problem) -> &'static str {
    match problem {
        Problem::Expired => {
            "the server staples a response past its nextUpdate: it must fetch a fresh one before then \
             (Apache: lower SSLStaplingStandardCacheTimeout)"
        }
        Problem::NotYetValid => "the server's or the responder's clock is ahead",
        other => other.remedy(),
    }
}

fn verify_chain(
    leaf: &X509,
    intermediates: &[X509],
    trusted: &[X509],
    system: bool,
    servername: Option<&str>,
    host: &str,
) -> Result<(), ChainFailure> {
    let mut store = X509StoreBuilder::new()?;
    if system {
        store.set_default_paths()?;
    }
    for cert in trusted {
        store.add_cert(cert.clone())?;
    }
    let mut param = openssl::x509::verify::X509VerifyParam::new()?;
    match (servername, host.parse::<IpAddr>()) {
        (Some(name), _) => param.set_host(name)?,
        (None, Ok(ip)) => param.set_ip(ip)?,
        (None, Err(_)) => {}
    }
    store.set_param(&param)?;
    let store = store.build();
    let mut untrusted = Stack::new()?;
    for cert in intermediates {
        untrusted.push(cert.clone())?;
    }
    let mut ctx = X509StoreContext::new()?;
    let (verified, error) = ctx.init(&store, leaf, &untrusted, |c| {
        c.verify_cert().map(|ok| (ok, c.error()))
    })?;
    if verified {
        Ok(())
    } else {
        Err(ChainFailure::Rejected(error.error_string()))
    }
}

fn asn1_to_system(t: &openssl::asn1::Asn1TimeRef) -> Option<SystemTime> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(t).ok()?;
    let secs = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}
