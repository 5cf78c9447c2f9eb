//! The QA scenarios: each failure mode of the revocation path as a
//! repeatable story written in a TOML file ([`file`]). One engine plays
//! them all, the built-in ones (`scenarios/*.toml` at the repository's
//! root) and a QA engineer's own: it makes a fresh lab, starts the real
//! responder and stapler (or nginx, or Apache), does what the steps say
//! (issue, revoke, inject a fault, stop, restart), shows what each client
//! saw, and checks that against the expectations. The tests and the QA
//! command (`scripts/scenario`) both use it; [`report`] writes the JUnit
//! XML and JSON reports for CI.

pub mod file;
pub mod report;

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::clients::{self, Observation};
use crate::harness::{self, Server, ServerSpec, StartError, TestLab};
use crate::peers::{Peer, PeerKind, PeerSite};

pub use file::{Action, Client, Expectations, FileError, Outcome, ScenarioFile};
use file::{Chain, ClientExpectation, LabChoice, Program, ServerStart, StapleExpectation};

/// Where the built-in scenarios are: `OCSPLAB_SCENARIOS`, else the
/// repository's `scenarios/` directory.
pub fn catalogue_dir() -> PathBuf {
    std::env::var_os("OCSPLAB_SCENARIOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"))
}

/// The file of the built-in scenario `name` (`scenarios/NAME.toml`).
pub fn catalogue_file(name: &str) -> Option<PathBuf> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let path = catalogue_dir().join(format!("{name}.toml"));
    (ok && path.is_file()).then_some(path)
}

/// Every built-in scenario, read and checked.
pub fn catalogue() -> Result<Vec<ScenarioFile>, Vec<FileError>> {
    let dir = catalogue_dir();
    let files = file::files_in(&dir).map_err(|e| {
        vec![FileError {
            path: dir.clone(),
            line: 0,
            column: 0,
            field: None,
            message: format!("cannot read the scenario directory: {e}"),
        }]
    })?;
    file::load_all(&files)
}

/// An expectation that did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The step (1-based) that checked it; 0 before any step.
    pub step: usize,
    /// Its line in the scenario file.
    pub line: usize,
    /// Who or what was checked (`stapler check`, `staple`, `log`, `run`).
    pub subject: String,
    /// What should have been seen.
    pub expected: String,
    /// What was seen.
    pub observed: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} (line {}): {}: expected {}; observed {}",
            self.step, self.line, self.subject, self.expected, self.observed
        )
    }
}

/// What came of playing a scenario.
#[derive(Clone, Debug)]
pub struct Played {
    /// The scenario's name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its file.
    pub path: PathBuf,
    /// Expectations checked.
    pub checked: usize,
    /// Expectations that failed, and an error that stopped the scenario.
    pub failures: Vec<Failure>,
    /// Why the scenario could not run here (a program it needs is missing).
    pub skipped: Option<String>,
    /// The step-by-step report, as printed.
    pub report: String,
    /// How long it took.
    pub duration: Duration,
}

impl Played {
    /// Whether it ran and everything went as expected. A skipped scenario
    /// did not pass (nor fail): see [`Played::skipped`].
    pub fn passed(&self) -> bool {
        self.skipped.is_none() && self.failures.is_empty() && self.checked > 0
    }

    /// The one-word verdict of its report: PASS, FAIL or SKIP.
    pub fn verdict(&self) -> &'static str {
        if self.skipped.is_some() {
            "SKIP"
        } else if self.passed() {
            "PASS"
        } else {
            "FAIL"
        }
    }
}

/// One expectation, checked.
struct Checked {
    subject: String,
    expected: String,
    observed: String,
    ok: bool,
}

/// The TLS server clients connect to: the last one started.
#[derive(Clone, Copy)]
struct Target {
    addr: SocketAddr,
    program: Program,
}

/// The state of a scenario while it plays.
struct Run<'w> {
    lab: TestLab,
    out: &'w mut dyn Write,
    report: String,
    responder: Option<Server>,
    stapler: Option<Server>,
    peers: Vec<Peer>,
    other_labs: Vec<TestLab>,
    target: Option<Target>,
    /// The SNI name and trust anchor clients use.
    servername: String,
    ca: PathBuf,
    /// The staple's producedAt at the last `staple = "held"`.
    held: Option<String>,
    step: usize,
    line: usize,
    checked: usize,
    failures: Vec<Failure>,
}

/// Plays a scenario, writing its report to `out` as it goes.
pub fn play(scenario: &ScenarioFile, out: &mut dyn Write) -> Played {
    let started = Instant::now();
    let mut played = Played {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        path: scenario.path.clone(),
        checked: 0,
        failures: Vec::new(),
        skipped: None,
        report: String::new(),
        duration: Duration::ZERO,
    };
    let head = format!("scenario {}: {}\n", scenario.name, scenario.description);
    let _ = out.write_all(head.as_bytes());
    played.report.push_str(&head);
    if let Some(program) = scenario
        .needs()
        .into_iter()
        .find(|p| !clients::available(p))
    {
        let reason = format!("{program} is not installed (scripts/install-deps installs it)");
        let text = format!("  skipped: {reason}\nresult: SKIP\n");
        let _ = out.write_all(text.as_bytes());
        played.report.push_str(&text);
        played.skipped = Some(reason);
        played.duration = started.elapsed();
        return played;
    }
    let made = std::panic::catch_unwind(|| TestLab::init(&[]));
    let lab = match made {
        Ok(lab) => lab,
        Err(panic) => {
            played.failures.push(Failure {
                step: 0,
                line: 0,
                subject: "run".into(),
                expected: "a fresh lab (testca init)".into(),
                observed: panic_text(panic),
            });
            played.duration = started.elapsed();
            return played;
        }
    };
    let ca = lab.root_cert();
    let mut run = Run {
        lab,
        out,
        report: std::mem::take(&mut played.report),
        responder: None,
        stapler: None,
        peers: Vec::new(),
        other_labs: Vec::new(),
        target: None,
        servername: "localhost".into(),
        ca,
        held: None,
        step: 0,
        line: 0,
        checked: 0,
        failures: Vec::new(),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for (i, step) in scenario.steps.iter().enumerate() {
            run.step = i + 1;
            run.line = step.line;
            run.act(&step.action)?;
        }
        Ok::<(), String>(())
    }));
    let stopped = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(panic) => Some(panic_text(panic)),
    };
    if let Some(error) = stopped {
        run.failures.push(Failure {
            step: run.step,
            line: run.line,
            subject: "run".into(),
            expected: "the step to complete".into(),
            observed: format!("stopped: {error}"),
        });
    }
    run.peer_log_lines();
    played.checked = run.checked;
    played.failures = std::mem::take(&mut run.failures);
    let mut tail = format!(
        "result: {} ({} expectations, {} failed)\n",
        played.verdict(),
        played.checked,
        played.failures.len()
    );
    for failure in &played.failures {
        tail.push_str(&format!("  failed: {failure}\n"));
    }
    run.write(&tail);
    played.report = std::mem::take(&mut run.report);
    played.duration = started.elapsed();
    played
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Whether a client's observation is this outcome.
fn reaches(client: Client, outcome: Outcome, seen: &Observation) -> bool {
    match (client, outcome) {
        (_, Outcome::Accepted) => seen.accepted,
        (_, Outcome::Rejected) => !seen.accepted,
        (Client::Openssl, Outcome::Good) => seen.status.as_deref() == Some("good"),
        (Client::Openssl, Outcome::Revoked) => seen.status.as_deref() == Some("revoked"),
        (Client::Openssl, Outcome::NoStaple) => seen.stapled == Some(false),
        // The stapler check's verdicts are its exit codes.
        (_, Outcome::Good) => seen.exit == Some(0),
        (_, Outcome::Revoked) => seen.exit == Some(1),
        (_, Outcome::InvalidStaple) => seen.exit == Some(2),
        (_, Outcome::NoStaple) => seen.exit == Some(3),
        (_, Outcome::BadCertificate) => seen.exit == Some(4),
        (_, Outcome::ConnectionFailed) => seen.exit == Some(5),
    }
}

fn holds(client: Client, expectation: &ClientExpectation, seen: &Observation) -> bool {
    reaches(client, expectation.outcome, seen) != expectation.negated
        && expectation.stapled.is_none_or(|s| seen.stapled == Some(s))
        && expectation.says.iter().all(|t| seen.output.contains(t))
}

impl Run<'_> {
    fn write(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
        self.report.push_str(text);
    }

    fn say(&mut self, text: impl AsRef<str>) {
        let line = format!("  [{}] {}\n", self.step, text.as_ref());
        self.write(&line);
    }

    fn note(&mut self, text: impl AsRef<str>) {
        let line = format!("        {}\n", text.as_ref());
        self.write(&line);
    }

    /// Records a checked expectation.
    fn record(&mut self, c: Checked) {
        self.checked += 1;
        let mark = if c.ok { "ok  " } else { "FAIL" };
        let line = format!("      expect {mark} {}: {}\n", c.subject, c.expected);
        self.write(&line);
        if !c.ok {
            self.failures.push(Failure {
                step: self.step,
                line: self.line,
                subject: c.subject,
                expected: c.expected,
                observed: c.observed,
            });
        }
    }

    fn act(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::Testca(args) => self.testca(args),
            Action::Start(start) => self.start(start),
            Action::Stop(program) => {
                self.stop(*program);
                Ok(())
            }
            Action::Refresh => self.refresh(),
            Action::Wait { at_most, until } => {
                match until {
                    None => {
                        self.say(format!("wait {}", humantime::format_duration(*at_most)));
                        std::thread::sleep(*at_most);
                    }
                    Some(e) => self.wait_until(e, *at_most),
                }
                Ok(())
            }
            Action::Show { clients, times } => {
                let names: Vec<&str> = clients.iter().map(|c| c.key()).collect();
                let rounds = if *times > 1 {
                    format!(", {times} times")
                } else {
                    String::new()
                };
                self.say(format!("connect: {}{rounds}", names.join(", ")));
                let addr = self.target_addr()?;
                for _ in 0..*times {
                    for client in clients {
                        self.observe(*client, addr, true);
                    }
                }
                Ok(())
            }
            Action::Expect(e) => {
                self.say(format!("expect {}", e.describe()));
                for c in self.evaluate(e, true)? {
                    self.record(c);
                }
                Ok(())
            }
            Action::Note(text) => {
                self.say(text);
                Ok(())
            }
        }
    }

    /// `testca ARGS` on the lab, shown as a step; its first output line is shown too.
    fn testca(&mut self, args: &[String]) -> Result<(), String> {
        self.say(format!("testca {}", args.join(" ")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.lab.testca(&args);
        let first = out
            .stdout
            .lines()
            .next()
            .or_else(|| out.stderr.lines().next())
            .unwrap_or("")
            .to_string();
        if !first.is_empty() {
            self.note(first);
        }
        if out.code != Some(0) {
            return Err(format!(
                "testca {} failed: {}",
                args.join(" "),
                out.stderr.trim()
            ));
        }
        Ok(())
    }

    fn start(&mut self, start: &ServerStart) -> Result<(), String> {
        match start.program {
            Program::Responder => self.start_responder(&start.args),
            Program::Stapler => self.start_stapler(start),
            Program::Nginx | Program::Apache => self.start_peer(start),
        }
    }

    fn stop(&mut self, program: Program) {
        match program {
            Program::Responder => {
                self.say("stop the responder (SIGTERM)");
                self.stop_responder_quietly();
            }
            Program::Stapler => {
                self.say("stop the stapler (SIGTERM)");
                if let Some(mut server) = self.stapler.take() {
                    server.stop();
                }
            }
            Program::Nginx | Program::Apache => {
                self.say(format!("stop {program:?} (SIGTERM)").to_lowercase());
                let kind = program.peer();
                if let Some(i) = self.peers.iter().rposition(|p| Some(p.kind) == kind) {
                    let mut peer = self.peers.remove(i);
                    peer.server.stop();
                }
            }
        }
        if self.target.is_some_and(|t| t.program == program) {
            self.target = None;
        }
    }

    fn start_responder(&mut self, args: &[String]) -> Result<(), String> {
        self.stop_responder_quietly();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut last = None;
        // The port is the lab's (its certificates name it): retry while a former process lets go of it.
        for _ in 0..50 {
            match self.lab.start_responder(&args) {
                Ok(server) => {
                    self.say(
                        format!(
                            "start the responder on {} {}",
                            server.addr(),
                            args.join(" ")
                        )
                        .trim_end(),
                    );
                    self.responder = Some(server);
                    return Ok(());
                }
                Err(StartError::AddrInUse(log)) => {
                    last = Some(log);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(format!("the responder did not start: {e}")),
            }
        }
        Err(format!(
            "the responder's port stayed in use: {}",
            last.unwrap_or_default()
        ))
    }

    fn stop_responder_quietly(&mut self) {
        if let Some(mut server) = self.responder.take() {
            server.stop();
        }
    }

    /// Starts the stapler for a certificate of the lab, or of a second lab.
    fn start_stapler(&mut self, start: &ServerStart) -> Result<(), String> {
        let file = match start.chain {
            Chain::Full => "fullchain.pem",
            Chain::Leaf => "cert.pem",
        };
        let (chain, key) = match start.lab {
            LabChoice::This => {
                self.ca = self.lab.root_cert();
                (
                    self.lab.path(&format!("certs/{}/{file}", start.cert)),
                    self.lab.path(&format!("certs/{}/key.pem", start.cert)),
                )
            }
            LabChoice::Other => {
                // A second, separate CA whose certificates point at our responder, which does not serve it.
                let foreign = TestLab::init_at(self.lab.port(), "/", &[]);
                self.say(format!(
                    "make a second lab (a CA the responder does not serve) in {}",
                    foreign.dir().display()
                ));
                let paths = (
                    foreign.path(&format!("certs/{}/{file}", start.cert)),
                    foreign.path(&format!("certs/{}/key.pem", start.cert)),
                );
                self.ca = foreign.root_cert();
                self.other_labs.push(foreign);
                paths
            }
        };
        self.servername = start.cert.clone();
        let args: Vec<&str> = start.args.iter().map(String::as_str).collect();
        if let Some(texts) = &start.exits {
            self.say(format!(
                "start the stapler for {} {} (it must exit)",
                chain.display(),
                args.join(" ")
            ));
            match self.spawn_stapler(&chain, &key, &args) {
                Ok(server) => {
                    let addr = server.addr();
                    self.stapler = Some(server);
                    self.target = Some(Target {
                        addr,
                        program: Program::Stapler,
                    });
                    self.record(Checked {
                        subject: "stapler".into(),
                        expected: format!("exits at start, saying \"{}\"", texts.join("\" \"")),
                        observed: format!("it runs on {addr}"),
                        ok: false,
                    });
                }
                Err(StartError::Exited(log)) => {
                    let line = log
                        .lines()
                        .find(|l| texts.iter().all(|t| l.contains(t.as_str())))
                        .map(|l| l.trim().to_string());
                    self.note(format!(
                        "it exited: {}",
                        line.as_deref()
                            .unwrap_or_else(|| log.lines().last().unwrap_or(""))
                    ));
                    self.record(Checked {
                        subject: "stapler".into(),
                        expected: format!("exits at start, saying \"{}\"", texts.join("\" \"")),
                        observed: log.lines().last().unwrap_or("").trim().to_string(),
                        ok: line.is_some(),
                    });
                    self.target = None;
                }
                Err(e) => return Err(e.to_string()),
            }
            return Ok(());
        }
        match self.spawn_stapler(&chain, &key, &args) {
            Ok(server) => {
                let addr = server.addr();
                self.say(
                    format!(
                        "start the stapler on {addr} for {} {}",
                        chain.display(),
                        args.join(" ")
                    )
                    .trim_end(),
                );
                self.stapler = Some(server);
                self.target = Some(Target {
                    addr,
                    program: Program::Stapler,
                });
                Ok(())
            }
            Err(e) => Err(format!("the stapler did not start: {e}")),
        }
    }

    fn spawn_stapler(
        &mut self,
        chain: &Path,
        key: &Path,
        args: &[&str],
    ) -> Result<Server, StartError> {
        if let Some(mut old) = self.stapler.take() {
            old.stop();
        }
        let mut last = None;
        for _ in 0..harness::START_ATTEMPTS {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, harness::free_port()));
            let mut all: Vec<OsString> = vec![
                "--dir".into(),
                self.lab.dir().into(),
                "--listen".into(),
                addr.to_string().into(),
                "--cert".into(),
                chain.into(),
                "--key".into(),
                key.into(),
                "--backoff-min".into(),
                "200ms".into(),
                "--backoff-max".into(),
                "1s".into(),
                "--fetch-timeout".into(),
                "2s".into(),
            ];
            all.extend(args.iter().map(OsString::from));
            let spec = ServerSpec {
                name: "stapler".into(),
                program: harness::binary("stapler"),
                args: all,
                env: Vec::new(),
                addr,
                ready_line: Some(format!("stapler listening on https://{addr}/")),
                health_path: None,
                log_dir: self.lab.tmp().join("logs"),
            };
            match Server::start(&spec) {
                Ok(server) => return Ok(server),
                Err(StartError::AddrInUse(log)) => last = Some(log),
                Err(e) => return Err(e),
            }
        }
        Err(StartError::AddrInUse(last.unwrap_or_default()))
    }

    fn start_peer(&mut self, start: &ServerStart) -> Result<(), String> {
        let kind = start.program.peer().unwrap_or(PeerKind::Nginx);
        let (chain, trusted) = match start.chain {
            Chain::Full => (
                format!("certs/{}/fullchain.pem", start.cert),
                "ca/bundle.pem",
            ),
            // The leaf alone, and only the root as trusted: the issuer (the intermediate) is nowhere.
            Chain::Leaf => (format!("certs/{}/cert.pem", start.cert), "ca/root/cert.pem"),
        };
        let site = PeerSite {
            chain: self.lab.path(&chain),
            key: self.lab.path(&format!("certs/{}/key.pem", start.cert)),
            trusted: self.lab.path(trusted),
            apache_cache_timeout: start.cache_timeout,
        };
        let peer = Peer::start(kind, &site, &self.lab.tmp().join("peers"))
            .map_err(|e| format!("{} did not start: {e}", kind.name()))?;
        let addr = peer.addr();
        let timeout = start
            .cache_timeout
            .map(|t| format!(", SSLStaplingStandardCacheTimeout {t}"))
            .unwrap_or_default();
        self.say(format!(
            "start {} on {addr} (stapling on, chain {}, trusted {}{timeout})",
            kind.name(),
            site.chain.display(),
            site.trusted.display()
        ));
        self.peers.push(peer);
        self.servername = start.cert.clone();
        self.ca = self.lab.root_cert();
        self.target = Some(Target {
            addr,
            program: start.program,
        });
        Ok(())
    }

    fn target_addr(&self) -> Result<SocketAddr, String> {
        self.target
            .map(|t| t.addr)
            .ok_or_else(|| "no TLS server runs: start the stapler, nginx or Apache first".into())
    }

    fn stapler_addr(&self) -> Result<SocketAddr, String> {
        self.stapler
            .as_ref()
            .map(Server::addr)
            .ok_or_else(|| "no stapler runs: start it first".to_string())
    }

    /// The log of the server under test (the stapler's, or nginx's or Apache's error log).
    fn server_log(&self) -> String {
        match self.target.map(|t| t.program) {
            Some(Program::Nginx | Program::Apache) => {
                self.peers.last().map(Peer::error_log).unwrap_or_default()
            }
            _ => self.stapler.as_ref().map(Server::log).unwrap_or_default(),
        }
    }

    /// `POST /admin/refresh` on the stapler: fetch now and wait for the round.
    fn refresh(&mut self) -> Result<(), String> {
        let addr = self.stapler_addr()?;
        self.say("POST /admin/refresh (the stapler fetches now)");
        let (code, _) = clients::https(addr, &self.servername, &self.ca, "POST", "/admin/refresh");
        if code != 200 && code != 202 {
            return Err(format!("/admin/refresh answered HTTP {code}"));
        }
        Ok(())
    }

    /// The stapler's `/status.json` entry for the first certificate.
    fn status(&self) -> Result<serde_json::Value, String> {
        let addr = self.stapler_addr()?;
        let (code, body) = clients::https(addr, &self.servername, &self.ca, "GET", "/status.json");
        if code != 200 {
            return Err(format!("/status.json answered HTTP {code}"));
        }
        let value: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("/status.json: {e}"))?;
        Ok(value.get(0).cloned().unwrap_or(serde_json::Value::Null))
    }

    fn observe(&mut self, client: Client, addr: SocketAddr, loud: bool) -> Observation {
        let (name, ca) = (self.servername.as_str(), self.ca.as_path());
        let seen = match client {
            Client::StaplerCheck => clients::stapler_check(addr, name, ca, false),
            Client::StaplerCheckMustStaple => clients::stapler_check(addr, name, ca, true),
            Client::Openssl => clients::s_client(addr, name, ca),
            Client::Curl => clients::curl_cert_status(addr, name, ca),
            Client::GnutlsCli => clients::gnutls_cli(addr, name, ca),
        };
        if loud {
            let line = format!("      seen   {seen}\n");
            self.write(&line);
        }
        seen
    }

    /// Checks every expectation of `e` once; `loud` shows what the clients saw.
    fn evaluate(&mut self, e: &Expectations, loud: bool) -> Result<Vec<Checked>, String> {
        let mut checked = Vec::new();
        let clients = e.clients();
        if !clients.is_empty() {
            let addr = self.target_addr()?;
            for (client, expectation) in clients {
                let seen = self.observe(client, addr, loud);
                let label = seen.client;
                checked.push(Checked {
                    subject: label.to_string(),
                    expected: expectation.to_string(),
                    observed: seen
                        .to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                    ok: holds(client, expectation, &seen),
                });
            }
        }
        let needs_status =
            e.staple.is_some() || e.staple_status.is_some() || e.last_error.is_some();
        let status = if needs_status {
            self.status()?
        } else {
            serde_json::Value::Null
        };
        let produced_at = status["staple"]["produced_at"].as_str().map(str::to_string);
        match e.staple {
            Some(StapleExpectation::Held) => {
                if produced_at.is_some() {
                    self.held.clone_from(&produced_at);
                }
                checked.push(Checked {
                    subject: "staple".into(),
                    expected: "the stapler holds a staple".into(),
                    observed: describe_staple(&produced_at),
                    ok: produced_at.is_some(),
                });
            }
            Some(StapleExpectation::Unchanged) => checked.push(Checked {
                subject: "staple".into(),
                expected: format!(
                    "the staple in use did not change ({})",
                    describe_staple(&self.held)
                ),
                observed: describe_staple(&produced_at),
                ok: produced_at.is_some() && produced_at == self.held,
            }),
            None => {}
        }
        if let Some(want) = &e.staple_status {
            let seen = status["staple"]["status"].as_str().unwrap_or("none");
            checked.push(Checked {
                subject: "staple status".into(),
                expected: format!("the stapler's status page says {want}"),
                observed: seen.to_string(),
                ok: seen == want,
            });
        }
        if let Some(want) = &e.last_error {
            let seen = status["last_error"].as_str().unwrap_or("none").to_string();
            if loud {
                self.note(format!("stapler status: last_error = {seen}"));
            }
            checked.push(Checked {
                subject: "last error".into(),
                expected: format!("the stapler reports \"{want}\""),
                observed: seen.clone(),
                ok: seen.contains(want.as_str()),
            });
        }
        if let Some(texts) = &e.log {
            let log = self.server_log();
            let line = log
                .lines()
                .find(|l| texts.iter().all(|t| l.contains(t.as_str())))
                .map(|l| l.trim().to_string());
            if loud {
                self.note(format!(
                    "log: {}",
                    line.as_deref().unwrap_or("(no such line)")
                ));
            }
            checked.push(Checked {
                subject: "log".into(),
                expected: format!("a line saying \"{}\"", texts.join("\" and \"")),
                observed: line
                    .unwrap_or_else(|| format!("no such line in {} lines", log.lines().count())),
                ok: log
                    .lines()
                    .any(|l| texts.iter().all(|t| l.contains(t.as_str()))),
            });
        }
        if let Some(health) = &e.health {
            let addr = self.stapler_addr()?;
            let (code, body) = clients::https(addr, &self.servername, &self.ca, "GET", "/health");
            if loud {
                self.note(format!("GET /health: {code} {}", body.trim()));
            }
            checked.push(Checked {
                subject: "health".into(),
                expected: format!(
                    "HTTP {}{}",
                    health.code,
                    health
                        .says
                        .iter()
                        .map(|t| format!(", says \"{t}\""))
                        .collect::<String>()
                ),
                observed: format!("HTTP {code} {}", body.trim()),
                ok: code == health.code && health.says.iter().all(|t| body.contains(t.as_str())),
            });
        }
        Ok(checked)
    }

    /// Waits (bounded) until every expectation holds, checking quietly; one
    /// expectation: that it came in time.
    fn wait_until(&mut self, e: &Expectations, at_most: Duration) {
        let what = e.describe();
        self.say(format!(
            "wait until {what} (at most {})",
            humantime::format_duration(at_most)
        ));
        let deadline = Instant::now() + at_most;
        let observed = loop {
            let missing: Result<Vec<Checked>, String> = self
                .evaluate(e, false)
                .map(|all| all.into_iter().filter(|c| !c.ok).collect());
            match missing {
                Ok(missing) if missing.is_empty() => break None,
                Ok(missing) => {
                    if Instant::now() >= deadline {
                        break Some(
                            missing
                                .iter()
                                .map(|c| format!("{}: {}", c.subject, c.observed))
                                .collect::<Vec<_>>()
                                .join("; "),
                        );
                    }
                }
                Err(error) => {
                    if Instant::now() >= deadline {
                        break Some(error);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        self.record(Checked {
            subject: "wait".into(),
            expected: format!("{what} within {}", humantime::format_duration(at_most)),
            observed: observed.clone().unwrap_or_else(|| "it did".into()),
            ok: observed.is_none(),
        });
    }

    fn peer_log_lines(&mut self) {
        let lines: Vec<String> = self
            .peers
            .iter()
            .flat_map(Peer::stapling_log_lines)
            .collect();
        for line in lines {
            let text = format!("      log    {line}\n");
            self.write(&text);
        }
    }
}

fn describe_staple(produced_at: &Option<String>) -> String {
    produced_at
        .as_ref()
        .map_or_else(|| "no staple".into(), |p| format!("staple produced at {p}"))
}
