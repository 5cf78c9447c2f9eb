//! `scripts/lab up` / `status` / `down` / `env` end to end: a running lab in
//! which clients see a good staple; strict arguments; no adoption of a
//! running lab; a coherent lab or a clear refusal when the responder's
//! address differs from the lab's AIA; "up" only after a fresh fetch; the QA
//! console (`testca serve`) started with the lab and answering with its token;
//! and nothing left running after SIGINT or SIGTERM.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use integration::clients::{self, require};
use integration::harness::{self, free_port, run, wait_for};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lab")
}

struct Lab {
    tmp: tempfile::TempDir,
    responder: String,
    stapler: String,
    console: String,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            tmp: tempfile::tempdir().expect("tempdir"),
            responder: format!("127.0.0.1:{}", free_port()),
            stapler: format!("127.0.0.1:{}", free_port()),
            console: format!("127.0.0.1:{}", free_port()),
        }
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("lab")
    }

    fn cmd(&self, action: &str) -> Command {
        let mut cmd = Command::new(script());
        cmd.arg(action)
            .current_dir(self.tmp.path())
            .env("OCSPLAB_DIR", self.dir())
            .env("OCSPLAB_RESPONDER_LISTEN", &self.responder)
            .env("OCSPLAB_STAPLER_LISTEN", &self.stapler)
            .env("OCSPLAB_SERVE_LISTEN", &self.console)
            // The binaries this test run built: no cargo inside cargo test.
            .env("OCSPLAB_BIN_DIR", harness::bin_dir())
            .env_remove("RUST_LOG");
        cmd
    }

    fn testca(&self, args: &[&str]) -> harness::Output {
        let mut cmd = harness::command("testca");
        cmd.arg("--dir").arg(self.dir()).args(args);
        run(&mut cmd, Duration::from_secs(60))
    }

    fn pid(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir().join(format!("run/{name}.pid")))
            .ok()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
    }

    fn pids(&self) -> Vec<String> {
        ["responder", "stapler", "console"]
            .iter()
            .filter_map(|n| self.pid(n))
            .collect()
    }

    /// Every process that belongs to this lab: its directory in the command
    /// line (`tail -F` of the logs) or as OCSPLAB_DIR in the environment
    /// (the script, the responder, the stapler, the console).
    fn processes_naming_the_lab(&self) -> Vec<String> {
        let needle = self.dir().display().to_string();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !name.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            let environ = String::from_utf8_lossy(&environ);
            let in_env = environ
                .split('\0')
                .any(|v| v == format!("OCSPLAB_DIR={needle}"));
            if cmdline.contains(&needle) || in_env {
                found.push(format!("{name}: {cmdline}"));
            }
        }
        found
    }

    fn assert_nothing_runs(&self, pids: &[String], context: &str) {
        for pid in pids {
            wait_for(
                &format!("process {pid} to stop ({context})"),
                Duration::from_secs(15),
                Duration::from_millis(100),
                || (!Path::new(&format!("/proc/{pid}")).exists()).then_some(()),
            );
        }
        let left = self.processes_naming_the_lab();
        assert!(left.is_empty(), "left running ({context}): {left:?}");
    }

    /// The stapler's status for `localhost`, as `stapler check` sees it.
    fn check(&self) -> harness::Output {
        let mut cmd = harness::command("stapler");
        cmd.arg("check")
            .arg(&self.stapler)
            .args(["--servername", "localhost", "--ca"])
            .arg(self.dir().join("ca/root/cert.pem"));
        run(&mut cmd, Duration::from_secs(30))
    }

    /// A call to the console's API, with this token (none: no header).
    /// Returns the HTTP status and the body.
    fn api(&self, path: &str, token: Option<&str>) -> (String, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-w", "\n%{http_code}"]);
        if let Some(token) = token {
            cmd.arg("-H").arg(format!("Authorization: Bearer {token}"));
        }
        cmd.arg(format!("http://{}/api/v1/{path}", self.console));
        let out = run(&mut cmd, Duration::from_secs(30));
        assert_eq!(out.code, Some(0), "curl {path}:\n{out}");
        let (body, code) = out.stdout.rsplit_once('\n').unwrap_or(("", ""));
        (code.trim().to_string(), body.to_string())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = run(&mut self.cmd("down"), Duration::from_secs(30));
    }
}

/// `scripts/lab up` in the foreground, its output going to a file that is polled.
fn spawn_up(lab: &Lab, args: &[&str]) -> (Child, PathBuf) {
    let out = lab.tmp.path().join(format!("up-{}.out", free_port()));
    let file = std::fs::File::create(&out).expect("output file");
    let mut cmd = lab.cmd("up");
    // A test run from a background job inherits SIGINT ignored, and a shell cannot trap a
    // signal ignored at its start: the script gets the default, as from a terminal.
    // SAFETY: signal(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone"))
        .stderr(file)
        .spawn()
        .expect("start scripts/lab up");
    (child, out)
}

fn signal(pid: u32, sig: &str) {
    // A process that already ended (and was not reaped) cannot be signalled: fine.
    let _ = run(
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string()),
        Duration::from_secs(10),
    );
}

/// Waits for `scripts/lab up` to end; on a timeout, says what it printed.
fn wait_exit(child: &mut Child, out: &Path, what: &str) -> Option<i32> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "timed out after 30s waiting for {what}; it printed:\n{}",
                std::fs::read_to_string(out).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn lab_up_gives_a_stapled_lab_and_down_stops_exactly_what_it_started() {
    if !require("openssl") || !require("curl") {
        return;
    }
    let lab = Lab::new();
    let up = run(lab.cmd("up").arg("--detach"), Duration::from_secs(120));
    assert_eq!(up.code, Some(0), "scripts/lab up:\n{up}");
    assert!(up.stdout.contains("The OCSP Lab is up"), "{up}");
    assert!(
        up.stdout.contains("stapler check") && up.stdout.contains("openssl s_client"),
        "it prints commands to try:\n{up}"
    );

    let ca = lab.dir().join("ca/root/cert.pem");
    let addr = lab.stapler.parse().expect("address");
    let seen = clients::s_client(addr, "localhost", &ca);
    assert_eq!(
        seen.status.as_deref(),
        Some("good"),
        "openssl s_client -status shows Cert Status: good:\n{}",
        seen.output
    );
    let seen = clients::curl_cert_status(addr, "localhost", &ca);
    assert!(
        seen.accepted,
        "curl --cert-status succeeds:\n{}",
        seen.output
    );

    // The console: listed with its URL and the token file; its API answers with the token
    // the lab holds, and only with it.
    let console_url = format!("http://{}/", lab.console);
    let token_file = lab.dir().join("api-token");
    assert!(
        up.stdout.contains(&console_url) && up.stdout.contains(&token_file.display().to_string()),
        "the summary names the console and its token file:\n{up}"
    );
    let token = std::fs::read_to_string(&token_file).expect("the API token");
    let (code, body) = lab.api("certificates", Some(token.trim()));
    assert_eq!(
        code, "200",
        "GET /api/v1/certificates with the token: {body}"
    );
    let listed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let localhost = listed
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == "localhost"))
        .unwrap_or_else(|| panic!("localhost is listed: {body}"));
    assert_eq!(localhost["status"], "good", "{body}");
    // The console reaches the lab's stapler: its staple for localhost, as the stapler holds it.
    let (code, body) = lab.api("certificates/localhost/staple", Some(token.trim()));
    assert_eq!(code, "200", "{body}");
    let staple: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(staple["verdict"], "good", "{body}");
    let (code, body) = lab.api("certificates", None);
    assert_eq!(code, "401", "without the token: {body}");
    let (code, body) = lab.api("certificates", Some("not-the-token"));
    assert_eq!(code, "401", "with a wrong token: {body}");

    let status = run(&mut lab.cmd("status"), Duration::from_secs(10));
    assert!(
        status.stdout.contains("responder: running")
            && status.stdout.contains("stapler: running")
            && status.stdout.contains("console: running"),
        "{status}"
    );

    // `env` puts the binaries on PATH by name, for this lab.
    let env = run(&mut lab.cmd("env"), Duration::from_secs(10));
    assert_eq!(env.code, Some(0), "{env}");
    let mut shell = Command::new("bash");
    shell.arg("-c").arg(format!(
        "{}\ncd / && testca list && command -v stapler responder",
        env.stdout
    ));
    shell.env_remove("OCSPLAB_DIR");
    let listed = run(&mut shell, Duration::from_secs(30));
    assert_eq!(
        listed.code,
        Some(0),
        "eval \"$(scripts/lab env)\":\n{listed}"
    );
    assert!(listed.stdout.contains("localhost"), "{listed}");

    // A second `up` while the lab runs: refused, nothing adopted or re-created.
    let pids = lab.pids();
    assert_eq!(
        pids.len(),
        3,
        "pid files of the responder, the stapler and the console"
    );
    let root_before = std::fs::read(&ca).expect("root");
    let again = run(lab.cmd("up").arg("--detach"), Duration::from_secs(60));
    assert_ne!(again.code, Some(0), "{again}");
    assert!(
        again.stderr.contains("already runs") && again.stderr.contains("scripts/lab down"),
        "{again}"
    );
    assert_eq!(lab.pids(), pids, "no second responder, stapler or console");
    assert_eq!(
        std::fs::read(&ca).expect("root"),
        root_before,
        "the lab was not re-created"
    );
    // A foreground `up` that is refused does not stop the lab on its exit.
    let again = run(&mut lab.cmd("up"), Duration::from_secs(60));
    assert_ne!(again.code, Some(0), "{again}");
    for pid in &pids {
        assert!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "{pid} still runs"
        );
    }

    let down = run(&mut lab.cmd("down"), Duration::from_secs(30));
    assert!(
        down.stdout.contains("stopped the console")
            && down.stdout.contains("stopped the stapler")
            && down.stdout.contains("stopped the responder"),
        "{down}"
    );
    // The console first: it asks the stapler and the responder, not the other way round.
    assert!(
        down.stdout.find("stopped the console") < down.stdout.find("stopped the stapler"),
        "{down}"
    );
    lab.assert_nothing_runs(&pids, "after down");
    let refused = run(
        Command::new("curl")
            .args(["-sS", "-o", "/dev/null"])
            .arg(&console_url),
        Duration::from_secs(30),
    );
    assert_ne!(refused.code, Some(0), "the console no longer answers");
    let status = run(&mut lab.cmd("status"), Duration::from_secs(10));
    assert!(
        status.stdout.contains("responder: not running")
            && status.stdout.contains("stapler: not running")
            && status.stdout.contains("console: not running"),
        "{status}"
    );
}

#[test]
fn lab_rejects_unknown_arguments_with_usage() {
    let lab = Lab::new();
    for args in [
        &["up", "--bogus"][..],
        &["up", "--detatch"],
        &["down", "now"],
        &["bogus"],
        &[],
    ] {
        let mut cmd = Command::new(script());
        cmd.args(args)
            .current_dir(lab.tmp.path())
            .env("OCSPLAB_DIR", lab.dir())
            .env("OCSPLAB_BIN_DIR", harness::bin_dir());
        let out = run(&mut cmd, Duration::from_secs(30));
        assert_eq!(out.code, Some(2), "scripts/lab {args:?}:\n{out}");
        assert!(
            out.stderr.contains("scripts/lab up [--detach]"),
            "usage for {args:?}:\n{out}"
        );
        assert!(!lab.dir().exists(), "nothing created for {args:?}");
    }
}

#[test]
fn lab_up_reports_a_port_already_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("addr").to_string();
    let mut lab = Lab::new();
    lab.responder = taken_addr.clone();
    let up = run(lab.cmd("up").arg("--detach"), Duration::from_secs(60));
    assert_ne!(up.code, Some(0), "{up}");
    assert!(
        up.stderr.contains("already in use")
            && up.stderr.contains(&lab.responder)
            && up.stderr.contains("OCSPLAB_RESPONDER_LISTEN="),
        "{up}"
    );
    assert!(lab.pids().is_empty(), "nothing started");

    // The console's port, checked before anything starts, the same way.
    let mut lab = Lab::new();
    lab.console = taken_addr;
    let up = run(lab.cmd("up").arg("--detach"), Duration::from_secs(60));
    assert_ne!(up.code, Some(0), "{up}");
    assert_eq!(up.stderr.trim().lines().count(), 1, "one line:\n{up}");
    assert!(
        up.stderr.contains("already in use")
            && up.stderr.contains(&lab.console)
            && up.stderr.contains("OCSPLAB_SERVE_LISTEN="),
        "{up}"
    );
    assert!(lab.pids().is_empty(), "nothing started");
    assert!(!lab.dir().exists(), "nothing created");
}

#[test]
fn lab_up_refuses_a_lab_made_for_another_responder_address_and_its_fix_gives_a_coherent_lab() {
    if !require("openssl") || !require("curl") {
        return;
    }
    let lab = Lab::new();
    // A lab whose certificates point at another port than the one the responder will use.
    let other = format!("http://127.0.0.1:{}/", free_port());
    let init = lab.testca(&["init", "--ocsp-url", &other]);
    assert_eq!(init.code, Some(0), "{init}");
    let before = std::fs::read(lab.dir().join("lab.toml")).expect("lab.toml");

    let up = run(lab.cmd("up").arg("--detach"), Duration::from_secs(60));
    assert_ne!(up.code, Some(0), "{up}");
    let fix = format!("init --force --ocsp-url http://{}/", lab.responder);
    assert!(
        up.stderr.contains(&other) && up.stderr.contains(&fix),
        "names the lab's URL and the fix:\n{up}"
    );
    assert!(lab.pids().is_empty(), "nothing started");
    assert_eq!(
        std::fs::read(lab.dir().join("lab.toml")).expect("lab.toml"),
        before,
        "nothing changed"
    );

    // The fix it names, then `up`: a coherent lab.
    let args: Vec<&str> = fix.split(' ').collect();
    let init = lab.testca(&args);
    assert_eq!(init.code, Some(0), "{init}");
    let up = run(lab.cmd("up").arg("--detach"), Duration::from_secs(120));
    assert_eq!(up.code, Some(0), "{up}");
    assert_eq!(lab.check().code, Some(0), "good staple");

    // Revoke, refresh: `stapler check` sees it revoked.
    let revoke = lab.testca(&["revoke", "localhost"]);
    assert_eq!(revoke.code, Some(0), "{revoke}");
    let port = lab.stapler.rsplit(':').next().expect("port");
    let refresh = run(
        Command::new("curl")
            .args(["-sS", "-X", "POST", "--cacert"])
            .arg(lab.dir().join("ca/root/cert.pem"))
            .arg(format!("https://localhost:{port}/admin/refresh")),
        Duration::from_secs(60),
    );
    assert_eq!(refresh.code, Some(0), "{refresh}");
    let check = lab.check();
    assert_eq!(check.code, Some(1), "stapler check: revoked\n{check}");
}

#[test]
fn lab_up_says_up_only_after_a_fresh_fetch_not_on_a_cached_staple() {
    if !require("openssl") || !require("curl") {
        return;
    }
    let lab = Lab::new();
    let up = run(lab.cmd("up").arg("--detach"), Duration::from_secs(120));
    assert_eq!(up.code, Some(0), "{up}");
    let down = run(&mut lab.cmd("down"), Duration::from_secs(30));
    assert_eq!(down.code, Some(0), "{down}");

    // The stapler now holds a persisted good staple; the responder refuses to answer.
    let fault = lab.testca(&["fault", "set", "internal-error", "--for", "10m"]);
    assert_eq!(fault.code, Some(0), "{fault}");
    let pids_before = lab.pids();
    let up = run(lab.cmd("up").arg("--detach"), Duration::from_secs(120));
    assert_ne!(up.code, Some(0), "a cached staple is not enough:\n{up}");
    assert!(!up.stdout.contains("is up"), "{up}");
    assert!(
        up.stderr.contains("the stapler's fetch from") && up.stderr.contains("internalError"),
        "says the fetch failed, and why:\n{up}"
    );
    lab.assert_nothing_runs(&pids_before, "after a refused up");
    assert!(lab.pids().is_empty(), "pid files removed");
}

#[test]
fn lab_up_leaves_nothing_running_after_sigint_or_sigterm() {
    if !require("openssl") || !require("curl") {
        return;
    }
    let lab = Lab::new();
    // In the foreground, once up: SIGTERM, then (a second run) SIGINT.
    for sig in ["TERM", "INT"] {
        let (mut child, out) = spawn_up(&lab, &[]);
        wait_for(
            "scripts/lab up to follow the logs",
            Duration::from_secs(120),
            Duration::from_millis(200),
            || {
                let text = std::fs::read_to_string(&out).unwrap_or_default();
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("scripts/lab up ended ({status}):\n{text}");
                }
                text.contains("Ctrl-C stops the lab").then_some(())
            },
        );
        let pids = lab.pids();
        assert_eq!(
            pids.len(),
            3,
            "{}",
            std::fs::read_to_string(&out).unwrap_or_default()
        );
        assert!(
            !lab.processes_naming_the_lab().is_empty(),
            "tail -F follows the logs"
        );
        signal(child.id(), sig);
        wait_exit(
            &mut child,
            &out,
            &format!("scripts/lab up to stop on SIG{sig}"),
        );
        lab.assert_nothing_runs(&pids, &format!("foreground, SIG{sig}"));
    }

    // Detached, while it is still starting (the responder delays its answers):
    // what it started so far is stopped.
    let fault = lab.testca(&["fault", "set", "delay=3000", "--for", "10m"]);
    assert_eq!(fault.code, Some(0), "{fault}");
    let (mut child, out) = spawn_up(&lab, &["--detach"]);
    let started = wait_for(
        "scripts/lab up --detach to start the stapler",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            let pids = lab.pids();
            (pids.len() == 2).then_some(pids)
        },
    );
    signal(child.id(), "TERM");
    let code = wait_exit(
        &mut child,
        &out,
        "scripts/lab up --detach to stop on SIGTERM",
    );
    assert_ne!(
        code,
        Some(0),
        "interrupted before it was up:\n{}",
        std::fs::read_to_string(&out).unwrap_or_default()
    );
    lab.assert_nothing_runs(&started, "detached, SIGTERM while starting");
}

#[test]
fn the_shared_build_honours_cargo_target_dir() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = run(
        Command::new(repo.join("scripts/build"))
            .arg("--dir")
            .env("CARGO_TARGET_DIR", elsewhere.path()),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        Path::new(out.stdout.trim()),
        elsewhere.path().join("debug"),
        "{out}"
    );
    let out = run(
        Command::new(repo.join("scripts/build")).arg("--bogus"),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(2), "{out}");
}

#[test]
fn a_missing_binary_is_one_line_saying_what_to_run() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let empty = tempfile::tempdir().expect("tempdir");
    let lab = Lab::new();
    let up = run(
        lab.cmd("up")
            .arg("--detach")
            .env("OCSPLAB_BIN_DIR", empty.path()),
        Duration::from_secs(60),
    );
    assert_eq!(up.code, Some(1), "{up}");
    assert_eq!(up.stderr.trim().lines().count(), 1, "{up}");
    assert!(up.stderr.contains("run scripts/build"), "{up}");
    assert!(!lab.dir().join("lab.toml").exists(), "nothing created");

    let scenario = run(
        Command::new(repo.join("scripts/scenario"))
            .arg("revoked")
            .env("OCSPLAB_BIN_DIR", empty.path()),
        Duration::from_secs(60),
    );
    assert_eq!(scenario.code, Some(1), "{scenario}");
    assert_eq!(scenario.stderr.trim().lines().count(), 1, "{scenario}");
    assert!(scenario.stderr.contains("run scripts/build"), "{scenario}");

    let bogus = run(
        Command::new(repo.join("scripts/scenario")).arg("--bogus"),
        Duration::from_secs(60),
    );
    assert_eq!(bogus.code, Some(2), "{bogus}");
    assert!(bogus.stderr.contains("usage"), "{bogus}");
}

#[test]
fn lab_up_checks_db_before_anything_starts() {
    let lab = Lab::new();
    let up = run(lab.cmd("up").arg("--db"), Duration::from_secs(30));
    assert_eq!(up.code, Some(2), "--db without a URL:\n{up}");
    assert!(up.stderr.contains("scripts/lab up [--detach]"), "{up}");
    let up = run(
        lab.cmd("up").args(["--db", "mysql://root:hunter2@db/lab"]),
        Duration::from_secs(30),
    );
    assert_eq!(up.code, Some(2), "{up}");
    assert!(
        up.stderr.contains("not a PostgreSQL URL") && !up.stderr.contains("hunter2"),
        "{up}"
    );
    assert!(!lab.dir().exists(), "nothing created");

    // A lab on its SQLite file, brought up with a PostgreSQL URL: refused, with the fix.
    let url = format!("http://{}/", lab.responder);
    let init = lab.testca(&["init", "--ocsp-url", &url]);
    assert_eq!(init.code, Some(0), "{init}");
    let up = run(
        lab.cmd("up").args([
            "--detach",
            "--db",
            "postgres://writer:hunter2@127.0.0.1:1/lab",
        ]),
        Duration::from_secs(30),
    );
    assert_eq!(up.code, Some(1), "{up}");
    assert_eq!(up.stderr.trim().lines().count(), 1, "one line:\n{up}");
    assert!(
        up.stderr.contains("SQLite file")
            && up.stderr.contains("init --force --db URL")
            && !up.stderr.contains("hunter2"),
        "{up}"
    );
    assert!(lab.pids().is_empty(), "nothing started");
}

#[test]
fn lab_up_with_db_runs_the_lab_on_postgresql() {
    let Some(admin) = integration::postgres::test_cluster() else {
        return;
    };
    if !require("openssl") || !require("curl") {
        return;
    }
    let database = format!("labup_{}_{}", std::process::id(), free_port());
    integration::postgres::psql(&admin, &[&format!("CREATE DATABASE \"{database}\"")]);
    let url = integration::postgres::url_with(&admin, &database, None);
    let lab = Lab::new();
    let up = run(
        lab.cmd("up").args(["--detach", "--db", &url]),
        Duration::from_secs(180),
    );
    let password = admin
        .rsplit_once('@')
        .and_then(|(login, _)| login.rsplit_once(':'))
        .map(|(_, password)| password.to_string())
        .unwrap_or_default();
    assert_eq!(up.code, Some(0), "{up}");
    assert!(
        up.stdout.contains(&format!("/{database}")) && !up.stdout.contains(&password),
        "names the database without its password:\n{up}"
    );
    let config = std::fs::read_to_string(lab.dir().join("lab.toml")).expect("lab.toml");
    assert!(config.contains(&format!("/{database}\"")), "{config}");
    assert!(!lab.dir().join("revocation.db").exists(), "no SQLite file");
    assert_eq!(lab.check().code, Some(0), "good staple");
    let revoke = lab.testca(&["--db", &url, "revoke", "localhost"]);
    assert_eq!(revoke.code, Some(0), "{revoke}");
    let port = lab.stapler.rsplit(':').next().expect("port");
    let refresh = run(
        Command::new("curl")
            .args(["-sS", "-X", "POST", "--cacert"])
            .arg(lab.dir().join("ca/root/cert.pem"))
            .arg(format!("https://localhost:{port}/admin/refresh")),
        Duration::from_secs(60),
    );
    assert_eq!(refresh.code, Some(0), "{refresh}");
    assert_eq!(lab.check().code, Some(1), "revoked, through PostgreSQL");
    // Brought up again without --db, the lab says where its database is.
    let down = run(&mut lab.cmd("down"), Duration::from_secs(30));
    assert_eq!(down.code, Some(0), "{down}");
    let up = run(lab.cmd("up").arg("--detach"), Duration::from_secs(30));
    assert_eq!(up.code, Some(1), "{up}");
    assert!(up.stderr.contains("--db URL"), "{up}");
    drop(lab);
    integration::postgres::psql(
        &admin,
        &[&format!(
            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
        )],
    );
}
