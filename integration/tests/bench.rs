//! The benchmark's smoke run: `scripts/bench --quick` must run to the end
//! against the real peers and print its tables, so that the script cannot
//! rot. Nothing about speed is asserted: timing belongs to `scripts/bench`
//! itself, never to `cargo test`.
//!
//! It uses the binaries `cargo test --workspace` built (the debug profile),
//! a free range of loopback ports and a temporary results folder; it is
//! bounded in time, and stops the script with SIGTERM (which stops every
//! server the script started) before killing it.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use integration::harness;

/// Longest the smoke run may take; `--deadline` makes the script give up cleanly a little earlier.
const TIMEOUT: Duration = Duration::from_secs(90);

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// What a smoke run printed, and the folder its results went to.
struct SmokeRun {
    stdout: String,
    context: String,
    results: tempfile::TempDir,
}

/// Runs `scripts/bench --quick` with these extra arguments, bounded in time,
/// and checks that it succeeded.
fn bench_quick(extra: &[&str]) -> SmokeRun {
    // One smoke run at a time: each is bounded in time, and two at once on a
    // small machine would measure each other.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let script = root.join("scripts").join("bench");
    let results = tempfile::tempdir().expect("a temporary directory");
    let bin_dir = harness::bin_dir();
    for name in ["testca", "responder", "stapler", "handshake-bench"] {
        assert!(
            bin_dir.join(name).exists(),
            "{} is missing: run `cargo test --workspace` (or `cargo build --workspace`) first",
            bin_dir.join(name).display()
        );
    }
    let mut child = Command::new(&script)
        .args([
            "--quick",
            "--no-install",
            "--base-port",
            "0",
            "--deadline",
            "75",
        ])
        .args(extra)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--results")
        .arg(results.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for scripts/bench") {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            // SIGTERM lets the script stop the servers it started.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let context = format!("--- stdout\n{stdout}--- stderr\n{stderr}---");
    let status =
        status.unwrap_or_else(|| panic!("scripts/bench --quick ran over {TIMEOUT:?}\n{context}"));
    assert!(
        status.success(),
        "scripts/bench --quick {extra:?} failed: {status}\n{context}"
    );
    SmokeRun {
        stdout,
        context,
        results,
    }
}

#[test]
fn bench_quick_runs_every_section_and_prints_the_tables() {
    let SmokeRun {
        stdout,
        context,
        results,
    } = bench_quick(&[]);
    for heading in [
        "| Server | Requests | Connections | req/s median",
        "| ours (responder) | POST + nonce, live signing |",
        "| openssl ocsp -multi 2 |",
        "| cfssl ocspserve |",
        "| nginx static file |",
        "| Certificates | Create lab | DB on disk |",
        "| TLS 1.3 full handshakes/s",
        "| process start → first stapled handshake",
        "| Target | Measured | Met |",
    ] {
        assert!(
            stdout.contains(heading),
            "the output lacks `{heading}`\n{context}"
        );
    }
    let run_dir = std::fs::read_dir(results.path())
        .expect("the results folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no run folder in the results folder\n{context}"));
    for file in ["results.md", "results.json"] {
        let text = std::fs::read_to_string(run_dir.join(file)).unwrap_or_default();
        assert!(
            text.contains("ours"),
            "{} is missing or empty\n{context}",
            run_dir.join(file).display()
        );
    }
}

/// The scale-out section (named with `--only`): PostgreSQL, responders with
/// `--db` behind nginx with the scale profile's cache rules. Skipped when
/// PostgreSQL is not installed (a failure under CI, which installs it).
#[test]
fn bench_quick_scale_out_prints_its_tables() {
    if !std::path::Path::new("/usr/lib/postgresql").is_dir() {
        harness::skip("PostgreSQL is not installed (scripts/install-deps installs it)");
        return;
    }
    let SmokeRun {
        stdout, context, ..
    } = bench_quick(&["--only", "scale-out"]);
    for heading in [
        "| Certificates in PostgreSQL | issue-bulk (added) |",
        "| Responders behind nginx (POST + nonce, uncached) |",
        "| 3 | ",
        "| nginx cache | ",
        "Warm-up through nginx, each URL: a first GET",
        "Responder killed (SIGKILL)",
        "| a responder killed under load behind nginx: 0 failed requests |",
    ] {
        assert!(
            stdout.contains(heading),
            "the output lacks `{heading}`\n{context}"
        );
    }
}
