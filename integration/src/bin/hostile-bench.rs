//! `hostile-bench`: what a hostile network does to the responder and the
//! stapler, measured on loopback. Run it with `scripts/hostile-bench`.
//!
//! 1. Slow clients: each server runs with its open-file limit at `--nofile`
//!    (1024), while `--slow` clients (2000) hold connections by trickling
//!    request headers, or a request body, one byte a second, reconnecting
//!    whenever they are cut off. Meanwhile a normal client sends a request
//!    every 50 ms (the stapler: a new TLS connection each time). Reported:
//!    the normal client's p50/p99/max latency and failures, the server's RSS
//!    before, at peak, and 5 s after the slow clients left.
//! 2. Flood: `--flood` requests (900 000) without nonce for random serials
//!    the lab never issued, over keep-alive connections; the responder's RSS
//!    before, at peak and after, and whether a real certificate's answer is
//!    still served from the cache.
//!
//! Every phase is bounded in time (`--hold`, `--flood-seconds`); servers are
//! stopped when it ends.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use integration::harness::{
    LabResponder, Server, ServerSpec, TestLab, binary, free_port, http_get, http_post,
    stapler_ready_line,
};
use integration::hostile::{SlowClient, Variant};
use integration::ocsp::{CertId, HashAlg, Request, load_cert, openssl_request, random_serial};
use openssl::ssl::{SslConnector, SslMethod};

/// Threads that drive the slow clients (each drives its share in turn).
const SWARM_THREADS: usize = 50;
/// How often a slow client sends a byte.
const TRICKLE_EVERY: Duration = Duration::from_secs(1);
/// How often the normal client asks.
const NORMAL_EVERY: Duration = Duration::from_millis(50);

struct Options {
    slow: usize,
    hold: Duration,
    nofile: u64,
    flood: usize,
    flood_seconds: Duration,
    only: Option<String>,
}

fn usage() -> &'static str {
    "usage: hostile-bench [--slow N (2000)] [--hold SECONDS (20)] [--nofile N (1024)] \
     [--flood N (900000)] [--flood-seconds S (240)] [--only responder|stapler|flood]"
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        slow: 2000,
        hold: Duration::from_secs(20),
        nofile: 1024,
        flood: 900_000,
        flood_seconds: Duration::from_secs(240),
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{}", usage());
            std::process::exit(0);
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--slow" => options.slow = number()? as usize,
            "--hold" => options.hold = Duration::from_secs(number()?),
            "--nofile" => options.nofile = number()?,
            "--flood" => options.flood = number()? as usize,
            "--flood-seconds" => options.flood_seconds = Duration::from_secs(number()?),
            "--only" => options.only = Some(value),
            other => return Err(format!("unknown option {other}\n{}", usage())),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hostile-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let wanted = |what: &str| options.only.as_deref().is_none_or(|o| o == what);
    println!(
        "| server | slow clients | normal requests | failed | p50 ms | p99 ms | max ms | RSS before MB | RSS peak MB | RSS 5 s after MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for target in ["responder", "stapler"] {
        if !wanted(target) {
            continue;
        }
        for variant in [Variant::Headers, Variant::Body] {
            match slow_clients(target, variant, &options) {
                Ok(row) => println!("{row}"),
                Err(e) => {
                    eprintln!("hostile-bench: {target} {variant:?}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    if wanted("flood") {
        match flood(&options) {
            Ok(text) => println!("\n{text}"),
            Err(e) => {
                eprintln!("hostile-bench: flood: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

// ------------------------------------------------------------------ servers

/// Starts `name` under `prlimit --nofile=N:N`.
fn start_limited(
    lab: &TestLab,
    name: &str,
    args: Vec<String>,
    addr: SocketAddr,
    ready: String,
    nofile: u64,
) -> io::Result<Server> {
    let mut all = vec![
        format!("--nofile={nofile}:{nofile}"),
        "--".to_string(),
        binary(name).display().to_string(),
    ];
    all.extend(args);
    Server::start(&ServerSpec {
        name: name.into(),
        program: "prlimit".into(),
        args: all.into_iter().map(Into::into).collect(),
        env: Vec::new(),
        addr,
        ready_line: Some(ready),
        health_path: None,
        log_dir: lab.tmp().join("logs"),
    })
    .map_err(|e| io::Error::other(format!("{name} did not start: {e}")))
}

/// (VmRSS, VmHWM) of a process, in MB.
fn rss(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

// ------------------------------------------------------------------ slow clients

/// Slow clients held open by a few threads until stopped.
struct Swarm {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
    open: Arc<AtomicUsize>,
}

impl Swarm {
    fn start(addr: SocketAddr, variant: Variant, tls: Option<SslConnector>, total: usize) -> Swarm {
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(AtomicUsize::new(0));
        let tls = tls.map(Arc::new);
        let threads = (0..SWARM_THREADS)
            .map(|t| {
                let share = total / SWARM_THREADS + usize::from(t < total % SWARM_THREADS);
                let stop = stop.clone();
                let open = open.clone();
                let tls = tls.clone();
                thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        let mut clients: Vec<Option<SlowClient>> =
                            (0..share).map(|_| None).collect();
                        while !stop.load(Ordering::Relaxed) {
                            let round = Instant::now();
                            for slot in clients.iter_mut() {
                                if stop.load(Ordering::Relaxed) {
                                    break;
                                }
                                match slot {
                                    None => {
                                        if let Ok(c) =
                                            SlowClient::open(addr, variant, tls.as_deref())
                                        {
                                            *slot = Some(c);
                                            open.fetch_add(1, Ordering::Relaxed);
                                        }
                                    }
                                    Some(c) => {
                                        if c.trickle().is_err()
                                            || c.closed_by_server(Duration::from_millis(1))
                                        {
                                            *slot = None;
                                            open.fetch_sub(1, Ordering::Relaxed);
                                        }
                                    }
                                }
                            }
                            if let Some(rest) = TRICKLE_EVERY.checked_sub(round.elapsed()) {
                                thread::sleep(rest);
                            }
                        }
                        let held = clients.iter().filter(|c| c.is_some()).count();
                        open.fetch_sub(held, Ordering::Relaxed);
                    })
                    .expect("spawn a swarm thread")
            })
            .collect();
        Swarm {
            stop,
            threads,
            open,
        }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// `GET /health` on a new TLS connection (a full handshake); whether it answered 200.
fn https_health(addr: SocketAddr, connector: &SslConnector) -> io::Result<bool> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = connector
        .connect("localhost", tcp)
        .map_err(io::Error::other)?;
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut received = Vec::new();
    let _ = tls.read_to_end(&mut received);
    Ok(received.starts_with(b"HTTP/1.1 200"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn slow_clients(target: &str, variant: Variant, options: &Options) -> io::Result<String> {
    let lab = LabResponder::start(&[]);
    let root = lab.lab.root_cert();
    let (server, tls) = if target == "responder" {
        // A second responder on the same lab, limited; the first serves nobody here.
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = lab.lab.dir().display().to_string();
        let args = vec!["--dir".into(), dir, "--listen".into(), addr.to_string()];
        let ready = format!("responder listening on http://{addr}/");
        (
            start_limited(&lab.lab, "responder", args, addr, ready, options.nofile)?,
            None,
        )
    } else {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = lab.lab.dir().display().to_string();
        let args = vec!["--dir".into(), dir, "--listen".into(), addr.to_string()];
        let mut builder =
            SslConnector::builder(SslMethod::tls_client()).map_err(io::Error::other)?;
        builder.set_ca_file(&root).map_err(io::Error::other)?;
        (
            start_limited(
                &lab.lab,
                "stapler",
                args,
                addr,
                stapler_ready_line(addr),
                options.nofile,
            )?,
            Some(builder.build()),
        )
    };
    let addr = server.addr();
    let pid = server.pid();
    let der = openssl_request(
        &[(
            &load_cert(&lab.lab.cert("localhost")),
            &load_cert(&lab.lab.intermediate_cert()),
        )],
        HashAlg::Sha1,
    );
    let normal_tls = tls.clone();
    let ask = || -> bool {
        match &normal_tls {
            None => matches!(
                http_post(addr, "/", "application/ocsp-request", &der),
                Ok(r) if r.status == 200
            ),
            Some(connector) => https_health(addr, connector).unwrap_or(false),
        }
    };
    // Warm up, then the baseline.
    for _ in 0..20 {
        ask();
    }
    thread::sleep(Duration::from_secs(1));
    let (before, _) = rss(pid);

    let swarm = Swarm::start(addr, variant, tls, options.slow);
    // Let the swarm connect (bounded), then measure the normal client for --hold.
    let ramp = Instant::now();
    while swarm.open.load(Ordering::Relaxed) < options.slow.min(900)
        && ramp.elapsed() < Duration::from_secs(30)
    {
        thread::sleep(Duration::from_millis(200));
    }
    let mut latencies = Vec::new();
    let mut failed = 0usize;
    let started = Instant::now();
    while started.elapsed() < options.hold {
        let t = Instant::now();
        if ask() {
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        } else {
            failed += 1;
        }
        if let Some(rest) = NORMAL_EVERY.checked_sub(t.elapsed()) {
            thread::sleep(rest);
        }
    }
    let held = swarm.open.load(Ordering::Relaxed);
    swarm.stop();
    thread::sleep(Duration::from_secs(5));
    let (after, peak) = rss(pid);
    drop(server);
    latencies.sort_by(f64::total_cmp);
    Ok(format!(
        "| {target}, {} | {} ({held} connected at the end) | {} | {failed} | {:.1} | {:.1} | {:.1} | {before:.1} | {peak:.1} | {after:.1} |",
        match variant {
            Variant::Headers => "slow headers",
            Variant::Body => "slow body",
            Variant::Silent => "silent",
        },
        options.slow,
        latencies.len() + failed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    ))
}

// ------------------------------------------------------------------ flood

/// One request on a keep-alive connection; the HTTP status.
fn keep_alive_post(stream: &mut TcpStream, body: &[u8]) -> io::Result<u16> {
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request)?;
    let mut received = Vec::with_capacity(4096);
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        received.extend_from_slice(&buf[..n]);
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                return Ok(status);
            }
        }
    }
}

fn cache_hits(addr: SocketAddr) -> f64 {
    http_get(addr, "/metrics")
        .ok()
        .and_then(|r| {
            r.text()
                .lines()
                .find(|l| l.starts_with("ocsp_responder_cache_hits_total"))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

fn flood(options: &Options) -> io::Result<String> {
    let lab = LabResponder::start(&[]);
    let addr = lab.addr();
    let pid = lab.responder.pid();
    let issuer = load_cert(&lab.lab.intermediate_cert());
    let good = openssl_request(
        &[(&load_cert(&lab.lab.cert("localhost")), &issuer)],
        HashAlg::Sha1,
    );
    http_post(addr, "/", "application/ocsp-request", &good)?;
    thread::sleep(Duration::from_secs(1));
    let (before, _) = rss(pid);
    let sent = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + options.flood_seconds;
    let started = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let sent = sent.clone();
            let issuer = issuer.clone();
            let total = options.flood;
            thread::spawn(move || -> io::Result<()> {
                let mut stream = TcpStream::connect(addr)?;
                stream.set_nodelay(true)?;
                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                while sent.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                    let id = CertId::with_serial(&issuer, &random_serial(), HashAlg::Sha1);
                    let der = Request::new(vec![id]).to_der();
                    if keep_alive_post(&mut stream, &der).is_err() {
                        stream = TcpStream::connect(addr)?;
                        stream.set_nodelay(true)?;
                        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| io::Error::other("a flood thread panicked"))??;
    }
    let done = sent.load(Ordering::Relaxed).min(options.flood);
    let seconds = started.elapsed().as_secs_f64();
    let (after, peak) = rss(pid);
    let hits = cache_hits(addr);
    http_post(addr, "/", "application/ocsp-request", &good)?;
    let cached = cache_hits(addr) > hits;
    Ok(format!(
        "Flood: {done} requests for random never-issued serials in {seconds:.0} s: responder RSS {before:.1} MB before, {peak:.1} MB peak, {after:.1} MB after; the real certificate's answer {} from the cache afterwards.",
        if cached {
            "still came"
        } else {
            "no longer came"
        }
    ))
}
