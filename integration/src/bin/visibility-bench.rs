//! `visibility-bench`: how soon a revocation is seen by every responder on
//! one PostgreSQL lab. It makes a lab on a fresh database, starts N
//! responders (as the reader role) on it, and for each of M certificates:
//! asks every responder until the good answer is cached, runs `testca
//! revoke`, and from the moment that command returns asks every responder
//! (POST, no nonce) until all of them answer revoked. Prints p50, p99 and
//! the maximum of those times, and the machine's load.
//!
//! Usage: `visibility-bench [--responders N] [--revocations M]` (3 and 50).
//! The cluster is `OCSPLAB_TEST_PG` when set, else one of its own
//! (`scripts/pg-cluster`). It uses the binaries next to it (`target/debug`
//! or `target/release`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use integration::harness::http_post;
use integration::ocsp::{CertId, CertStatus, HashAlg, Request, basic_info, load_cert};
use integration::postgres::{Cluster, PgLab, TEST_PG};

/// Longest wait for one revocation to be seen everywhere before giving up.
const GIVE_UP: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let mut responders = 3usize;
    let mut revocations = 50usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse::<usize>().ok());
        match (arg.as_str(), value) {
            ("--responders", Some(n)) if n > 0 => responders = n,
            ("--revocations", Some(n)) if n > 0 => revocations = n,
            _ => {
                eprintln!(
                    "visibility-bench: bad argument '{arg}'; usage: visibility-bench [--responders N] [--revocations M] (N, M > 0)"
                );
                return ExitCode::from(2);
            }
        }
    }
    let _own_cluster;
    let admin = match std::env::var(TEST_PG) {
        Ok(url) if !url.is_empty() => url,
        _ => match Cluster::start() {
            Some(cluster) => {
                let admin = cluster.admin.clone();
                _own_cluster = cluster;
                admin
            }
            None => {
                eprintln!("visibility-bench: no PostgreSQL (install Debian's postgresql)");
                return ExitCode::from(77);
            }
        },
    };
    let pg = PgLab::init(&admin);
    let names: Vec<String> = (0..revocations).map(|i| format!("v{i}")).collect();
    for name in &names {
        pg.issue(name);
    }
    let servers: Vec<_> = (0..responders).map(|_| pg.responder(&[])).collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr()).collect();
    let issuer = load_cert(&pg.lab.intermediate_cert());

    let mut times = Vec::with_capacity(revocations);
    for name in &names {
        let id = CertId::of(&load_cert(&pg.lab.cert(name)), &issuer, HashAlg::Sha1);
        let request = Request::new(vec![id]).to_der();
        for &addr in &addrs {
            // Twice: the second answer is the cached one the revocation must replace.
            for _ in 0..2 {
                if status(addr, &request) != Some(false) {
                    eprintln!("visibility-bench: {addr} did not answer good for {name}");
                    return ExitCode::FAILURE;
                }
            }
        }
        pg.revoke(name, &[]);
        let started = Instant::now();
        let mut waiting: Vec<SocketAddr> = addrs.clone();
        while !waiting.is_empty() {
            waiting.retain(|&addr| status(addr, &request) != Some(true));
            if started.elapsed() > GIVE_UP {
                eprintln!(
                    "visibility-bench: {name} not seen revoked by {waiting:?} within {GIVE_UP:?}"
                );
                return ExitCode::FAILURE;
            }
        }
        times.push(started.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "revocation visibility: {revocations} revocations, {responders} responders on one PostgreSQL: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (from `testca revoke` returning to every responder answering revoked)",
        ms(at(0.50)),
        ms(at(0.99)),
        ms(times[times.len() - 1]),
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "load average: {} ({} cores)",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    ExitCode::SUCCESS
}

/// Whether `addr` answers revoked (`Some(true)`) or good (`Some(false)`) to `request`.
fn status(addr: SocketAddr, request: &[u8]) -> Option<bool> {
    let response = http_post(addr, "/", "application/ocsp-request", request).ok()?;
    if response.status != 200 {
        return None;
    }
    match basic_info(&response.body)?.responses.first()?.status {
        CertStatus::Revoked { .. } => Some(true),
        CertStatus::Good => Some(false),
        CertStatus::Unknown => None,
    }
}
