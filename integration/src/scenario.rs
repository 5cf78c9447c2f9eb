//! The QA scenarios: each failure mode of the revocation path as a named,
//! repeatable story. A scenario makes a fresh lab, starts the real
//! responder and stapler (or nginx, or Apache), does things to them (issue,
//! revoke, inject a fault, stop, restart), shows what each client saw, and
//! checks that against what should happen. The same catalogue runs in the
//! test suite and from the QA command (`scripts/scenario NAME`).

use std::ffi::OsString;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::clients::{self, Observation};
use crate::harness::{self, Server, ServerSpec, StartError, TestLab};
use crate::peers::{Peer, PeerKind, PeerSite};

/// One scenario of the catalogue.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// Its name (`revoked`).
    pub name: &'static str,
    /// One line saying what it shows.
    pub summary: &'static str,
    /// Programs besides the lab's own that it needs (`nginx`, `gnutls-cli`…).
    pub needs: &'static [&'static str],
    play: fn(&mut Run) -> Played,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A scenario's steps end early only when the lab itself breaks.
type Played = Result<(), String>;

/// The clients that judge the stapler's staple.
const ALL_CLIENTS: [Client; 4] = [
    Client::StaplerCheck,
    Client::SClient,
    Client::Curl,
    Client::Gnutls,
];

/// A client that can be asked to connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// `stapler check`.
    StaplerCheck,
    /// `stapler check --must-staple`.
    StaplerCheckMustStaple,
    /// `openssl s_client -status`.
    SClient,
    /// `curl --cert-status`.
    Curl,
    /// `gnutls-cli`.
    Gnutls,
}

/// The outcome of a scenario.
#[derive(Debug)]
pub struct Outcome {
    /// Expectations checked.
    pub checked: usize,
    /// Expectations that failed, and errors that stopped the scenario.
    pub failures: Vec<String>,
    /// Why the scenario could not run here (a program it needs is missing).
    pub skipped: Option<String>,
}

impl Outcome {
    /// Whether it ran and everything went as expected. A skipped scenario
    /// did not pass (nor fail): see [`Outcome::skipped`].
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

/// The state of a scenario while it plays.
pub struct Run<'w> {
    lab: TestLab,
    out: &'w mut dyn Write,
    responder: Option<Server>,
    stapler: Option<Server>,
    peers: Vec<Peer>,
    other_labs: Vec<TestLab>,
    /// The SNI name and trust anchor clients use for the stapler.
    servername: String,
    ca: PathBuf,
    step: usize,
    checked: usize,
    failures: Vec<String>,
}

impl Scenario {
    /// Plays the scenario, writing the report to `out`.
    pub fn play(&self, out: &mut dyn Write) -> Outcome {
        let _ = writeln!(out, "scenario {}: {}", self.name, self.summary);
        if let Some(program) = self.needs.iter().find(|p| !clients::available(p)) {
            let reason = format!("{program} is not installed (scripts/install-deps installs it)");
            let _ = writeln!(out, "  skipped: {reason}");
            let _ = writeln!(out, "result: SKIP");
            return Outcome {
                checked: 0,
                failures: Vec::new(),
                skipped: Some(reason),
            };
        }
        let lab = TestLab::init(&[]);
        let ca = lab.root_cert();
        let mut run = Run {
            lab,
            out,
            responder: None,
            stapler: None,
            peers: Vec::new(),
            other_labs: Vec::new(),
            servername: "localhost".into(),
            ca,
            step: 0,
            checked: 0,
            failures: Vec::new(),
        };
        let played =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.play)(&mut run)));
        match played {
            Ok(Ok(())) => {}
            Ok(Err(e)) => run.failures.push(format!("stopped: {e}")),
            Err(panic) => {
                let text = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                run.failures.push(format!("stopped: {text}"));
            }
        }
        let outcome = Outcome {
            checked: run.checked,
            failures: std::mem::take(&mut run.failures),
            skipped: None,
        };
        let _ = writeln!(
            run.out,
            "result: {} ({} expectations, {} failed)",
            outcome.verdict(),
            outcome.checked,
            outcome.failures.len()
        );
        for failure in &outcome.failures {
            let _ = writeln!(run.out, "  failed: {failure}");
        }
        outcome
    }
}

impl Run<'_> {
    fn say(&mut self, text: impl AsRef<str>) {
        self.step += 1;
        let _ = writeln!(self.out, "  [{}] {}", self.step, text.as_ref());
    }

    fn note(&mut self, text: impl AsRef<str>) {
        let _ = writeln!(self.out, "        {}", text.as_ref());
    }

    /// Records an expectation.
    fn expect(&mut self, ok: bool, what: impl AsRef<str>) {
        self.checked += 1;
        let mark = if ok { "ok  " } else { "FAIL" };
        let _ = writeln!(self.out, "      expect {mark} {}", what.as_ref());
        if !ok {
            self.failures.push(what.as_ref().to_string());
        }
    }

    /// `testca ARGS` on the lab, shown as a step; its first output line is shown too.
    fn testca(&mut self, args: &[&str]) -> Result<String, String> {
        self.say(format!("testca {}", args.join(" ")));
        let out = self.lab.testca(args);
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
        Ok(out.stdout)
    }

    fn start_responder(&mut self, args: &[&str]) -> Result<(), String> {
        self.stop_responder_quietly();
        let mut last = None;
        // The port is the lab's (its certificates name it): retry while a former process lets go of it.
        for _ in 0..50 {
            match self.lab.start_responder(args) {
                Ok(server) => {
                    self.say(format!(
                        "start the responder on {} {}",
                        server.addr(),
                        args.join(" ")
                    ));
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

    fn stop_responder(&mut self) {
        self.say("stop the responder (SIGTERM)");
        self.stop_responder_quietly();
    }

    /// Starts the stapler for lab certificate `name` (`certs/NAME/fullchain.pem`) with extra args.
    fn start_stapler(&mut self, name: &str, args: &[&str]) -> Result<(), String> {
        let chain = self.lab.path(&format!("certs/{name}/fullchain.pem"));
        let key = self.lab.path(&format!("certs/{name}/key.pem"));
        self.start_stapler_with(&chain, &key, args)
    }

    fn start_stapler_with(
        &mut self,
        chain: &std::path::Path,
        key: &std::path::Path,
        args: &[&str],
    ) -> Result<(), String> {
        match self.spawn_stapler(chain, key, args) {
            Ok(server) => {
                self.say(format!(
                    "start the stapler on {} for {}",
                    server.addr(),
                    chain.display()
                ));
                self.stapler = Some(server);
                Ok(())
            }
            Err(e) => Err(format!("the stapler did not start: {e}")),
        }
    }

    fn spawn_stapler(
        &mut self,
        chain: &std::path::Path,
        key: &std::path::Path,
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

    fn stapler_addr(&self) -> Result<SocketAddr, String> {
        self.stapler
            .as_ref()
            .map(Server::addr)
            .ok_or_else(|| "no stapler runs".to_string())
    }

    fn stapler_log(&self) -> String {
        self.stapler.as_ref().map(Server::log).unwrap_or_default()
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
    fn status(&mut self) -> Result<serde_json::Value, String> {
        let addr = self.stapler_addr()?;
        let (code, body) = clients::https(addr, &self.servername, &self.ca, "GET", "/status.json");
        if code != 200 {
            return Err(format!("/status.json answered HTTP {code}"));
        }
        let value: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("/status.json: {e}"))?;
        Ok(value.get(0).cloned().unwrap_or(serde_json::Value::Null))
    }

    /// The staple's producedAt in `/status.json` (identifies the staple in use).
    fn staple_produced_at(&mut self) -> Result<Option<String>, String> {
        Ok(self.status()?["staple"]["produced_at"]
            .as_str()
            .map(str::to_string))
    }

    fn observe_one(&mut self, client: Client, addr: SocketAddr) -> Observation {
        let (name, ca) = (self.servername.clone(), self.ca.clone());
        let seen = match client {
            Client::StaplerCheck => clients::stapler_check(addr, &name, &ca, false),
            Client::StaplerCheckMustStaple => clients::stapler_check(addr, &name, &ca, true),
            Client::SClient => clients::s_client(addr, &name, &ca),
            Client::Curl => clients::curl_cert_status(addr, &name, &ca),
            Client::Gnutls => clients::gnutls_cli(addr, &name, &ca),
        };
        let _ = writeln!(self.out, "      seen   {seen}");
        seen
    }

    /// Asks each client to connect to `addr` and shows what it saw.
    fn observe_at(&mut self, addr: SocketAddr, which: &[Client]) -> Vec<Observation> {
        which
            .iter()
            .filter(|c| **c != Client::Gnutls || clients::require("gnutls-cli"))
            .map(|c| self.observe_one(*c, addr))
            .collect()
    }

    fn observe(&mut self, which: &[Client]) -> Result<Vec<Observation>, String> {
        let addr = self.stapler_addr()?;
        Ok(self.observe_at(addr, which))
    }

    /// Waits (bounded) until `probe` holds, re-running it.
    fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut(&mut Self) -> bool,
    ) -> bool {
        self.say(format!(
            "wait until {what} (at most {}s)",
            timeout.as_secs()
        ));
        let deadline = Instant::now() + timeout;
        loop {
            if probe(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Whether `stapler check` gives exit code `code` (quietly).
    fn check_gives(&mut self, code: i32) -> bool {
        match self.stapler_addr() {
            Ok(addr) => {
                clients::stapler_check(addr, &self.servername, &self.ca, false).exit == Some(code)
            }
            Err(_) => false,
        }
    }

    fn start_peer(&mut self, kind: PeerKind, site: &PeerSite) -> Result<SocketAddr, String> {
        let peer = Peer::start(kind, site, &self.lab.tmp().join("peers"))
            .map_err(|e| format!("{} did not start: {e}", kind.name()))?;
        let addr = peer.addr();
        self.say(format!(
            "start {} on {addr} (stapling on, chain {}, trusted {})",
            kind.name(),
            site.chain.display(),
            site.trusted.display()
        ));
        self.peers.push(peer);
        Ok(addr)
    }

    fn peer_log_lines(&mut self) -> Vec<String> {
        let lines: Vec<String> = self
            .peers
            .iter()
            .flat_map(Peer::stapling_log_lines)
            .collect();
        for line in &lines {
            let _ = writeln!(self.out, "      log    {line}");
        }
        lines
    }
}

// ------------------------------------------------------------------ the stories

fn accepted(seen: &[Observation], client: &str) -> bool {
    seen.iter().any(|o| o.client == client && o.accepted)
}

fn rejected(seen: &[Observation], client: &str) -> bool {
    seen.iter().any(|o| o.client == client && !o.accepted)
}

fn exit_of(seen: &[Observation], client: &str) -> Option<i32> {
    seen.iter()
        .find(|o| o.client == client)
        .and_then(|o| o.exit)
}

fn status_of<'a>(seen: &'a [Observation], client: &str) -> Option<&'a str> {
    seen.iter()
        .find(|o| o.client == client)
        .and_then(|o| o.status.as_deref())
}

fn gnutls_present() -> bool {
    clients::available("gnutls-cli")
}

/// Every client asked accepts a good staple.
fn expect_good(run: &mut Run, seen: &[Observation]) {
    for o in seen {
        match o.client {
            "stapler check" => run.expect(
                o.exit == Some(0),
                "stapler check: exit 0, a valid staple says good",
            ),
            "openssl s_client" => run.expect(
                o.status.as_deref() == Some("good"),
                "openssl s_client: Cert Status: good",
            ),
            client => run.expect(o.accepted, format!("{client} accepts the connection")),
        }
    }
}

/// Clients see no staple (and must-staple-agnostic clients still connect).
fn expect_no_staple(run: &mut Run, seen: &[Observation]) {
    run.expect(
        exit_of(seen, "stapler check") == Some(3),
        "stapler check: exit 3, no staple",
    );
    run.expect(
        seen.iter()
            .any(|o| o.client == "openssl s_client" && o.stapled == Some(false)),
        "openssl s_client: OCSP response: no response sent",
    );
    run.expect(
        rejected(seen, "curl --cert-status"),
        "curl --cert-status fails without a staple",
    );
}

fn play_good(run: &mut Run) -> Played {
    run.start_responder(&[])?;
    run.start_stapler("localhost", &[])?;
    let seen = run.observe(&ALL_CLIENTS)?;
    expect_good(run, &seen);
    Ok(())
}

fn revoked_story(
    run: &mut Run,
    revoke_args: &[&str],
    reason: &str,
    shown_time: Option<&str>,
) -> Played {
    run.start_responder(&[])?;
    run.start_stapler("localhost", &[])?;
    let seen = run.observe(&[Client::StaplerCheck])?;
    run.expect(
        exit_of(&seen, "stapler check") == Some(0),
        "before: the staple says good",
    );
    let mut args = vec!["revoke", "localhost"];
    args.extend_from_slice(revoke_args);
    run.testca(&args)?;
    run.refresh()?;
    let seen = run.observe(&ALL_CLIENTS)?;
    run.expect(
        exit_of(&seen, "stapler check") == Some(1),
        "stapler check: exit 1, revoked",
    );
    let check = seen
        .iter()
        .find(|o| o.client == "stapler check")
        .map(|o| o.output.clone())
        .unwrap_or_default();
    run.expect(
        check.contains(&format!("reason {reason}")),
        format!("stapler check shows the reason {reason}"),
    );
    if let Some(date) = shown_time {
        run.expect(
            check.contains(date),
            format!("stapler check shows the revocation time {date}"),
        );
    }
    run.expect(
        status_of(&seen, "openssl s_client") == Some("revoked"),
        "openssl s_client: Cert Status: revoked",
    );
    run.expect(
        rejected(&seen, "curl --cert-status"),
        "curl --cert-status rejects the connection",
    );
    if gnutls_present() {
        run.expect(
            rejected(&seen, "gnutls-cli"),
            "gnutls-cli rejects the connection",
        );
    }
    let status = run.status()?;
    run.expect(
        status["staple"]["status"] == "revoked",
        "the stapler's status page says revoked",
    );
    Ok(())
}

fn play_revoked(run: &mut Run) -> Played {
    revoked_story(run, &["--reason", "superseded"], "superseded", None)
}

fn play_backdated(run: &mut Run) -> Played {
    revoked_story(
        run,
        &["--reason", "keyCompromise", "--at", "2026-01-15T08:30:00Z"],
        "keyCompromise",
        Some("2026-01-15T08:30:00Z"),
    )
}

fn play_expired_cert(run: &mut Run) -> Played {
    run.testca(&["issue", "old", "--expired"])?;
    run.servername = "old".into();
    run.start_responder(&[])?;
    run.start_stapler("old", &[])?;
    let seen = run.observe(&ALL_CLIENTS)?;
    run.expect(
        exit_of(&seen, "stapler check") == Some(4),
        "stapler check: exit 4, the certificate has expired",
    );
    let check = seen
        .iter()
        .find(|o| o.client == "stapler check")
        .map(|o| o.output.clone())
        .unwrap_or_default();
    run.expect(
        check.contains("expired"),
        "stapler check says the certificate has expired",
    );
    run.expect(
        rejected(&seen, "curl --cert-status"),
        "curl rejects the connection",
    );
    if gnutls_present() {
        run.expect(
            rejected(&seen, "gnutls-cli"),
            "gnutls-cli rejects the connection",
        );
    }
    let log = run.stapler_log();
    run.expect(
        log.contains("has expired"),
        "the stapler's log reports the expired certificate",
    );
    Ok(())
}

fn play_stale(run: &mut Run) -> Played {
    run.start_responder(&["--validity", "8s"])?;
    run.start_stapler("localhost", &[])?;
    let before = run.staple_produced_at()?;
    let seen = run.observe(&[Client::StaplerCheck])?;
    run.expect(
        exit_of(&seen, "stapler check") == Some(0),
        "before: the staple says good",
    );
    run.testca(&["fault", "set", "stale"])?;
    run.refresh()?;
    let seen = run.observe(&[Client::StaplerCheck, Client::SClient])?;
    run.expect(
        exit_of(&seen, "stapler check") == Some(0),
        "the stale response is not stapled: the last good one still is",
    );
    let after = run.staple_produced_at()?;
    run.expect(
        after.is_some() && after == before,
        "the staple in use did not change",
    );
    let status = run.status()?;
    run.expect(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("expired")),
        "the stapler reports the refused response as expired",
    );
    let gone = run.wait_for(
        "the last good staple expires",
        Duration::from_secs(15),
        |r| r.check_gives(3),
    );
    run.expect(
        gone,
        "once the last good staple has expired, nothing is stapled",
    );
    let seen = run.observe(&[Client::StaplerCheck, Client::SClient, Client::Curl])?;
    expect_no_staple(run, &seen);
    Ok(())
}

fn play_responder_down(run: &mut Run) -> Played {
    run.start_responder(&["--validity", "8s"])?;
    run.start_stapler("localhost", &[])?;
    let seen = run.observe(&[Client::StaplerCheck])?;
    run.expect(
        exit_of(&seen, "stapler check") == Some(0),
        "before: the staple says good",
    );
    run.stop_responder();
    run.refresh()?;
    let seen = run.observe(&[Client::StaplerCheck, Client::Curl])?;
    run.expect(
        exit_of(&seen, "stapler check") == Some(0),
        "the responder is down: the last good staple is still served",
    );
    run.expect(
        accepted(&seen, "curl --cert-status"),
        "curl --cert-status still accepts",
    );
    let status = run.status()?;
    run.expect(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("fetch failed")),
        "the stapler reports the failed fetch",
    );
    let gone = run.wait_for(
        "the last good staple expires",
        Duration::from_secs(15),
        |r| r.check_gives(3),
    );
    run.expect(
        gone,
        "after its nextUpdate, nothing is stapled (never an expired staple)",
    );
    Ok(())
}

fn play_responder_recovers(run: &mut Run) -> Played {
    run.say("the responder is not running");
    run.start_stapler("localhost", &[])?;
    let seen = run.observe(&[Client::StaplerCheck, Client::SClient])?;
    run.expect(
        exit_of(&seen, "stapler check") == Some(3),
        "no responder: no staple",
    );
    run.start_responder(&[])?;
    let back = run.wait_for(
        "the stapler staples again, without restart",
        Duration::from_secs(15),
        |r| r.check_gives(0),
    );
    run.expect(
        back,
        "the stapler retried with backoff and staples a good response",
    );
    let seen = run.observe(&ALL_CLIENTS)?;
    expect_good(run, &seen);
    Ok(())
}

/// A fault at the responder must not change the staple in use.
fn fault_story(run: &mut Run, fault: &[&str], reported: &str) -> Played {
    run.start_responder(&[])?;
    run.start_stapler("localhost", &[])?;
    let before = run.staple_produced_at()?;
    run.expect(before.is_some(), "before: a good staple is held");
    let mut args = vec!["fault", "set"];
    args.extend_from_slice(fault);
    run.testca(&args)?;
    run.refresh()?;
    let seen = run.observe(&ALL_CLIENTS)?;
    expect_good(run, &seen);
    let after = run.staple_produced_at()?;
    run.expect(
        after.is_some() && after == before,
        "the staple in use did not change",
    );
    let status = run.status()?;
    let error = status["last_error"].as_str().unwrap_or("none").to_string();
    run.note(format!("stapler status: last_error = {error}"));
    run.expect(
        error.contains(reported),
        format!("the stapler reports \"{reported}\""),
    );
    Ok(())
}

fn play_try_later(run: &mut Run) -> Played {
    fault_story(run, &["try-later"], "tryLater")
}

fn play_internal_error(run: &mut Run) -> Played {
    fault_story(run, &["internal-error"], "internalError")
}

fn play_unauthorized(run: &mut Run) -> Played {
    fault_story(run, &["unauthorized"], "unauthorized")
}

fn play_bad_signature(run: &mut Run) -> Played {
    fault_story(run, &["bad-signature"], "signature verification failed")
}

fn play_wrong_signer(run: &mut Run) -> Played {
    fault_story(run, &["wrong-signer"], "signature verification failed")
}

fn play_wrong_cert_id(run: &mut Run) -> Played {
    fault_story(run, &["wrong-cert-id"], "CertID mismatch")
}

fn signer_story(run: &mut Run, defect: &str, reported: &str) -> Played {
    run.start_responder(&[])?;
    run.start_stapler("localhost", &[])?;
    let before = run.staple_produced_at()?;
    run.expect(before.is_some(), "before: a good staple is held");
    run.testca(&["signer", defect])?;
    run.refresh()?;
    let seen = run.observe(&ALL_CLIENTS)?;
    expect_good(run, &seen);
    let after = run.staple_produced_at()?;
    run.expect(
        after.is_some() && after == before,
        "the staple in use did not change",
    );
    let status = run.status()?;
    let error = status["last_error"].as_str().unwrap_or("none").to_string();
    run.note(format!("stapler status: last_error = {error}"));
    run.expect(
        error.contains(reported),
        format!("the stapler reports \"{reported}\""),
    );
    Ok(())
}

fn play_expired_signer(run: &mut Run) -> Played {
    signer_story(run, "--expired", "expired")
}

fn play_signer_without_eku(run: &mut Run) -> Played {
    signer_story(run, "--no-eku", "ocspsigning")
}

fn play_missing_issuer(run: &mut Run) -> Played {
    run.start_responder(&[])?;
    let leaf_only = run.lab.cert("localhost");
    let key = run.lab.path("certs/localhost/key.pem");
    // By default the stapler downloads the missing issuer from the AIA CA Issuers URL, and warns.
    run.start_stapler_with(&leaf_only, &key, &[])?;
    let log = run.stapler_log();
    let line = log
        .lines()
        .find(|l| l.contains("lacks the issuer certificate"))
        .unwrap_or("")
        .to_string();
    run.note(format!("log: {line}"));
    run.expect(
        line.contains("AIA CA Issuers") && line.contains("append the issuer"),
        "by default it fetches the issuer from the AIA CA Issuers URL, and warns that the chain is incomplete",
    );
    // nginx and Apache never fetch it: neither does the stapler with --no-fetch-issuer.
    run.start_stapler_with(&leaf_only, &key, &["--no-fetch-issuer"])?;
    let log = run.stapler_log();
    let line = log
        .lines()
        .find(|l| l.contains("cannot retrieve the issuer certificate"))
        .unwrap_or("")
        .to_string();
    run.note(format!("log: {line}"));
    run.expect(
        line.contains("AH02217") && line.contains("--issuer"),
        "with --no-fetch-issuer it says at start it cannot find the issuer (cf. AH02217), and the remedy",
    );
    let seen = run.observe(&[Client::StaplerCheck, Client::SClient])?;
    run.expect(
        seen.iter().all(|o| o.stapled == Some(false)),
        "it serves without a staple",
    );
    run.say("start the stapler again with --no-fetch-issuer --strict");
    if let Some(mut old) = run.stapler.take() {
        old.stop();
    }
    match run.spawn_stapler(&leaf_only, &key, &["--no-fetch-issuer", "--strict"]) {
        Ok(_) => run.expect(false, "with --strict the stapler exits"),
        Err(StartError::Exited(log)) => {
            let line = log
                .lines()
                .find(|l| l.contains("--strict"))
                .unwrap_or("")
                .trim()
                .to_string();
            run.note(format!("it exited: {line}"));
            run.expect(
                line.contains("issuer"),
                "with --strict the stapler exits, naming the missing issuer",
            );
        }
        Err(e) => return Err(e.to_string()),
    }
    Ok(())
}

fn play_no_aia(run: &mut Run) -> Played {
    run.testca(&["issue", "noaia", "--no-aia"])?;
    run.servername = "noaia".into();
    run.start_responder(&[])?;
    run.start_stapler("noaia", &[])?;
    let log = run.stapler_log();
    let line = log
        .lines()
        .find(|l| l.contains("no OCSP responder URL"))
        .unwrap_or("")
        .to_string();
    run.note(format!("log: {line}"));
    run.expect(
        !line.is_empty() && line.contains("--responder"),
        "the stapler says the certificate has no OCSP URL, and the remedy",
    );
    let seen = run.observe(&[Client::StaplerCheck, Client::SClient])?;
    run.expect(
        exit_of(&seen, "stapler check") == Some(3),
        "stapler check: exit 3, no staple",
    );
    Ok(())
}

fn play_must_staple(run: &mut Run) -> Played {
    run.testca(&["issue", "ms", "--must-staple"])?;
    run.servername = "ms".into();
    run.say("the responder is not running");
    run.start_stapler("ms", &[])?;
    let seen = run.observe(&[
        Client::StaplerCheckMustStaple,
        Client::Gnutls,
        Client::SClient,
    ])?;
    let check = seen.iter().find(|o| o.client == "stapler check").cloned();
    run.expect(
        check
            .as_ref()
            .is_some_and(|o| o.exit == Some(3) && o.detail.contains("REJECT")),
        "stapler check --must-staple rejects: no staple",
    );
    if gnutls_present() {
        let g = seen.iter().find(|o| o.client == "gnutls-cli").cloned();
        run.expect(
            g.as_ref()
                .is_some_and(|o| !o.accepted && o.output.contains("OCSP status is missing")),
            "gnutls-cli rejects: the must-staple certificate came without a staple",
        );
    }
    let addr = run.stapler_addr()?;
    let (code, body) = clients::https(addr, "ms", &run.ca.clone(), "GET", "/health");
    run.note(format!("GET /health: {code} {}", body.trim()));
    run.expect(
        code == 503 && body.contains("must-staple"),
        "the stapler's /health says not ready (must-staple without staple)",
    );
    Ok(())
}

fn play_unknown_cert(run: &mut Run) -> Played {
    run.start_responder(&[])?;
    // A second, separate CA whose certificates point at our responder, which does not serve it.
    let foreign = TestLab::init_at(run.lab.port(), "/", &[]);
    run.say(format!(
        "make a second lab (a CA the responder does not serve) in {}",
        foreign.dir().display()
    ));
    let chain = foreign.path("certs/localhost/fullchain.pem");
    let key = foreign.path("certs/localhost/key.pem");
    run.ca = foreign.root_cert();
    run.other_labs.push(foreign);
    run.start_stapler_with(&chain, &key, &[])?;
    let seen = run.observe(&[Client::StaplerCheck, Client::SClient])?;
    run.expect(
        exit_of(&seen, "stapler check") == Some(3),
        "stapler check: exit 3, no staple",
    );
    let status = run.status()?;
    let error = status["last_error"].as_str().unwrap_or("none").to_string();
    run.note(format!("stapler status: last_error = {error}"));
    run.expect(
        error.contains("unauthorized"),
        "the responder answered unauthorized, and the stapler says so",
    );
    Ok(())
}

fn lab_site(run: &Run, chain: &str, trusted: &str) -> PeerSite {
    PeerSite {
        chain: run.lab.path(chain),
        key: run.lab.path("certs/localhost/key.pem"),
        trusted: run.lab.path(trusted),
        apache_cache_timeout: None,
    }
}

fn peer_good(run: &mut Run, kind: PeerKind) -> Played {
    run.start_responder(&[])?;
    let addr = run.start_peer(
        kind,
        &lab_site(run, "certs/localhost/fullchain.pem", "ca/bundle.pem"),
    )?;
    run.say(
        "first handshake (nginx fetches lazily: its first client of each worker gets no staple)",
    );
    let first = run.observe_at(addr, &[Client::SClient]);
    run.note(format!(
        "the first client got {}",
        if first.first().and_then(|o| o.stapled) == Some(true) {
            "a staple"
        } else {
            "no staple"
        }
    ));
    let stapled = run.wait_for(
        &format!("{} staples", kind.name()),
        Duration::from_secs(20),
        |r| {
            clients::s_client(addr, "localhost", &r.ca)
                .status
                .as_deref()
                == Some("good")
        },
    );
    run.expect(
        stapled,
        format!("{} staples a good response from our responder", kind.name()),
    );
    let seen = run.observe_at(addr, &[Client::StaplerCheck, Client::SClient, Client::Curl]);
    expect_good(run, &seen);
    Ok(())
}

fn peer_revoked(run: &mut Run, kind: PeerKind) -> Played {
    run.start_responder(&["--validity", "6s"])?;
    let mut site = lab_site(run, "certs/localhost/fullchain.pem", "ca/bundle.pem");
    if kind == PeerKind::Apache {
        // Apache keeps a response for SSLStaplingStandardCacheTimeout (1 h) whatever its
        // nextUpdate (see apache-stale-staple); a short timeout makes it ask again.
        site.apache_cache_timeout = Some(5);
        run.say(
            "Apache gets SSLStaplingStandardCacheTimeout 5, so that it asks the responder again",
        );
    }
    let addr = run.start_peer(kind, &site)?;
    let stapled = run.wait_for(
        &format!("{} staples good", kind.name()),
        Duration::from_secs(20),
        |r| {
            clients::s_client(addr, "localhost", &r.ca)
                .status
                .as_deref()
                == Some("good")
        },
    );
    run.expect(
        stapled,
        format!("{} staples good before the revocation", kind.name()),
    );
    run.testca(&["revoke", "localhost", "--reason", "keyCompromise"])?;
    let stopped = run.wait_for(
        &format!("{} no longer staples good", kind.name()),
        Duration::from_secs(30),
        |r| {
            clients::s_client(addr, "localhost", &r.ca)
                .status
                .as_deref()
                != Some("good")
        },
    );
    run.expect(
        stopped,
        format!("after the revocation, {} stops stapling good", kind.name()),
    );
    let seen = run.observe_at(addr, &[Client::StaplerCheck, Client::SClient, Client::Curl]);
    run.expect(
        rejected(&seen, "curl --cert-status"),
        "curl --cert-status rejects the connection",
    );
    run.expect(
        exit_of(&seen, "stapler check") != Some(0),
        "stapler check does not say good",
    );
    run.peer_log_lines();
    Ok(())
}

fn peer_missing_issuer(run: &mut Run, kind: PeerKind, expected_log: &str) -> Played {
    run.start_responder(&[])?;
    // The leaf alone, and only the root as trusted: the issuer (the intermediate) is nowhere.
    let addr = run.start_peer(
        kind,
        &lab_site(run, "certs/localhost/cert.pem", "ca/root/cert.pem"),
    )?;
    for _ in 0..3 {
        let _ = clients::s_client(addr, "localhost", &run.ca.clone());
    }
    std::thread::sleep(Duration::from_millis(500));
    let seen = run.observe_at(addr, &[Client::SClient]);
    run.expect(
        seen.iter().all(|o| o.stapled != Some(true)),
        format!("{} serves without a staple", kind.name()),
    );
    let lines = run.peer_log_lines();
    run.expect(
        lines.iter().any(|l| l.contains(expected_log)),
        format!("{}'s error log says \"{expected_log}\"", kind.name()),
    );
    Ok(())
}

/// Apache as the seeds configure it keeps stapling a response past its nextUpdate.
fn play_apache_stale_staple(run: &mut Run) -> Played {
    run.start_responder(&["--validity", "6s"])?;
    let addr = run.start_peer(
        PeerKind::Apache,
        &lab_site(run, "certs/localhost/fullchain.pem", "ca/bundle.pem"),
    )?;
    let stapled = run.wait_for("Apache staples good", Duration::from_secs(20), |r| {
        clients::s_client(addr, "localhost", &r.ca)
            .status
            .as_deref()
            == Some("good")
    });
    run.expect(stapled, "Apache staples a good response");
    run.stop_responder();
    let expired = run.wait_for(
        "the stapled response's nextUpdate has passed",
        Duration::from_secs(20),
        |r| clients::stapler_check(addr, "localhost", &r.ca, false).exit == Some(2),
    );
    let seen = run.observe_at(addr, &[Client::StaplerCheck, Client::SClient]);
    let check = seen
        .iter()
        .find(|o| o.client == "stapler check")
        .map(|o| o.output.clone())
        .unwrap_or_default();
    run.expect(
        expired && check.contains("expired"),
        "Apache still staples the response after its nextUpdate (an expired staple): stapler check says INVALID, expired",
    );
    run.note("nginx and our stapler stop stapling at nextUpdate; Apache waits for SSLStaplingStandardCacheTimeout");
    Ok(())
}

fn play_nginx_good(run: &mut Run) -> Played {
    peer_good(run, PeerKind::Nginx)
}
fn play_nginx_revoked(run: &mut Run) -> Played {
    peer_revoked(run, PeerKind::Nginx)
}
fn play_nginx_missing_issuer(run: &mut Run) -> Played {
    peer_missing_issuer(run, PeerKind::Nginx, "issuer certificate not found")
}
fn play_apache_good(run: &mut Run) -> Played {
    peer_good(run, PeerKind::Apache)
}
fn play_apache_revoked(run: &mut Run) -> Played {
    peer_revoked(run, PeerKind::Apache)
}
fn play_apache_missing_issuer(run: &mut Run) -> Played {
    peer_missing_issuer(run, PeerKind::Apache, "AH02217")
}

const fn scenario(
    name: &'static str,
    summary: &'static str,
    needs: &'static [&'static str],
    play: fn(&mut Run) -> Played,
) -> Scenario {
    Scenario {
        name,
        summary,
        needs,
        play,
    }
}

const CLIENT_TOOLS: &[&str] = &["openssl", "curl"];

/// Every scenario, in the order a person would read them.
pub const CATALOGUE: &[Scenario] = &[
    scenario(
        "good",
        "a valid staple: every client accepts",
        CLIENT_TOOLS,
        play_good,
    ),
    scenario(
        "revoked",
        "revoke the leaf; after the stapler's refresh, clients that check the staple reject it",
        CLIENT_TOOLS,
        play_revoked,
    ),
    scenario(
        "revoked-key-compromise-backdated",
        "revoked for keyCompromise with a revocation time in the past, shown as such",
        CLIENT_TOOLS,
        play_backdated,
    ),
    scenario(
        "expired-cert",
        "the leaf has expired: clients reject it, the stapler reports it",
        CLIENT_TOOLS,
        play_expired_cert,
    ),
    scenario(
        "stale-response",
        "the responder's responses are already past nextUpdate: not stapled; the last good one is, until it expires",
        CLIENT_TOOLS,
        play_stale,
    ),
    scenario(
        "responder-down",
        "the responder stops: the last good staple is served until its nextUpdate, then nothing",
        CLIENT_TOOLS,
        play_responder_down,
    ),
    scenario(
        "responder-recovers",
        "the responder is down at start: no staple; once it is up, a staple, without restarting the stapler",
        CLIENT_TOOLS,
        play_responder_recovers,
    ),
    scenario(
        "try-later",
        "the responder answers tryLater: the staple in use does not change",
        CLIENT_TOOLS,
        play_try_later,
    ),
    scenario(
        "internal-error",
        "the responder answers internalError: the staple in use does not change",
        CLIENT_TOOLS,
        play_internal_error,
    ),
    scenario(
        "unauthorized",
        "the responder answers unauthorized: the staple in use does not change",
        CLIENT_TOOLS,
        play_unauthorized,
    ),
    scenario(
        "bad-signature",
        "the responder's signature is corrupt: refused, the staple in use does not change",
        CLIENT_TOOLS,
        play_bad_signature,
    ),
    scenario(
        "wrong-signer",
        "a key no CA certified signs: refused, the staple in use does not change",
        CLIENT_TOOLS,
        play_wrong_signer,
    ),
    scenario(
        "expired-signer",
        "the delegated signer has expired: refused, the staple in use does not change",
        CLIENT_TOOLS,
        play_expired_signer,
    ),
    scenario(
        "signer-without-eku",
        "the delegated signer lacks id-kp-OCSPSigning: refused, the staple in use does not change",
        CLIENT_TOOLS,
        play_signer_without_eku,
    ),
    scenario(
        "wrong-cert-id",
        "the responder answers for another serial: refused, the staple in use does not change",
        CLIENT_TOOLS,
        play_wrong_cert_id,
    ),
    scenario(
        "missing-issuer",
        "the stapler gets the leaf without its issuer: it says so at start (cf. AH02217) and serves without a staple; --strict exits",
        CLIENT_TOOLS,
        play_missing_issuer,
    ),
    scenario(
        "no-aia",
        "a certificate without an OCSP URL: the stapler says so and serves without a staple",
        CLIENT_TOOLS,
        play_no_aia,
    ),
    scenario(
        "must-staple",
        "a must-staple certificate with the responder down: stapler check --must-staple and gnutls-cli reject it",
        &["openssl", "curl", "gnutls-cli"],
        play_must_staple,
    ),
    scenario(
        "unknown-cert",
        "a certificate from an issuer the responder does not serve: unauthorized, no staple",
        CLIENT_TOOLS,
        play_unknown_cert,
    ),
    scenario(
        "nginx-good",
        "nginx configured as the seeds say staples our responder's response; clients accept",
        &["nginx", "openssl", "curl"],
        play_nginx_good,
    ),
    scenario(
        "nginx-revoked",
        "after a revocation, nginx stops stapling good",
        &["nginx", "openssl", "curl"],
        play_nginx_revoked,
    ),
    scenario(
        "nginx-missing-issuer",
        "no issuer in ssl_trusted_certificate nor the chain: nginx's error log says so, no staple",
        &["nginx", "openssl", "curl"],
        play_nginx_missing_issuer,
    ),
    scenario(
        "apache-good",
        "Apache with SSLUseStapling staples our responder's response; clients accept",
        &["apache2", "openssl", "curl"],
        play_apache_good,
    ),
    scenario(
        "apache-revoked",
        "after a revocation, Apache stops stapling good",
        &["apache2", "openssl", "curl"],
        play_apache_revoked,
    ),
    scenario(
        "apache-stale-staple",
        "Apache as the seeds configure it keeps stapling a response past its nextUpdate (a known flaw)",
        &["apache2", "openssl", "curl"],
        play_apache_stale_staple,
    ),
    scenario(
        "apache-missing-issuer",
        "no issuer for Apache: AH02217 in its error log, no staple",
        &["apache2", "openssl", "curl"],
        play_apache_missing_issuer,
    ),
];

/// The scenario with this name.
pub fn find(name: &str) -> Option<&'static Scenario> {
    CATALOGUE.iter().find(|s| s.name == name)
}
