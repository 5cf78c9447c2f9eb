//! The `responder` command line as an operator sees it: `--help` and its
//! defaults, and the one-line errors for a missing lab and a busy port.
//! (Being an integration test of this package, it also makes `cargo test
//! --workspace` build the `responder` binary that the `integration` crate drives.)

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Longest a responder run may take here; it should exit at once.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The `responder` binary with none of the lab's variables inherited.
fn responder() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_responder"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OCSPLAB_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    cmd
}

/// What a finished run showed.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd`, killing it (and failing) if it runs longer than [`TIMEOUT`]:
/// a responder that unexpectedly starts serving must not hang the test.
fn run(cmd: &mut Command) -> Out {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the responder");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the responder still ran after {TIMEOUT:?}; killed it. stderr:\n{}",
                err.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(5));
    };
    Out {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Asserts a failure reported by the responder itself in one line that
/// starts with `responder: ` and contains every needle.
#[track_caller]
fn assert_one_line_error(out: &Out, needles: &[&str]) {
    assert!(
        out.code.is_some_and(|c| c != 0),
        "expected a failure exit code: {out:#?}"
    );
    assert_eq!(out.stdout, "", "nothing on stdout: {out:#?}");
    let line = out.stderr.trim_end();
    assert!(!line.contains('\n'), "one line expected: {out:#?}");
    assert!(line.starts_with("responder: "), "{out:#?}");
    for needle in needles {
        assert!(
            line.contains(needle),
            "the error should name {needle:?}: {out:#?}"
        );
    }
}

/// A lab made with the testca library (the `testca` binary belongs to another package).
fn make_lab(dir: &Path, port: u16) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let options = testca::InitOptions {
            ocsp_url: format!("http://127.0.0.1:{port}/"),
            ca_issuers_base: None,
            crl_base: None,
            key_alg: testca::KeyAlg::default(),
            force: false,
        };
        let lab = testca::Lab::init(dir, &options, &testca::StoreOptions::default())
            .await
            .expect("testca init");
        lab.close().await;
    });
}

#[test]
fn help_shows_every_default() {
    let out = run(responder().arg("--help"));
    assert_eq!(out.code, Some(0), "{out:#?}");
    // Help text is wrapped to the terminal width: compare with whitespace collapsed.
    let help = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "--listen",
        "127.0.0.1:8080",
        "OCSPLAB_RESPONDER_LISTEN",
        "--dir",
        "OCSPLAB_DIR",
        "[default: lab]",
        "--db",
        "DIR/revocation.db",
        "--signer-cert",
        "--signer-key",
        "--path-prefix",
        "[default: /]",
        "--validity",
        "[default: 1h]",
        "--clock-skew",
        "[default: 1m]",
        "--reuse-for",
        "[default: a quarter of --validity]",
        "--max-age",
        "OCSPLAB_MAX_AGE",
        "[default: until the answer's nextUpdate]",
        "--sign-with",
        "[default: delegated]",
        "--responder-id",
        "[default: by-key]",
        "--unknown-serial",
        "[default: unknown]",
        "--unknown-issuer",
        "[default: unauthorized]",
        "--long-nonces",
        "--max-request-bytes",
        "[default: 10240]",
        "--read-timeout",
        "[default: 10s]",
        "--idle-timeout",
        "[default: 60s]",
        "--cache-entries",
        "[default: 100000]",
        "--cache-bytes",
        "[default: 16777216]",
        "--max-connections",
        "[default: the open-file limit",
    ] {
        assert!(
            help.contains(needle),
            "--help should show {needle:?}:\n{help}"
        );
    }
    assert_eq!(out.stderr, "");
}

#[test]
fn version_is_printed() {
    let out = run(responder().arg("--version"));
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(out.stdout.starts_with("responder "), "{out:#?}");
}

#[test]
fn missing_lab_directory_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-lab");
    let out = run(responder()
        .arg("--dir")
        .arg(&missing)
        .args(["--listen", "127.0.0.1:0"]));
    assert_one_line_error(&out, &[&missing.display().to_string(), "testca init"]);
}

#[test]
fn directory_without_a_lab_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(responder()
        .arg("--dir")
        .arg(tmp.path())
        .args(["--listen", "127.0.0.1:0"]));
    assert_one_line_error(
        &out,
        &[
            &tmp.path().display().to_string(),
            "not an OCSP Lab directory",
        ],
    );
}

#[test]
fn lab_directory_that_is_a_file_is_not_called_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("lab");
    std::fs::write(&file, "not a directory").unwrap();
    let out = run(responder()
        .arg("--dir")
        .arg(&file)
        .args(["--listen", "127.0.0.1:0"]));
    assert_one_line_error(&out, &[&file.display().to_string()]);
    assert!(
        !out.stderr.contains("does not exist"),
        "the file exists: {out:#?}"
    );
}

#[test]
fn port_in_use_is_a_one_line_error() {
    let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = busy.local_addr().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let lab = tmp.path().join("lab");
    make_lab(&lab, addr.port());
    let out = run(responder()
        .arg("--dir")
        .arg(&lab)
        .arg("--listen")
        .arg(addr.to_string()));
    assert_one_line_error(&out, &[&addr.to_string(), "--listen"]);
    drop(busy);
}

#[test]
fn bad_flag_values_are_usage_errors() {
    for (args, needle) in [
        (&["--listen", "localhost"][..], "localhost"),
        (&["--validity", "soon"][..], "soon"),
        (&["--path-prefix", "ocsp"][..], "ocsp"),
        (&["--sign-with", "nobody"][..], "nobody"),
        (&["--signer-cert", "x.pem"][..], "--signer-key"),
    ] {
        let out = run(responder().args(args));
        assert_eq!(out.code, Some(2), "{args:?}: {out:#?}");
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "{args:?}: {out:#?}");
        assert!(out.stderr.contains(needle), "{args:?}: {out:#?}");
    }
}
