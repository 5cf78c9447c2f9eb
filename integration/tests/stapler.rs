//! The running `stapler`, as its clients see it: the `openssl` crate (TLS
//! 1.2 and 1.3, with and without status_request, resumed sessions, SNI),
//! `openssl s_client -status`, `curl --cert-status` and `stapler check`,
//! against the real `responder` made to misbehave with `testca fault`.
//! Every test gets its own lab, responder and stapler, on free ports.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use integration::harness::{
    COMMAND_TIMEOUT, Handshake, LabOptions, LabResponder, Output, Server, TestLab, TlsClient,
    free_port, https_request, run, stapler_ready_line, wait_for,
};
use integration::ocsp::{HashAlg, Trust, basic, basic_info, load_cert, openssl_request};
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspRevokedStatus};
use openssl::ssl::SslVersion;

/// How often waits poll.
const POLL: Duration = Duration::from_millis(100);
/// Longest wait for something the stapler does in the background.
const BACKGROUND: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------ helpers

/// What a verified staple says.
#[derive(Debug)]
struct Staple {
    status: OcspCertStatus,
    reason: OcspRevokedStatus,
    this_update: SystemTime,
    next_update: SystemTime,
}

/// Verifies `der` like a client of the lab (signature and signer chained to
/// the root, an answer for `certs/NAME`, current) and returns what it says.
#[track_caller]
fn staple_of(lab: &TestLab, name: &str, der: &[u8]) -> Staple {
    let basic = basic(der);
    integration::ocsp::verify(&basic, &Trust::of_lab(lab)).expect("the staple verifies");
    let id = OcspCertId::from_cert(
        HashAlg::Sha1.digest(),
        &load_cert(&lab.cert(name)),
        &load_cert(&lab.intermediate_cert()),
    )
    .unwrap();
    let status = basic
        .find_status(&id)
        .unwrap_or_else(|| panic!("the staple does not answer for {name}"));
    status
        .check_validity(5, None)
        .expect("the staple is current");
    let info = basic_info(der).expect("the DER reader reads the staple");
    assert_eq!(info.responses.len(), 1, "exactly one answer");
    Staple {
        status: status.status,
        reason: status.reason,
        this_update: info.responses[0].this_update,
        next_update: info.responses[0].next_update.expect("nextUpdate"),
    }
}

/// One handshake (SNI localhost, status_request, root trusted).
#[track_caller]
fn handshake(lab: &TestLab, stapler: &Server) -> Handshake {
    lab.tls_client()
        .handshake(stapler.addr())
        .unwrap_or_else(|e| panic!("handshake with the stapler: {e}\n{}", stapler.log()))
}

/// The staple of one handshake, asserted present.
#[track_caller]
fn staple(lab: &TestLab, stapler: &Server) -> Vec<u8> {
    handshake(lab, stapler)
        .staple
        .unwrap_or_else(|| panic!("no staple\n{}", stapler.log()))
}

/// Asserts that a handshake gets no staple.
#[track_caller]
fn assert_no_staple(lab: &TestLab, stapler: &Server) {
    let h = handshake(lab, stapler);
    assert!(
        h.staple.is_none(),
        "expected no staple, got {} bytes\n{}",
        h.staple.as_ref().map_or(0, Vec::len),
        stapler.log()
    );
}

/// `GET /status.json` (asserted 200).
#[track_caller]
fn status_json(lab: &TestLab, stapler: &Server) -> String {
    let r = lab
        .https_get(stapler.addr(), "/status.json")
        .expect("GET /status.json");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// `POST /admin/refresh` (asserted 200: the round finished); the status JSON.
#[track_caller]
fn admin_refresh(lab: &TestLab, stapler: &Server) -> String {
    let r = lab
        .https_post(stapler.addr(), "/admin/refresh")
        .expect("POST /admin/refresh");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), stapler.log());
    r.text()
}

/// The first value of `"key":` in a JSON text: a string's unescaped
/// content, or a literal (`null`, `true`, a number).
fn json_field(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &json[start..];
    if let Some(body) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => out.push(chars.next()?),
                c => out.push(c),
            }
        }
        None
    } else {
        let end = rest.find([',', '}', ']']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    }
}

/// [`json_field`] inside the `"staple"` object (the first certificate's).
fn staple_field(json: &str, key: &str) -> Option<String> {
    json_field(&json[json.find("\"staple\":{")?..], key)
}

/// `openssl s_client -connect ADDR -servername NAME -status -CAfile ROOT EXTRA`, stdin closed.
fn s_client(lab: &TestLab, addr: SocketAddr, servername: &str, extra: &[&str]) -> Output {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr.to_string()])
        .args(["-servername", servername, "-status", "-CAfile"])
        .arg(lab.root_cert())
        .args(extra);
    run(&mut cmd, COMMAND_TIMEOUT)
}

/// `curl --cert-status --cacert ROOT https://NAME:PORT/health` (NAME resolved to 127.0.0.1).
fn curl_cert_status(lab: &TestLab, addr: SocketAddr, servername: &str) -> Output {
    let port = addr.port();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "--cert-status", "--cacert"])
        .arg(lab.root_cert())
        .arg("--resolve")
        .arg(format!("{servername}:{port}:127.0.0.1"))
        .arg(format!("https://{servername}:{port}/health"));
    run(&mut cmd, COMMAND_TIMEOUT)
}

#[track_caller]
fn assert_s_client_status(out: &Output, expected: &str) {
    assert!(
        out.stdout.contains(expected),
        "s_client should show {expected:?}: {out}"
    );
}

/// Asserts the exit code of `stapler check` and returns its output.
#[track_caller]
fn assert_check(out: Output, code: i32, text: &str) -> Output {
    assert_eq!(out.code, Some(code), "stapler check: {out}");
    assert!(out.stdout.contains(text), "expected {text:?}: {out}");
    out
}

/// The value of the metric line starting with `prefix` (labels included).
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn good_fetches(lab: &TestLab, stapler: &Server) -> f64 {
    let r = lab
        .https_get(stapler.addr(), "/metrics")
        .expect("GET /metrics");
    metric(
        &r.text(),
        "stapler_fetches_total{certificate=\"localhost\",result=\"good\"}",
    )
    .unwrap_or(0.0)
}

/// Lines of the log containing `needle`.
fn log_lines(server: &Server, needle: &str) -> Vec<String> {
    server
        .log()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

fn path(lab: &TestLab, relative: &str) -> String {
    lab.path(relative).display().to_string()
}

/// `--cert certs/NAME/fullchain.pem --key certs/NAME/key.pem`.
fn cert_args(lab: &TestLab, name: &str) -> Vec<String> {
    vec![
        "--cert".into(),
        path(lab, &format!("certs/{name}/fullchain.pem")),
        "--key".into(),
        path(lab, &format!("certs/{name}/key.pem")),
    ]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

// ------------------------------------------------------------------ 1. before serving

#[test]
fn first_handshake_after_start_carries_a_good_staple() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&[]);

    let first = handshake(lab, &stapler);
    let der = first
        .staple
        .clone()
        .expect("the very first handshake is stapled");
    let s = staple_of(lab, "localhost", &der);
    assert_eq!(s.status, OcspCertStatus::GOOD);
    assert_eq!(first.peer_common_name().as_deref(), Some("localhost"));

    // The same bytes on every handshake, and the same the responder gives
    // anyone asking the same question (SHA-1 CertID, no nonce).
    for _ in 0..3 {
        assert_eq!(
            staple(lab, &stapler),
            der,
            "byte-identical across handshakes"
        );
    }
    let cert = load_cert(&lab.cert("localhost"));
    let issuer = load_cert(&lab.intermediate_cert());
    let with_null = r
        .post(&openssl_request(&[(&cert, &issuer)], HashAlg::Sha1))
        .unwrap()
        .body;
    assert_eq!(with_null, der, "the stapled DER is the responder's answer");

    assert_s_client_status(
        &s_client(lab, stapler.addr(), "localhost", &[]),
        "Cert Status: good",
    );
    let curl = curl_cert_status(lab, stapler.addr(), "localhost");
    assert_eq!(curl.code, Some(0), "curl --cert-status: {curl}");
    assert_eq!(curl.stdout, "ok\n");
    assert_check(
        lab.stapler_check(stapler.addr(), &[]),
        0,
        "OK: a valid staple says good",
    );

    let json = status_json(lab, &stapler);
    assert_eq!(staple_field(&json, "status").as_deref(), Some("good"));
    assert_eq!(staple_field(&json, "source").as_deref(), Some("fetched"));
    assert_eq!(json_field(&json, "last_error").as_deref(), Some("null"));
    let health = lab.https_get(stapler.addr(), "/health").unwrap();
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    let page = lab.https_get(stapler.addr(), "/").unwrap();
    assert!(
        page.text().contains("<h2>localhost</h2>"),
        "{}",
        page.text()
    );
}

#[test]
fn require_staple_with_the_responder_down_never_serves_and_exits() {
    let lab = TestLab::init(&[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let listen = addr.to_string();
    let started = Instant::now();
    let (out, handshake_result) = thread::scope(|scope| {
        let run = scope.spawn(|| {
            lab.stapler(
                &[
                    "--listen",
                    &listen,
                    "--require-staple",
                    "--require-staple-timeout",
                    "2s",
                    "--backoff-min",
                    "100ms",
                    "--backoff-max",
                    "300ms",
                ],
                COMMAND_TIMEOUT,
            )
        });
        // Once the port is bound, a TLS client still gets no handshake.
        let bound = wait_for(
            "the port to be bound",
            Duration::from_secs(10),
            POLL,
            || match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                Ok(_) => Some(true),
                Err(_) if run.is_finished() => Some(false),
                Err(_) => None,
            },
        );
        let handshake_result = bound.then(|| lab.tls_client().handshake(addr));
        (run.join().unwrap(), handshake_result)
    });
    let elapsed = started.elapsed();
    if let Some(result) = handshake_result {
        assert!(
            result.is_err(),
            "no connection may be served without a staple: {result:?}"
        );
    }
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(10),
        "gave up after {elapsed:?}"
    );
    assert!(!out.combined().contains("listening on"), "{out}");
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "stapler: --require-staple: no valid OCSP response for localhost within 2s: "
        ),
        "one clear line last: {out}"
    );
    assert!(last.contains("connection refused"), "says why: {out}");
    assert_eq!(
        out.stderr.matches("stapler: ").count(),
        1,
        "one error line: {out}"
    );
}

#[test]
fn require_staple_with_the_responder_up_starts_stapled() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&["--require-staple", "--require-staple-timeout", "10s"]);
    let der = staple(lab, &stapler);
    assert_eq!(
        staple_of(lab, "localhost", &der).status,
        OcspCertStatus::GOOD
    );
    let health = lab.https_get(stapler.addr(), "/health").unwrap();
    assert_eq!(health.status, 200, "{}", health.text());
}

// ------------------------------------------------------------------ 2. refresh

#[test]
fn handshakes_stay_fast_while_the_responder_is_slow() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&[]);
    let before = staple(lab, &stapler);
    lab.fault_set("delay=3000", &[]);
    thread::scope(|scope| {
        // A refresh is under way (and waiting for the slow responder) meanwhile.
        let refresh = scope.spawn(|| {
            lab.https_post(stapler.addr(), "/admin/refresh")
                .expect("POST /admin/refresh")
        });
        thread::sleep(Duration::from_millis(300));
        for _ in 0..5 {
            let started = Instant::now();
            let h = handshake(lab, &stapler);
            let took = started.elapsed();
            assert!(
                took < Duration::from_secs(1),
                "a handshake took {took:?}: the stapler fetched inside it?"
            );
            let der = h.staple.expect("the last good staple is served meanwhile");
            assert_eq!(der, before, "still the last good staple");
            thread::sleep(Duration::from_millis(200));
        }
        let answer = refresh.join().unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
    });
    // The slow answer was good: it is stapled now.
    assert_eq!(
        staple_of(lab, "localhost", &staple(lab, &stapler)).status,
        OcspCertStatus::GOOD
    );
}

#[test]
fn background_refresh_at_the_configured_fraction() {
    let r = LabResponder::start(&["--validity", "8s", "--clock-skew", "0s"]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&["--refresh-fraction", "0.5", "--min-refresh", "1s"]);
    let first = staple_of(lab, "localhost", &staple(lab, &stapler));
    let mut seen = 0;
    let newer = wait_for("a newer staple", BACKGROUND, POLL, || {
        let der = handshake(lab, &stapler).staple.unwrap_or_else(|| {
            panic!("no gap while refreshing\n{}", stapler.log());
        });
        seen += 1;
        let s = staple_of(lab, "localhost", &der);
        (s.this_update > first.this_update).then_some(s)
    });
    assert!(seen > 1);
    let advanced = newer.this_update.duration_since(first.this_update).unwrap();
    // Half of 8 s: not before about 4 s, and before the first one expired.
    assert!(
        advanced >= Duration::from_secs(3) && newer.this_update < first.next_update,
        "refreshed {advanced:?} after thisUpdate; log:\n{}",
        stapler.log()
    );
}

#[test]
fn admin_refresh_fetches_now() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&[]);
    assert_eq!(good_fetches(lab, &stapler), 1.0);
    let json = admin_refresh(lab, &stapler);
    assert_eq!(staple_field(&json, "status").as_deref(), Some("good"));
    assert_eq!(good_fetches(lab, &stapler), 2.0);
    admin_refresh(lab, &stapler);
    assert_eq!(good_fetches(lab, &stapler), 3.0);
}

// ------------------------------------------------------------------ 3. verification

/// Every fault mode, and what `last_error` says about it.
const FAULTS: [(&str, &str); 13] = [
    ("try-later", "tryLater"),
    ("internal-error", "internalError"),
    ("unauthorized", "unauthorized"),
    ("malformed-response", "not a DER-encoded OCSP response"),
    ("stale", "nextUpdate has passed"),
    ("future", "thisUpdate is in the future"),
    ("no-next-update", "no nextUpdate"),
    ("bad-signature", "signature verification failed"),
    ("wrong-signer", "signature verification failed"),
    ("wrong-cert-id", "CertID mismatch"),
    ("delay=3000", "timed out"),
    ("http-500", "HTTP 500"),
    ("close", "fetch failed"),
];

#[test]
fn every_fault_is_refused_and_the_last_good_staple_kept() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    // Short backoff: failed fetches are retried in the background while the test goes on.
    let stapler = lab.start_stapler(&[
        "--fetch-timeout",
        "1s",
        "--backoff-min",
        "100ms",
        "--backoff-max",
        "200ms",
    ]);
    let good = staple(lab, &stapler);
    for (mode, error) in FAULTS {
        lab.fault_set(mode, &[]);
        let json = admin_refresh(lab, &stapler);
        let last_error = json_field(&json, "last_error").unwrap_or_default();
        assert!(
            last_error.contains(error),
            "{mode}: last_error should say {error:?}: {json}\n{}",
            stapler.log()
        );
        assert_eq!(
            staple_field(&json, "status").as_deref(),
            Some("good"),
            "{mode}: {json}"
        );
        assert_eq!(staple(lab, &stapler), good, "{mode}: the staple changed");
        assert_check(
            lab.stapler_check(stapler.addr(), &[]),
            0,
            "OK: a valid staple says good",
        );
        lab.fault_clear();
    }
}

#[test]
fn a_fault_from_the_start_means_no_staple() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    lab.fault_set("bad-signature", &[]);
    let stapler = lab.start_stapler(&["--backoff-min", "100ms", "--backoff-max", "200ms"]);
    assert_no_staple(lab, &stapler);
    let json = status_json(lab, &stapler);
    assert!(json.contains("\"staple\":null"), "{json}");
    assert!(
        json_field(&json, "last_error")
            .unwrap_or_default()
            .contains("signature verification failed"),
        "{json}"
    );
    assert_check(lab.stapler_check(stapler.addr(), &[]), 3, "NOT STAPLED");
    // Once the responder behaves, the stapler catches up by itself.
    lab.fault_clear();
    wait_for("a staple", BACKGROUND, POLL, || {
        handshake(lab, &stapler).staple
    });
}

#[test]
fn defective_signers_are_refused() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&[]);
    let good = staple(lab, &stapler);
    for (defect, error) in [
        ("--expired", "certificate has expired"),
        ("--no-eku", "missing ocspsigning usage"),
    ] {
        lab.testca_ok(&["signer", defect]);
        let json = admin_refresh(lab, &stapler);
        let last_error = json_field(&json, "last_error").unwrap_or_default();
        assert!(
            last_error.contains("signature verification failed") && last_error.contains(error),
            "signer {defect}: {json}"
        );
        assert_eq!(staple(lab, &stapler), good, "signer {defect}");
        assert_check(
            lab.stapler_check(stapler.addr(), &[]),
            0,
            "OK: a valid staple says good",
        );
    }
}

// ------------------------------------------------------------------ 4. responder down

#[test]
fn responder_down_at_start_then_up() {
    let lab = TestLab::init(&[]);
    let stapler = lab.start_stapler(&["--backoff-min", "100ms", "--backoff-max", "300ms"]);
    assert_no_staple(&lab, &stapler);
    assert_s_client_status(
        &s_client(&lab, stapler.addr(), "localhost", &[]),
        "OCSP response: no response sent",
    );
    assert_check(lab.stapler_check(stapler.addr(), &[]), 3, "NOT STAPLED");
    let curl = curl_cert_status(&lab, stapler.addr(), "localhost");
    assert!(
        curl.code.is_some_and(|c| c != 0),
        "curl --cert-status must fail without a staple: {curl}"
    );
    let json = status_json(&lab, &stapler);
    assert!(
        json_field(&json, "last_error")
            .unwrap_or_default()
            .contains("connection refused"),
        "{json}"
    );

    let _responder = lab.start_responder(&[]).expect("the responder starts");
    let der = wait_for("a staple", BACKGROUND, POLL, || {
        handshake(&lab, &stapler).staple
    });
    assert_eq!(
        staple_of(&lab, "localhost", &der).status,
        OcspCertStatus::GOOD
    );
    assert_check(lab.stapler_check(stapler.addr(), &[]), 0, "OK");
    let curl = curl_cert_status(&lab, stapler.addr(), "localhost");
    assert_eq!(curl.code, Some(0), "{curl}");
}

#[test]
fn responder_down_later_keeps_the_staple_until_next_update_then_none() {
    let mut r = LabResponder::start(&["--validity", "6s"]);
    let stapler = r.lab.start_stapler(&[
        "--min-refresh",
        "1s",
        "--backoff-min",
        "200ms",
        "--backoff-max",
        "500ms",
    ]);
    let lab = &r.lab;
    let good = staple(lab, &stapler);
    let first = staple_of(lab, "localhost", &good);
    r.responder.stop();
    let lab = &r.lab;

    // Until nextUpdate: the last good staple; after it: nothing, never an expired one.
    let end = first.next_update + Duration::from_secs(2);
    let mut stapled_after = 0;
    let mut bare = 0;
    while SystemTime::now() < end {
        let asked = SystemTime::now();
        let h = handshake(lab, &stapler);
        let answered = SystemTime::now();
        match h.staple {
            Some(der) => {
                // Whatever is stapled was valid when it was sent.
                let info = basic_info(&der).unwrap();
                let next = info.responses[0].next_update.unwrap();
                assert!(next > asked, "an expired staple was sent");
                assert_eq!(der, good, "the last good staple");
                stapled_after += 1;
            }
            None => {
                assert!(
                    answered + Duration::from_millis(1500) >= first.next_update,
                    "the staple disappeared before its nextUpdate\n{}",
                    stapler.log()
                );
                bare += 1;
            }
        }
        thread::sleep(POLL);
    }
    assert!(stapled_after > 0 && bare > 0, "{stapled_after} {bare}");
    assert_no_staple(lab, &stapler);
    assert_s_client_status(
        &s_client(lab, stapler.addr(), "localhost", &[]),
        "OCSP response: no response sent",
    );
    assert_check(lab.stapler_check(stapler.addr(), &[]), 3, "NOT STAPLED");
    let json = status_json(lab, &stapler);
    assert!(json.contains("\"staple\":null"), "{json}");
    assert_eq!(
        log_lines(&stapler, "the staple expired").len(),
        1,
        "{}",
        stapler.log()
    );
}

// ------------------------------------------------------------------ 5. revocation

#[test]
fn revocation_is_stapled_after_admin_refresh() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&[]);
    assert_eq!(
        staple_of(lab, "localhost", &staple(lab, &stapler)).status,
        OcspCertStatus::GOOD
    );
    lab.revoke("localhost", &["--reason", "keyCompromise"]);
    let json = admin_refresh(lab, &stapler);
    assert_eq!(
        staple_field(&json, "status").as_deref(),
        Some("revoked"),
        "{json}"
    );
    assert_eq!(
        staple_field(&json, "reason").as_deref(),
        Some("keyCompromise")
    );

    let s = staple_of(lab, "localhost", &staple(lab, &stapler));
    assert_eq!(s.status, OcspCertStatus::REVOKED);
    assert_eq!(s.reason, OcspRevokedStatus::KEY_COMPROMISE);
    let out = assert_check(lab.stapler_check(stapler.addr(), &[]), 1, "REVOKED at");
    assert!(out.stdout.contains("reason keyCompromise"), "{out}");
    assert!(out.stdout.contains("REJECT"), "{out}");
    let curl = curl_cert_status(lab, stapler.addr(), "localhost");
    assert!(
        curl.code.is_some_and(|c| c != 0),
        "curl --cert-status must fail on a revoked staple: {curl}"
    );
    assert_s_client_status(
        &s_client(lab, stapler.addr(), "localhost", &[]),
        "Cert Status: revoked",
    );
}

/// `--admin-listen`: the refresh over plain HTTP for whoever reaches the
/// address (in compose, the host through a port published on its loopback),
/// with what shows its effect; nothing else of the HTTPS site.
#[test]
fn admin_listener_refreshes_and_shows_the_revocation() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let stapler = lab.start_stapler(&["--admin-listen", &admin.to_string()]);
    assert!(
        stapler
            .log()
            .contains(&format!("admin listener on http://{admin}/")),
        "{}",
        stapler.log()
    );
    let health = integration::harness::http_get(admin, "/health").expect("GET /health");
    assert_eq!(health.status, 200, "{}", health.text());
    let status = integration::harness::http_get(admin, "/status.json").expect("GET /status.json");
    assert_eq!(
        staple_field(&status.text(), "status").as_deref(),
        Some("good")
    );
    for target in ["/", "/metrics"] {
        let r = integration::harness::http_get(admin, target).expect("GET");
        assert_eq!(
            r.status, 404,
            "{target} is not served on the admin listener"
        );
    }

    lab.revoke("localhost", &["--reason", "keyCompromise"]);
    let refreshed =
        integration::harness::http_post(admin, "/admin/refresh", "text/plain", b"").expect("POST");
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    assert_eq!(
        staple_field(&refreshed.text(), "status").as_deref(),
        Some("revoked"),
        "{}",
        refreshed.text()
    );
    let s = staple_of(lab, "localhost", &staple(lab, &stapler));
    assert_eq!(s.status, OcspCertStatus::REVOKED);
}

#[test]
fn admin_listen_on_a_taken_port_is_one_line_naming_the_flag() {
    let lab = TestLab::init(&[]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let port = free_port().to_string();
    let out = lab.stapler(
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &addr,
        ],
        COMMAND_TIMEOUT,
    );
    assert_ne!(out.code, Some(0), "{out}");
    let line = out.stderr.lines().last().unwrap_or_default();
    assert!(
        line.contains(&addr) && line.contains("--admin-listen"),
        "{out}"
    );
}

#[test]
fn revoked_drop_stops_stapling_even_after_a_restart() {
    let mut r = LabResponder::start(&[]);
    let stapler = r.lab.start_stapler(&["--revoked", "drop"]);
    let lab = &r.lab;
    staple(lab, &stapler);
    lab.revoke("localhost", &["--reason", "superseded"]);
    let json = admin_refresh(lab, &stapler);
    assert!(json.contains("\"staple\":null"), "{json}");
    assert_no_staple(lab, &stapler);
    assert_check(lab.stapler_check(stapler.addr(), &[]), 3, "NOT STAPLED");
    assert_s_client_status(
        &s_client(lab, stapler.addr(), "localhost", &[]),
        "OCSP response: no response sent",
    );
    assert!(
        !log_lines(&stapler, "REVOKED").is_empty(),
        "{}",
        stapler.log()
    );
    drop(stapler);

    // The good response persisted before the revocation must not come back.
    r.responder.stop();
    let lab = &r.lab;
    let again = lab.start_stapler(&["--revoked", "drop"]);
    assert_no_staple(lab, &again);
}

// ------------------------------------------------------------------ 6. restart

#[test]
fn persisted_staple_is_served_after_a_restart_with_the_responder_down() {
    let mut r = LabResponder::start(&[]);
    let first = r.lab.start_stapler(&[]);
    let good = staple(&r.lab, &first);
    drop(first);
    r.responder.stop();
    let lab = &r.lab;

    let second = lab.start_stapler(&[]);
    assert_eq!(staple(lab, &second), good, "the persisted staple");
    let json = status_json(lab, &second);
    assert_eq!(
        staple_field(&json, "source").as_deref(),
        Some("cache"),
        "{json}"
    );
    assert!(
        json_field(&json, "last_error")
            .unwrap_or_default()
            .contains("fetch failed"),
        "{json}"
    );
    assert_check(lab.stapler_check(second.addr(), &[]), 0, "OK");
    assert!(!log_lines(&second, "reloaded the persisted staple").is_empty());
}

// ------------------------------------------------------------------ 7. issuer and responder URL

/// A lab whose CA Issuers URL leads nowhere, so that a leaf served alone has no issuer.
fn lab_without_ca_issuers() -> LabResponder {
    LabResponder::start_with(&LabOptions {
        init_args: vec!["--ca-issuers-url".into(), "http://127.0.0.1:9/ca/".into()],
        ..LabOptions::default()
    })
}

/// A client trusting the root and the intermediate (for a server that sends the leaf alone).
fn bundle_client(lab: &TestLab) -> TlsClient {
    TlsClient::new(&lab.path("ca/bundle.pem"))
}

/// `METHOD target` from a client trusting the root and the intermediate.
#[track_caller]
fn bundle_request(lab: &TestLab, stapler: &Server, method: &str, target: &str) -> (u16, String) {
    let r = https_request(
        stapler.addr(),
        "localhost",
        &lab.path("ca/bundle.pem"),
        method,
        target,
        &[],
        &[],
    )
    .unwrap_or_else(|e| panic!("{method} {target}: {e}"));
    (r.status, r.text())
}

#[test]
fn leaf_without_its_issuer_is_served_without_a_staple() {
    let r = lab_without_ca_issuers();
    let lab = &r.lab;
    let leaf = [
        "--cert",
        &path(lab, "certs/localhost/cert.pem"),
        "--key",
        &path(lab, "certs/localhost/key.pem"),
    ]
    .map(str::to_string);
    let stapler = lab.start_stapler(&strs(&leaf));
    let errors = log_lines(&stapler, "ERROR");
    assert_eq!(errors.len(), 1, "one error line:\n{}", stapler.log());
    let line = &errors[0];
    for needle in [
        "localhost",
        "certs/localhost/cert.pem",
        "AH02217",
        "issuer",
        "--issuer",
    ] {
        assert!(line.contains(needle), "{needle:?} in {line}");
    }
    let h = bundle_client(lab).handshake(stapler.addr()).unwrap();
    assert!(h.staple.is_none());
    let (_, json) = bundle_request(lab, &stapler, "GET", "/status.json");
    assert!(
        json_field(&json, "disabled_reason")
            .unwrap_or_default()
            .contains("AH02217"),
        "{json}"
    );
    // Nothing to refresh: answered at once, not after a wait for a fetch that never comes.
    let started = Instant::now();
    let (status, json) = bundle_request(lab, &stapler, "POST", "/admin/refresh");
    assert_eq!(status, 200, "{json}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(stapler);

    // --strict: no serving at all.
    let mut strict = leaf.to_vec();
    strict.extend(["--strict".into(), "--listen".into(), "127.0.0.1:0".into()]);
    let out = lab.stapler(&strs(&strict), COMMAND_TIMEOUT).failure();
    assert!(
        out.stderr.contains("stapler: --strict:") && out.stderr.contains("AH02217"),
        "{out}"
    );
    assert!(!out.combined().contains("listening on"), "{out}");

    // --issuer: stapled.
    let mut with_issuer = leaf.to_vec();
    with_issuer.extend(["--issuer".into(), path(lab, "ca/intermediate/cert.pem")]);
    let stapler = lab.start_stapler(&strs(&with_issuer));
    let h = bundle_client(lab).handshake(stapler.addr()).unwrap();
    let der = h.staple.expect("stapled with --issuer");
    assert_eq!(
        staple_of(lab, "localhost", &der).status,
        OcspCertStatus::GOOD
    );
    assert!(log_lines(&stapler, "ERROR").is_empty(), "{}", stapler.log());
    let (_, json) = bundle_request(lab, &stapler, "GET", "/status.json");
    assert!(json.contains("\"source\":\"issuer file\""), "{json}");
}

#[test]
fn leaf_without_its_issuer_finds_it_at_the_ca_issuers_url() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&[
        "--cert",
        &path(lab, "certs/localhost/cert.pem"),
        "--key",
        &path(lab, "certs/localhost/key.pem"),
    ]);
    let h = bundle_client(lab).handshake(stapler.addr()).unwrap();
    let der = h.staple.expect("stapled");
    assert_eq!(
        staple_of(lab, "localhost", &der).status,
        OcspCertStatus::GOOD
    );
    let (_, json) = bundle_request(lab, &stapler, "GET", "/status.json");
    assert!(json.contains("\"source\":\"AIA CA Issuers URL\""), "{json}");
}

#[test]
fn certificate_without_aia_needs_a_responder_url() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    lab.issue("noaia", &["--no-aia"]);
    let args = cert_args(lab, "noaia");
    let stapler = lab.start_stapler(&strs(&args));
    let errors = log_lines(&stapler, "ERROR");
    assert_eq!(errors.len(), 1, "{}", stapler.log());
    assert!(
        errors[0].contains("noaia") && errors[0].contains("no OCSP responder URL"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("--responder"), "{}", errors[0]);
    let client = lab.tls_client().servername("noaia");
    assert!(client.handshake(stapler.addr()).unwrap().staple.is_none());
    drop(stapler);

    let mut forced = args.clone();
    forced.extend(["--responder".into(), lab.ocsp_url()]);
    let stapler = lab.start_stapler(&strs(&forced));
    let der = client
        .handshake(stapler.addr())
        .unwrap()
        .staple
        .expect("stapled with --responder");
    assert_eq!(staple_of(lab, "noaia", &der).status, OcspCertStatus::GOOD);
    assert_check(
        lab.stapler_check(stapler.addr(), &["--servername", "noaia"]),
        0,
        "OK",
    );
}

// ------------------------------------------------------------------ 8. must-staple

#[test]
fn must_staple_without_a_staple_is_unhealthy_and_said_so() {
    let lab = TestLab::init(&[]);
    lab.issue("ms", &["--must-staple"]);
    let args = cert_args(&lab, "ms");
    let mut all = strs(&args);
    all.extend(["--backoff-min", "100ms", "--backoff-max", "300ms"]);
    let stapler = lab.start_stapler(&all);
    let get = |target: &str| {
        https_request(
            stapler.addr(),
            "ms",
            &lab.root_cert(),
            "GET",
            target,
            &[],
            &[],
        )
        .unwrap()
    };
    let health = get("/health");
    assert_eq!(health.status, 503, "{}", health.text());
    assert!(health.text().contains("must-staple"), "{}", health.text());
    let json = get("/status.json").text();
    assert_eq!(json_field(&json, "must_staple").as_deref(), Some("true"));
    assert!(json.contains("\"staple\":null"), "{json}");
    let page = get("/").text();
    assert!(
        page.contains("NONE: must-staple certificate without a staple"),
        "{page}"
    );
    assert!(
        !log_lines(&stapler, "must-staple certificate has no valid staple").is_empty()
            && log_lines(&stapler, "must-staple")
                .iter()
                .any(|l| l.contains("ERROR")),
        "{}",
        stapler.log()
    );
    let out = assert_check(
        lab.stapler_check(stapler.addr(), &["--servername", "ms"]),
        3,
        "REJECT: must-staple certificate without a staple",
    );
    assert!(out.stdout.contains("must-staple: yes"), "{out}");

    // Healthy once the responder answers.
    let _responder = lab.start_responder(&[]).expect("the responder starts");
    wait_for("a healthy stapler", BACKGROUND, POLL, || {
        (get("/health").status == 200).then_some(())
    });
    assert_check(
        lab.stapler_check(stapler.addr(), &["--servername", "ms"]),
        0,
        "OK",
    );
}

// ------------------------------------------------------------------ 9. protocol

#[test]
fn tls12_and_tls13_clients_that_ask_get_the_staple() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&[]);
    let root = lab.root_cert();
    for (version, name) in [
        (SslVersion::TLS1_2, "TLSv1.2"),
        (SslVersion::TLS1_3, "TLSv1.3"),
    ] {
        let client = TlsClient::with_versions(&root, Some(version));
        let h = client.handshake(stapler.addr()).unwrap();
        assert_eq!(h.version, name);
        let der = h.staple.unwrap_or_else(|| panic!("{name}: no staple"));
        assert_eq!(
            staple_of(lab, "localhost", &der).status,
            OcspCertStatus::GOOD
        );

        // Not asked, not sent.
        let h = client
            .clone()
            .status_request(false)
            .handshake(stapler.addr())
            .unwrap();
        assert_eq!(h.version, name);
        assert!(h.staple.is_none(), "{name}: a staple nobody asked for");
    }
    for (flag, tls) in [("-tls1_2", "1.2"), ("-tls1_3", "1.3")] {
        assert_s_client_status(
            &s_client(lab, stapler.addr(), "localhost", &[flag]),
            "Cert Status: good",
        );
        assert_check(
            lab.stapler_check(stapler.addr(), &["--tls", tls]),
            0,
            &format!("TLSv{tls}"),
        );
    }
    // s_client without -status: no OCSP response shown at all.
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &stapler.addr().to_string()])
        .args(["-servername", "localhost"]);
    let out = run(&mut cmd, COMMAND_TIMEOUT);
    assert!(!out.stdout.contains("OCSP Response Data"), "{out}");
}

#[test]
fn resumed_sessions_get_no_staple() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&[]);
    let root = lab.root_cert();
    for (version, name) in [
        (SslVersion::TLS1_2, "TLSv1.2"),
        (SslVersion::TLS1_3, "TLSv1.3"),
    ] {
        let client = TlsClient::with_versions(&root, Some(version));
        let first = client.handshake(stapler.addr()).unwrap();
        assert!(first.staple.is_some() && !first.session_reused, "{name}");
        let session = first
            .session
            .unwrap_or_else(|| panic!("{name}: no session to resume"));
        let resumed = client.resume(session).handshake(stapler.addr()).unwrap();
        assert!(
            resumed.session_reused,
            "{name}: the session was not resumed"
        );
        assert!(
            resumed.staple.is_none(),
            "{name}: a resumed session carries no certificate, hence no staple"
        );
    }
}

// ------------------------------------------------------------------ 10. SNI

#[test]
fn sni_chooses_the_certificate_and_its_own_staple() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    lab.issue("shop", &[]);
    let mut args = cert_args(lab, "localhost");
    args.extend(cert_args(lab, "shop"));
    let stapler = lab.start_stapler(&strs(&args));

    let localhost = lab.tls_client().handshake(stapler.addr()).unwrap();
    let shop = lab
        .tls_client()
        .servername("shop")
        .handshake(stapler.addr())
        .unwrap();
    assert_eq!(localhost.peer_common_name().as_deref(), Some("localhost"));
    assert_eq!(shop.peer_common_name().as_deref(), Some("shop"));
    let (a, b) = (localhost.staple.unwrap(), shop.staple.unwrap());
    assert_ne!(a, b);
    assert_eq!(staple_of(lab, "localhost", &a).status, OcspCertStatus::GOOD);
    assert_eq!(staple_of(lab, "shop", &b).status, OcspCertStatus::GOOD);
    // Without SNI: the first certificate.
    let bare = lab.tls_client().no_sni().handshake(stapler.addr()).unwrap();
    assert_eq!(bare.peer_common_name().as_deref(), Some("localhost"));
    assert_eq!(bare.staple.as_ref(), Some(&a));
    assert_s_client_status(
        &s_client(lab, stapler.addr(), "shop", &[]),
        "Cert Status: good",
    );

    // Revoking one changes its staple only.
    lab.revoke("shop", &["--reason", "keyCompromise"]);
    admin_refresh(lab, &stapler);
    let shop = lab
        .tls_client()
        .servername("shop")
        .handshake(stapler.addr())
        .unwrap();
    assert_eq!(
        staple_of(lab, "shop", &shop.staple.unwrap()).status,
        OcspCertStatus::REVOKED
    );
    assert_eq!(staple(lab, &stapler), a);
    assert_check(
        lab.stapler_check(stapler.addr(), &["--servername", "shop"]),
        1,
        "REVOKED",
    );
    assert_check(lab.stapler_check(stapler.addr(), &[]), 0, "OK");
    let curl = curl_cert_status(lab, stapler.addr(), "shop");
    assert!(curl.code.is_some_and(|c| c != 0), "{curl}");
    let curl = curl_cert_status(lab, stapler.addr(), "localhost");
    assert_eq!(curl.code, Some(0), "{curl}");
}

// ------------------------------------------------------------------ misc

#[test]
fn it_stops_cleanly_on_sigterm() {
    let r = LabResponder::start(&[]);
    let mut stapler = r.lab.start_stapler(&[]);
    assert!(stapler.log().contains(&stapler_ready_line(stapler.addr())));
    let status = stapler.stop().expect("it exited");
    assert!(status.success(), "{status}\n{}", stapler.log());
    assert!(
        stapler.log().contains("stapler stopped"),
        "{}",
        stapler.log()
    );
}

/// Seconds since the epoch of an RFC 3339 time `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339_secs(text: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| text[r].parse::<i64>().unwrap();
    let (y, mo, d) = (n(0..4), n(5..7), n(8..10));
    let (h, mi, s) = (n(11..13), n(14..16), n(17..19));
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + h * 3600 + mi * 60 + s
}

#[test]
fn config_file_is_honoured_and_flags_override_it() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    lab.issue("shop", &[]);
    let config = lab.tmp().join("stapler.toml");
    std::fs::write(
        &config,
        format!(
            "refresh_fraction = 0.9\nmin_refresh = \"1s\"\n\n[[certificate]]\ncert = \"{}\"\nkey = \"{}\"\n",
            path(lab, "certs/shop/fullchain.pem"),
            path(lab, "certs/shop/key.pem")
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    // Where the next refresh is planned, as a fraction of the staple's validity.
    let planned_fraction = |stapler: &Server| {
        let json = https_request(
            stapler.addr(),
            "shop",
            &lab.root_cert(),
            "GET",
            "/status.json",
            &[],
            &[],
        )
        .unwrap()
        .text();
        assert_eq!(json_field(&json, "name").as_deref(), Some("shop"), "{json}");
        let this = rfc3339_secs(&staple_field(&json, "this_update").unwrap());
        let next = rfc3339_secs(&staple_field(&json, "next_update").unwrap());
        let refresh = rfc3339_secs(&json_field(&json, "next_refresh").unwrap());
        (refresh - this) as f64 / (next - this) as f64
    };
    let stapler = lab.start_stapler(&["--config", &config]);
    let fraction = planned_fraction(&stapler);
    assert!((fraction - 0.9).abs() < 0.01, "{fraction}");
    let h = lab
        .tls_client()
        .servername("shop")
        .handshake(stapler.addr())
        .unwrap();
    assert_eq!(h.peer_common_name().as_deref(), Some("shop"));
    assert_eq!(
        staple_of(lab, "shop", &h.staple.unwrap()).status,
        OcspCertStatus::GOOD
    );
    drop(stapler);

    let stapler = lab.start_stapler(&["--config", &config, "--refresh-fraction", "0.5"]);
    let fraction = planned_fraction(&stapler);
    assert!((fraction - 0.5).abs() < 0.01, "{fraction}");
}

#[test]
fn staple_file_and_no_stapling() {
    let mut r = LabResponder::start(&[]);
    let first = r.lab.start_stapler(&[]);
    let good = staple(&r.lab, &first);
    drop(first);
    r.responder.stop();
    let lab = &r.lab;
    let file = lab.tmp().join("localhost.ocsp");
    std::fs::write(&file, &good).unwrap();
    let file = file.display().to_string();

    // nginx ssl_stapling_file: that response, verified, without any responder.
    let stapler = lab.start_stapler(&["--staple-file", &file, "--cache-dir", "/nonexistent/cache"]);
    assert_eq!(staple(lab, &stapler), good);
    let json = status_json(lab, &stapler);
    assert_eq!(
        staple_field(&json, "source").as_deref(),
        Some("file"),
        "{json}"
    );
    drop(stapler);

    // A file that is not a response is refused like a bad fetch.
    let junk = lab.tmp().join("junk.ocsp");
    std::fs::write(&junk, b"junk").unwrap();
    let stapler = lab.start_stapler(&[
        "--staple-file",
        &junk.display().to_string(),
        "--cache-dir",
        "/nonexistent/cache",
    ]);
    assert_no_staple(lab, &stapler);
    let json = status_json(lab, &stapler);
    assert!(
        json_field(&json, "last_error")
            .unwrap_or_default()
            .contains("not a DER-encoded OCSP response"),
        "{json}"
    );
    drop(stapler);

    // nginx ssl_stapling off: nothing, not even the persisted staple.
    let stapler = lab.start_stapler(&["--no-stapling"]);
    assert_no_staple(lab, &stapler);
    let json = status_json(lab, &stapler);
    assert_eq!(json_field(&json, "stapling").as_deref(), Some("false"));
    assert!(
        json_field(&json, "disabled_reason")
            .unwrap_or_default()
            .contains("--no-stapling"),
        "{json}"
    );
}

#[test]
fn no_verify_staples_what_the_responder_says_and_check_catches_it() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    lab.fault_set("bad-signature", &[]);
    let stapler = lab.start_stapler(&["--no-verify"]);
    let der = staple(lab, &stapler);
    let basic = basic(&der);
    assert!(
        integration::ocsp::verify(&basic, &Trust::of_lab(lab)).is_err(),
        "the corrupt signature is stapled as is"
    );
    let out = assert_check(
        lab.stapler_check(stapler.addr(), &[]),
        2,
        "INVALID: signature verification failed",
    );
    assert!(out.stdout.contains("REJECT"), "{out}");
    let json = status_json(lab, &stapler);
    assert_eq!(json_field(&json, "verify").as_deref(), Some("false"));
}

// ------------------------------------------------------------------ hostile network

use integration::hostile::{SlowClient, Variant};
use openssl::ssl::{SslConnector, SslMethod};

/// A TLS client configuration trusting the lab's root, for slow clients.
fn connector(lab: &TestLab) -> SslConnector {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    builder.set_ca_file(lab.root_cert()).unwrap();
    builder.build()
}

#[test]
fn a_stalled_tls_handshake_is_cut_off_at_the_read_timeout() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&["--read-timeout", "2s"]);
    let mut silent = SlowClient::open(stapler.addr(), Variant::Silent, None).unwrap();
    assert!(
        silent.closed_by_server(Duration::from_secs(15)),
        "a client that never sent its ClientHello was kept 15 s"
    );
    staple(lab, &stapler);
}

#[test]
fn a_slow_request_over_tls_is_cut_off_at_the_read_timeout() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&["--read-timeout", "2s"]);
    let tls = connector(lab);
    for variant in [Variant::Headers, Variant::Body] {
        let mut client = SlowClient::open(stapler.addr(), variant, Some(&tls)).unwrap();
        assert!(
            client.closed_while_trickling(Duration::from_millis(500), 40),
            "{variant:?} sent one byte every 500 ms was still read after 20 s"
        );
    }
    staple(lab, &stapler);
}

#[test]
fn a_normal_client_of_the_stapler_is_served_while_the_connection_cap_is_full() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let stapler = lab.start_stapler(&["--max-connections", "10", "--read-timeout", "60s"]);
    let tls = connector(lab);
    let mut slow = Vec::new();
    for i in 0..24 {
        let variant = [Variant::Silent, Variant::Headers, Variant::Body][i % 3];
        slow.push(SlowClient::open(stapler.addr(), variant, Some(&tls)).unwrap());
    }
    for _ in 0..3 {
        let health = lab
            .https_get(stapler.addr(), "/health")
            .unwrap_or_else(|e| panic!("GET /health while full: {e}\n{}", stapler.log()));
        assert_eq!(health.status, 200);
        staple(lab, &stapler);
    }
    assert!(
        slow[0].closed_by_server(Duration::from_secs(5)),
        "the oldest slow connection is still open"
    );
    let newest = slow.len() - 1;
    assert!(
        !slow[newest].closed_by_server(Duration::from_millis(200)),
        "the newest slow connection was closed first"
    );
}

#[test]
fn admin_refresh_from_127_0_0_1_is_served_on_an_ipv6_wildcard_listener() {
    // A dual-stack socket is needed: IPv4 clients then appear as ::ffff:127.0.0.1.
    let dual_stack = std::net::TcpListener::bind("[::]:0").and_then(|l| {
        let port = l.local_addr()?.port();
        TcpStream::connect(("127.0.0.1", port)).map(|_| ())
    });
    if let Err(e) = dual_stack {
        assert!(
            std::env::var_os("CI").is_none(),
            "no dual-stack IPv6 socket here: {e}"
        );
        println!("skipped: no dual-stack IPv6 socket here ({e})");
        return;
    }
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let port = free_port();
    let wildcard: SocketAddr = format!("[::]:{port}").parse().unwrap();
    let loopback = SocketAddr::from(([127, 0, 0, 1], port));
    let stapler = Server::start(&integration::harness::ServerSpec {
        name: "stapler".into(),
        program: integration::harness::binary("stapler"),
        args: vec![
            "--dir".into(),
            lab.dir().into(),
            "--listen".into(),
            wildcard.to_string().into(),
        ],
        env: Vec::new(),
        addr: loopback,
        ready_line: Some(stapler_ready_line(wildcard)),
        health_path: None,
        log_dir: lab.tmp().join("logs"),
    })
    .expect("the stapler starts on [::]");
    let response = lab
        .https_post(loopback, "/admin/refresh")
        .expect("POST /admin/refresh");
    assert_eq!(
        response.status,
        200,
        "127.0.0.1 through [::] is loopback: {}\n{}",
        response.text(),
        stapler.log()
    );
}

#[test]
fn the_stapler_log_is_tagged_with_the_stapler() {
    let r = LabResponder::start(&[]);
    let lab = &r.lab;
    let mut stapler = lab.start_stapler(&[]);
    staple(lab, &stapler);
    stapler.stop();
    let log = stapler.log();
    assert!(log.contains("shutting down"), "{log}");
    let foreign: Vec<&str> = log.lines().filter(|l| l.contains("responder::")).collect();
    assert!(
        foreign.is_empty(),
        "lines tagged as the responder's: {foreign:?}"
    );
}
