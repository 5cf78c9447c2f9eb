//! The `stapler` command line: `--help` and the settings it refuses, each
//! with one clear line and a non-zero exit, before it serves anything.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Longest one run may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// `stapler ARGS` with the lab's variables removed from the environment,
/// run to completion (killed, and the test failed, after [`TIMEOUT`]).
fn stapler(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stapler"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OCSPLAB_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start stapler");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = Vec::new();
        stdout.read_to_end(&mut s).unwrap();
        s
    });
    let err = thread::spawn(move || {
        let mut s = Vec::new();
        stderr.read_to_end(&mut s).unwrap();
        s
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("stapler {args:?} did not finish within {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a failure with exit code 1, nothing on stdout, and exactly one
/// line on stderr, `stapler: …` containing every one of `needles`; returns it.
#[track_caller]
fn assert_one_line_error(out: &Output, needles: &[&str]) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("stapler: "), "{stderr}");
    for needle in needles {
        assert!(lines[0].contains(needle), "{needle:?} in {stderr}");
    }
    lines[0].to_string()
}

/// Arguments that get past the settings to the point of loading a certificate
/// that does not exist (so that nothing is ever served).
fn missing_cert(dir: &Path) -> Vec<String> {
    vec![
        "--cert".into(),
        dir.join("missing/fullchain.pem").display().to_string(),
        "--key".into(),
        dir.join("missing/key.pem").display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--cache-dir".into(),
        dir.join("cache").display().to_string(),
    ]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn help_shows_the_defaults_and_the_nginx_and_apache_names() {
    let out = stapler(&["--help"]);
    assert!(out.status.success());
    // Whatever the wrapping.
    let help = text(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [
        // Defaults.
        "[default: 127.0.0.1:8443]",
        "DIR/certs/localhost/fullchain.pem",
        "DIR/certs/localhost/key.pem",
        "DIR/stapler-cache",
        "[default: lab]",
        "[default: 0.5]",
        "[default: 30s]",
        "[default: 5s]",
        "[default: 1h]",
        "[default: 1s]",
        "[default: 5m]",
        "[default: staple]",
        "--read-timeout <READ_TIMEOUT>",
        "[default: 10s]",
        "--idle-timeout <IDLE_TIMEOUT>",
        "[default: 60s]",
        "--max-connections <MAX_CONNECTIONS>",
        "[default: the open-file limit",
        "OCSPLAB_DIR",
        // What the same settings are called in nginx and Apache.
        "ssl_certificate",
        "SSLCertificateFile",
        "ssl_certificate_key",
        "SSLCertificateKeyFile",
        "ssl_trusted_certificate",
        "SSLCACertificateFile",
        "ssl_stapling_verify",
        "ssl_stapling_responder",
        "SSLStaplingForceURL",
        "ssl_stapling_file",
        "SSLUseStapling",
        "ssl_stapling_responder_timeout",
        // The checker and its exit codes.
        "check",
        "0 good, 1 revoked, 2 invalid staple, 3 no staple",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    let check = stapler(&["check", "--help"]);
    assert!(check.status.success());
    let check = text(&check.stdout);
    for needle in [
        "--servername",
        "--ca",
        "--must-staple",
        "--tls",
        "[default: 10s]",
    ] {
        assert!(
            check.contains(needle),
            "check --help lacks {needle:?}:\n{check}"
        );
    }
}

#[test]
fn mismatched_cert_and_key_counts_are_refused() {
    let out = stapler(&["--cert", "a.pem", "--cert", "b.pem", "--key", "k.pem"]);
    assert_one_line_error(&out, &["2 --cert but 1 --key"]);
    let out = stapler(&["--key", "k.pem"]);
    assert_one_line_error(&out, &["0 --cert but 1 --key"]);
}

#[test]
fn a_bad_refresh_fraction_is_refused() {
    for bad in ["1.5", "0", "1", "-0.2", "NaN"] {
        let flag = format!("--refresh-fraction={bad}");
        let out = stapler(&[&flag, "--listen", "127.0.0.1:0"]);
        assert_one_line_error(&out, &["--refresh-fraction", "between 0 and 1"]);
    }
    // Not a number at all: clap says so (exit 2).
    let out = stapler(&["--refresh-fraction", "half"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--refresh-fraction"));
}

#[test]
fn contradictory_intervals_are_refused() {
    let out = stapler(&["--min-refresh", "2h", "--max-refresh", "1h"]);
    assert_one_line_error(&out, &["--min-refresh"]);
    let out = stapler(&["--backoff-min", "0s"]);
    assert_one_line_error(&out, &["--backoff-min"]);
    let out = stapler(&["--responder", "ftp://example/"]);
    assert_one_line_error(&out, &["--responder", "not an http:// URL"]);
}

#[test]
fn a_missing_certificate_file_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = stapler(&strs(&missing_cert(dir.path())));
    let line = assert_one_line_error(&out, &["cannot read", "missing/fullchain.pem"]);
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "the cause once: {line}"
    );
    assert!(!dir.path().join("cache").exists());
}

#[test]
fn a_port_already_in_use_is_refused() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut args = missing_cert(dir.path());
    args[5] = addr.clone();
    let out = stapler(&strs(&args));
    assert_one_line_error(&out, &["cannot listen on", &addr, "Address already in use"]);
}

#[test]
fn a_config_file_is_honoured_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stapler.toml");
    let config_arg = config.display().to_string();
    let base = missing_cert(dir.path());

    // The file's refresh_fraction is read (and refused: it is out of range)…
    std::fs::write(&config, "refresh_fraction = 1.5\nmin_refresh = \"2s\"\n").unwrap();
    let mut args = base.clone();
    args.extend(["--config".into(), config_arg.clone()]);
    assert_one_line_error(&stapler(&strs(&args)), &["--refresh-fraction 1.5"]);

    // …and a flag wins over it: the settings pass, the missing file is next.
    args.extend(["--refresh-fraction".into(), "0.5".into()]);
    assert_one_line_error(
        &stapler(&strs(&args)),
        &["cannot read", "missing/fullchain.pem"],
    );

    // The environment wins over the file too.
    let mut cmd_args = base.clone();
    cmd_args.extend(["--config".into(), config_arg.clone()]);
    let out = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stapler"));
        cmd.args(&cmd_args)
            .env("OCSPLAB_STAPLER_REFRESH_FRACTION", "0.25")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd.output().unwrap()
    };
    assert_one_line_error(&out, &["cannot read"]);

    // Durations in the file, and what the file's listen address does.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    std::fs::write(
        &config,
        format!("listen = \"{addr}\"\nmin_refresh = \"2h\"\nmax_refresh = \"1h\"\n"),
    )
    .unwrap();
    let out = stapler(&["--config", &config_arg]);
    assert_one_line_error(&out, &["--min-refresh"]);
    std::fs::write(&config, format!("listen = \"{addr}\"\n")).unwrap();
    let out = stapler(&["--config", &config_arg]);
    assert_one_line_error(&out, &["cannot listen on", &addr]);

    // Certificates from [[certificate]] tables.
    std::fs::write(
        &config,
        "[[certificate]]\ncert = \"/nonexistent/shop.pem\"\nkey = \"/nonexistent/shop.key\"\n",
    )
    .unwrap();
    let out = stapler(&["--config", &config_arg, "--listen", "127.0.0.1:0"]);
    assert_one_line_error(&out, &["cannot read /nonexistent/shop.pem"]);
}

#[test]
fn a_bad_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stapler.toml");
    let config_arg = config.display().to_string();
    let out = stapler(&["--config", &config_arg]);
    assert_one_line_error(&out, &[&config_arg]);
    std::fs::write(&config, "refresh_fractoin = 0.5\n").unwrap();
    let out = stapler(&["--config", &config_arg]);
    assert_one_line_error(&out, &[&config_arg, "refresh_fractoin"]);
    std::fs::write(&config, "min_refresh = \"soon\"\n").unwrap();
    let out = stapler(&["--config", &config_arg]);
    assert_one_line_error(&out, &[&config_arg]);
}

#[test]
fn check_reports_a_connection_failure_with_exit_code_5() {
    // A port nobody listens on: bound, then closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = stapler(&["check", &format!("127.0.0.1:{port}"), "--timeout", "5s"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("CONNECTION FAILED"));
    let out = stapler(&["check", "no-port-here"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(text(&out.stdout).contains("not HOST:PORT"));
}
