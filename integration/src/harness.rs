//! The test harness: the workspace's real binaries, run in temporary labs.
//!
//! * [`TestLab`]: a lab made by the real `testca init` in a fresh temporary
//!   directory, whose certificates point at a port picked for it, and
//!   helpers to run any `testca` subcommand.
//! * [`Server`]: a real server process (the responder, the stapler)
//!   started on a known port, awaited until it answers, stopped on drop
//!   (even when an assertion failed), whose captured log is printed when the
//!   test panics.
//! * [`TestLab::start_stapler`], [`TestLab::stapler_check`]: the stapler
//!   serving a lab's certificates, and its checker.
//! * [`TlsClient`] and [`https_request`]: an `openssl`-crate TLS client that
//!   asks for the certificate status, reports the staple, the protocol and
//!   session resumption, and speaks HTTP/1.1 over TLS.
//! * [`LabResponder`]: a lab and the responder serving it, on a port found
//!   free, retried when another process took the port first.
//! * [`run`]: any child process, bounded in time.
//! * [`http_request`] and friends: a minimal HTTP/1.1 client that sends the
//!   request target exactly as given (no normalisation), bounded in time.
//!
//! Every wait is bounded, so a broken binary fails a test instead of hanging
//! it, and every lab and server is private to its test, so tests run in parallel.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use openssl::nid::Nid;
use openssl::ssl::{
    Ssl, SslConnector, SslMethod, SslSession, SslSessionCacheMode, SslStream, SslVersion,
    StatusType,
};
use openssl::x509::X509;
use tempfile::TempDir;

/// Longest a command run by [`run`] through the lab helpers may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a server may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest one HTTP exchange may take (connect, send, receive).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server gets to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How many ports [`LabResponder::start_with`] tries before giving up.
pub const START_ATTEMPTS: usize = 5;

/// Environment variables of the workspace's binaries that must not leak
/// from whoever runs the tests into the processes the tests start.
const LEAKY_ENV: &[&str] = &[
    "OCSPLAB_DIR",
    "OCSPLAB_LOCK_TIMEOUT",
    "OCSPLAB_RESPONDER_LISTEN",
    "OCSPLAB_DB",
    "OCSPLAB_SIGNER_CERT",
    "OCSPLAB_SIGNER_KEY",
    "OCSPLAB_PATH_PREFIX",
    "OCSPLAB_VALIDITY",
    "OCSPLAB_CLOCK_SKEW",
    "OCSPLAB_REUSE_FOR",
    "OCSPLAB_SIGN_WITH",
    "OCSPLAB_RESPONDER_ID",
    "OCSPLAB_UNKNOWN_SERIAL",
    "OCSPLAB_UNKNOWN_ISSUER",
    "OCSPLAB_LONG_NONCES",
    "OCSPLAB_MAX_REQUEST_BYTES",
    "OCSPLAB_READ_TIMEOUT",
    "OCSPLAB_IDLE_TIMEOUT",
    "OCSPLAB_CACHE_ENTRIES",
    "OCSPLAB_STAPLER_CERT",
    "OCSPLAB_STAPLER_KEY",
    "OCSPLAB_STAPLER_LISTEN",
    "OCSPLAB_STAPLER_ISSUER",
    "OCSPLAB_STAPLER_RESPONDER",
    "OCSPLAB_STAPLER_NO_STAPLING",
    "OCSPLAB_STAPLER_NO_VERIFY",
    "OCSPLAB_STAPLER_STAPLE_FILE",
    "OCSPLAB_STAPLER_CACHE_DIR",
    "OCSPLAB_STAPLER_REVOKED",
    "OCSPLAB_STAPLER_REQUIRE_STAPLE",
    "OCSPLAB_STAPLER_REQUIRE_STAPLE_TIMEOUT",
    "OCSPLAB_STAPLER_STRICT",
    "OCSPLAB_STAPLER_CONFIG",
    "OCSPLAB_STAPLER_REFRESH_FRACTION",
    "OCSPLAB_STAPLER_MIN_REFRESH",
    "OCSPLAB_STAPLER_MAX_REFRESH",
    "OCSPLAB_STAPLER_FETCH_TIMEOUT",
    "OCSPLAB_STAPLER_BACKOFF_MIN",
    "OCSPLAB_STAPLER_BACKOFF_MAX",
    "OCSPLAB_STAPLER_CLOCK_SKEW",
    "OCSPLAB_STAPLER_NONCE",
    "OCSPLAB_SERVE_LISTEN",
    "OCSPLAB_SERVE_RESPONDER",
    "OCSPLAB_SERVE_STAPLER",
    "OCSPLAB_SERVE_STAPLER_ADMIN",
    "OCSPLAB_SERVE_STAPLER_BIN",
    "OCSPLAB_SERVE_STAPLER_ANY_NAME",
    "RUST_LOG",
    "NO_COLOR",
];

// ------------------------------------------------------------------ binaries

/// The cargo profile directory (`target/debug`) that holds the workspace's
/// binaries, derived from the running test executable
/// (`target/debug/deps/NAME-HASH` → `target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("cannot find the running test executable");
    let mut dir = exe
        .parent()
        .expect("the test executable has a parent directory")
        .to_path_buf();
    if dir.file_name() == Some(OsStr::new("deps")) {
        dir.pop();
    }
    dir
}

/// The path of the workspace binary `name` (`testca`, `responder`, `stapler`).
///
/// Panics, saying how to build it, when it is missing: `cargo test -p
/// integration` alone does not build other packages' binaries.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "the `{name}` binary is missing ({}): run `cargo test --workspace`, or \
         `cargo build --workspace` before `cargo test -p integration`",
        path.display()
    );
    path
}

/// A [`Command`] for the workspace binary `name`, with an environment
/// cleaned of the lab's variables (`OCSPLAB_*`, `RUST_LOG`).
pub fn command(name: &str) -> Command {
    let mut cmd = Command::new(binary(name));
    for var in LEAKY_ENV {
        cmd.env_remove(var);
    }
    cmd
}

// The skip policy (skipped is not passed) is the test suites' one, in testkit.
pub use testkit::{SKIP_LOG, skip};

// ------------------------------------------------------------------ processes

/// What a finished process showed.
#[derive(Clone, Debug)]
pub struct Output {
    /// The command, for messages.
    pub command: String,
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl Output {
    /// Asserts exit code 0 and returns `self`.
    #[track_caller]
    pub fn success(self) -> Output {
        assert_eq!(self.code, Some(0), "expected success: {self}");
        self
    }

    /// Asserts a non-zero exit code (not a signal) and returns `self`.
    #[track_caller]
    pub fn failure(self) -> Output {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected a failure exit code: {self}"
        );
        self
    }

    /// Standard output followed by standard error.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited with {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion with stdin closed, capturing its output; kills it
/// and panics when it takes longer than `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let description = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {description}: {e}"));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{description} did not finish within {timeout:?}; killed it.\n--- stdout\n{}--- stderr\n{}",
                    stdout.join().unwrap_or_default(),
                    stderr.join().unwrap_or_default()
                );
            }
            Err(e) => panic!("cannot wait for {description}: {e}"),
        }
    };
    Output {
        command: description,
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

// ------------------------------------------------------------------ ports

/// Ports this test process already handed out, never handed out twice.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port that was free on 127.0.0.1 a moment ago: bound to port 0, read,
/// closed. Never the same port twice in one test process; another process
/// may still take it, so starting a server on it must be retried.
pub fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("cannot bind 127.0.0.1:0 to find a free port");
        let port = listener
            .local_addr()
            .expect("a bound listener has an address")
            .port();
        drop(listener);
        let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if handed.insert(port) {
            return port;
        }
    }
}

// ------------------------------------------------------------------ labs

/// A lab made by the real `testca init` in a fresh temporary directory
/// (`<tmp>/lab`), with certificates whose OCSP URL is
/// `http://127.0.0.1:PORT/PREFIX` for a port picked for it. The directory is
/// deleted on drop.
#[derive(Debug)]
pub struct TestLab {
    tmp: TempDir,
    dir: PathBuf,
    port: u16,
    path_prefix: String,
}

impl TestLab {
    /// `testca init --ocsp-url http://127.0.0.1:PORT/ ARGS` on a free port.
    #[track_caller]
    pub fn init(args: &[&str]) -> TestLab {
        TestLab::init_at(free_port(), "/", args)
    }

    /// `testca init --ocsp-url http://127.0.0.1:PORT<PATH_PREFIX> ARGS`;
    /// `path_prefix` starts and ends with `/` (e.g. `/ocsp/`).
    #[track_caller]
    pub fn init_at(port: u16, path_prefix: &str, args: &[&str]) -> TestLab {
        assert!(
            path_prefix.starts_with('/') && path_prefix.ends_with('/'),
            "a path prefix starts and ends with '/': {path_prefix:?}"
        );
        let tmp = tempfile::Builder::new()
            .prefix("ocsplab-test-")
            .tempdir()
            .expect("cannot create a temporary directory");
        let dir = tmp.path().join("lab");
        let lab = TestLab {
            tmp,
            dir,
            port,
            path_prefix: path_prefix.to_string(),
        };
        let url = lab.ocsp_url();
        let mut all = vec!["init", "--ocsp-url", url.as_str()];
        all.extend_from_slice(args);
        lab.testca(&all).success();
        lab
    }

    /// The temporary directory holding the lab and the servers' logs.
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    /// The lab directory (`<tmp>/lab`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A path inside the lab directory, e.g. `lab.path("ca/root/cert.pem")`.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// The port the lab's certificates point at.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The OCSP path prefix of the certificates' URL (`/` or e.g. `/ocsp/`).
    pub fn path_prefix(&self) -> &str {
        &self.path_prefix
    }

    /// The OCSP URL in the lab's certificates: `http://127.0.0.1:PORT/PREFIX`.
    pub fn ocsp_url(&self) -> String {
        format!("http://{}{}", self.addr(), self.path_prefix)
    }

    /// `ca/root/cert.pem`: the trust anchor.
    pub fn root_cert(&self) -> PathBuf {
        self.path("ca/root/cert.pem")
    }

    /// `ca/intermediate/cert.pem`: the CA that issues the leaves.
    pub fn intermediate_cert(&self) -> PathBuf {
        self.path("ca/intermediate/cert.pem")
    }

    /// `ca/intermediate/ocsp-signer/cert.pem`: the intermediate's newest delegated signer.
    pub fn signer_cert(&self) -> PathBuf {
        self.path("ca/intermediate/ocsp-signer/cert.pem")
    }

    /// `certs/NAME/cert.pem`.
    pub fn cert(&self, name: &str) -> PathBuf {
        self.path(&format!("certs/{name}/cert.pem"))
    }

    /// `testca --dir LAB` with a clean environment, ready for arguments.
    pub fn testca_command(&self) -> Command {
        let mut cmd = command("testca");
        cmd.arg("--dir").arg(&self.dir);
        cmd
    }

    /// Runs `testca --dir LAB ARGS` (bounded by [`COMMAND_TIMEOUT`]).
    pub fn testca(&self, args: &[&str]) -> Output {
        run(self.testca_command().args(args), COMMAND_TIMEOUT)
    }

    /// Runs `testca --dir LAB ARGS`, asserts success and returns its stdout.
    #[track_caller]
    pub fn testca_ok(&self, args: &[&str]) -> String {
        self.testca(args).success().stdout
    }

    /// `testca issue NAME ARGS`: the new certificate's serial (hex, as printed).
    #[track_caller]
    pub fn issue(&self, name: &str, args: &[&str]) -> String {
        let mut all = vec!["issue", name];
        all.extend_from_slice(args);
        self.testca_ok(&all).trim().to_string()
    }

    /// `testca revoke NAME ARGS`.
    #[track_caller]
    pub fn revoke(&self, name: &str, args: &[&str]) {
        let mut all = vec!["revoke", name];
        all.extend_from_slice(args);
        self.testca_ok(&all);
    }

    /// `testca unrevoke NAME`.
    #[track_caller]
    pub fn unrevoke(&self, name: &str) {
        self.testca_ok(&["unrevoke", name]);
    }

    /// `testca fault set MODE ARGS` (e.g. `&["--cert", "shop", "--for", "1s"]`).
    #[track_caller]
    pub fn fault_set(&self, mode: &str, args: &[&str]) {
        let mut all = vec!["fault", "set", mode];
        all.extend_from_slice(args);
        self.testca_ok(&all);
    }

    /// `testca fault clear`: every fault.
    #[track_caller]
    pub fn fault_clear(&self) {
        self.testca_ok(&["fault", "clear"]);
    }

    /// Starts the real `responder --dir LAB --listen 127.0.0.1:PORT
    /// --path-prefix PREFIX ARGS` on the lab's port and waits until its
    /// `/health` answers 200. Its output goes to files under [`tmp`](Self::tmp).
    pub fn start_responder(&self, args: &[&str]) -> Result<Server, StartError> {
        let mut all: Vec<OsString> = vec![
            "--dir".into(),
            self.dir.clone().into(),
            "--listen".into(),
            self.addr().to_string().into(),
            "--path-prefix".into(),
            self.path_prefix.clone().into(),
        ];
        all.extend(args.iter().map(OsString::from));
        Server::start(&ServerSpec {
            name: "responder".into(),
            program: binary("responder"),
            args: all,
            env: Vec::new(),
            addr: self.addr(),
            ready_line: Some(format!(
                "responder listening on http://{}{}",
                self.addr(),
                self.path_prefix
            )),
            health_path: Some("/health".into()),
            log_dir: self.tmp().join("logs"),
        })
    }
}

// ------------------------------------------------------------------ servers

/// How to start a server process and know it is ready.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// Short name, for log files and messages (`responder`).
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment variables (the lab's own variables and `RUST_LOG`
    /// are removed first; `RUST_LOG=info` and `NO_COLOR=1` are set unless given here).
    pub env: Vec<(OsString, OsString)>,
    /// The address it listens on (readiness is checked there).
    pub addr: SocketAddr,
    /// A line fragment the server prints (stdout or stderr) once it listens;
    /// `None` to skip this check. Guards against mistaking another process
    /// on the same port for this server.
    pub ready_line: Option<String>,
    /// A path that answers HTTP 200 once the server is ready (`/health`);
    /// `None` to only wait for a TCP connection.
    pub health_path: Option<String>,
    /// Where `NAME-N.stdout` and `NAME-N.stderr` are written.
    pub log_dir: PathBuf,
}

/// Why a server did not start.
#[derive(Debug)]
pub enum StartError {
    /// It exited saying its address is in use (another process took the port): retry elsewhere.
    AddrInUse(String),
    /// It exited for another reason; the log.
    Exited(String),
    /// It did not become ready in time (it was stopped); the log.
    TimedOut(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::AddrInUse(log) => write!(f, "address in use:\n{log}"),
            StartError::Exited(log) => write!(f, "the server exited:\n{log}"),
            StartError::TimedOut(log) => {
                write!(f, "not ready within {READY_TIMEOUT:?}:\n{log}")
            }
        }
    }
}

impl std::error::Error for StartError {}

/// Numbers the log files of the servers of this test process.
static SERVERS: AtomicUsize = AtomicUsize::new(0);

/// A running server process. Dropping it stops it (SIGTERM, then SIGKILL
/// after [`STOP_TIMEOUT`]); when the test is panicking, its captured log is
/// printed to stderr first.
#[derive(Debug)]
pub struct Server {
    name: String,
    child: Child,
    addr: SocketAddr,
    stdout: PathBuf,
    stderr: PathBuf,
    exit: Option<ExitStatus>,
}

impl Server {
    /// Starts the server described by `spec` and waits (at most
    /// [`READY_TIMEOUT`]) until it printed `ready_line` and its health
    /// path answers 200 (or it accepts TCP connections).
    pub fn start(spec: &ServerSpec) -> Result<Server, StartError> {
        fs::create_dir_all(&spec.log_dir).expect("cannot create the log directory");
        let n = SERVERS.fetch_add(1, Ordering::SeqCst);
        let stdout = spec.log_dir.join(format!("{}-{n}.stdout", spec.name));
        let stderr = spec.log_dir.join(format!("{}-{n}.stderr", spec.name));
        let mut cmd = Command::new(&spec.program);
        for var in LEAKY_ENV {
            cmd.env_remove(var);
        }
        cmd.env("RUST_LOG", "info").env("NO_COLOR", "1");
        cmd.envs(spec.env.iter().map(|(k, v)| (k, v)))
            .args(&spec.args)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("cannot create a log file"))
            .stderr(File::create(&stderr).expect("cannot create a log file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", spec.program.display()));
        let mut server = Server {
            name: spec.name.clone(),
            child,
            addr: spec.addr,
            stdout,
            stderr,
            exit: None,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut printed = spec.ready_line.is_none();
        loop {
            if let Some(status) = server.exited() {
                let log = format!("exited with {status}\n{}", server.log());
                let in_use = log.contains("Address already in use")
                    || log.contains("address in use")
                    || log.contains("AddrInUse");
                return Err(if in_use {
                    StartError::AddrInUse(log)
                } else {
                    StartError::Exited(log)
                });
            }
            if !printed {
                printed = spec
                    .ready_line
                    .as_deref()
                    .is_some_and(|line| server.log().contains(line));
            }
            if printed && server.answers(spec.health_path.as_deref()) {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                server.stop();
                return Err(StartError::TimedOut(server.log()));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn answers(&self, health_path: Option<&str>) -> bool {
        match health_path {
            Some(path) => http_get(self.addr, path).is_ok_and(|r| r.status == 200),
            None => TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok(),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it printed so far: stdout, then stderr.
    pub fn log(&self) -> String {
        let read = |p: &Path| {
            fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let out = read(&self.stdout);
        let err = read(&self.stderr);
        if out.is_empty() {
            err
        } else {
            format!("{out}--- stderr\n{err}")
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.exited().is_none()
    }

    /// Panics with the log if the process has exited.
    #[track_caller]
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            panic!(
                "the {} (pid {}) has died: {status}\n{}",
                self.name,
                self.pid(),
                self.log()
            );
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Stops the process: SIGTERM, then SIGKILL if it has not exited after
    /// [`STOP_TIMEOUT`]. Returns how it exited. Idempotent.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.exited() {
            return Some(status);
        }
        let pid = self.pid().to_string();
        // std has no SIGTERM; kill(1) sends it to this one process id.
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(5));
        }
        eprintln!(
            "{} (pid {pid}) ignored SIGTERM for {STOP_TIMEOUT:?}; killing it",
            self.name
        );
        let _ = self.child.kill();
        self.exit = self.child.wait().ok();
        self.exit
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "===== log of the {} (pid {}, {}) =====\n{}===== end of the {} log =====",
                self.name,
                self.pid(),
                self.addr,
                self.log(),
                self.name
            );
        }
        self.stop();
    }
}

// ------------------------------------------------------------------ lab + responder

/// How to make a [`LabResponder`].
#[derive(Clone, Debug)]
pub struct LabOptions {
    /// OCSP path prefix, in the certificates' URL and `--path-prefix` (default `/`).
    pub path_prefix: String,
    /// Extra arguments of `testca init`.
    pub init_args: Vec<String>,
    /// Extra arguments of `responder`.
    pub responder_args: Vec<String>,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            path_prefix: "/".into(),
            init_args: Vec::new(),
            responder_args: Vec::new(),
        }
    }
}

impl LabOptions {
    /// Default options with these responder arguments.
    pub fn responder(args: &[&str]) -> LabOptions {
        LabOptions {
            responder_args: args.iter().map(|s| s.to_string()).collect(),
            ..LabOptions::default()
        }
    }
}

/// A temporary lab and the real responder serving it on the port its
/// certificates name. The responder is stopped before the lab is deleted.
#[derive(Debug)]
pub struct LabResponder {
    /// The responder (declared first: dropped first).
    pub responder: Server,
    /// The lab.
    pub lab: TestLab,
}

impl LabResponder {
    /// A default lab and a responder started with `responder_args`.
    #[track_caller]
    pub fn start(responder_args: &[&str]) -> LabResponder {
        LabResponder::start_with(&LabOptions::responder(responder_args))
    }

    /// Picks a free port, makes a lab whose certificates point at it, starts
    /// the responder there; when another process took the port meanwhile,
    /// starts over on another port (at most [`START_ATTEMPTS`] times).
    #[track_caller]
    pub fn start_with(options: &LabOptions) -> LabResponder {
        let init: Vec<&str> = options.init_args.iter().map(String::as_str).collect();
        let args: Vec<&str> = options.responder_args.iter().map(String::as_str).collect();
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let lab = TestLab::init_at(free_port(), &options.path_prefix, &init);
            match lab.start_responder(&args) {
                Ok(responder) => return LabResponder { responder, lab },
                Err(StartError::AddrInUse(log)) => last = Some(log),
                Err(e) => panic!("the responder did not start: {e}"),
            }
        }
        panic!(
            "the responder found its port in use {START_ATTEMPTS} times; last log:\n{}",
            last.unwrap_or_default()
        );
    }

    /// The responder's address.
    pub fn addr(&self) -> SocketAddr {
        self.responder.addr()
    }

    /// POSTs a DER OCSP request to the path prefix.
    pub fn post(&self, der: &[u8]) -> io::Result<HttpResponse> {
        http_post(
            self.addr(),
            self.lab.path_prefix(),
            "application/ocsp-request",
            der,
        )
    }

    /// GETs `target` (sent as given: include the prefix).
    pub fn get(&self, target: &str) -> io::Result<HttpResponse> {
        http_get(self.addr(), target)
    }

    /// Stops the responder and starts a new one on the same lab and port with
    /// other arguments (the old one's log stays in the lab's `logs/`).
    #[track_caller]
    pub fn restart(&mut self, responder_args: &[&str]) {
        self.responder.stop();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.lab.start_responder(responder_args) {
                Ok(server) => {
                    self.responder = server;
                    return;
                }
                // The port may linger briefly; anyone else taking it is very unlikely.
                Err(StartError::AddrInUse(_)) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("the responder did not restart: {e}"),
            }
        }
    }
}

// ------------------------------------------------------------------ stapler

/// What the stapler prints once it accepts connections on `addr`.
pub fn stapler_ready_line(addr: SocketAddr) -> String {
    format!("stapler listening on https://{addr}/")
}

impl TestLab {
    /// `stapler --dir LAB` with a clean environment, ready for arguments.
    pub fn stapler_command(&self) -> Command {
        let mut cmd = command("stapler");
        cmd.arg("--dir").arg(&self.dir).env("NO_COLOR", "1");
        cmd
    }

    /// Runs `stapler --dir LAB ARGS` to completion, bounded by `timeout`
    /// (for runs that are expected to end: `--help`, refused settings…).
    pub fn stapler(&self, args: &[&str], timeout: Duration) -> Output {
        run(self.stapler_command().args(args), timeout)
    }

    /// Starts the real `stapler --dir LAB --listen 127.0.0.1:PORT ARGS` on
    /// `port` and waits until it printed its "stapler listening on" line and
    /// accepts TCP connections. Its output goes to files under [`tmp`](Self::tmp).
    pub fn try_start_stapler(&self, port: u16, args: &[&str]) -> Result<Server, StartError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut all: Vec<OsString> = vec![
            "--dir".into(),
            self.dir.clone().into(),
            "--listen".into(),
            addr.to_string().into(),
        ];
        all.extend(args.iter().map(OsString::from));
        Server::start(&ServerSpec {
            name: "stapler".into(),
            program: binary("stapler"),
            args: all,
            env: Vec::new(),
            addr,
            ready_line: Some(stapler_ready_line(addr)),
            health_path: None,
            log_dir: self.tmp().join("logs"),
        })
    }

    /// [`try_start_stapler`](Self::try_start_stapler) on a free port, starting
    /// over on another port when another process took it first; panics when
    /// the stapler does not start.
    #[track_caller]
    pub fn start_stapler(&self, args: &[&str]) -> Server {
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match self.try_start_stapler(free_port(), args) {
                Ok(server) => return server,
                Err(StartError::AddrInUse(log)) => last = Some(log),
                Err(e) => panic!("the stapler did not start: {e}"),
            }
        }
        panic!(
            "the stapler found its port in use {START_ATTEMPTS} times; last log:\n{}",
            last.unwrap_or_default()
        );
    }

    /// Runs `stapler check 127.0.0.1:PORT --ca ROOT ARGS`, with
    /// `--servername localhost` unless `args` name another.
    pub fn stapler_check(&self, addr: SocketAddr, args: &[&str]) -> Output {
        let mut cmd = command("stapler");
        cmd.arg("check")
            .arg(addr.to_string())
            .arg("--ca")
            .arg(self.root_cert());
        if !args.contains(&"--servername") {
            cmd.args(["--servername", "localhost"]);
        }
        cmd.args(args);
        run(&mut cmd, COMMAND_TIMEOUT)
    }

    /// `GET target` over HTTPS from the stapler at `addr` (SNI and host name
    /// `localhost`, trusting the lab's root).
    pub fn https_get(&self, addr: SocketAddr, target: &str) -> io::Result<HttpResponse> {
        https_request(
            addr,
            "localhost",
            &self.root_cert(),
            "GET",
            target,
            &[],
            &[],
        )
    }

    /// `POST target` (empty body) over HTTPS, like [`https_get`](Self::https_get).
    pub fn https_post(&self, addr: SocketAddr, target: &str) -> io::Result<HttpResponse> {
        https_request(
            addr,
            "localhost",
            &self.root_cert(),
            "POST",
            target,
            &[],
            &[],
        )
    }

    /// A TLS client of this lab: trusts its root, sends SNI `localhost` and
    /// asks for the certificate status (see [`TlsClient`]).
    pub fn tls_client(&self) -> TlsClient {
        TlsClient::new(&self.root_cert())
    }
}

// ------------------------------------------------------------------ testca serve

/// What `testca serve` prints once it accepts connections on `addr`.
pub fn serve_ready_line(addr: SocketAddr) -> String {
    format!("testca serve listening on http://{addr}/")
}

impl TestLab {
    /// The content of the lab's `api-token`.
    pub fn api_token(&self) -> String {
        fs::read_to_string(self.path("api-token"))
            .expect("the lab has an api-token")
            .trim()
            .to_string()
    }

    /// Starts the real `testca --dir LAB serve --listen 127.0.0.1:PORT ARGS`
    /// on a free port (starting over elsewhere when the port was taken) and
    /// waits until its console page answers 200.
    #[track_caller]
    pub fn start_serve(&self, args: &[&str]) -> Server {
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
            let mut all: Vec<OsString> = vec![
                "--dir".into(),
                self.dir.clone().into(),
                "serve".into(),
                "--listen".into(),
                addr.to_string().into(),
            ];
            all.extend(args.iter().map(OsString::from));
            match Server::start(&ServerSpec {
                name: "testca-serve".into(),
                program: binary("testca"),
                args: all,
                env: Vec::new(),
                addr,
                ready_line: Some(serve_ready_line(addr)),
                health_path: Some("/".into()),
                log_dir: self.tmp().join("logs"),
            }) {
                Ok(server) => return server,
                Err(StartError::AddrInUse(log)) => last = Some(log),
                Err(e) => panic!("testca serve did not start: {e}"),
            }
        }
        panic!(
            "testca serve found its port in use {START_ATTEMPTS} times; last log:\n{}",
            last.unwrap_or_default()
        );
    }
}

// ------------------------------------------------------------------ HTTP

/// An HTTP response as received.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.1 request on a new connection (`Connection: close`)
/// and reads the whole response. `target` is sent exactly as given. Every
/// step is bounded by [`HTTP_TIMEOUT`]. A connection closed before any
/// response byte gives an [`io::ErrorKind::UnexpectedEof`] error.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let deadline = Instant::now() + HTTP_TIMEOUT;
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_nodelay(true)?;
    exchange(
        &mut stream,
        &addr.to_string(),
        method,
        target,
        headers,
        body,
        deadline,
    )
}

/// Sends one request (`Connection: close`, `Host: host`) on `stream` and
/// reads the whole response, until `deadline`.
fn exchange(
    stream: &mut (impl Read + Write),
    host: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    deadline: Instant,
) -> io::Result<HttpResponse> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request)?;
    stream.flush()?;

    let mut received = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no complete response within {HTTP_TIMEOUT:?}"),
            ));
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A reset after a complete response (e.g. the server closed with our body unread).
            Err(_) if parse_response(&received, method).is_ok() => break,
            Err(e) => return Err(e),
        }
    }
    if received.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the connection was closed without a response",
        ));
    }
    parse_response(&received, method)
}

/// `GET target`.
pub fn http_get(addr: SocketAddr, target: &str) -> io::Result<HttpResponse> {
    http_request(addr, "GET", target, &[], &[])
}

/// `POST target` with a body of `content_type`.
pub fn http_post(
    addr: SocketAddr,
    target: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<HttpResponse> {
    http_request(
        addr,
        "POST",
        target,
        &[("Content-Type", content_type)],
        body,
    )
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Parses a complete HTTP/1.1 response (the connection was closed after it).
fn parse_response(bytes: &[u8], method: &str) -> io::Result<HttpResponse> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("incomplete response head"))?;
    let head = std::str::from_utf8(&bytes[..end]).map_err(|_| invalid("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(invalid(format!("bad status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &bytes[end + 4..];
    let no_body = method == "HEAD" || status == 204 || status == 304 || status / 100 == 1;
    let body = if no_body {
        Vec::new()
    } else if response
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        dechunk(rest)?
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| invalid(format!("bad content-length {len:?}")))?;
        if rest.len() < len {
            return Err(invalid(format!(
                "body cut short: {} of {len} bytes",
                rest.len()
            )));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse { body, ..response })
}

fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("chunk size line cut short"))?;
        let size_text = std::str::from_utf8(&rest[..eol]).map_err(|_| invalid("chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| invalid("chunk size not hex"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(invalid("chunk cut short"));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

// ------------------------------------------------------------------ TLS

/// Sends one HTTP/1.1 request over TLS (the `openssl` crate, verifying the
/// server's chain against `ca` and its name against `servername`, which is
/// also sent as SNI) and reads the whole response. Bounded by [`HTTP_TIMEOUT`].
pub fn https_request(
    addr: SocketAddr,
    servername: &str,
    ca: &Path,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let deadline = Instant::now() + HTTP_TIMEOUT;
    let client = TlsClient::new(ca).servername(servername);
    let mut stream = client.stream(addr)?;
    exchange(
        &mut stream,
        &format!("{servername}:{}", addr.port()),
        method,
        target,
        headers,
        body,
        deadline,
    )
}

/// A TLS client made with the `openssl` crate, as a browser-like peer of the
/// stapler: it verifies the chain against a CA file, sends SNI, and asks for
/// the certificate status (RFC 6066 `status_request`) unless told not to.
/// Sessions it receives can be offered again ([`TlsClient::resume`]): the
/// same client (one `SslContext`) must be used for both connections.
#[derive(Clone)]
pub struct TlsClient {
    connector: SslConnector,
    servername: Option<String>,
    status_request: bool,
    session: Option<SslSession>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("servername", &self.servername)
            .field("status_request", &self.status_request)
            .field("resume", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

/// What one handshake showed the client.
pub struct Handshake {
    /// The stapled OCSP response, if the server sent one.
    pub staple: Option<Vec<u8>>,
    /// The negotiated protocol (`TLSv1.3`, `TLSv1.2`).
    pub version: String,
    /// Whether the offered session was resumed.
    pub session_reused: bool,
    /// The server's certificate (none on a resumed TLS 1.3 session with some libraries).
    pub peer: Option<X509>,
    /// The certificates the server sent, leaf first.
    pub chain: Vec<X509>,
    /// How long the handshake took (connect excluded).
    pub elapsed: Duration,
    /// The session to resume later, read after one request on the connection
    /// (so that TLS 1.3 session tickets have arrived).
    pub session: Option<SslSession>,
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("staple", &self.staple.as_ref().map(Vec::len))
            .field("version", &self.version)
            .field("session_reused", &self.session_reused)
            .field("peer", &self.peer_common_name())
            .field("elapsed", &self.elapsed)
            .field("session", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// The common name of the server's certificate.
    pub fn peer_common_name(&self) -> Option<String> {
        let peer = self.peer.as_ref()?;
        let entry = peer.subject_name().entries_by_nid(Nid::COMMONNAME).next()?;
        entry.data().to_string().ok()
    }
}

impl TlsClient {
    /// TLS 1.2 and 1.3, trusting the certificates of the PEM file `ca`, SNI
    /// and host name `localhost`, asking for the certificate status.
    pub fn new(ca: &Path) -> TlsClient {
        TlsClient::with_versions(ca, None)
    }

    /// Like [`new`](Self::new), offering only `version` when given.
    pub fn with_versions(ca: &Path, version: Option<SslVersion>) -> TlsClient {
        let mut builder =
            SslConnector::builder(SslMethod::tls_client()).expect("SslConnector::builder");
        builder
            .set_ca_file(ca)
            .unwrap_or_else(|e| panic!("{}: {e}", ca.display()));
        if let Some(v) = version {
            builder.set_min_proto_version(Some(v)).expect("min version");
            builder.set_max_proto_version(Some(v)).expect("max version");
        }
        // Keep client sessions so that they can be offered again.
        builder.set_session_cache_mode(SslSessionCacheMode::CLIENT);
        TlsClient {
            connector: builder.build(),
            servername: Some("localhost".into()),
            status_request: true,
            session: None,
        }
    }

    /// Sends `name` as SNI and verifies the certificate for it.
    pub fn servername(mut self, name: &str) -> TlsClient {
        self.servername = Some(name.to_string());
        self
    }

    /// Sends no SNI (and does not check the certificate's name).
    pub fn no_sni(mut self) -> TlsClient {
        self.servername = None;
        self
    }

    /// Whether to send `status_request` (default: yes).
    pub fn status_request(mut self, ask: bool) -> TlsClient {
        self.status_request = ask;
        self
    }

    /// Offers `session` (from an earlier handshake of this client) for resumption.
    pub fn resume(mut self, session: SslSession) -> TlsClient {
        self.session = Some(session);
        self
    }

    fn ssl(&self) -> io::Result<Ssl> {
        let mut config = self.connector.configure().map_err(io::Error::other)?;
        config.set_use_server_name_indication(self.servername.is_some());
        config.set_verify_hostname(self.servername.is_some());
        let mut ssl = config
            .into_ssl(self.servername.as_deref().unwrap_or("localhost"))
            .map_err(io::Error::other)?;
        if self.status_request {
            ssl.set_status_type(StatusType::OCSP)
                .map_err(io::Error::other)?;
        }
        if let Some(session) = &self.session {
            // SAFETY: the session comes from a connection of this client's own
            // connector, i.e. of the same SslContext.
            unsafe { ssl.set_session(session) }.map_err(io::Error::other)?;
        }
        Ok(ssl)
    }

    fn connect(&self, addr: SocketAddr) -> io::Result<(SslStream<TcpStream>, Duration)> {
        let tcp = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
        tcp.set_read_timeout(Some(HTTP_TIMEOUT))?;
        tcp.set_write_timeout(Some(HTTP_TIMEOUT))?;
        tcp.set_nodelay(true)?;
        let ssl = self.ssl()?;
        let started = Instant::now();
        let stream = ssl
            .connect(tcp)
            .map_err(|e| io::Error::other(format!("TLS handshake with {addr} failed: {e}")))?;
        Ok((stream, started.elapsed()))
    }

    /// A verified TLS connection to `addr`, ready for a request.
    pub fn stream(&self, addr: SocketAddr) -> io::Result<SslStream<TcpStream>> {
        self.connect(addr).map(|(stream, _)| stream)
    }

    /// One handshake with `addr`, then one `GET /health` on the connection
    /// (so that TLS 1.3 session tickets arrive), reporting what the client saw.
    pub fn handshake(&self, addr: SocketAddr) -> io::Result<Handshake> {
        let (mut stream, elapsed) = self.connect(addr)?;
        let ssl = stream.ssl();
        let staple = ssl.ocsp_status().map(<[u8]>::to_vec);
        let version = ssl.version_str().to_string();
        let session_reused = ssl.session_reused();
        let peer = ssl.peer_certificate();
        let chain = ssl
            .peer_cert_chain()
            .map(|c| c.iter().map(|x| x.to_owned()).collect())
            .unwrap_or_default();
        let host = self.servername.clone().unwrap_or_else(|| addr.to_string());
        // The answer does not matter; the tickets sent before it do.
        let _ = exchange(
            &mut stream,
            &host,
            "GET",
            "/health",
            &[],
            &[],
            Instant::now() + HTTP_TIMEOUT,
        );
        // OpenSSL makes a session that was not shut down cleanly unresumable.
        let _ = stream.shutdown();
        let session = stream.ssl().session().map(|s| s.to_owned());
        Ok(Handshake {
            staple,
            version,
            session_reused,
            peer,
            chain,
            elapsed,
            session,
        })
    }
}

// ------------------------------------------------------------------ waiting

/// Calls `probe` every `every` until it returns `Some`, for at most
/// `timeout`; panics with `what` when time runs out.
#[track_caller]
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc";
        let r = parse_response(plain, "GET").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
        assert_eq!(r.header("x-a"), Some("b"));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked, "GET").unwrap().body, b"abcde");
        let not_modified = b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";
        assert_eq!(parse_response(not_modified, "GET").unwrap().status, 304);
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", "GET").is_err());
        assert!(parse_response(b"garbage", "GET").is_err());
    }

    #[test]
    fn free_ports_are_never_handed_out_twice() {
        let ports: BTreeSet<u16> = (0..50).map(|_| free_port()).collect();
        assert_eq!(ports.len(), 50);
    }
}
