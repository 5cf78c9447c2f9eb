//! `testca`: the OCSP Lab's test CA and QA command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use labcore::layout::{DEFAULT_LAB_DIR, LAB_DIR_ENV};
use labcore::timestamp::parse_time;
use labcore::{CaName, RevocationReason};
use testca::bulk::{BulkOptions, issue_bulk};
use testca::export::{ExportFormat, OPENSSL_INDEX_ATTR, export};
use testca::faults::FaultMode;
use testca::store::DatabaseUrl;
use testca::{
    CertSelector, InitOptions, IssueOptions, KeyAlg, Lab, Serial, SignerDefects, StoreOptions,
    report,
};
use time::OffsetDateTime;

/// Test CA of the OCSP Lab: issues certificates whose AIA points at the lab's
/// OCSP responder, and keeps the revocation database the responder answers from.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true)]
struct Cli {
    /// Lab directory.
    #[arg(long, global = true, env = LAB_DIR_ENV, default_value = DEFAULT_LAB_DIR)]
    dir: PathBuf,

    /// How long to wait when another process holds the database's write lock.
    #[arg(long, global = true, env = "OCSPLAB_LOCK_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    lock_timeout: Duration,

    /// Revocation database in PostgreSQL, postgres://USER:PASSWORD@HOST:PORT/DATABASE (the lab
    /// remembers it at init; later commands must name it again) [default: the SQLite file DIR/revocation.db].
    #[arg(long, global = true, env = "OCSPLAB_DB", hide_env_values = true, value_name = "URL", value_parser = parse_db)]
    db: Option<DatabaseUrl>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a lab: root and intermediate CAs, delegated OCSP signers, the `localhost` leaf, the revocation database.
    Init(InitArgs),
    /// Issue a TLS server certificate and print its serial.
    Issue(IssueArgs),
    /// Issue many certificates at once for load tests: real certificates with random serials,
    /// recorded in the database only (no files, keys dropped) unless --files.
    IssueBulk(IssueBulkArgs),
    /// Export certificates and their status: an OpenSSL CA index.txt (for `openssl ocsp -index`)
    /// or JSON lines.
    Export(ExportArgs),
    /// Re-issue a CA's delegated OCSP signer, optionally with a defect; the responder signs with the newest.
    Signer(SignerArgs),
    /// Revoke a certificate.
    Revoke(RevokeArgs),
    /// Clear a certificate's revocation.
    Unrevoke(TargetArgs),
    /// List every certificate with its status.
    List(ListArgs),
    /// Show one certificate and its files.
    Show(ShowArgs),
    /// Make the running responder misbehave on purpose (QA fault injection).
    #[command(subcommand)]
    Fault(FaultCommand),
    /// Serve the lab's control plane: a JSON API under /api/v1/ (token in LAB/api-token) and a web console at /.
    Serve(ServeArgs),
    /// The revocation database: where it is, its schema version, and PostgreSQL roles.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Print the database, its backend, schema version and generation.
    Status,
    /// Let a PostgreSQL role read what a responder needs (statuses, issuers, faults, generation,
    /// which certificates are signers) and nothing else: not the signers' private keys, no writes.
    /// Run as the writer (the role that ran init); create the role first (CREATE ROLE … LOGIN).
    GrantReader(GrantReaderArgs),
}

#[derive(Args, Debug)]
struct GrantReaderArgs {
    /// The reader role.
    role: String,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on (the API can revoke anything: keep it on loopback or a private network).
    #[arg(long, env = "OCSPLAB_SERVE_LISTEN", default_value = testca::serve::DEFAULT_LISTEN)]
    listen: std::net::SocketAddr,
    /// OCSP responder URL the console asks [default: each certificate's AIA OCSP URL].
    #[arg(long, env = "OCSPLAB_SERVE_RESPONDER")]
    responder: Option<String>,
    /// Base URL of the lab's stapler (its /status.json).
    #[arg(long, env = "OCSPLAB_SERVE_STAPLER", default_value = testca::serve::DEFAULT_STAPLER_URL)]
    stapler: String,
    /// URL of the stapler's refresh action [default: STAPLER/admin/refresh].
    #[arg(long, env = "OCSPLAB_SERVE_STAPLER_ADMIN")]
    stapler_admin: Option<String>,
    /// Accept the stapler's certificate for any host name; it must still chain to the lab's root
    /// (compose reaches it as `stapler`, its certificate names localhost).
    #[arg(long, env = "OCSPLAB_SERVE_STAPLER_ANY_NAME")]
    stapler_any_name: bool,
    /// The stapler executable run for "check now" [default: `stapler` next to this binary].
    #[arg(long, env = "OCSPLAB_SERVE_STAPLER_BIN")]
    stapler_bin: Option<PathBuf>,
    /// Bound of each request to the responder or the stapler, and of a check.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    upstream_timeout: Duration,
}

#[derive(Subcommand, Debug)]
enum FaultCommand {
    /// Set a fault; it replaces the fault of the same scope and applies from the responder's next request.
    Set(FaultSetArgs),
    /// List the faults in force.
    List(ListArgs),
    /// Clear every fault, or one certificate's.
    Clear(FaultClearArgs),
}

#[derive(Args, Debug)]
struct FaultSetArgs {
    /// try-later, internal-error, unauthorized, malformed-response, stale, future, no-next-update,
    /// bad-signature, wrong-signer, wrong-cert-id, delay=MS, http-500 or close.
    #[arg(value_parser = parse_fault)]
    mode: FaultMode,
    /// Only for this certificate (name) [default: every certificate].
    #[arg(long)]
    cert: Option<String>,
    /// Only for this long, e.g. 30s, 5m [default: until cleared].
    #[arg(long = "for", value_parser = parse_lasting)]
    lasting: Option<Duration>,
}

#[derive(Args, Debug)]
struct FaultClearArgs {
    /// Only this certificate's fault [default: every fault].
    #[arg(long)]
    cert: Option<String>,
}

#[derive(Args, Debug)]
struct InitArgs {
    /// OCSP responder URL written into Authority Information Access (the responder's default address).
    #[arg(long, default_value = testca::config::DEFAULT_OCSP_URL)]
    ocsp_url: String,
    /// Base URL of the CA Issuers entries; `<CA>.der` is appended [default: /ca/ on the OCSP URL's host].
    #[arg(long)]
    ca_issuers_url: Option<String>,
    /// Base URL of the CRL distribution points; `<CA>.crl` is appended [default: /crl/ on the OCSP URL's host].
    #[arg(long)]
    crl_url: Option<String>,
    /// Key algorithm of every key of the lab.
    #[arg(long, default_value = "ecdsa-p256", value_parser = parse_key_alg)]
    key_alg: KeyAlg,
    /// Replace an existing lab (deletes its keys and database).
    #[arg(long, conflicts_with = "if_missing")]
    force: bool,
    /// Do nothing (and succeed) when the directory already holds a lab: for one-shot init containers.
    #[arg(long)]
    if_missing: bool,
}

#[derive(Args, Debug)]
struct IssueArgs {
    /// Name of the certificate (its common name and directory under certs/).
    name: String,
    /// Subject alternative name, DNS name or IP address; repeatable [default: NAME].
    #[arg(long = "san", value_name = "SAN")]
    sans: Vec<String>,
    /// Days of validity (at most 36500).
    #[arg(long, default_value_t = testca::authority::DEFAULT_LEAF_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(testca::authority::MAX_DAYS)))]
    days: u32,
    /// Make a certificate whose notAfter is already past (yesterday).
    #[arg(long, conflicts_with = "not_yet_valid")]
    expired: bool,
    /// Make a certificate whose notBefore is tomorrow.
    #[arg(long)]
    not_yet_valid: bool,
    /// Add the TLS Feature extension status_request (OCSP must-staple).
    #[arg(long)]
    must_staple: bool,
    /// Leave out Authority Information Access (no OCSP URL, no CA Issuers URL).
    #[arg(long)]
    no_aia: bool,
    /// CA that issues it.
    #[arg(long, default_value = "intermediate", value_parser = parse_ca)]
    issuer: CaName,
    /// Supersede an existing certificate of the same name (the old one stays in the database).
    #[arg(long)]
    replace: bool,
}

#[derive(Args, Debug)]
struct IssueBulkArgs {
    /// How many certificates.
    #[arg(value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    count: u64,
    /// Fraction of them to revoke (0 to 1), at random times since issuance with common reasons.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    revoked_fraction: f64,
    /// Names are PREFIX-0001, PREFIX-0002… (also their DNS names).
    #[arg(long, default_value = "bulk")]
    prefix: String,
    /// Days of validity (at most 36500).
    #[arg(long, default_value_t = testca::authority::DEFAULT_LEAF_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(testca::authority::MAX_DAYS)))]
    days: u32,
    /// CA that issues them.
    #[arg(long, default_value = "intermediate", value_parser = parse_ca)]
    issuer: CaName,
    /// Write each certificate's files under certs/NAME/ like `testca issue` (one at a time, slower).
    #[arg(long)]
    files: bool,
    /// Threads generating certificates [default: the number of CPUs].
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args, Debug)]
struct ExportArgs {
    /// openssl-index: OpenSSL CA index.txt of one issuer; jsonl: one JSON object per certificate.
    #[arg(long, value_parser = parse_export_format)]
    format: ExportFormat,
    /// Only the certificates this CA issued [default: intermediate for openssl-index, every CA for jsonl].
    #[arg(long, value_parser = parse_ca)]
    issuer: Option<CaName>,
    /// Write to FILE (atomically; with openssl-index also FILE.attr, `unique_subject = no`) [default: standard output].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct SignerArgs {
    /// CA whose delegated signer is re-issued.
    #[arg(long, default_value = "intermediate", value_parser = parse_ca)]
    issuer: CaName,
    /// Make it already expired.
    #[arg(long)]
    expired: bool,
    /// Leave out id-pkix-ocsp-nocheck.
    #[arg(long)]
    no_nocheck: bool,
    /// Leave out the id-kp-OCSPSigning extended key usage (clients must reject its responses).
    #[arg(long)]
    no_eku: bool,
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct Target {
    /// Name of the certificate.
    name: Option<String>,
    /// Serial number in hex (colons allowed).
    #[arg(long, value_parser = parse_serial)]
    serial: Option<Serial>,
}

impl Target {
    fn selector(self) -> CertSelector {
        match (self.name, self.serial) {
            (_, Some(serial)) => CertSelector::Serial(serial),
            (Some(name), None) => CertSelector::Name(name),
            // clap's group makes one of them required.
            (None, None) => CertSelector::Name(String::new()),
        }
    }
}

#[derive(Args, Debug)]
struct TargetArgs {
    #[command(flatten)]
    target: Target,
}

#[derive(Args, Debug)]
struct RevokeArgs {
    #[command(flatten)]
    target: Target,
    /// CRLReason (RFC 5280 name, e.g. keyCompromise) [default: none, shown as unspecified].
    #[arg(long, value_parser = parse_reason)]
    reason: Option<RevocationReason>,
    /// Revocation time, RFC 3339 (e.g. 2026-01-02T03:04:05Z) [default: now].
    #[arg(long, value_parser = parse_at)]
    at: Option<OffsetDateTime>,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Print JSON (one array) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ShowArgs {
    #[command(flatten)]
    target: Target,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Writes an export next to `path`, then renames it into place; with an
/// OpenSSL index, also `path.attr`.
async fn export_to_file(
    lab: &Lab,
    format: ExportFormat,
    issuer: Option<testca::ids::IssuerId>,
    path: &std::path::Path,
) -> Result<testca::export::ExportSummary> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".export-")
        .tempfile_in(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create a file in {}: {e}", dir.display()))?;
    let summary = {
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        let summary = export(lab.store(), format, issuer, &mut out, path).await?;
        out.flush()?;
        summary
    };
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    if format == ExportFormat::OpensslIndex {
        let mut attr = path.as_os_str().to_owned();
        attr.push(".attr");
        std::fs::write(&attr, OPENSSL_INDEX_ATTR).map_err(|e| {
            anyhow::anyhow!(
                "cannot write {}: {e}",
                std::path::Path::new(&attr).display()
            )
        })?;
    }
    Ok(summary)
}

/// `--db`: a PostgreSQL URL. The SQLite file is always the lab's own, so it is not named.
fn parse_db(text: &str) -> Result<DatabaseUrl, String> {
    match text.parse::<DatabaseUrl>() {
        Ok(db @ DatabaseUrl::Postgres(_)) => Ok(db),
        Ok(DatabaseUrl::Sqlite(_)) => Err(format!(
            "'{text}' is not a PostgreSQL URL; {}",
            testca::store::EXPECTED_URL
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_key_alg(text: &str) -> Result<KeyAlg, String> {
    text.parse().map_err(|e: testca::Error| e.to_string())
}

fn parse_ca(text: &str) -> Result<CaName, String> {
    text.parse().map_err(|e: labcore::Error| e.to_string())
}

fn parse_serial(text: &str) -> Result<Serial, String> {
    text.parse().map_err(|e: testca::Error| e.to_string())
}

fn parse_reason(text: &str) -> Result<RevocationReason, String> {
    text.parse().map_err(|e: labcore::Error| e.to_string())
}

fn parse_export_format(text: &str) -> Result<ExportFormat, String> {
    text.parse().map_err(|e: testca::Error| e.to_string())
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "'{text}' is not a fraction between 0 and 1, e.g. 0.1"
        )),
    }
}

fn parse_fault(text: &str) -> Result<FaultMode, String> {
    text.parse().map_err(|e: testca::Error| e.to_string())
}

fn parse_lasting(text: &str) -> Result<Duration, String> {
    testca::faults::parse_lasting(text).map_err(|e| e.to_string())
}

fn parse_at(text: &str) -> Result<OffsetDateTime, String> {
    parse_time(text).map_err(|e| e.to_string())
}

/// `stapler` in the directory of this executable, else on the PATH.
fn sibling_stapler() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("stapler")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("stapler"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs what it does; one-shot commands only what went wrong.
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr)
        // Colour for people at a terminal; plain text in log files and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("testca: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let store_options = StoreOptions {
        lock_timeout: cli.lock_timeout,
        ..StoreOptions::default()
    };
    if let Command::Init(args) = &cli.command {
        if args.if_missing && labcore::Layout::new(&cli.dir).is_lab() {
            // A lab kept in a volume may be stale (an older version, or made for another
            // responder address): say so now rather than serve certificates nobody can check.
            let dir = cli.dir.display();
            let lab = Lab::open_with(&cli.dir, cli.db.as_ref(), &store_options).await.map_err(|e| {
                anyhow::anyhow!(
                    "the lab already in {dir} cannot be used ({e}): remove it (docker compose down -v) to make a new one"
                )
            })?;
            let existing = &lab.config().ocsp_url;
            if *existing != args.ocsp_url {
                anyhow::bail!(
                    "the lab already in {dir} was made for OCSP URL {existing}, not {}: remove it (docker compose down -v) to make a new one, or pass --ocsp-url {existing}",
                    args.ocsp_url
                );
            }
            println!(
                "a lab already exists in {}; leaving it as it is",
                cli.dir.display()
            );
            return Ok(());
        }
        let options = InitOptions {
            ocsp_url: args.ocsp_url.clone(),
            ca_issuers_base: args.ca_issuers_url.clone(),
            crl_base: args.crl_url.clone(),
            key_alg: args.key_alg,
            force: args.force,
        };
        let lab = Lab::init_with(&cli.dir, cli.db.as_ref(), &options, &store_options).await?;
        let layout = lab.layout();
        println!("created lab in {}", layout.dir().display());
        println!("  OCSP URL:        {}", lab.config().ocsp_url);
        println!(
            "  root CA:         {}",
            layout.ca_cert(CaName::Root).display()
        );
        println!("  CA bundle:       {}", layout.ca_bundle().display());
        println!(
            "  localhost chain: {}",
            layout.leaf_dir("localhost").join("fullchain.pem").display()
        );
        println!("  database:        {}", lab.store().database());
        println!("  API token:       {}", layout.api_token().display());
        lab.close().await;
        return Ok(());
    }
    let lab = Lab::open_with(&cli.dir, cli.db.as_ref(), &store_options).await?;
    if !lab.recovery().is_empty() {
        eprintln!("testca: {}", lab.recovery());
    }
    if let Command::Serve(args) = cli.command {
        let options = testca::serve::ServeOptions {
            listen: args.listen,
            responder: args.responder,
            stapler: testca::serve::stapler::StaplerSettings {
                url: args.stapler,
                admin_refresh: args.stapler_admin,
                any_name: args.stapler_any_name,
                program: args.stapler_bin.unwrap_or_else(sibling_stapler),
            },
            upstream_timeout: args.upstream_timeout,
        };
        testca::serve::serve(lab, &options, labcore::accept::shutdown_signal()).await?;
        return Ok(());
    }
    let result = command(&lab, cli.command).await;
    lab.close().await;
    result
}

async fn command(lab: &Lab, command: Command) -> Result<()> {
    match command {
        Command::Init(_) | Command::Serve(_) => unreachable!("handled before"),
        Command::Issue(args) => {
            let options = IssueOptions {
                name: args.name,
                sans: args.sans,
                days: args.days,
                expired: args.expired,
                not_yet_valid: args.not_yet_valid,
                must_staple: args.must_staple,
                no_aia: args.no_aia,
                issuer: args.issuer,
                replace: args.replace,
            };
            let cert = lab.issue(&options).await?;
            eprintln!(
                "issued {} in {}",
                cert.name,
                lab.layout().leaf_dir(&cert.name).display()
            );
            println!("{}", cert.serial);
        }
        Command::IssueBulk(args) => {
            let options = BulkOptions {
                count: args.count,
                revoked_fraction: args.revoked_fraction,
                prefix: args.prefix,
                issuer: args.issuer,
                days: args.days,
                files: args.files,
                threads: args
                    .threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
            };
            let started = std::time::Instant::now();
            let mut last_tenth = 0;
            let report = issue_bulk(lab, &options, &mut |done, total| {
                let tenth = done * 10 / total;
                if tenth > last_tenth {
                    last_tenth = tenth;
                    eprintln!("issued {done}/{total}");
                }
            })
            .await?;
            println!(
                "issued {} certificates ({} to {}), {} revoked, in {:.1} s",
                report.issued,
                report.first,
                report.last,
                report.revoked,
                started.elapsed().as_secs_f64()
            );
        }
        Command::Export(args) => {
            let issuer = match (args.issuer, args.format) {
                (Some(ca), _) => Some(ca),
                (None, ExportFormat::OpensslIndex) => Some(CaName::Intermediate),
                (None, ExportFormat::Jsonl) => None,
            };
            let issuer_id = match issuer {
                Some(ca) => Some(
                    lab.store()
                        .issuer_by_name(ca.name())
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("the {ca} CA is not recorded in this lab"))?
                        .id,
                ),
                None => None,
            };
            let summary = match &args.out {
                None => {
                    let stdout = std::io::stdout();
                    let mut out = std::io::BufWriter::new(stdout.lock());
                    export(
                        lab.store(),
                        args.format,
                        issuer_id,
                        &mut out,
                        std::path::Path::new("standard output"),
                    )
                    .await?
                }
                Some(path) => export_to_file(lab, args.format, issuer_id, path).await?,
            };
            if summary.reasons_dropped > 0 {
                eprintln!(
                    "warning: {} revoked certificate(s) have a reason OpenSSL's index cannot name \
                     (privilegeWithdrawn, aACompromise); written without a reason",
                    summary.reasons_dropped
                );
            }
            eprintln!(
                "exported {} certificate(s), {} revoked{}",
                summary.certificates,
                summary.revoked,
                args.out
                    .as_ref()
                    .map(|p| format!(", to {}", p.display()))
                    .unwrap_or_default()
            );
        }
        Command::Signer(args) => {
            let defects = SignerDefects {
                expired: args.expired,
                no_nocheck: args.no_nocheck,
                no_eku: args.no_eku,
            };
            let cert = lab.reissue_signer(args.issuer, defects).await?;
            eprintln!(
                "issued {} in {}",
                cert.name,
                lab.layout().signer_dir(args.issuer).display()
            );
            println!("{}", cert.serial);
        }
        Command::Revoke(args) => {
            let cert = lab
                .revoke(&args.target.selector(), args.reason, args.at)
                .await?;
            println!("{}", report::status_line(&cert));
        }
        Command::Unrevoke(args) => {
            let cert = lab.unrevoke(&args.target.selector()).await?;
            println!("{}", report::status_line(&cert));
        }
        Command::List(args) => {
            let certs = lab.list().await?;
            if args.json {
                let all: Vec<_> = certs.iter().map(report::json).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                print!("{}", report::table(&certs));
            }
        }
        Command::Fault(FaultCommand::Set(args)) => {
            let selector = args.cert.map(CertSelector::Name);
            let fault = lab
                .set_fault(args.mode, selector.as_ref(), args.lasting)
                .await?;
            println!("fault set: {}", report::fault_line(&fault));
        }
        Command::Fault(FaultCommand::List(args)) => {
            let faults = lab.active_faults().await?;
            if args.json {
                let all: Vec<_> = faults.iter().map(report::fault_json).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else if faults.is_empty() {
                println!("no faults: the responder answers correctly");
            } else {
                for fault in &faults {
                    println!("{}", report::fault_line(fault));
                }
            }
        }
        Command::Fault(FaultCommand::Clear(args)) => {
            let selector = args.cert.map(CertSelector::Name);
            let cleared = lab.clear_faults(selector.as_ref()).await?;
            println!("cleared {cleared} fault(s)");
        }
        Command::Show(args) => {
            let cert = lab.find(&args.target.selector()).await?;
            if args.json {
                let mut value = report::json(&cert);
                value["files"] = lab
                    .files_of(&cert)
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!(
                    "{}",
                    report::details(&cert, &lab.files_of(&cert), OffsetDateTime::now_utc())
                );
            }
        }
        Command::Db(DbCommand::Status) => {
            let store = lab.store();
            let backend = if store.database().is_postgres() {
                "PostgreSQL"
            } else {
                "SQLite"
            };
            println!("database:       {}", store.database());
            println!("backend:        {backend}");
            println!("schema version: {}", store.schema_version().await?);
            println!("generation:     {}", store.generation().await?);
        }
        Command::Db(DbCommand::GrantReader(args)) => {
            lab.store().grant_reader(&args.role).await?;
            println!(
                "{} may now read {} (no signer keys, no writes)",
                args.role,
                lab.store().database()
            );
        }
    }
    Ok(())
}
