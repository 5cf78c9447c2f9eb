//! `handshake-bench`: the TLS client of `scripts/bench` for the stapler.
//!
//! ```text
//! handshake-bench run --connect 127.0.0.1:8443 [--servername NAME | --servernames FILE]
//!     [--tls 1.2|1.3] [--threads 4] [--duration 10] [--max HANDSHAKES]
//! handshake-bench startup --connect 127.0.0.1:8443 [--servername NAME] [--timeout 30]
//!     [--log FILE] -- COMMAND [ARGS…]
//! ```
//!
//! `run` makes full handshakes from several threads for a while: a rustls
//! client (cheap, so that the server's cost dominates), no session
//! resumption, asking for a staple (rustls always sends status_request). The
//! server's handshake signature is verified; its chain is not (`stapler
//! check` judges the chain and the staple beforehand). Each connection then
//! sends close_notify and waits for the server to close, so the server's
//! side of every handshake is complete. It prints one JSON object:
//! handshakes, rate, how many carried a staple, latency percentiles, errors.
//! With `--max N` it stops after N handshakes (for instruction counts under
//! `valgrind --tool=callgrind`).
//!
//! `startup` starts COMMAND (a stapler listening on `--connect`), and
//! measures the time from spawning it to the first handshake that carries a
//! staple; then it stops the process (SIGTERM, then SIGKILL) and prints one
//! JSON object.

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, ClientConnection, Resumption};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, ProtocolVersion, SignatureScheme};

const USAGE: &str = "usage: handshake-bench run --connect ADDR [--servername NAME | --servernames FILE] \
[--tls 1.2|1.3] [--threads N] [--duration SECS] [--max N]\n       \
handshake-bench startup --connect ADDR [--servername NAME] [--timeout SECS] [--log FILE] -- COMMAND [ARGS...]";

/// Settings of both modes.
#[derive(Clone, Debug)]
struct Options {
    connect: Option<SocketAddr>,
    names: Vec<String>,
    tls: Option<&'static rustls::SupportedProtocolVersion>,
    threads: usize,
    duration: Duration,
    max: Option<u64>,
    timeout: Duration,
    log: Option<String>,
    command: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        connect: None,
        names: Vec::new(),
        tls: None,
        threads: 4,
        duration: Duration::from_secs(10),
        max: None,
        timeout: Duration::from_secs(30),
        log: None,
        command: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--connect" => {
                let v = value("--connect")?;
                o.connect = Some(
                    v.parse()
                        .map_err(|_| format!("--connect {v}: expected IP:PORT"))?,
                );
            }
            "--servername" => o.names = vec![value("--servername")?],
            "--servernames" => {
                let file = value("--servernames")?;
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read {file}: {e}"))?;
                o.names = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
            }
            "--tls" => {
                o.tls = Some(match value("--tls")?.as_str() {
                    "1.2" => &rustls::version::TLS12,
                    "1.3" => &rustls::version::TLS13,
                    other => return Err(format!("--tls {other}: expected 1.2 or 1.3")),
                });
            }
            "--threads" => {
                o.threads = value("--threads")?
                    .parse()
                    .map_err(|_| "--threads: expected a number".to_string())?;
            }
            "--duration" => o.duration = seconds(&value("--duration")?)?,
            "--max" => {
                o.max = Some(
                    value("--max")?
                        .parse()
                        .map_err(|_| "--max: expected a number".to_string())?,
                );
            }
            "--timeout" => o.timeout = seconds(&value("--timeout")?)?,
            "--log" => o.log = Some(value("--log")?),
            "--" => {
                o.command = it.by_ref().cloned().collect();
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.connect.is_none() {
        return Err("--connect is required".into());
    }
    Ok(o)
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && s.is_finite())
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("'{text}': expected seconds, e.g. 10 or 0.5"))
}

thread_local! {
    /// Whether the last certificate this thread's client saw came with a staple.
    static STAPLED: Cell<bool> = const { Cell::new(false) };
}

/// Accepts any certificate (the chain is judged by `stapler check`
/// beforehand), notes whether a staple came with it, and verifies the
/// handshake signature for real.
#[derive(Debug)]
struct NoteStaple {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoteStaple {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        STAPLED.with(|s| s.set(!ocsp_response.is_empty()));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn client_config(
    tls: Option<&'static rustls::SupportedProtocolVersion>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match tls {
        Some(v) => vec![v],
        None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let verifier = Arc::new(NoteStaple {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = ClientConfig::builder_with_provider(provider as Arc<CryptoProvider>)
        .with_protocol_versions(&versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // Full handshakes only.
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// How one connection went.
enum Outcome {
    /// Handshake done in this time, with or without a staple, in this version.
    Done {
        took: Duration,
        stapled: bool,
        version: &'static str,
    },
    /// Failed, with a reason.
    Failed(String),
}

fn version_name(v: Option<ProtocolVersion>) -> &'static str {
    match v {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "other",
    }
}

/// One full handshake, then close_notify and wait for the server to close.
fn handshake(
    config: &Arc<ClientConfig>,
    addr: SocketAddr,
    name: Option<&str>,
    timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let server_name = match name {
        Some(n) => match ServerName::try_from(n.to_string()) {
            Ok(n) => n,
            Err(e) => return Outcome::Failed(format!("server name {n}: {e}")),
        },
        None => ServerName::IpAddress(addr.ip().into()),
    };
    let mut tcp = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(tcp) => tcp,
        Err(e) => return Outcome::Failed(format!("connect: {e}")),
    };
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(timeout));
    let _ = tcp.set_write_timeout(Some(timeout));
    let mut conn = match ClientConnection::new(config.clone(), server_name) {
        Ok(conn) => conn,
        Err(e) => return Outcome::Failed(format!("tls: {e}")),
    };
    STAPLED.with(|s| s.set(false));
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            return Outcome::Failed(format!("handshake: {e}"));
        }
    }
    let took = started.elapsed();
    let stapled = STAPLED.with(Cell::get);
    let version = version_name(conn.protocol_version());
    // close_notify, then read until the server closes.
    conn.send_close_notify();
    while conn.wants_write() {
        if conn.write_tls(&mut tcp).is_err() {
            break;
        }
    }
    let _ = tcp.flush();
    let mut sink = [0u8; 4096];
    loop {
        match tcp.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Outcome::Done {
        took,
        stapled,
        version,
    }
}

#[derive(Default)]
struct Tally {
    handshakes: u64,
    stapled: u64,
    errors: u64,
    first_error: Option<String>,
    versions: Vec<&'static str>,
    latencies_us: Vec<u32>,
}

fn run(o: &Options) -> Result<String, String> {
    let addr = o.connect.ok_or("--connect is required")?;
    let config = client_config(o.tls).map_err(|e| format!("tls: {e}"))?;
    let names = Arc::new(o.names.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let begun = Arc::new(AtomicU64::new(0));
    let max = o.max.unwrap_or(u64::MAX);
    let started = Instant::now();
    let mut workers = Vec::new();
    for t in 0..o.threads.max(1) {
        let (config, names, stop, begun) =
            (config.clone(), names.clone(), stop.clone(), begun.clone());
        let timeout = Duration::from_secs(5);
        workers.push(std::thread::spawn(move || {
            let mut tally = Tally::default();
            let mut i = t * 7919;
            while !stop.load(Ordering::Relaxed) {
                if begun.fetch_add(1, Ordering::Relaxed) >= max {
                    break;
                }
                let name = (!names.is_empty()).then(|| names[i % names.len()].as_str());
                i += 1;
                match handshake(&config, addr, name, timeout) {
                    Outcome::Done {
                        took,
                        stapled,
                        version,
                    } => {
                        tally.handshakes += 1;
                        tally.stapled += u64::from(stapled);
                        if !tally.versions.contains(&version) {
                            tally.versions.push(version);
                        }
                        tally
                            .latencies_us
                            .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                    }
                    Outcome::Failed(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert(e);
                        // Do not spin on a dead server.
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
            tally
        }));
    }
    while started.elapsed() < o.duration && !workers.iter().all(|w| w.is_finished()) {
        std::thread::sleep(Duration::from_millis(10).min(o.duration));
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Tally::default();
    for worker in workers {
        let t = worker.join().map_err(|_| "a client thread panicked")?;
        all.handshakes += t.handshakes;
        all.stapled += t.stapled;
        all.errors += t.errors;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
        for v in t.versions {
            if !all.versions.contains(&v) {
                all.versions.push(v);
            }
        }
        all.latencies_us.extend(t.latencies_us);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> u32 {
        if all.latencies_us.is_empty() {
            return 0;
        }
        let idx = ((p / 100.0) * (all.latencies_us.len() - 1) as f64).round() as usize;
        all.latencies_us[idx.min(all.latencies_us.len() - 1)]
    };
    Ok(format!(
        "{{\"handshakes\":{},\"seconds\":{:.3},\"per_second\":{:.1},\"stapled\":{},\"errors\":{},\
         \"first_error\":{},\"versions\":[{}],\"p50_us\":{},\"p99_us\":{},\"threads\":{},\"names\":{}}}",
        all.handshakes,
        elapsed,
        all.handshakes as f64 / elapsed,
        all.stapled,
        all.errors,
        json_string(all.first_error.as_deref()),
        all.versions
            .iter()
            .map(|v| format!("\"{v}\""))
            .collect::<Vec<_>>()
            .join(","),
        pct(50.0),
        pct(99.0),
        o.threads.max(1),
        o.names.len()
    ))
}

fn json_string(s: Option<&str>) -> String {
    match s {
        None => "null".into(),
        Some(s) => {
            let escaped: String = s
                .chars()
                .map(|c| match c {
                    '"' => "\\\"".to_string(),
                    '\\' => "\\\\".to_string(),
                    c if (c as u32) < 0x20 => format!("\\u{:04x}", c as u32),
                    c => c.to_string(),
                })
                .collect();
            format!("\"{escaped}\"")
        }
    }
}

fn startup(o: &Options) -> Result<String, String> {
    let addr = o.connect.ok_or("--connect is required")?;
    let (program, args) = o
        .command
        .split_first()
        .ok_or("startup needs the command after --")?;
    let config = client_config(None).map_err(|e| format!("tls: {e}"))?;
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    if let Some(log) = &o.log {
        let file = std::fs::File::create(log).map_err(|e| format!("cannot create {log}: {e}"))?;
        let err = file
            .try_clone()
            .map_err(|e| format!("cannot use {log}: {e}"))?;
        command.stdout(file).stderr(err);
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let pid = child.id();
    let mut first_connect: Option<Duration> = None;
    let mut attempts = 0u32;
    let result = loop {
        if started.elapsed() > o.timeout {
            break Err(format!(
                "no stapled handshake within {:?} (attempts: {attempts})",
                o.timeout
            ));
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!(
                "{program} exited before a stapled handshake: {status}"
            ));
        }
        attempts += 1;
        let name = o.names.first().map(String::as_str);
        match handshake(&config, addr, name, Duration::from_secs(10)) {
            Outcome::Done { stapled: true, .. } => {
                first_connect.get_or_insert(started.elapsed());
                break Ok(started.elapsed());
            }
            Outcome::Done { stapled: false, .. } => {
                first_connect.get_or_insert(started.elapsed());
                std::thread::sleep(Duration::from_millis(5));
            }
            Outcome::Failed(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    stop(&mut child, pid);
    let first = result?;
    Ok(format!(
        "{{\"first_stapled_ms\":{:.1},\"first_handshake_ms\":{:.1},\"attempts\":{attempts},\"pid\":{pid}}}",
        first.as_secs_f64() * 1000.0,
        first_connect.unwrap_or(first).as_secs_f64() * 1000.0
    ))
}

/// SIGTERM, up to 5 s to exit, then SIGKILL.
fn stop(child: &mut std::process::Child, pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((mode, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let options = match parse(rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("handshake-bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match mode.as_str() {
        "run" => run(&options),
        "startup" => startup(&options),
        _ => Err(format!("unknown mode {mode}")),
    };
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("handshake-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
